/**
 * Filling a distribution registry over its API, and reading back what it stores per
 * repository straight from its filesystem tree: an oracle independent of layerstore.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { digestOf } from '../helpers/hand-bytes.js';
import { rawRequest, uploadBlob } from './helpers.js';

export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: { os: string; architecture: string };
}

/** Upload `bytes` into `repo` unless it already has it there; its descriptor. */
export async function pushBlob(url: string, repo: string, bytes: Buffer, mediaType: string): Promise<Descriptor> {
  const digest = digestOf(bytes);
  const head = await rawRequest(`${url}/v2/${repo}/blobs/${digest}`, { method: 'HEAD' });
  if (head.status !== 200) {
    const status = await uploadBlob(url, repo, bytes);
    if (status !== 201) throw new Error(`upload of ${digest} into ${repo}: ${status}`);
  }
  return { mediaType, digest, size: bytes.length };
}

/** PUT a manifest or index as repo:ref (a tag, or its digest when `ref` is omitted); its descriptor. */
export async function putManifest(url: string, repo: string, doc: object, mediaType: string, ref?: string): Promise<Descriptor> {
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType, ...doc }));
  const digest = digestOf(body);
  const r = await rawRequest(`${url}/v2/${repo}/manifests/${ref ?? digest}`, {
    method: 'PUT',
    headers: { 'Content-Type': mediaType, 'Content-Length': body.length },
    body,
  });
  if (r.status !== 201) throw new Error(`PUT ${repo}:${ref ?? digest}: ${r.status} ${r.body.toString()}`);
  return { mediaType, digest, size: body.length };
}

/**
 * What each repository of a distribution filesystem store links, digest -> size of its blob
 * data file: its manifest revisions (`_manifests/revisions`) and its layer links (`_layers`:
 * configs, layers, artifact blobs). When every manifest pushed is reachable from a tag, that
 * is exactly what the repository costs, and deleting it frees what no other one links.
 */
export function repositoryBlobsOnDisk(root: string): Map<string, Map<string, number>> {
  const v2 = path.join(root, 'docker', 'registry', 'v2');
  const sizeOf = (digest: string) => {
    const hex = digest.slice('sha256:'.length);
    return statSync(path.join(v2, 'blobs', 'sha256', hex.slice(0, 2), hex, 'data')).size;
  };
  const links = (dir: string) => {
    const out = new Map<string, number>();
    const base = path.join(dir, 'sha256');
    if (!existsSync(base)) return out;
    for (const hex of readdirSync(base)) {
      const link = path.join(base, hex, 'link');
      if (!existsSync(link)) continue; // a deleted revision keeps its directory
      const digest = readFileSync(link, 'utf8').trim();
      out.set(digest, sizeOf(digest));
    }
    return out;
  };
  const repos = new Map<string, Map<string, number>>();
  const walk = (dir: string) => {
    const entries = readdirSync(dir);
    if (entries.includes('_manifests')) {
      const name = path.relative(path.join(v2, 'repositories'), dir).split(path.sep).join('/');
      repos.set(name, new Map([...links(path.join(dir, '_manifests', 'revisions')), ...links(path.join(dir, '_layers'))]));
    }
    for (const e of entries) if (!e.startsWith('_') && statSync(path.join(dir, e)).isDirectory()) walk(path.join(dir, e));
  };
  walk(path.join(v2, 'repositories'));
  return repos;
}

/** Sum of the sizes; and of those no other repository's map holds. */
export function sizeAndUnique(all: Map<string, Map<string, number>>, name: string): { sizeBytes: number; uniqueBytes: number } {
  const mine = all.get(name) ?? new Map<string, number>();
  let sizeBytes = 0;
  let uniqueBytes = 0;
  for (const [d, s] of mine) {
    sizeBytes += s;
    if (![...all].some(([other, m]) => other !== name && m.has(d))) uniqueBytes += s;
  }
  return { sizeBytes, uniqueBytes };
}
