import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import tar from 'tar-stream';
import { LayerstoreError } from '../errors.js';
import { hexOf, type Digest } from '../digest/digest.js';
import { createHasher } from '../digest/hasher.js';
import { fullyQualified, normalizeUserRef } from '../formats/ref-names.js';
import {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  INDEX_TYPES,
  MANIFEST_TYPES,
  MAX_JSON_BYTES,
  MT,
  documentKind,
  isImageManifest,
  parseIndex,
  parseManifest,
  type Descriptor,
} from '../formats/types.js';
import type { Store } from '../store/store.js';
import { resolveOutputTarget } from './output-target.js';

/** A root to export: a descriptor from the store and the ref it goes out under (if any). */
export interface ExportRoot {
  descriptor: Descriptor;
  ref?: string;
}

export interface ExportResult {
  /** The path written, or "standard output". */
  file: string;
  /** The tarball went to stdout, so messages must not. */
  toStdout: boolean;
  images: number;
  /** Manifest digests of the images written. */
  manifests: Digest[];
  blobs: number;
  bytes: number;
}

interface ImageEntry {
  config: Digest;
  layers: Digest[];
  repoTags: string[];
  platform?: string;
}

const MTIME = new Date(0);

/**
 * Write a tarball in the Docker 25+ `docker save` shape: an OCI image layout (oci-layout,
 * index.json, blobs/sha256/*) plus a manifest.json whose Config/Layers point into blobs/,
 * so both `docker load` (old and new) and OCI tools read it. Blobs shared by several refs
 * are written once. Each blob is streamed from the store and re-hashed on the way, so a
 * damaged store cannot produce a damaged archive. Where it goes is output-target.ts's
 * decision (a file appears only when complete; devices and FIFOs are written in place).
 */
