import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { LayerstoreError, isLayerstoreError, toLayerstoreError } from '../errors.js';
import { digestFromHex, parseDigest, type Digest } from '../digest/digest.js';
import { createDecompressor, type Compression } from '../archive/compression.js';
import type { Store } from '../store/store.js';
import { EntryTable, EntryTableBuilder, T_FILE } from './entry-table.js';
import { cacheRel, readIndexCache, writeIndexCache, type CachedHeader } from './file-index-cache.js';
import { LAYER_POLICY, readLayerEntries, type LayerTarSummary } from './layer-tar.js';
import { RangeWorkers, workersBesideMainThread } from '../digest/range-workers.js';
import { walkTarFile } from '../archive/tar-file-walker.js';
import { sparseContentAt, tooSparseToRead } from '../archive/tar-sparse-content.js';
import type { EntryType } from '../archive/tar-header.js';
import { TaskGroup } from '../util/pool.js';
import { normalizeLayerPath } from './layer-path.js';

/**
 * The file index of a layer: every entry of the layer's tar, read once, with the sha256 of
 * each regular file's content (hashed while streaming, never buffered). It is derived data:
 * keyed by the layer's blob digest, cached under `<store>/.layerstore/derived/files/<hex>.idx`
 * (file-index-cache.ts), immutable, never stale, safe to delete.
 *
 * In memory the entries are columns (entry-table.ts: ~20 bytes an entry plus its path),
 * not objects: `entries` builds the objects on each read, for small callers and output;
 * the analysis reads entryTable(index).
 *
 * Sizes here are uncompressed content bytes (what the files weigh in the image's file
 * system), unlike LayerInfo.size, which is the stored (possibly compressed) blob.
 */

/** Bump when the cache file's layout changes; a cache file of another version is rebuilt. */
// 3: GNU sparse files as their real name, size and bytes. 4: links carry no data whatever their
// size field says, a sparse file over the hole cap has no hash (indexes built before read layers otherwise).
// 5: name bytes that are not UTF-8 kept apart (archive/name-bytes.ts), not all read as U+FFFD.
export const FILE_INDEX_VERSION = 5;

/**
 * Most entries one layer may have (README, "report --files"): a layer with more is refused
 * with E_TOO_LARGE naming it, rather than indexed at any memory cost. Real images have up to
 * a few hundred thousand entries per layer; at ~60 bytes an entry in memory this bound keeps
 * one layer's index near 200 MB.
 */
export const MAX_LAYER_ENTRIES = 3_000_000; // below stack-entries.ts's 2^22 entries per layer

export type FileType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'other';

export interface FileEntry {
  /** Normalized: no leading "./" or "/", no trailing "/", no "." or empty segments. */
  path: string;
  type: FileType;
  /** Permission and special bits from the header (mode & 0o7777). */
  mode: number;
  uid: number;
  gid: number;
  /**
   * Regular file: its content bytes. Hardlink, symlink, dir: 0 (a hardlink's bytes belong to
   * the file it links to and are never counted twice). Other: the header's size field.
   */
  size: number;
  /** Symlink: the target as written. Hardlink: the normalized path of the linked entry. */
  linkTarget?: string;
  /**
   * Regular file: lowercase hex sha256 of the content. Hardlink: the content sha256 of the
   * entry it links to, when that is a regular file earlier in the same layer. None for a
   * GNU sparse file whose holes are over MAX_SPARSE_HOLE_BYTES (archive/tar-limits.ts): its
   * bytes are not read, so it takes no part in duplicate detection.
   */
  sha256?: string;
}

/** An entry whose name (or hardlink target) contains ".." or NUL: counted, never merged. */
export interface UnsafeEntry {
  rawName: string;
  rawLinkname?: string;
  type: FileType;
  size: number;
  reason: 'dotdot' | 'nul' | 'link-dotdot' | 'link-nul';
}

