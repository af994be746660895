import micromatch from 'micromatch';
import { LayerstoreError } from '../errors.js';
import { isDigest, type Digest } from '../digest/digest.js';
import { sha256Of } from '../digest/hasher.js';
import type { ImageInfo, LayerInfo } from '../analysis/load-images.js';
import { configPlatform, documentKind, isImageManifest, parseImageConfig, parseIndex, parseManifest } from '../formats/types.js';
import type { RegistryClient } from './client.js';
import { MAX_REMOTE_JSON_BYTES, pullScope } from './client.js';
import { RegistryStatusError, RegistryUnreachable } from './client-errors.js';
import { ScanCache, type ConfigRecord, type ImageManifestRecord, type ManifestRecord } from './scan-cache.js';
import { pool } from '../util/pool.js';

export interface ScanCounts {
  /** In the catalog (matching --repo). */
  repositories: number;
  /** Listed in the catalog but without tags (404 on tags/list: only blobs, e.g. after an aborted push): skipped. */
  repositoriesWithoutTags: number;
  /** Whose tags could not be listed (an error), or were not asked for before the scan stopped. */
  repositoriesFailed: number;
  repositoriesNotReached: number;
  /** Tags listed, and of them: read into the report, failed (see errors), not reached (the scan stopped first). */
  tags: number;
  tagsRead: number;
  tagsFailed: number;
  tagsNotReached: number;
}

export interface RegistryScan {
  images: ImageInfo[];
  /**
   * `images`: the image manifests its tags reach; `manifests`: every manifest its tags reach
   * (indexes, images, other manifests), as read from that repository.
   */
  repositories: Array<{ name: string; tags: number; images: Digest[]; manifests: Digest[] }>;
  /** Every manifest and index blob seen (registries store them as blobs too). */
  manifestBlobs: Map<Digest, number>;
  /** Of each manifest that is not an image (attestations, signatures, artifacts): its config and layer blobs. */
  artifactManifests: Map<Digest, Array<{ digest: Digest; size: number }>>;
  errors: string[];
  counts: ScanCounts;
  /** Every listed tag of every listed repository is in the report, with no error on the way. */
  complete: boolean;
  /** Why the scan stopped early (the registry stopped answering, --max-time). */
  stoppedBy?: string;
  /** Manifests and configs taken from the cache of an earlier scan, and fetched. */
  documents: { manifestsCached: number; manifestsFetched: number; configsCached: number; configsFetched: number };
  /** The records to cache for the next scan, and the manifests some repository failed to serve. */
  records(): { manifests: Iterable<[Digest, ManifestRecord]>; configs: Iterable<[Digest, ConfigRecord]>; failed: Iterable<Digest> };
}

/**
 * Stops a scan: nothing new starts and requests in flight are aborted (their signal). The
 * first reason given is the one reported.
 */
export class ScanStop {
  private readonly controller = new AbortController();
  reason: string | undefined;

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  stop(reason: string): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    this.controller.abort();
  }
}

/** Registry errors in a row (5xx, 429 after their retries) after which a scan stops: the registry is failing, not one tag. */
const MAX_FAILURES_IN_A_ROW = 20;

/**
 * Walk a registry's catalog, tags, manifests and image configs (no layer is downloaded)
 * and return its images with refs "repo:tag", so the store's sharing analysis applies to
 * the whole registry. Each manifest and config is read once per digest, however many tags
 * and repositories name it, and checked against its digest; with a `cache` of an earlier
 * scan, each tag costs one HEAD (its digest) and only digests not seen before are fetched.
 * No more of a manifest or config is read than its descriptor declares, and neither above
 * 4 MiB. What is kept per image is what the report needs: sizes and layer descriptors,
 * shared between images (LayerInfo objects are shared, not copied).
 */