export async function exportArchive(store: Store, roots: ExportRoot[], outFile: string): Promise<ExportResult> {
  const blobs = new Map<Digest, number>(); // digest -> size, in first-seen order
  const images = new Map<Digest, ImageEntry>(); // by manifest digest
  const walk = async (d: Descriptor, tags: string[], isRoot: boolean): Promise<void> => {
    const present = await store.blobs.has(d.digest);
    if (!present) {
      if (isRoot || !(INDEX_TYPES.has(d.mediaType) || MANIFEST_TYPES.has(d.mediaType))) {
        throw new LayerstoreError('E_STORE_INVALID', `blob ${d.digest} is missing from the store`, { hint: 'run layerstore verify' });
      }
      return; // a platform the store never had
    }
    if (!blobs.has(d.digest)) blobs.set(d.digest, d.size);
    if (!(INDEX_TYPES.has(d.mediaType) || MANIFEST_TYPES.has(d.mediaType) || isRoot)) return;
    const doc = await store.blobs.readJson(d.digest, MAX_JSON_BYTES);
    const kind = documentKind(d.mediaType, doc);
    if (kind === 'index') {
      const idx = parseIndex(doc, d.digest);
      // docker load tags one image per tag: the host's platform if present, else the first
      // image (never an attestation, whose platform is unknown/unknown).
      const host = process.arch === 'x64' ? 'amd64' : process.arch;
      const platforms = idx.manifests.filter((m) => !isAttestation(m));
      const pick = platforms.find((m) => m.platform?.architecture === host && m.platform.os === 'linux') ?? platforms[0];
      for (const child of idx.manifests) await walk(child, child === pick ? tags : [], false);
      return;
    }
    if (kind !== 'manifest') return;
    const m = parseManifest(doc, d.digest);
    for (const b of [m.config, ...m.layers]) {
      if (!(await store.blobs.has(b.digest)))
        throw new LayerstoreError('E_STORE_INVALID', `blob ${b.digest} is missing from the store`, { hint: 'run layerstore verify' });
      if (!blobs.has(b.digest)) blobs.set(b.digest, b.size);
    }
    // manifest.json lists what docker load can load: images, not attestations or other artifacts
    // (they stay in the OCI part, index.json and blobs/, for OCI tools).
    if (isAttestation(d) || !isImageManifest(m)) return;
    const entry = images.get(d.digest) ?? { config: m.config.digest, layers: m.layers.map((l) => l.digest), repoTags: [] };
    for (const t of tags) if (!entry.repoTags.includes(t)) entry.repoTags.push(t);
    images.set(d.digest, entry);
  };
  for (const r of roots) {
    // RepoTags are what docker would call the ref: "acme/api:1.0" as it is, a bare OCI ref
    // name such as "v1" as docker reads it ("v1:latest"); anything docker cannot name, none.
    const tags = r.ref ? dockerName(r.ref) : [];
    await walk(r.descriptor, tags, true);
  }

  const index = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: roots.map((r) => {
      const d: Descriptor = { mediaType: r.descriptor.mediaType, digest: r.descriptor.digest, size: r.descriptor.size };
      if (r.ref) {
        d.annotations = { [ANNOTATION_REF_NAME]: r.ref };
        const full = fullyQualified(r.ref);
        if (full) d.annotations[ANNOTATION_IMAGE_NAME] = full;
      }
      return d;
    }),
  };
  const manifestJson = [...images.values()].map((i) => ({
    Config: `blobs/sha256/${hexOf(i.config)}`,
    RepoTags: i.repoTags.length ? i.repoTags : null,
    Layers: i.layers.map((l) => `blobs/sha256/${hexOf(l)}`),
  }));

  const target = await resolveOutputTarget(outFile, store.root);
  const pack = tar.pack();
  const written = pipeline(pack, await target.open());
  let bytes = 0;
  try {
    const dirEntry = (name: string) =>
      new Promise<void>((res, rej) => pack.entry({ name, type: 'directory', mode: 0o755, mtime: MTIME }, (e) => (e ? rej(e) : res())));
    const fileEntry = (name: string, body: Buffer) =>
      new Promise<void>((res, rej) => pack.entry({ name, mode: 0o644, mtime: MTIME }, body, (e) => (e ? rej(e) : res())));
    await dirEntry('blobs');
    await dirEntry('blobs/sha256');
    for (const [digest, size] of blobs) {
      const sink = pack.entry({ name: `blobs/sha256/${hexOf(digest)}`, size, mode: 0o644, mtime: MTIME });
      await pipeline(await store.blobs.open(digest), verifying(digest, size), sink);
      bytes += size;
    }
    await fileEntry('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
    await fileEntry('index.json', Buffer.from(JSON.stringify(index)));
    await fileEntry('manifest.json', Buffer.from(JSON.stringify(manifestJson)));
    pack.finalize();
    await written;
    await target.commit();
  } catch (e) {
    pack.destroy();
    await written.catch(() => {});
    await target.abort();
    throw e;
  }
  return { file: target.name, toStdout: target.toStdout, images: images.size, manifests: [...images.keys()], blobs: blobs.size, bytes };
}

/** Pass bytes through, failing if they do not hash to `digest` or are not `size` long. */
function verifying(digest: Digest, size: number): Transform {
  const h = createHasher();
  let n = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      n += chunk.length;
      cb(null, chunk);
    },
    flush(cb) {
      const actual = h.digest();
      if (actual !== digest || n !== size) {
        cb(
          new LayerstoreError('E_STORE_INVALID', `stored blob ${digest} is damaged (its bytes hash to ${actual})`, {
            hint: 'run layerstore verify --fix, then ingest its source again',
          }),
        );
      } else cb();
    },
  });
}

/** The RepoTag docker load would give `ref`, if docker can name it at all. */
function dockerName(ref: string): string[] {
  try {
    const name = normalizeUserRef(ref, 'ref');
    return name.includes('@') ? [] : [name];
  } catch {
    return [];
  }
}

/** buildx's attestation manifests: platform unknown/unknown (and a reference-type annotation). */
function isAttestation(d: Descriptor): boolean {
  return (d.platform?.os === 'unknown' && d.platform.architecture === 'unknown') || d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}