export interface FileIndex {
  /** FILE_INDEX_VERSION for indexes this code built or read. */
  version: number;
  /** Blob digest of the layer: sha256 of the stored (possibly compressed) bytes. */
  digest: Digest;
  /** sha256 of the whole uncompressed stream, recomputed here (equals the layer's diffID). */
  diffId: Digest;
  /** Sniffed from the blob's first bytes. */
  compression: Compression;
  /** Stored (compressed) bytes of the blob. */
  blobBytes: number;
  /** Uncompressed bytes of the tar stream, trailing data included. */
  tarBytes: number;
  /**
   * Safe entries in archive order (the archive root "./" is left out). On an index this
   * module returns, a getter that builds a fresh array each time: use entryTable(index) for
   * anything the size of a layer.
   */
  entries: FileEntry[];
  /** Entries with unsafe names; `unsafe` keeps the first MAX_UNSAFE_KEPT of them. */
  unsafeCount: number;
  unsafe: UnsafeEntry[];
  /**
   * Offset of the first non-zero byte after the end-of-archive marker (an eStargz TOC, for
   * example). Entries there are not part of the file system and are not listed.
   */
  trailingDataAt?: number;
  totals: { entries: number; files: number; dirs: number; symlinks: number; hardlinks: number; other: number; fileBytes: number };
}

export const MAX_UNSAFE_KEPT = 100;

export interface IndexLayerOptions {
  /** Refuse layers with more entries than this. Default MAX_LAYER_ENTRIES. */
  maxEntries?: number;
  /**
   * Uncompressed layers of at least this many bytes are read by position with hashing
   * threads, smaller ones streamed on this thread. Default 16 MiB; tests pass 0 to compare
   * the two readers on small layers.
   */
  threadsFromBytes?: number;
}

const tables = new WeakMap<FileIndex, EntryTable>();

/**
 * The entries of an index as columns: the table it was built or read with, or (an index
 * put together by hand, as objects) one made from its `entries` once.
 */
export function entryTable(index: FileIndex): EntryTable {
  let t = tables.get(index);
  if (!t) tables.set(index, (t = EntryTable.fromEntries(index.entries)));
  return t;
}

type IndexFields = Omit<FileIndex, 'entries'>;

/** An index over `table`, whose `entries` are built from it on read. */
function indexOver<F extends Partial<IndexFields>>(fields: F, table: EntryTable): F & { entries: FileEntry[] } {
  const index = { ...fields } as F & { entries: FileEntry[] };
  Object.defineProperty(index, 'entries', { enumerable: true, configurable: true, get: () => table.toEntries() });
  tables.set(index as unknown as FileIndex, table);
  return index;
}

const tooMany = (max: number) => new LayerstoreError('E_TOO_LARGE', `the layer has more than ${max} entries (the most report --files indexes in one layer)`);

/** Blobs at least this big are checked against their name on another thread (hash-file.ts). */
const HASH_ELSEWHERE_BYTES = 16 * 1024 * 1024;

/**
 * Build the file index from a layer blob's bytes (`input`, as stored: compressed or not).
 * The compression must have been sniffed from the blob's first bytes. Hashes the stored
 * bytes as they stream, so the caller can check them against the blob digest, and the
 * decompressed stream, which gives the diffID.
 */
