import { createHash } from 'node:crypto';
import { isDigest, type Digest } from '../digest/digest.js';
import type { Platform } from '../formats/types.js';
import type { DerivedData } from '../store/derived.js';
import { TextChunks } from '../util/text-chunks.js';

/**
 * What `report --registry` keeps of the manifests and image configs it read, by digest, in
 * the store's derived data (`derived/registry-scans/<registry>.json`): a manifest or config
 * named by a digest never changes, so a later scan asks the registry only which digest each
 * tag names (HEAD) and fetches what it has not seen. Only what the report needs is kept
 * (sizes, layer descriptors, diffIDs, platform, created), as tuples over one string table.
 * Also kept: the manifests some repository failed to serve, which a later scan reads from the
 * registry again instead of from the cache (a child of an index deleted in one repository
 * only is still missing there, however whole another repository's copy was).
 */

export interface ImageManifestRecord {
  kind: 'image';
  size: number;
  configDigest: Digest;
  configSize: number;
  layers: Array<{ digest: Digest; mediaType: string; size: number }>;
}
export interface IndexRecord {
  kind: 'index';
  size: number;
  children: Array<{ digest: Digest; size: number }>;
}
/**
 * A manifest that is not an image (an artifact, a signature, an attestation of an index): not
 * in the sharing report, but its config and layer blobs are stored like any other and count
 * in blobBytes.
 */
export interface OtherRecord {
  kind: 'other';
  size: number;
  blobs: Array<{ digest: Digest; size: number }>;
}
export type ManifestRecord = ImageManifestRecord | IndexRecord | OtherRecord;

export interface ConfigRecord {
  diffIds: Digest[];
  platform?: Platform;
  created?: string;
}

const VERSION = 1;
/** Far above any registry we expect (a 20k-tag registry's file is ~5 MB). */
const MAX_CACHE_BYTES = 512 * 1024 * 1024;

type Tuple = unknown[];

/** The file for one registry: records are immutable by digest, but which are still in use is per registry. */
export function scanCacheRel(registryUrl: string): string {
  // 16 hex, not 64: gc sweeps derived files named after a digest that no ref reaches.
  return `registry-scans/${createHash('sha256').update(registryUrl).digest('hex').slice(0, 16)}.json`;
}

export class ScanCache {
  private constructor(
    private strings: string[],
    private readonly manifestTuples: Map<string, Tuple>,
    private readonly configTuples: Map<string, Tuple>,
    private readonly failedDigests: Set<string> = new Set(),
  ) {}

  /** Forget every record (a scan that no longer needs them: ~12 MB at 20k tags); `size` stays what it was. */
  release(): void {
    this.releasedSize = this.manifestTuples.size;
    this.manifestTuples.clear();
    this.configTuples.clear();
    this.strings = [];
  }

  private releasedSize: number | undefined;

  static empty(): ScanCache {
    return new ScanCache([], new Map(), new Map());
  }

  /** The cache for `registryUrl`; empty when there is none or it cannot be read (a cache costs time, never correctness). */
  static async load(derived: DerivedData, registryUrl: string): Promise<ScanCache> {
    const bytes = await derived.read(scanCacheRel(registryUrl), MAX_CACHE_BYTES);
    if (!bytes) return ScanCache.empty();
    try {
      const doc = JSON.parse(bytes.toString('utf8')) as { v?: unknown; s?: unknown; m?: unknown; c?: unknown; f?: unknown };
      if (doc.v !== VERSION || !Array.isArray(doc.s) || !Array.isArray(doc.m) || !Array.isArray(doc.c)) return ScanCache.empty();
      const s = doc.s as unknown[];
      if (!s.every((x) => typeof x === 'string')) return ScanCache.empty();
      const byDigest = (tuples: unknown[]) => {
        const m = new Map<string, Tuple>();
        for (const t of tuples) if (Array.isArray(t) && typeof t[0] === 'number' && isDigest(s[t[0]])) m.set(s[t[0]] as string, t);
        return m;
      };
      const failed = new Set<string>();
      for (const i of Array.isArray(doc.f) ? (doc.f as unknown[]) : []) if (typeof i === 'number' && isDigest(s[i])) failed.add(s[i] as string);
      return new ScanCache(s as string[], byDigest(doc.m), byDigest(doc.c), failed);
    } catch {
      return ScanCache.empty();
    }
  }

  /** Manifests held (before release()). */
  get size(): number {
    return this.releasedSize ?? this.manifestTuples.size;
  }

  /** Digests of every manifest and config held (to keep what a partial scan did not see). */
  digests(): { manifests: Iterable<string>; configs: Iterable<string> } {
    return { manifests: this.manifestTuples.keys(), configs: this.configTuples.keys() };
  }

  /** Manifests a repository failed to serve in the scan that wrote the cache (not released: they are few). */
  get failed(): ReadonlySet<string> {
    return this.failedDigests;
  }

  /** The record of manifest `d`; none for one that failed last time (read it again, per repository). */
  manifest(d: Digest): ManifestRecord | undefined {
    if (this.failedDigests.has(d)) return undefined;
    const t = this.manifestTuples.get(d);
    return t ? decodeManifest(t, this.strings) : undefined;
  }

  config(d: Digest): ConfigRecord | undefined {
    const t = this.configTuples.get(d);
    return t ? decodeConfig(t, this.strings) : undefined;
  }