export async function scanRegistry(
  client: RegistryClient,
  opts: { repoPattern?: string; concurrency?: number; onProgress?: (done: number, total: number) => void; cache?: ScanCache; stop?: ScanStop } = {},
): Promise<RegistryScan> {
  const concurrency = opts.concurrency ?? 8;
  const cache = opts.cache ?? ScanCache.empty();
  const stop = opts.stop ?? new ScanStop();
  // Without a cache a GET per tag is what we need anyway; with one, a HEAD tells whether it is.
  const useHead = cache.size > 0;

  let repos = await client.listAll('/v2/_catalog', 'repositories', 'registry:catalog:*');
  if (opts.repoPattern) repos = repos.filter((r) => micromatch.isMatch(r, opts.repoPattern!));
  repos = [...new Set(repos)].sort();

  const errors: string[] = [];
  let failuresInARow = 0;
  /** A task's failure: stop on an unreachable registry or on too many errors in a row; else an error of this tag. */
  const failed = (what: string, e: unknown): 'failed' | 'not reached' => {
    if (stop.signal.aborted) return 'not reached';
    if (e instanceof RegistryUnreachable) {
      stop.stop(`the registry stopped answering: ${e.message}`);
      return 'not reached';
    }
    errors.push(`${what}: ${(e as Error).message}`);
    if (e instanceof RegistryStatusError && (e.status >= 500 || e.status === 429) && ++failuresInARow >= MAX_FAILURES_IN_A_ROW) {
      stop.stop(`the registry failed ${MAX_FAILURES_IN_A_ROW} requests in a row; the last: ${e.message}`);
    }
    return 'failed';
  };

  const counts: ScanCounts = {
    repositories: repos.length,
    repositoriesWithoutTags: 0,
    repositoriesFailed: 0,
    repositoriesNotReached: 0,
    tags: 0,
    tagsRead: 0,
    tagsFailed: 0,
    tagsNotReached: 0,
  };
  const tagsOf = new Map<string, string[]>();
  const listed = new Set<string>();
  await pool(repos, concurrency, async (repo) => {
    if (stop.signal.aborted) return;
    try {
      tagsOf.set(repo, [...new Set(await client.listAll(`/v2/${repo}/tags/list`, 'tags', pullScope(repo)))].sort());
      listed.add(repo);
      failuresInARow = 0;
    } catch (e) {
      if (e instanceof RegistryStatusError && e.status === 404) {
        counts.repositoriesWithoutTags++;
        return;
      }
      if (failed(`${repo}: listing its tags`, e) === 'failed') counts.repositoriesFailed++;
    }
  });
  counts.repositoriesNotReached = repos.length - listed.size - counts.repositoriesWithoutTags - counts.repositoriesFailed;
  const work = repos.flatMap((repo) => (tagsOf.get(repo) ?? []).map((tag) => ({ repo, tag })));
  counts.tags = work.length;

  const images = new Map<Digest, ImageInfo>();
  const configs = new Map<Digest, ConfigRecord>();
  const otherManifests = new Map<Digest, ManifestRecord>(); // indexes and non-image manifests
  const manifestBlobs = new Map<Digest, number>();
  const artifactManifests = new Map<Digest, Array<{ digest: Digest; size: number }>>();
  /** Manifests some repository did not serve: the next scan reads them again rather than from its cache. */
  const failedManifests = new Set<Digest>();
  const documents = { manifestsCached: 0, manifestsFetched: 0, configsCached: 0, configsFetched: 0 };
  const layerPool = new LayerPool();
  // What each manifest digest reaches, and configs: registered before the first await, so two
  // tags naming one digest share one walk (and one ImageInfo, holding both refs).
  const walks = new SharedReads<Reach>();
  const configReads = new SharedReads<ConfigRecord>();

  const readConfig = (repo: string, digest: Digest, size: number): Promise<ConfigRecord> =>
    configReads.get(repo, digest, async () => {
      const cached = cache.config(digest);
      if (cached) {
        documents.configsCached++;
        return cached;
      }
      if (size > MAX_REMOTE_JSON_BYTES)
        throw new LayerstoreError('E_TOO_LARGE', `config ${digest} is ${size} bytes, above the ${MAX_REMOTE_JSON_BYTES}-byte limit`);
      const bytes = await client.getBlobBytes(repo, digest, size);
      const url = `${client.baseUrl}/v2/${repo}/blobs/${digest}`;
      if (sha256Of(bytes) !== digest) throw new LayerstoreError('E_DIGEST_MISMATCH', `GET ${url}: the config does not hash to its digest`);
      const cfg = parseImageConfig(parseJson(bytes, url), `config ${digest}`);
      documents.configsFetched++;
      const platform = configPlatform(cfg);
      return { diffIds: cfg.rootfs.diff_ids, ...(platform ? { platform } : {}), ...(cfg.created ? { created: cfg.created } : {}) };
    });

  const imageFrom = async (repo: string, digest: Digest, rec: ImageManifestRecord): Promise<Reach> => {
    const cfg = await readConfig(repo, rec.configDigest, rec.configSize);
    configs.set(rec.configDigest, cfg);
    const img: ImageInfo = {
      manifestDigest: digest,
      manifestSize: rec.size,
      configDigest: rec.configDigest,
      configSize: rec.configSize,
      layers: rec.layers.map((l, i) => layerPool.get(l.digest, cfg.diffIds[i] ?? l.digest, l.mediaType, l.size)),
      refs: [],
    };
    if (cfg.platform) img.platform = cfg.platform;
    if (cfg.created) img.created = cfg.created;
    images.set(digest, img);
    return { images: [digest], manifests: [digest], partial: false };
  };

  /** `size`: what the index naming it declares (none for a tag); `got`: the manifest, when a GET by tag already read it. */
  const walk = (repo: string, digest: Digest, size?: number, got?: { bytes: Buffer; mediaType: string; url: string }): Promise<Reach> =>
    walks.get(
      repo,
      digest,
      async (): Promise<Reach> => {
        let rec = cache.manifest(digest);
        if (rec) documents.manifestsCached++;
        else {
          try {
            const m = got ?? (await client.getManifest(repo, digest, size));
            const url = m.url; // by tag when a tag's GET read it: the URL asked, not one made from its hash
            if (sha256Of(m.bytes) !== digest) throw new LayerstoreError('E_DIGEST_MISMATCH', `GET ${url}: the manifest hashes to ${sha256Of(m.bytes)}`);
            rec = manifestRecord(m.bytes.length, m.mediaType, parseJson(m.bytes, url), `${repo}@${digest}`);
          } catch (e) {
            if (!stop.signal.aborted && !(e instanceof RegistryUnreachable)) failedManifests.add(digest);
            throw e;
          }
          documents.manifestsFetched++;
        }
        manifestBlobs.set(digest, rec.size);
        if (rec.kind === 'image') return imageFrom(repo, digest, rec);
        otherManifests.set(digest, rec);
        if (rec.kind === 'other') {
          artifactManifests.set(digest, rec.blobs);
          return { images: [], manifests: [digest], partial: false };
        }
        const imgs = new Set<Digest>();
        const mans = new Set<Digest>([digest]);
        let partial = false;
        for (const c of rec.children) {
          try {
            const r = await walk(repo, c.digest, c.size);
            for (const d of r.images) imgs.add(d);
            for (const d of r.manifests) mans.add(d);
            partial ||= r.partial;
          } catch (e) {
            if (stop.signal.aborted || e instanceof RegistryUnreachable) throw e;
            errors.push(`${repo}@${c.digest}: ${(e as Error).message}`);
            partial = true;
          }
        }
        return { images: [...imgs], manifests: [...mans], partial };
      },
      wholeWalk,
    );

  /** The image manifests a tag names: HEAD for its digest when a cache may already know it, else GET. */
  const readTag = async (repo: string, tag: string): Promise<Reach> => {
    if (useHead) {
      const h = await client.headManifest(repo, tag);
      if (h.digest && isDigest(h.digest)) return walk(repo, h.digest);
    }
    const m = await client.getManifest(repo, tag);
    return walk(repo, sha256Of(m.bytes), undefined, m);
  };

  const repoImages = new Map<string, Set<Digest>>();
  const repoManifests = new Map<string, Set<Digest>>();
  let done = 0;
  await pool(work, concurrency, async ({ repo, tag }) => {
    if (stop.signal.aborted) return;
    try {
      const reach = await readTag(repo, tag);
      let set = repoImages.get(repo);
      if (!set) repoImages.set(repo, (set = new Set()));
      for (const d of reach.images) {
        const img = images.get(d)!;
        const ref = `${repo}:${tag}`;
        if (!img.refs.includes(ref)) img.refs.push(ref);
        set.add(d);
      }
      let mans = repoManifests.get(repo);
      if (!mans) repoManifests.set(repo, (mans = new Set()));
      for (const d of reach.manifests) mans.add(d);
      counts.tagsRead++;
      failuresInARow = 0;
    } catch (e) {
      if (failed(`${repo}:${tag}`, e) === 'failed') counts.tagsFailed++;
    }
    opts.onProgress?.(++done, work.length);
  });
  counts.tagsNotReached = counts.tags - counts.tagsRead - counts.tagsFailed;

  for (const img of images.values()) img.refs.sort();
  // An image reached only through a tag that failed later in its index walk has no ref: not reported.
  const reported = [...images.values()].filter((i) => i.refs.length > 0);
  return {
    images: reported.sort((a, b) => (a.refs[0]! < b.refs[0]! ? -1 : 1)),
    repositories: repos
      .filter((r) => tagsOf.has(r))
      .map((name) => ({
        name,
        tags: tagsOf.get(name)!.length,
        images: [...(repoImages.get(name) ?? [])].sort(),
        manifests: [...(repoManifests.get(name) ?? [])].sort(),
      })),
    manifestBlobs,
    artifactManifests,
    errors,
    counts,
    // Errors count too: a platform of an index that failed is missing although its tag was read.
    complete:
      stop.reason === undefined &&
      errors.length === 0 &&
      counts.repositoriesFailed === 0 &&
      counts.repositoriesNotReached === 0 &&
      counts.tagsFailed === 0 &&
      counts.tagsNotReached === 0,
    ...(stop.reason !== undefined ? { stoppedBy: stop.reason } : {}),
    documents,
    records: () => ({
      manifests: (function* () {
        yield* otherManifests;
        for (const [d, img] of images)
          yield [d, { kind: 'image', size: img.manifestSize, configDigest: img.configDigest, configSize: img.configSize, layers: img.layers }] as [
            Digest,
            ManifestRecord,
          ];
      })(),
      configs: configs.entries(),
      failed: failedManifests,
    }),
  };
}