export async function indexLayerStream(
  input: Readable,
  compression: Compression,
  opts: IndexLayerOptions & {
    /**
     * The blob's digest, computed elsewhere from the same bytes (buildFileIndex hashes the
     * file on another thread); without it the stored bytes are hashed here as they stream.
     */
    blobDigest?: Promise<Digest>;
  } = {},
): Promise<{ index: Omit<FileIndex, 'digest'>; blobDigest: Digest }> {
  const blobHash = opts.blobDigest ? undefined : createHash('sha256');
  let blobBytes = 0;
  input.on('data', (c: Buffer) => {
    blobHash?.update(c);
    blobBytes += c.length;
  });
  let tarStream: Readable = input;
  let mapInputError = (e: unknown): LayerstoreError => toLayerstoreError(e);
  if (compression !== 'none') {
    const dec = createDecompressor(compression);
    input.on('error', (e) => dec.destroy(toLayerstoreError(e)));
    input.pipe(dec);
    tarStream = dec;
    mapInputError = (e) =>
      isLayerstoreError(e)
        ? e
        : new LayerstoreError('E_DECOMPRESS', `the ${compression} layer does not decompress: ${(e as Error)?.message ?? e}`, { cause: e });
  }
  // For an uncompressed layer the diffID is the blob digest: hash the bytes once.
  const diffHash = compression === 'none' ? undefined : createHash('sha256');
  if (diffHash) tarStream.on('data', (c: Buffer) => diffHash.update(c));

  const builder = new IndexBuilder();
  const summary: LayerTarSummary = {};
  const maxEntries = opts.maxEntries ?? MAX_LAYER_ENTRIES;
  try {
    for await (const e of readLayerEntries(tarStream, summary, { mapInputError })) {
      if (builder.seen >= maxEntries) throw tooMany(maxEntries);
      const type = FILE_TYPE[e.type];
      let sha: Buffer | undefined;
      if (type === 'file' && !e.unread) {
        // Hash while streaming: one chunk in memory at a time, whatever the file's size.
        const h = createHash('sha256');
        for await (const chunk of e.body) h.update(chunk);
        sha = h.digest();
      }
      builder.add({ rawName: e.rawName, rawLinkname: e.linkname, type, mode: e.mode, uid: e.uid, gid: e.gid, size: e.size }, sha);
    }
  } finally {
    input.destroy();
  }
  const blobDigest = blobHash ? digestFromHex(blobHash.digest('hex')) : await opts.blobDigest!;
  const { fields, table } = builder.finish({
    diffId: diffHash ? digestFromHex(diffHash.digest('hex')) : blobDigest,
    compression,
    blobBytes,
    tarBytes: summary.tarBytes ?? 0,
    trailingDataAt: summary.trailingDataAt,
  });
  return { index: indexOver(fields, table), blobDigest };
}

/** One entry of a layer tar, as both readers (stream and positional) give it. */
interface IndexInput {
  rawName: string;
  rawLinkname?: string;
  type: FileType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
}

/**
 * What the index makes of the entries, in archive order: names normalized or counted as
 * unsafe, hardlinks given the content hash of the file they link to, totals.
 */
class IndexBuilder {
  private readonly table = new EntryTableBuilder();
  private readonly unsafe: UnsafeEntry[] = [];
  private unsafeCount = 0;
  private readonly totals = { entries: 0, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, other: 0, fileBytes: 0 };
  // Hardlink entries, in archive order: their content hash is filled in by finish().
  private readonly hardlinks: number[] = [];

  /** Entries added so far, unsafe ones included (the bound counts what was read). */
  get seen(): number {
    return this.table.count + this.unsafeCount;
  }

  /** `sha`: the content hash of a regular file (32 bytes or 64 hex digits). */
  add(e: IndexInput, sha: Buffer | string | undefined): void {
    const { type } = e;
    const name = normalizeLayerPath(e.rawName);
    let reason: UnsafeEntry['reason'] | undefined = name.ok ? undefined : name.reason;
    let linkTarget: string | undefined;
    if (!reason && type === 'hardlink') {
      const t = normalizeLayerPath(e.rawLinkname ?? '');
      if (t.ok) linkTarget = t.path;
      else reason = t.reason === 'nul' ? 'link-nul' : 'link-dotdot';
    } else if (!reason && type === 'symlink') {
      linkTarget = e.rawLinkname ?? '';
      if (linkTarget.includes('\0')) reason = 'link-nul';
    }
    if (reason) {
      this.unsafeCount++;
      if (this.unsafe.length < MAX_UNSAFE_KEPT) {
        const u: UnsafeEntry = { rawName: e.rawName, type, size: type === 'hardlink' || type === 'symlink' || type === 'dir' ? 0 : e.size, reason };
        if (e.rawLinkname) u.rawLinkname = e.rawLinkname;
        this.unsafe.push(u);
      }
      return;
    }
    const p = (name as { path: string }).path;
    if (p === '') return; // the archive root ("./"): metadata of "/" only
    const size = type === 'file' || type === 'other' ? e.size : 0;
    const i = this.table.add(p, type, e.mode & 0o7777, e.uid, e.gid, size, linkTarget);
    if (sha !== undefined) {
      if (typeof sha === 'string') this.table.setShaHex(i, sha);
      else this.table.setShaBytes(i, sha);
    } else if (type === 'hardlink') this.hardlinks.push(i);
    const t = this.totals;
    t.entries++;
    if (type === 'file') {
      t.files++;
      t.fileBytes += size;
    } else if (type === 'dir') t.dirs++;
    else if (type === 'symlink') t.symlinks++;
    else if (type === 'hardlink') t.hardlinks++;
    else t.other++;
  }