  /** Write the records given as the cache for `registryUrl` (atomically; false when it could not be written). */
  static async save(
    derived: DerivedData,
    registryUrl: string,
    manifests: Iterable<[Digest, ManifestRecord]>,
    configs: Iterable<[Digest, ConfigRecord]>,
    failed: Iterable<string> = [],
  ): Promise<boolean> {
    return derived.write(scanCacheRel(registryUrl), cacheText(manifests, configs, failed));
  }
}

/** Text handed to the writer at a time: the file is never one string in memory (12 MB at 20k tags). */

/**
 * The cache file's JSON, in chunks: {v, m: manifest tuples, c: config tuples, f: failed
 * manifests, s: the string table they index}. The table comes last: it is complete only once
 * every record is written. An older reader ignores `f`.
 */
function* cacheText(manifests: Iterable<[Digest, ManifestRecord]>, configs: Iterable<[Digest, ConfigRecord]>, failed: Iterable<string>): Generator<string> {
  const strings: string[] = [];
  const ids = new Map<string, number>();
  const id = (x: string) => {
    let i = ids.get(x);
    if (i === undefined) {
      i = strings.length;
      ids.set(x, i);
      strings.push(x);
    }
    return i;
  };
  const chunks = new TextChunks();
  const add = (text: string): boolean => chunks.put(text);
  const take = (): string => chunks.take();
  add(`{"v":${VERSION},"m":[`);
  let sep = '';
  for (const [d, r] of manifests) {
    const t =
      r.kind === 'image'
        ? [id(d), r.size, 0, id(r.configDigest), r.configSize, r.layers.flatMap((l) => [id(l.digest), id(l.mediaType), l.size])]
        : r.kind === 'index'
          ? [id(d), r.size, 1, r.children.flatMap((c) => [id(c.digest), c.size])]
          : [id(d), r.size, 2, r.blobs.flatMap((b) => [id(b.digest), b.size])];
    if (add(sep + JSON.stringify(t))) yield take();
    sep = ',';
  }
  add('],"c":[');
  sep = '';
  for (const [d, r] of configs) {
    const p = r.platform;
    if (add(sep + JSON.stringify([id(d), r.diffIds.map(id), p ? [p.architecture, p.os, p.variant ?? null] : null, r.created ?? null]))) yield take();
    sep = ',';
  }
  add(`],"f":${JSON.stringify([...failed].map(id))}`);
  add(',"s":[');
  for (let i = 0; i < strings.length; i++) if (add((i ? ',' : '') + JSON.stringify(strings[i]))) yield take();
  add(']}');
  yield take();
}

const isSize = (n: unknown): n is number => Number.isSafeInteger(n) && (n as number) >= 0;

/** A tuple back into a record; undefined for anything malformed (then it is fetched again). */
function decodeManifest(t: Tuple, s: string[]): ManifestRecord | undefined {
  const digestAt = (i: unknown) => (typeof i === 'number' && isDigest(s[i]) ? (s[i] as Digest) : undefined);
  const [, size, kind] = t;
  if (!isSize(size)) return undefined;
  // Digest and size pairs (an index's children, an artifact's blobs); undefined when malformed.
  const pairs = (flat: unknown): Array<{ digest: Digest; size: number }> | undefined => {
    if (!Array.isArray(flat) || flat.length % 2) return undefined;
    const out: Array<{ digest: Digest; size: number }> = [];
    for (let i = 0; i < flat.length; i += 2) {
      const digest = digestAt(flat[i]);
      if (!digest || !isSize(flat[i + 1])) return undefined;
      out.push({ digest, size: flat[i + 1] as number });
    }
    return out;
  };
  if (kind === 2) {
    // A record of an older version has no blob list: fetched again, so its blobs are counted.
    const blobs = pairs(t[3]);
    return blobs ? { kind: 'other', size, blobs } : undefined;
  }
  if (kind === 1) {
    const children = pairs(t[3]);
    return children ? { kind: 'index', size, children } : undefined;
  }
  if (kind !== 0) return undefined;
  const configDigest = digestAt(t[3]);
  const flat = t[5];
  if (!configDigest || !isSize(t[4]) || !Array.isArray(flat) || flat.length % 3) return undefined;
  const layers: ImageManifestRecord['layers'] = [];
  for (let i = 0; i < flat.length; i += 3) {
    const digest = digestAt(flat[i]);
    const mediaType = typeof flat[i + 1] === 'number' ? s[flat[i + 1] as number] : undefined;
    if (!digest || typeof mediaType !== 'string' || !isSize(flat[i + 2])) return undefined;
    layers.push({ digest, mediaType, size: flat[i + 2] as number });
  }
  return { kind: 'image', size, configDigest, configSize: t[4] as number, layers };
}

function decodeConfig(t: Tuple, s: string[]): ConfigRecord | undefined {
  const [, ids, p, created] = t;
  if (!Array.isArray(ids)) return undefined;
  const diffIds: Digest[] = [];
  for (const i of ids) {
    if (typeof i !== 'number' || !isDigest(s[i])) return undefined;
    diffIds.push(s[i] as Digest);
  }
  const r: ConfigRecord = { diffIds };
  if (Array.isArray(p) && typeof p[0] === 'string' && typeof p[1] === 'string')
    r.platform = { architecture: p[0], os: p[1], ...(typeof p[2] === 'string' ? { variant: p[2] } : {}) };
  if (typeof created === 'string') r.created = created;
  return r;
}
