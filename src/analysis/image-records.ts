import type { Digest } from '../digest/digest.js';
import { sniffCompression, SNIFF_BYTES, type Compression } from '../archive/compression.js';
import type { Store } from '../store/store.js';
import type { DerivedProblem } from '../store/derived.js';
import { referrerIn, type Referrer } from './referrers.js';
import {
  MAX_JSON_BYTES,
  configPlatform,
  documentKind,
  isDocumentType,
  isImageManifest,
  kindMismatch,
  parseImageConfig,
  parseIndex,
  parseManifest,
  type Descriptor,
  type Platform,
} from '../formats/types.js';

/**
 * What analysis needs from each manifest, index and config in the store, read from the
 * documents themselves on every run, and each document's bytes are hashed against its digest
 * as they are read (BlobReader.readDocumentSync). So what ls, report, diff and budget say
 * about an image (its layers, sizes, diffIDs, platform, date) is what its own bytes say.
 *
 * Why document records are not cached (they were, in derived/records.json): a record keyed
 * by a digest cannot be checked without the document's bytes, and reading and hashing those
 * costs about what deriving the record costs (10k images: ~0.3-0.5 s). A cache that is not
 * checked lets whoever can write the store turn a budget FAIL into a PASS (issue 16).
 *
 * Compression needs no read where the checked documents already say it: a layer is
 * uncompressed exactly when its diffID (from its hash-checked config; ingest recomputed every
 * diffID) is its blob digest. A compressed layer's gzip or zstd is sniffed from its first
 * bytes once and cached in `.layerstore/derived/records.json` (a store pulled from registries
 * lists ~50k of them at 10k images: ~0.2 s of opens). A cached "none" is never believed, so
 * an edited cache can at most swap "gzip" and "zstd" for a compressed layer, a label no
 * verdict reads; verify re-sniffs every entry (checkRecordsCache).
 *
 * Misses are read synchronously (5x cheaper than async for tiny files), yielding to the
 * event loop every YIELD_EVERY reads so a server using this stays responsive.
 */

export interface LayerRecord {
  digest: Digest;
  diffId: Digest;
  mediaType: string;
  size: number;
}

export type DocRecord = (
  | { kind: 'index'; children: Descriptor[] }
  | { kind: 'image'; configDigest: Digest; configSize: number; layers: LayerRecord[]; platform?: Platform; created?: string }
  /**
   * Neither an index nor an image manifest: an artifact (its artifactType, else its config's
   * media type), or a document that is not what its descriptor says (`damaged`: why).
   */
  | { kind: 'other'; artifactType?: string; damaged?: string }
) & {
  /** Set when the document has a `subject` (a signature, SBOM or attestation attached to an image). */
  referrer?: Referrer;
};

const FILE = 'records.json';
const VERSION = 3;
const YIELD_EVERY = 256;
/** Far above the ~8 MB of 100k compressed layers: a larger file is not read (the layers are sniffed again). */
const MAX_FILE_BYTES = 256 * 1024 * 1024;

/** On disk: [layer blob digest, "gzip" or "zstd"] pairs. */
interface RecordsFile {
  version: typeof VERSION;
  compression: Array<[Digest, Compression]>;
}

export class ImageRecords {
  private readonly docs = new Map<string, Promise<DocRecord>>();
  private readonly compressions = new Map<Digest, Promise<Compression>>();
  /** One object per layer blob, shared by the images that list it alike (100k images list ~1M layers). */
  private readonly layers = new Map<Digest, LayerRecord>();
  private dirty = false;
  private reads = 0;

  private constructor(
    private readonly store: Store,
    /** Regular files in blobs/sha256, from one readdir. */
    private readonly present: Set<Digest>,
    /** Compressions from the cache file and from this run's sniffs. */
    private readonly cached: Map<Digest, Compression>,
  ) {}