  finish(rest: Pick<FileIndex, 'diffId' | 'compression' | 'blobBytes' | 'tarBytes' | 'trailingDataAt'>): {
    fields: Omit<IndexFields, 'digest'>;
    table: EntryTable;
  } {
    this.linkHardlinks();
    const fields: Omit<IndexFields, 'digest'> = {
      version: FILE_INDEX_VERSION,
      diffId: rest.diffId,
      compression: rest.compression,
      blobBytes: rest.blobBytes,
      tarBytes: rest.tarBytes,
      unsafeCount: this.unsafeCount,
      unsafe: this.unsafe,
      totals: this.totals,
    };
    if (rest.trailingDataAt !== undefined) fields.trailingDataAt = rest.trailingDataAt;
    return { fields, table: this.table.finish() };
  }

  /**
   * A hardlink takes the content hash of the regular file at its target path as it stood
   * when the link came (a later non-file entry at that path replaces the file). One pass in
   * archive order after the walk, keeping only the hardlinks' target paths: no map of every
   * path of the layer.
   */
  private linkHardlinks(): void {
    if (this.hardlinks.length === 0) return;
    const t = this.table;
    const targets = new Map<string, number>(); // target path -> content slot there now (-1: none)
    const lengths = new Set<number>();
    const target = new Map<number, string>();
    for (const h of this.hardlinks) {
      const p = t.linkTargetOf(h)!;
      target.set(h, p);
      targets.set(p, -1);
      lengths.add(Buffer.byteLength(p));
    }
    let next = 0;
    for (let i = 0; i < t.count; i++) {
      if (this.hardlinks[next] === i) {
        const slot = targets.get(target.get(i)!)!;
        if (slot >= 0) t.setSlot(i, slot);
        next++;
      }
      if (!lengths.has(t.pathBytesLength(i))) continue;
      const p = t.pathOf(i);
      if (targets.has(p)) targets.set(p, t.typeCodeOf(i) === T_FILE ? t.slotOf(i) : -1);
    }
  }
}

/** The name below the store's derived data of a layer's cached index (see file-index-cache.ts). */
export const fileIndexRel = cacheRel;

const inFlight = new Map<string, Promise<FileIndex>>();

/**
 * The file index of a stored layer: from the cache when a valid one exists, otherwise by
 * reading the blob once (verifying its digest on the way) and caching the result. Concurrent
 * calls for one layer in this process share one read. A corrupt or foreign cache file is
 * ignored and rebuilt.
 *
 * Errors: E_STORE_INVALID (the blob is missing, or its bytes are not its name: run verify),
 * E_DECOMPRESS, E_TRUNCATED, E_TAR_CORRUPT, E_NOT_TAR, E_EMPTY, E_TOO_LARGE, E_IO.
 */
export async function getFileIndex(store: Store, layerDigest: Digest | string, opts: IndexLayerOptions = {}): Promise<FileIndex> {
  const d = parseDigest(layerDigest, 'layer digest');
  const key = `${store.root}\0${d}`;
  let p = inFlight.get(key);
  if (!p) {
    p = loadOrBuild(store, d, opts).finally(() => inFlight.delete(key));
    inFlight.set(key, p);
  }
  return p;
}

