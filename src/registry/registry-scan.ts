import micromatch from 'micromatch';
import { LayerstoreError } from '../errors.js';
import { isDigest, type Digest } from '../digest/digest.js';
import { sha256Of } from '../digest/hasher.js';
import type { ImageInfo } from '../analysis/load-images.js';
import type { Compression } from '../archive/compression.js';
import { documentKind, isImageManifest, parseImageConfig, parseIndex, parseManifest } from '../formats/types.js';
import type { RegistryClient } from './client.js';
import { MAX_REMOTE_JSON_BYTES, pullScope } from './client.js';
import { pool } from '../util/pool.js';

export interface RegistryScan {
  images: ImageInfo[];
  repositories: Array<{ name: string; tags: number; images: Digest[] }>;
  /** Every manifest and index blob seen (registries store them as blobs too). */
  manifestBlobs: Map<Digest, number>;
  errors: string[];
}

/** Compression as the media type declares it: a registry scan downloads no layer to sniff. */
export function compressionFromMediaType(mt: string): Compression {
  return /gzip/.test(mt) ? 'gzip' : /zstd/.test(mt) ? 'zstd' : 'none';
}

/**
 * Walk a registry's catalog, tags, manifests and image configs (no layer is downloaded)
 * and return its images with refs "repo:tag", so the store's sharing analysis applies to
 * the whole registry. Manifests are fetched once per digest, however many tags and
 * repositories name them; each is checked against its digest. No more of a manifest or
 * config is read than its descriptor declares, and neither above 4 MiB.
 */
export async function scanRegistry(
  client: RegistryClient,
  opts: { repoPattern?: string; concurrency?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<RegistryScan> {
  let repos = await client.listAll('/v2/_catalog', 'repositories', 'registry:catalog:*');
  if (opts.repoPattern) repos = repos.filter((r) => micromatch.isMatch(r, opts.repoPattern!));
  repos.sort();
  const tagsOf = new Map<string, string[]>();
  await pool(repos, opts.concurrency ?? 8, async (repo) => {
    tagsOf.set(repo, (await client.listAll(`/v2/${repo}/tags/list`, 'tags', pullScope(repo))).sort());
  });
  const work = repos.flatMap((repo) => (tagsOf.get(repo) ?? []).map((tag) => ({ repo, tag })));
  const images = new Map<Digest, ImageInfo>();
  const manifestBlobs = new Map<Digest, number>();
  const underDigest = new Map<Digest, Promise<Digest[]>>(); // image manifests reachable from a manifest/index
  const repoImages = new Map<string, Set<Digest>>();
  const errors: string[] = [];
  let done = 0;

  /** `size`: what the index naming `ref` declares (none for a tag). */
  const walk = (repo: string, ref: string, size?: number): Promise<Digest[]> => {
    const known = isDigest(ref) ? underDigest.get(ref) : undefined;
    if (known) return known;
    const p = (async () => {
      const m = await client.getManifest(repo, ref, size);
      const digest = sha256Of(m.bytes);
      if (isDigest(ref) && ref !== digest) throw new LayerstoreError('E_DIGEST_MISMATCH', `${repo}@${ref}: the manifest hashes to ${digest}`);
      manifestBlobs.set(digest, m.bytes.length);
      const doc = JSON.parse(m.bytes.toString('utf8')) as unknown;
      const kind = documentKind(m.mediaType, doc);
      if (kind === 'index') {
        const out: Digest[] = [];
        for (const c of parseIndex(doc, `${repo}@${digest}`).manifests) {
          try {
            out.push(...(await walk(repo, c.digest, c.size)));
          } catch (e) {
            errors.push(`${repo}@${c.digest}: ${(e as Error).message}`);
          }
        }
        return out;
      }
      if (kind !== 'manifest') return [];
      const man = parseManifest(doc, `${repo}@${digest}`);
      if (!isImageManifest(man)) return [];
      if (!images.has(digest)) {
        if (man.config.size > MAX_REMOTE_JSON_BYTES) {
          throw new LayerstoreError('E_TOO_LARGE', `config ${man.config.digest} is ${man.config.size} bytes, above the ${MAX_REMOTE_JSON_BYTES}-byte limit`);
        }
        const chunks: Buffer[] = [];
        for await (const c of await client.getBlob(repo, man.config.digest, man.config.size)) chunks.push(c as Buffer);
        const cfgBytes = Buffer.concat(chunks);
        if (sha256Of(cfgBytes) !== man.config.digest) throw new LayerstoreError('E_DIGEST_MISMATCH', `${repo}: config ${man.config.digest} does not match its bytes`);
        const cfg = parseImageConfig(JSON.parse(cfgBytes.toString('utf8')), `config ${man.config.digest}`);
        const img: ImageInfo = {
          manifestDigest: digest,
          manifestSize: m.bytes.length,
          configDigest: man.config.digest,
          configSize: man.config.size,
          layers: man.layers.map((l, i) => ({ digest: l.digest, diffId: cfg.rootfs.diff_ids[i] ?? l.digest, mediaType: l.mediaType, size: l.size })),
          refs: [],
        };
        if (cfg.architecture && cfg.os) img.platform = { architecture: cfg.architecture, os: cfg.os, ...(cfg.variant ? { variant: cfg.variant } : {}) };
        if (cfg.created) img.created = cfg.created;
        images.set(digest, img);
      }
      return [digest];
    })();
    if (isDigest(ref)) underDigest.set(ref, p);
    return p;
  };

  await pool(work, opts.concurrency ?? 8, async ({ repo, tag }) => {
    try {
      for (const d of await walk(repo, tag)) {
        const img = images.get(d)!;
        const ref = `${repo}:${tag}`;
        if (!img.refs.includes(ref)) img.refs.push(ref);
        let set = repoImages.get(repo);
        if (!set) repoImages.set(repo, (set = new Set()));
        set.add(d);
      }
    } catch (e) {
      errors.push(`${repo}:${tag}: ${(e as Error).message}`);
    }
    opts.onProgress?.(++done, work.length);
  });
  for (const img of images.values()) img.refs.sort();
  return {
    images: [...images.values()].sort((a, b) => ((a.refs[0] ?? '') < (b.refs[0] ?? '') ? -1 : 1)),
    repositories: repos.map((name) => ({ name, tags: tagsOf.get(name)?.length ?? 0, images: [...(repoImages.get(name) ?? [])].sort() })),
    manifestBlobs,
    errors,
  };
}

/** What each repository costs alone, and what only it uses (what deleting it would free). */
export function repositoryCosts(scan: RegistryScan): Array<{ name: string; tags: number; images: number; sizeBytes: number; uniqueBytes: number }> {
  const byDigest = new Map(scan.images.map((i) => [i.manifestDigest, i]));
  const blobsOf = (name: string) => {
    const m = new Map<Digest, number>();
    for (const d of scan.repositories.find((r) => r.name === name)?.images ?? []) {
      const img = byDigest.get(d)!;
      m.set(img.configDigest, img.configSize);
      for (const l of img.layers) m.set(l.digest, l.size);
    }
    return m;
  };
  const per = scan.repositories.map((r) => ({ r, blobs: blobsOf(r.name) }));
  const users = new Map<Digest, number>();
  for (const { blobs } of per) for (const d of blobs.keys()) users.set(d, (users.get(d) ?? 0) + 1);
  return per.map(({ r, blobs }) => {
    let size = 0;
    let unique = 0;
    for (const [d, s] of blobs) {
      size += s;
      if (users.get(d) === 1) unique += s;
    }
    return { name: r.name, tags: r.tags, images: r.images.length, sizeBytes: size, uniqueBytes: unique };
  });
}