function parseJson(bytes: Buffer, url: string): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw new LayerstoreError('E_MANIFEST_INVALID', `GET ${url}: not JSON (${(e as Error).message})`);
  }
}

/** What the report needs of a manifest document. */
function manifestRecord(size: number, mediaType: string, doc: unknown, what: string): ManifestRecord {
  const kind = documentKind(mediaType, doc, what);
  if (kind === 'index') return { kind: 'index', size, children: parseIndex(doc, what).manifests.map((c) => ({ digest: c.digest, size: c.size })) };
  if (kind !== 'manifest') return { kind: 'other', size, blobs: [] };
  const man = parseManifest(doc, what);
  if (!isImageManifest(man)) return { kind: 'other', size, blobs: [man.config, ...man.layers].map((b) => ({ digest: b.digest, size: b.size })) };
  return {
    kind: 'image',
    size,
    configDigest: man.config.digest,
    configSize: man.config.size,
    layers: man.layers.map((l) => ({ digest: l.digest, mediaType: l.mediaType, size: l.size })),
  };
}

/** What a walk from one manifest reached, in the repository it was read from. */
interface Reach {
  /** The image manifests. */
  images: Digest[];
  /** Every manifest on the way: the one walked, and below an index its children (indexes, images, other manifests). */
  manifests: Digest[];
  /** A child of an index could not be read there (its error is reported). */
  partial: boolean;
}