async function loadOrBuild(store: Store, d: Digest, opts: IndexLayerOptions): Promise<FileIndex> {
  const cached = await readCache(store, d);
  if (cached) return cached;
  const index = await buildFileIndex(store, d, opts);
  await writeCache(store, index);
  return index;
}

/** Build a layer's index from its blob, bypassing the cache (and not writing it). */
export async function buildFileIndex(store: Store, d: Digest, opts: IndexLayerOptions = {}): Promise<FileIndex> {
  let compression: Compression;
  let input: Readable;
  let size: number;
  try {
    compression = await store.blobs.compression(d);
    size = (await store.blobs.size(d)) ?? 0;
    // An uncompressed layer is read by position with hashing threads, unless it is small:
    // starting the two threads cost ~70 ms a layer, more than reading a 4 MB layer on this
    // thread (report --files on an image family: 1.12 -> 0.67 s; docs/PERFORMANCE.md).
    if (compression === 'none' && store.writer.canStageRanges && size >= (opts.threadsFromBytes ?? HASH_ELSEWHERE_BYTES))
      return await indexLayerFile(store, d, opts);
    input = await store.blobs.open(d);
  } catch (e) {
    throw await inLayer(store, e, d);
  }
  try {
    // A big blob is hashed on another thread while this one parses and hashes its files.
    let elsewhere: Promise<Digest> | undefined;
    if (size >= HASH_ELSEWHERE_BYTES) {
      elsewhere = store.blobs.rehash(d);
      elsewhere.catch(() => {}); // observed through indexLayerStream
    }
    const { index, blobDigest } = await indexLayerStream(input, compression, { ...opts, blobDigest: elsewhere });
    expectItsName(d, blobDigest);
    return withDigest(index, d);
  } catch (e) {
    throw await inLayer(store, e, d);
  }
}

/** The same index, with its layer's digest. */
function withDigest(index: Omit<FileIndex, 'digest'>, d: Digest): FileIndex {
  const { version, diffId, compression, blobBytes, tarBytes, unsafeCount, unsafe, trailingDataAt, totals } = index;
  const fields: IndexFields = { version, digest: d, diffId, compression, blobBytes, tarBytes, unsafeCount, unsafe, totals };
  if (trailingDataAt !== undefined) fields.trailingDataAt = trailingDataAt;
  return indexOver(fields, entryTable(index as FileIndex));
}

/** A stored blob's bytes must hash to its name, or the store is damaged. */
function expectItsName(d: Digest, actual: Digest): void {
  if (actual !== d) throw damaged(d, actual);
}

function damaged(d: Digest, actual: Digest): LayerstoreError {
  return new LayerstoreError('E_STORE_INVALID', `stored blob ${d} is damaged: its bytes hash to ${actual}`, {
    expected: d,
    actual,
    hint: 'run layerstore verify --fix, then ingest its source again',
  });
}

/** Errors that a layer's bytes cause: either the layer is not a valid tar, or its blob was damaged since it was stored. */
const FORMAT_ERRORS = new Set(['E_TRUNCATED', 'E_TAR_CORRUPT', 'E_NOT_TAR', 'E_DECOMPRESS', 'E_EMPTY', 'E_TRAILING_DATA']);

/**
 * Name the layer in an error, and tell damage from a bad layer: when reading a stored layer
 * fails on its format, the blob is hashed; bytes that no longer match their name are store
 * damage (exit 3), not an input problem (exit 2).
 */
async function inLayer(store: Store, e: unknown, d: Digest): Promise<LayerstoreError> {
  let err = toLayerstoreError(e);
  if (FORMAT_ERRORS.has(err.code)) {
    const actual = await store.blobs.rehash(d).catch(() => undefined);
    if (actual !== undefined && actual !== d) err = damaged(d, actual);
  }
  if (!err.source) err.source = `layer ${d}`;
  return err;
}

