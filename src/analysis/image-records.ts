import type { Digest } from '../digest/digest.js';
import { sniffCompression, SNIFF_BYTES, type Compression } from '../archive/compression.js';
import type { Store } from '../store/store.js';
import { readDerived, writeDerived } from '../store/derived.js';
import { MAX_JSON_BYTES, configPlatform, documentKind, isDocumentType, isImageManifest, kindMismatch, parseImageConfig, parseIndex, parseManifest, type Descriptor, type Platform } from '../formats/types.js';

/**
 * What analysis needs from each manifest, index and config in the store, cached in
 * `.layerstore/derived/records.json`. Every record is keyed by the digest of the document
 * it was read from, and a digest's bytes never change, so a record never goes stale: it
 * only stops being used when its blob leaves the store (it is pruned on the next save).
 *
 * Without it, `report` over 10k images read 20k documents and sniffed 50k layer heads (18 s);
 * with it, one readdir and one JSON file. Misses are read synchronously (5x cheaper than
 * async for tiny files), yielding to the event loop every YIELD_EVERY reads so a server
 * using this stays responsive.
 */

export interface LayerRecord {
  digest: Digest;
  diffId: Digest;
  mediaType: string;
  size: number;
}

export type DocRecord =
  | { kind: 'index'; children: Descriptor[] }
  | { kind: 'image'; configDigest: Digest; configSize: number; layers: LayerRecord[]; platform?: Platform; created?: string }
  /** Neither an index nor an image manifest (an artifact, or an unknown document). */
  | { kind: 'other' };

const FILE = 'records.json';
const VERSION = 2;
const YIELD_EVERY = 256;
/** Far above the ~80 MB of 100k images: a larger file is not read (the records are read again). */
const MAX_FILE_BYTES = 1024 * 1024 * 1024;

/** The in-memory cache: records by "<descriptor mediaType> <digest>" (the descriptor's type decides how a document is read). */
interface Cached {
  docs: Map<string, DocRecord>;
  compression: Map<Digest, Compression>;
}

/**
 * On disk, compactly (10k images list ~100k layers, most of them shared): each distinct
 * layer once, as [digest, diffId or "" when equal, index into mediaTypes, size, compression
 * or "" when not sniffed yet]; an image lists indexes into that table. A document's key is
 * [index into mediaTypes, digest]. Arrays, not objects keyed by digest: V8 parses them
 * faster at this size. The file for 10k images x 10 layers is ~8 MB.
 */
type LayerTuple = [Digest, Digest | '', number, number, Compression | ''];
type StoredDoc = DocRecord | { kind: 'image'; configDigest: Digest; configSize: number; layers: number[]; platform?: Platform; created?: string };
interface RecordsFile {
  version: typeof VERSION;
  mediaTypes: string[];
  layers: LayerTuple[];
  docs: Array<[number, Digest, StoredDoc]>;
}

export class ImageRecords {
  private readonly docs = new Map<string, Promise<DocRecord>>();
  private readonly compressions = new Map<Digest, Promise<Compression>>();
  private dirty = false;
  private reads = 0;

  private constructor(
    private readonly store: Store,
    /** Regular files in blobs/sha256, from one readdir. */
    private readonly present: Set<Digest>,
    private cached: Cached,
  ) {}

  static async open(store: Store): Promise<ImageRecords> {
    const [present, cached] = await Promise.all([store.blobs.regularFiles(), readCache(store)]);
    return new ImageRecords(store, present, cached);
  }

  /** Whether the store holds `d` as a regular file (as of open()). */
  has(d: Digest): boolean {
    return this.present.has(d);
  }

  /** The record of the document `d` names; reads it (and an image's config) on a miss. */
  doc(d: Descriptor): Promise<DocRecord> {
    const key = `${d.mediaType} ${d.digest}`;
    let p = this.docs.get(key);
    if (!p) {
      const hit = this.cached.docs.get(key);
      p = hit ? Promise.resolve(hit) : this.readDoc(d, key);
      this.docs.set(key, p);
    }
    return p;
  }

  /** The cached compression of `d`, without waiting; undefined when it must be sniffed. */
  knownCompression(d: Digest): Compression | undefined {
    return this.cached.compression.get(d);
  }

  /** Compression of a stored layer blob, from its magic bytes (media types are not trusted). */
  compression(d: Digest): Promise<Compression> {
    let p = this.compressions.get(d);
    if (!p) {
      const hit = this.cached.compression.get(d);
      p = hit ? Promise.resolve(hit) : this.sniff(d);
      this.compressions.set(d, p);
    }
    return p;
  }

  /** Write the cache when this run read anything new; a read-only store just goes without. */
  async save(): Promise<void> {
    if (!this.dirty) return;
    // Settle what is in flight; the cache maps already hold every record that was read.
    await Promise.allSettled([...this.docs.values(), ...this.compressions.values()]);
    const out: RecordsFile = { version: VERSION, mediaTypes: [], layers: [], docs: [] };
    const mtIndex = new Map<string, number>();
    const mt = (t: string) => {
      let i = mtIndex.get(t);
      if (i === undefined) {
        i = out.mediaTypes.push(t) - 1;
        mtIndex.set(t, i);
      }
      return i;
    };
    const layerIndex = new Map<string, number>();
    const layer = (l: LayerRecord) => {
      const t: LayerTuple = [l.digest, l.diffId === l.digest ? '' : l.diffId, mt(l.mediaType), l.size, this.cached.compression.get(l.digest) ?? ''];
      const key = t.join(' ');
      let i = layerIndex.get(key);
      if (i === undefined) {
        i = out.layers.push(t) - 1;
        layerIndex.set(key, i);
      }
      return i;
    };
    for (const [key, rec] of this.cached.docs) {
      const sep = key.lastIndexOf(' ');
      const digest = key.slice(sep + 1) as Digest;
      if (!this.present.has(digest)) continue; // pruned: its blob left the store
      out.docs.push([mt(key.slice(0, sep)), digest, rec.kind !== 'image' ? rec : { ...rec, layers: rec.layers.map(layer) }]);
    }
    if (await writeDerived(this.store.layout, FILE, Buffer.from(JSON.stringify(out)))) this.dirty = false;
  }