  static async open(store: Store): Promise<ImageRecords> {
    const [present, cached] = await Promise.all([store.blobs.regularFiles(), readCache(store)]);
    const records = new ImageRecords(store, present, cached.entries);
    records.dirty = !cached.current || cached.odd > 0; // an older or damaged file is replaced
    return records;
  }

  /** Whether the store holds `d` as a regular file (as of open()). */
  has(d: Digest): boolean {
    return this.present.has(d);
  }

  /** The record of the document `d` names, read (once per run) from its hash-checked bytes. */
  doc(d: Descriptor): Promise<DocRecord> {
    // The descriptor's type decides how a document is read, so it is part of the key.
    const key = `${d.mediaType} ${d.digest}`;
    let p = this.docs.get(key);
    if (!p) {
      p = this.readDoc(d);
      this.docs.set(key, p);
    }
    return p;
  }

  /**
   * The compression of layer `l` when it is known without waiting (see above); else
   * undefined: sniff it, which also reports a layer blob that is missing or not a file.
   */
  knownCompression(l: LayerRecord): Compression | undefined {
    if (!this.present.has(l.digest)) return undefined;
    if (l.diffId === l.digest) return 'none';
    const c = this.cached.get(l.digest);
    return c === 'gzip' || c === 'zstd' ? c : undefined;
  }

  /** Compression of a stored layer blob, from its magic bytes (media types are not trusted). */
  compression(l: LayerRecord): Promise<Compression> {
    let p = this.compressions.get(l.digest);
    if (!p) {
      const hit = this.knownCompression(l);
      p = hit ? Promise.resolve(hit) : this.sniff(l.digest);
      this.compressions.set(l.digest, p);
    }
    return p;
  }