/** Files per hashing batch, and bytes: small files go to the workers in groups. */
const BATCH_FILES = 1024;
const BATCH_BYTES = 4 * 1024 * 1024;
const BATCHES_IN_FLIGHT = 8;

/**
 * An uncompressed layer, read by position (archive/tar-file-walker.ts): this thread walks
 * the headers and builds the index, and worker threads (one per other core) hash the files
 * in batches of neighbouring small files and the whole blob (its digest, which is also the
 * diffID). Same rules
 * and the same index as the streaming path, which compressed layers take (tests compare
 * the two on every fixture layer).
 */
async function indexLayerFile(store: Store, d: Digest, opts: IndexLayerOptions): Promise<FileIndex> {
  const fh = await store.blobs.openFile(d);
  // The whole-blob hash has a thread of its own, beside the batch threads: in one pool, on
  // two cores, every batch queued behind it (one core idle, and the walk ran ahead holding
  // each entry of the layer as an object until its hash came).
  const blobWorker = new RangeWorkers(1);
  const workers = new RangeWorkers(workersBesideMainThread());
  // A few batches in flight keep the batch threads busy; more would only hold walked
  // entries in memory (at most BATCHES_IN_FLIGHT x BATCH_FILES of them).
  const tasks = new TaskGroup(BATCHES_IN_FLIGHT);
  // Entries walked and not yet in the index, by their number in archive order; each goes once
  // it is in the index. A Map, not an array of every entry: a million-entry layer made that
  // array (and its growth copies) tens of MB that outlived the build.
  // `sha` null: a file with no content hash (a sparse file over the hole cap), nothing to wait for.
  const walked = new Map<number, IndexInput & { sha?: string | null }>();
  let walkedCount = 0;
  const maxEntries = opts.maxEntries ?? MAX_LAYER_ENTRIES;
  // Entries go into the index in archive order as their hashes arrive (a hardlink takes the
  // hash of a file before it), so little is left to do when the last batch is in.
  const builder = new IndexBuilder();
  let added = 0;
  const advance = () => {
    for (; added < walkedCount; added++) {
      const w = walked.get(added)!;
      if (w.type === 'file' && w.sha === undefined) return;
      builder.add(w, w.sha ?? undefined);
      walked.delete(added); // its FileEntry is all that is kept
    }
  };
  const summary: { trailingDataAt?: number } = {};
  let size = 0;
  let blob: Promise<Digest> | undefined;
  let blobDigest: Digest;
  try {
    size = (await fh.stat()).size;
    blob = blobWorker.hash({ src: fh.fd, start: 0, size });
    blob.catch(() => {}); // awaited below
    let ranges: number[] = [];
    let slots: number[] = [];
    let bytes = 0;
    const flush = async () => {
      if (slots.length === 0) return;
      const job = { src: fh.fd, ranges: Float64Array.from(ranges) };
      const at = slots;
      ranges = [];
      slots = [];
      bytes = 0;
      await tasks.add(async () => {
        const hexes = await workers.hashBatch(job);
        for (let i = 0; i < at.length; i++) walked.get(at[i]!)!.sha = hexes[i];
        advance();
      });
    };
    await tasks.run(async () => {
      const walk = walkTarFile(fh, size, { ...LAYER_POLICY, window: 1024 * 1024, summary });
      for await (const e of walk) {
        if (tasks.failed) break;
        if (walkedCount >= maxEntries) throw tooMany(maxEntries);
        const type = FILE_TYPE[e.type];
        const size = e.sparse?.size ?? e.size;
        // A sparse file's bytes (its data with zeros in the holes) are no one range of the
        // blob for the hashing threads: hashed here, as the streaming path does. Layers hold few.
        // Over the hole cap, not at all (as readLayerEntries): no hash.
        const sparse = type === 'file' ? e.sparse : undefined;
        const sha = sparse ? (tooSparseToRead(sparse) ? null : await sha256Hex(sparseContentAt(fh.fd, { ...e, sparse }))) : undefined;
        walked.set(walkedCount++, { rawName: e.rawName, rawLinkname: e.linkname, type, mode: e.mode, uid: e.uid, gid: e.gid, size, sha });
        if (type !== 'file' || sha !== undefined) {
          if (added === walkedCount - 1) advance(); // nothing to wait for: straight into the index
          continue;
        }
        ranges.push(e.offset, e.size);
        slots.push(walkedCount - 1);
        bytes += e.size;
        if (slots.length >= BATCH_FILES || bytes >= BATCH_BYTES) await flush();
      }
      await flush();
    });
    blobDigest = await blob;
  } finally {
    // The workers read through this descriptor: every job ends before it is closed.
    await blob?.catch(() => {});
    await Promise.all([workers.close(), blobWorker.close()]);
    await fh.close();
  }
  expectItsName(d, blobDigest);
  advance();
  const { fields, table } = builder.finish({ diffId: d, compression: 'none', blobBytes: size, tarBytes: size, trailingDataAt: summary.trailingDataAt });
  return indexOver({ ...fields, digest: d }, table);
}