  /** Let other work run now and then during a long run of synchronous reads. */
  private async yieldSometimes(): Promise<void> {
    if (++this.reads % YIELD_EVERY === 0) await new Promise((r) => setImmediate(r));
  }

  private async readDoc(d: Descriptor, key: string): Promise<DocRecord> {
    let rec: DocRecord = { kind: 'other' };
    // Only an index's or a manifest's type names a document (as at ingest). A blob under any
    // other type, or a document that is not what its type says (a store written before ingest
    // checked; verify reports it), is not an image: one such ref must not stop every report.
    if (isDocumentType(d.mediaType)) {
      await this.yieldSometimes();
      const doc = this.store.blobs.readJsonSync(d.digest, MAX_JSON_BYTES);
      if (kindMismatch(d.mediaType, doc) === undefined) {
        rec = documentKind(d.mediaType, doc) === 'index' ? { kind: 'index', children: parseIndex(doc, `index ${d.digest}`).manifests } : await this.readImage(d, doc);
      }
    }
    this.cached.docs.set(key, rec);
    this.dirty = true;
    return rec;
  }

  private async readImage(d: Descriptor, doc: unknown): Promise<DocRecord> {
    const m = parseManifest(doc, `manifest ${d.digest}`);
    if (!isImageManifest(m)) return { kind: 'other' };
    const config = parseImageConfig(this.store.blobs.readJsonSync(m.config.digest, MAX_JSON_BYTES), `config ${m.config.digest}`);
    const rec: DocRecord = {
      kind: 'image',
      configDigest: m.config.digest,
      configSize: m.config.size,
      layers: m.layers.map((l, i) => ({ digest: l.digest, diffId: config.rootfs.diff_ids[i] ?? l.digest, mediaType: l.mediaType, size: l.size })),
    };
    const platform = configPlatform(config);
    if (platform) rec.platform = platform;
    if (config.created) rec.created = config.created;
    return rec;
  }

  private async sniff(d: Digest): Promise<Compression> {
    await this.yieldSometimes();
    const c = sniffCompression(this.store.blobs.headSync(d, SNIFF_BYTES));
    this.cached.compression.set(d, c);
    this.dirty = true;
    return c;
  }
}

async function readCache(store: Store): Promise<Cached> {
  const cached: Cached = { docs: new Map(), compression: new Map() };
  const bytes = await readDerived(store.layout, FILE, MAX_FILE_BYTES);
  let f: RecordsFile;
  try {
    f = JSON.parse(bytes?.toString('utf8') ?? 'null') as RecordsFile;
  } catch {
    return cached;
  }
  // Anything unexpected (an older version, a damaged file) is read again, not believed.
  if (f === null || typeof f !== 'object' || f.version !== VERSION || !Array.isArray(f.mediaTypes) || !Array.isArray(f.layers) || !Array.isArray(f.docs)) return cached;
  const layers: Array<LayerRecord | undefined> = f.layers.map((t) => {
    if (!Array.isArray(t) || t.length !== 5) return undefined;
    const [digest, diffId, mt, size, c] = t;
    const mediaType = f.mediaTypes[mt];
    if (!looksLikeDigest(digest) || !(diffId === '' || looksLikeDigest(diffId)) || typeof mediaType !== 'string' || !Number.isSafeInteger(size)) return undefined;
    if (c === 'none' || c === 'gzip' || c === 'zstd') cached.compression.set(digest, c);
    return { digest, diffId: diffId === '' ? digest : diffId, mediaType, size };
  });
  for (const entry of f.docs) {
    if (!Array.isArray(entry) || entry.length !== 3) continue;
    const [mt, digest, stored] = entry;
    const mediaType = f.mediaTypes[mt];
    const rec = typeof mediaType === 'string' && looksLikeDigest(digest) ? decodeDoc(stored, layers) : undefined;
    if (rec) cached.docs.set(`${mediaType} ${digest}`, rec);
  }
  return cached;
}

/**
 * The cache is this program's own output, so a cheap shape check is enough (the full regex
 * over ~200k digests cost ~40 ms): a string digest of the right length, or the record is re-read.
 */
function looksLikeDigest(d: unknown): d is Digest {
  return typeof d === 'string' && d.length === 71 && d.startsWith('sha256:');
}

/** A stored record back in memory, or undefined when it is not well formed. */
function decodeDoc(r: StoredDoc, table: Array<LayerRecord | undefined>): DocRecord | undefined {
  if (r === null || typeof r !== 'object') return undefined;
  if (r.kind === 'other') return r;
  if (r.kind === 'index') {
    const ok = Array.isArray(r.children) && r.children.every((c) => c !== null && typeof c === 'object' && looksLikeDigest(c.digest) && typeof c.mediaType === 'string');
    return ok ? r : undefined;
  }
  if (r.kind !== 'image' || !looksLikeDigest(r.configDigest) || !Number.isSafeInteger(r.configSize) || !Array.isArray(r.layers)) return undefined;
  const layers: LayerRecord[] = [];
  for (const i of r.layers as unknown[]) {
    const l = typeof i === 'number' ? table[i] : undefined;
    if (!l) return undefined;
    layers.push(l);
  }
  return { ...r, layers };
}