  /** Write the cache when this run sniffed anything new; a read-only store just goes without. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    await Promise.allSettled(this.compressions.values());
    const out: RecordsFile = { version: VERSION, compression: [] };
    // Entries of blobs that left the store are dropped.
    for (const [d, c] of this.cached) if (this.present.has(d)) out.compression.push([d, c]);
    if (await this.store.derived.write(FILE, Buffer.from(JSON.stringify(out)))) this.dirty = false;
  }

  /** Let other work run now and then during a long run of synchronous reads. */
  private async yieldSometimes(): Promise<void> {
    if (++this.reads % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
  }

  private async readDoc(d: Descriptor): Promise<DocRecord> {
    // Only an index's or a manifest's type names a document (as at ingest). A blob under any
    // other type, or a document that is not what its type says (a store written before ingest
    // checked; verify reports it), is not an image: one such ref must not stop every report.
    if (!isDocumentType(d.mediaType)) return { kind: 'other' };
    await this.yieldSometimes();
    const doc = this.store.blobs.readDocumentSync(d.digest, MAX_JSON_BYTES);
    // Read here, from the bytes just hash-checked, so listing referrers costs no second read.
    const referrer = referrerIn(d, doc);
    const rec = this.recordOf(d, doc);
    return referrer ? { ...rec, referrer } : rec;
  }

  private recordOf(d: Descriptor, doc: unknown): DocRecord {
    const mismatch = kindMismatch(d.mediaType, doc);
    if (mismatch !== undefined) return { kind: 'other', damaged: mismatch };
    const kind = documentKind(d.mediaType, doc);
    if (kind === 'index') return { kind: 'index', children: parseIndex(doc, `index ${d.digest}`).manifests };
    if (kind === 'manifest') return this.readImage(d, doc);
    return { kind: 'other' };
  }

  private readImage(d: Descriptor, doc: unknown): DocRecord {
    const m = parseManifest(doc, `manifest ${d.digest}`);
    if (!isImageManifest(m)) return { kind: 'other', artifactType: m.artifactType ?? m.config.mediaType };
    const config = parseImageConfig(this.store.blobs.readDocumentSync(m.config.digest, MAX_JSON_BYTES), `config ${m.config.digest}`);
    const rec: DocRecord = {
      kind: 'image',
      configDigest: m.config.digest,
      configSize: m.config.size,
      layers: m.layers.map((l, i) => this.layer({ digest: l.digest, diffId: config.rootfs.diff_ids[i] ?? l.digest, mediaType: l.mediaType, size: l.size })),
    };
    const platform = configPlatform(config);
    if (platform) rec.platform = platform;
    if (config.created) rec.created = config.created;
    return rec;
  }

  private layer(l: LayerRecord): LayerRecord {
    const known = this.layers.get(l.digest);
    if (!known) this.layers.set(l.digest, l);
    else if (known.diffId === l.diffId && known.size === l.size && known.mediaType === l.mediaType) return known;
    return l;
  }

  private async sniff(d: Digest): Promise<Compression> {
    await this.yieldSometimes();
    const c = sniffCompression(this.store.blobs.headSync(d, SNIFF_BYTES));
    if (c !== 'none' && this.cached.get(d) !== c) {
      this.cached.set(d, c);
      this.dirty = true;
    }
    return c;
  }
}

interface ParsedCache {
  entries: Map<Digest, Compression>;
  /** Whether the file is this version's (anything else is rewritten on the next run). */
  current: boolean;
  /** Entries of a current file that this program never writes (malformed, or "none"): not believed. */
  odd: number;
}

/** The cache file's entries; anything unexpected (an older version, a damaged file) reads as no entries. */
function parseCache(bytes: Buffer | undefined): ParsedCache {
  const out: ParsedCache = { entries: new Map(), current: false, odd: 0 };
  let f: RecordsFile;
  try {
    f = JSON.parse(bytes?.toString('utf8') ?? 'null') as RecordsFile;
  } catch {
    return out;
  }
  if (f === null || typeof f !== 'object' || f.version !== VERSION || !Array.isArray(f.compression)) return out;
  out.current = true;
  for (const e of f.compression as unknown[]) {
    const [d, c] = Array.isArray(e) && e.length === 2 ? (e as unknown[]) : [];
    if (looksLikeDigest(d) && (c === 'gzip' || c === 'zstd')) out.entries.set(d, c);
    else out.odd++;
  }
  return out;
}

async function readCache(store: Store): Promise<ParsedCache> {
  return parseCache(await store.derived.read(FILE, MAX_FILE_BYTES));
}

/**
 * For verify: whether the cache says anything its layers' bytes contradict, or anything this
 * program never writes. `good` are the blobs verify found to hash to their names (only those
 * are worth sniffing). A file of an older version is not checked: it is never read, only
 * replaced.
 */
export async function checkRecordsCache(store: Store, good: Set<Digest>): Promise<DerivedProblem[]> {
  const { entries, odd } = await readCache(store);
  const wrong: string[] = [];
  for (const [d, c] of entries) {
    if (!good.has(d)) continue; // a blob that left the store: dropped on the next write
    const actual = sniffCompression(store.blobs.headSync(d, SNIFF_BYTES));
    if (actual !== c) wrong.push(`${d} is ${actual}, not ${c}`);
  }
  const problems: string[] = [];
  if (wrong.length)
    problems.push(
      `${wrong.length} cached layer ${wrong.length === 1 ? 'compression is' : 'compressions are'} wrong (${wrong.slice(0, 2).join('; ')}${wrong.length > 2 ? '; ...' : ''})`,
    );
  if (odd) problems.push(`${odd} ${odd === 1 ? 'entry' : 'entries'} layerstore never writes`);
  return problems.length ? [{ rel: FILE, problem: problems.join('; ') }] : [];
}

/** A cheap shape check: the full regex over ~100k digests costs ~40 ms, and a wrong one is only a cache miss. */
function looksLikeDigest(d: unknown): d is Digest {
  return typeof d === 'string' && d.length === 71 && d.startsWith('sha256:');
}