async function sha256Hex(chunks: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of chunks) h.update(c);
  return h.digest('hex');
}

const FILE_TYPE: Record<EntryType, FileType> = { file: 'file', directory: 'dir', symlink: 'symlink', link: 'hardlink', other: 'other' };

async function readCache(store: Store, d: Digest): Promise<FileIndex | undefined> {
  const got = await readIndexCache(store.derived, FILE_INDEX_VERSION, d);
  if (!got) return undefined; // absent, another version, damaged, a symlink: rebuild
  const fields = fieldsOf(got.header, d);
  if (!fields) return undefined;
  const t = got.table;
  let fileBytes = 0;
  let files = 0;
  for (let i = 0; i < t.count; i++) {
    if (t.typeCode(i) !== T_FILE) continue;
    files++;
    fileBytes += t.sizes[i]!;
  }
  if (fields.totals.entries !== t.count || fields.totals.files !== files || fields.totals.fileBytes !== fileBytes) return undefined;
  return indexOver(fields, t);
}

async function writeCache(store: Store, index: FileIndex): Promise<void> {
  const { entries: _built, ...fields } = Object.getOwnPropertyDescriptors(index);
  const header = Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.value])) as CachedHeader;
  await writeIndexCache(store.derived, FILE_INDEX_VERSION, header, entryTable(index));
}

const COMPRESSIONS = new Set<string>(['none', 'gzip', 'zstd']);
const TOTALS = ['entries', 'files', 'dirs', 'symlinks', 'hardlinks', 'other', 'fileBytes'] as const;

/** The header of a cache file, checked field by field (a foreign or damaged file is rebuilt). */
function fieldsOf(h: Record<string, unknown>, d: Digest): IndexFields | undefined {
  const x = h as Partial<IndexFields>;
  if (x.digest !== d || typeof x.diffId !== 'string' || !COMPRESSIONS.has(x.compression as string)) return undefined;
  if (!Number.isSafeInteger(x.blobBytes) || !Number.isSafeInteger(x.tarBytes) || !Number.isSafeInteger(x.unsafeCount) || !Array.isArray(x.unsafe))
    return undefined;
  if (x.trailingDataAt !== undefined && !Number.isSafeInteger(x.trailingDataAt)) return undefined;
  if (!x.totals || typeof x.totals !== 'object' || !TOTALS.every((k) => Number.isSafeInteger(x.totals![k]))) return undefined;
  const fields: IndexFields = {
    version: FILE_INDEX_VERSION,
    digest: d,
    diffId: x.diffId as Digest,
    compression: x.compression!,
    blobBytes: x.blobBytes!,
    tarBytes: x.tarBytes!,
    unsafeCount: x.unsafeCount!,
    unsafe: x.unsafe,
    totals: x.totals,
  };
  if (x.trailingDataAt !== undefined) fields.trailingDataAt = x.trailingDataAt;
  return fields;
}