/** A walk that lost a child in one repository is not another's: that one walks for itself. */
const wholeWalk = (r: Reach): boolean => !r.partial;

/**
 * One read per digest, shared by every caller. A failure, or a result `whole` rejects (a
 * walk that lost a child), is shared only within the repository that read it: a caller from
 * another repository reads for itself (a manifest or blob may be missing or broken in one
 * repository and fine in another), so one repository's failure never changes another's figures.
 */
class SharedReads<T> {
  private readonly reads = new Map<Digest, { repo: string; p: Promise<T> }>();
  /** Reads of repositories that could not use the shared one, by "repo@digest" (repository names have no "@"). */
  private readonly own = new Map<string, Promise<T>>();

  async get(repo: string, digest: Digest, read: () => Promise<T>, whole: (t: T) => boolean = () => true): Promise<T> {
    const known = this.reads.get(digest);
    if (!known) {
      const p = read();
      this.reads.set(digest, { repo, p });
      return p;
    }
    if (known.repo === repo) return known.p;
    const key = `${repo}@${digest}`;
    if (!this.own.has(key)) {
      try {
        const t = await known.p;
        if (whole(t)) return t;
      } catch {
        /* read again below, for this repository */
      }
    }
    let mine = this.own.get(key);
    if (!mine) this.own.set(key, (mine = read()));
    return mine;
  }
}

/**
 * One LayerInfo per layer, shared by every image that lists it: a 20k-tag registry has
 * ~200k layer references but far fewer layers. A layer described differently by two images
 * (another diffID or size: a broken registry) gets its own object.
 */
class LayerPool {
  private readonly byDigest = new Map<Digest, LayerInfo>();

  get(digest: Digest, diffId: Digest, mediaType: string, size: number): LayerInfo {
    const known = this.byDigest.get(digest);
    if (known && known.diffId === diffId && known.mediaType === mediaType && known.size === size) return known;
    const l: LayerInfo = { digest, diffId, mediaType, size };
    if (!known) this.byDigest.set(digest, l);
    return l;
  }
}
