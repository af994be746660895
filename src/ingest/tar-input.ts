import { createReadStream, promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { LayerstoreError } from '../errors.js';
import { openArchive, openArchiveStream, READ_CHUNK, sniffFile, type OpenedArchive } from '../archive/open-archive.js';
import { readTarEntries, type TarEntryHeader } from '../archive/tar-entries.js';
import { walkTarFile } from '../archive/tar-file-walker.js';
import type { Compression } from '../archive/compression.js';
import type { Digest } from '../digest/digest.js';
import { MAX_JSON_BYTES } from '../formats/types.js';
import type { Store } from '../store/store.js';
import { storedClaim, storedWithSize, type TarFileEntry, type TarView } from './archive-view.js';
import { bytesReadOf, stageBody, stageFileRange, stagingWorkers, type StagedFile } from './staged-file.js';
import type { EntryHints } from './entry-hints.js';
import { keptWhileStreaming, namesListedBy } from './entry-shapes.js';
import type { IngestOptions } from './ingest.js';
import type { CommitTicket } from './commit-order.js';
import { claimedDigest } from '../formats/source.js';
import { readFullyAtSync } from '../util/fs-safe.js';

/**
 * Entries an image archive may have (headers, not counting pax or long-name ones). A docker
 * save has about four per layer, an OCI archive one per blob; past this it is not an image
 * archive, and each entry costs memory and time (E_TOO_LARGE).
 */
export const MAX_ARCHIVE_ENTRIES = 100_000;

/**
 * Entries kept in memory instead of staged while a compressed archive is read, and how many
 * bytes of them at most: configs, manifests and empty layers are staged only when a reader
 * asks for them, and an archive of many small entries costs no staging file each.
 */
const HOLD_ENTRY_BYTES = 64 * 1024;
const HOLD_TOTAL_BYTES = 16 * 1024 * 1024;

/** A tar input read up to its readers: what to release after ingest. */
export interface TarInput {
  /** Bytes of the input read: for a compressed file, of the file; else of the entries staged. */
  bytesRead(): number;
  /** Release the file and workers (after the view has settled and its files are discarded). */
  close(): Promise<void>;
}

/**
 * Read the headers of the tar file `file` (gzip or zstd too) into `view`. An uncompressed
 * file has its entries staged only when a reader asks for them, by byte range. A compressed
 * one is read in one pass in which entries must be kept or lost as they go by: see
 * readCompressed. On failure the caller discards what `view` has staged.
 */
export async function openTarInput(store: Store, file: string, view: TarView, opts: IngestOptions, hints: EntryHints): Promise<TarInput> {
  const sniffed = await sniffFile(file);
  if (sniffed.compression === 'none') return indexTarFile(store, file, sniffed.size, view, opts, hints);
  return readCompressed(store, file, sniffed, view, opts, hints);
}

/**
 * An uncompressed archive file: walk its headers by position, then stage each entry a reader
 * asks for from its byte range, on worker threads (see stageFileRange), several at once when
 * a reader prefetches. An entry nothing asks for is never read.
 */
async function indexTarFile(store: Store, file: string, size: number, view: TarView, opts: IngestOptions, hints: EntryHints): Promise<TarInput> {
  const fh = await fsp.open(file, 'r');
  // The workers hash with node:crypto; another hasher streams the range on this thread.
  const own = store.writer.canStageRanges && !opts.workers ? stagingWorkers() : undefined;
  const workers = store.writer.canStageRanges ? (opts.workers ?? own) : undefined;
  const close = () => Promise.all([own?.close(), fh.close()]).then(() => {});
  const doneBefore = workers?.bytesDone() ?? 0; // a shared pool counts other inputs' bytes too
  opts.onStart?.({ bytesRead: () => Math.min(size, (workers?.bytesDone() ?? doneBefore) - doneBefore), total: size });
  try {
    let entries = 0;
    let held = 0;
    for await (const e of walkTarFile(fh, size, { maxEntries: MAX_ARCHIVE_ENTRIES })) {
      entries++;
      if (!admit(view, e)) continue;
      const h = entryOf(e);
      // A small entry (a config, a manifest) is read here, at once from the open file: a round
      // trip to a thread, or starting one, costs more than hashing it. Its bytes stay with it
      // (bounded) for a reader that parses it.
      const stageSmall = async (existing: Digest | undefined): Promise<StagedFile> => {
        const bytes = Buffer.allocUnsafe(h.size);
        readFullyAtSync(fh.fd, bytes, h.offset);
        const f = await stageBody(store.writer, once(bytes), { ...h, existing });
        if (keptBytes(f, existing) && held + bytes.length <= HOLD_TOTAL_BYTES) {
          held += bytes.length;
          f.bytes = bytes;
        }
        return f;
      };
      const stage = (existing: Digest | undefined): Promise<StagedFile> =>
        h.size <= HOLD_ENTRY_BYTES
          ? stageSmall(existing)
          : workers
            ? stageFileRange(store.writer, workers, { path: file, fd: fh.fd, start: h.offset, size: h.size, whole: false }, { ...h, existing })
            : stageBody(store.writer, rangeOf(file, h.offset, h.size), { ...h, existing });
      view.entries.set(h.name, { ...h, stage: (diffId) => stagePinned(store, hints, h, stage, { ...storedPolicy(opts), hintable: true, diffId }) });
    }
    if (entries === 0) throw new LayerstoreError('E_EMPTY', 'the archive has no entries');
  } catch (e) {
    await close();
    throw e;
  }
  return { bytesRead: () => bytesReadOf(view.staged()), close };
}

/**
 * A gzip or zstd archive, read in one pass; its manifest.json usually comes last, so which
 * entries an image uses is known only at the end. As each entry goes by:
 *
 * - an entry of a name no reader may ask for (entry-shapes.ts), or a JSON document above
 *   its limit, is skipped: its size is recorded, no byte is kept;
 * - a small entry is kept in memory (bounded), to be staged if a reader asks for it;
 * - any other entry is staged now. An entry whose name looks like a layer and that nothing
 *   references is staged for nothing, and deleted with the rest after ingest: that cost
 *   cannot be told from a real layer's before manifest.json arrives. It is bounded by the
 *   archive's own content (and the entry count), and an uncompressed archive avoids it.
 *
 * When manifest.json turns out to list skipped entries, a second pass stages just those.
 */
async function readCompressed(
  store: Store,
  file: string,
  sniffed: { compression: Compression; size: number },
  view: TarView,
  opts: IngestOptions,
  hints: EntryHints,
): Promise<TarInput> {
  const arc = openArchive(file, sniffed);
  opts.onStart?.({ bytesRead: arc.bytesRead, total: arc.fileSize });
  await readOnePass(store, arc, view, hints, { keepAll: false, ...storedPolicy(opts) });
  const skipped = await skippedButListed(view);
  if (skipped.size > 0) await stageInSecondPass(store, file, sniffed, view, skipped, hints, storedPolicy(opts));
  return { bytesRead: arc.bytesRead, close: async () => {} };
}

/**
 * An archive that can be read only once (standard input, an engine's export): one pass as
 * for a compressed file, but with no second pass to come back for, every file entry is kept
 * (held or staged), whatever its name. An interrupted or cut stream ends in E_TRUNCATED and
 * commits nothing.
 */
export async function openTarStreamInput(store: Store, source: Readable, view: TarView, opts: IngestOptions, hints: EntryHints): Promise<TarInput> {
  const arc = await openArchiveStream(source);
  opts.onStart?.({ bytesRead: arc.bytesRead, total: 0 });
  try {
    await readOnePass(store, arc, view, hints, { keepAll: true, ...storedPolicy(opts) });
  } finally {
    arc.stream.destroy();
  }
  return { bytesRead: arc.bytesRead, close: async () => {} };
}

/** The one pass over a tar stream both of the above make; `keepAll` keeps entries of any name. */
async function readOnePass(
  store: Store,
  arc: OpenedArchive,
  view: TarView,
  hints: EntryHints,
  { keepAll, ...policy }: { keepAll: boolean } & StoredPolicy,
): Promise<void> {
  let entries = 0;
  let held = 0;
  for await (const e of readTarEntries(arc.stream, { maxEntries: MAX_ARCHIVE_ENTRIES })) {
    entries++;
    if (!admit(view, e)) continue;
    if (!keepAll && !keptWhileStreaming(e.name, e.size)) {
      view.entries.set(e.name, entryOf(e)); // its body is drained by readTarEntries
      continue;
    }
    const h = entryOf(e); // not `e`, whose body holds on to the reader's input chunks
    if (e.size <= HOLD_ENTRY_BYTES && held + e.size <= HOLD_TOTAL_BYTES) {
      const bytes = await readAll(e.body);
      held += bytes.length;
      view.entries.set(h.name, heldEntry(store, hints, h, bytes, policy));
    } else {
      view.addStaged(h, await stagePinned(store, hints, h, (existing) => stageBody(store.writer, e.body, { ...h, existing }), policy));
    }
  }
  if (entries === 0) throw new LayerstoreError('E_EMPTY', 'the archive has no entries');
}

/** Skipped entries manifest.json lists (links followed); none when it cannot be read (the reader reports why). */
async function skippedButListed(view: TarView): Promise<Map<string, TarFileEntry>> {
  const out = new Map<string, TarFileEntry>();
  let manifest: unknown;
  try {
    if (!(await view.has('manifest.json'))) return out;
    manifest = await view.readJson('manifest.json', 'manifest.json');
  } catch {
    return out;
  }
  for (const { name, json } of namesListedBy(manifest)) {
    let e: TarFileEntry | undefined;
    try {
      e = view.lookup(name);
    } catch {
      continue; // an unsafe name or link: the reader reports it
    }
    // A config above the JSON limit is refused by its size; no need for its bytes.
    if (e && !e.stage && !(json && e.size > MAX_JSON_BYTES)) out.set(e.name, e);
  }
  return out;
}

/** Read the archive again and stage the `wanted` entries (the same name, offset and size as in the first pass). */
async function stageInSecondPass(
  store: Store,
  file: string,
  sniffed: { compression: Compression; size: number },
  view: TarView,
  wanted: Map<string, TarFileEntry>,
  hints: EntryHints,
  policy: StoredPolicy,
): Promise<void> {
  const arc = openArchive(file, sniffed);
  for await (const e of readTarEntries(arc.stream, { maxEntries: MAX_ARCHIVE_ENTRIES })) {
    const w = wanted.get(e.name);
    if (!w || w.offset !== e.offset || w.size !== e.size || e.type !== 'file') continue;
    view.addStaged(w, await stagePinned(store, hints, w, (existing) => stageBody(store.writer, e.body, { ...w, existing }), policy));
    wanted.delete(e.name);
    if (wanted.size === 0) break;
  }
}

/**
 * An entry whose bytes are held in memory, staged when asked for. Made here, not in the
 * loop: a closure there would share the loop's scope, and with it the reader's entry.
 */
function heldEntry(store: Store, hints: EntryHints, h: TarFileEntry, bytes: Buffer, policy: StoredPolicy): TarFileEntry {
  const stage = async (existing: Digest | undefined): Promise<StagedFile> => {
    const f = await stageBody(store.writer, once(bytes), { ...h, existing });
    return keptBytes(f, existing) ? { ...f, bytes } : f;
  };
  return { ...h, stage: (diffId) => stagePinned(store, hints, h, stage, { ...policy, diffId }) };
}

/**
 * Whether a staged entry kept the bytes it was staged from: not when it pinned a stored blob
 * and hashed to another digest (its bytes are then refused, never parsed).
 */
function keptBytes(f: StagedFile, pinned: Digest | undefined): boolean {
  return pinned === undefined || f.blob.digest === pinned;
}

function entryOf(e: TarEntryHeader): TarFileEntry {
  return { name: e.name, offset: e.offset, size: e.size };
}

const EMPTY = Buffer.alloc(0);

async function readAll(body: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of body) parts.push(c);
  return parts.length === 0 ? EMPTY : Buffer.concat(parts);
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  if (b.length > 0) yield b;
}

/** Bytes `start .. start + size` of `file`, streamed. */
function rangeOf(file: string, start: number, size: number): AsyncIterable<Buffer> {
  return size === 0 ? once(EMPTY) : createReadStream(file, { start, end: start + size - 1, highWaterMark: READ_CHUNK });
}

/** What stagePinned may take from the store instead of reading an entry, and when it may look. */
interface StoredPolicy {
  /** Not --verify-input: a stored blob the entry claims stands for it. */
  trustStored: boolean;
  /** The command's commit order: a blob an earlier input is committing is looked for after that commit. */
  ticket?: CommitTicket;
}

function storedPolicy(opts: IngestOptions): StoredPolicy {
  return { trustStored: !opts.verifyInput, ticket: opts.ticket };
}

/**
 * Stage one file entry of an archive, pinning the stored blob its name claims
 * ("blobs/sha256/<hex>") or the one an entry hint or the reader's diffId names, so bytes the
 * store has are hashed, not written. `stage(existing)` stages the entry's bytes, pinning
 * `existing` when given; it is called a second time, unpinned, for a hint that turned out
 * wrong (same name and size, other bytes): only for an uncompressed archive, whose entry
 * bytes can be read again (`hintable`), are hints asked.
 *
 * `trustStored` (not --verify-input): when the store holds the blob the entry's name claims,
 * or the reader's `diffId` (a legacy save's config rootfs.diff_ids), at the entry's size, the
 * store's copy stands for the entry, whose bytes are not read: it was verified when it arrived,
 * and the image committed is the one the digests name.
 */
async function stagePinned(
  store: Store,
  hints: EntryHints,
  e: TarFileEntry,
  stage: (existing: Digest | undefined) => Promise<StagedFile>,
  { trustStored, ticket, hintable = false, diffId }: StoredPolicy & { hintable?: boolean; diffId?: Digest },
): Promise<StagedFile> {
  // A blob an earlier input of the command is committing: look once that commit has ended.
  await ticket?.settled(claimedDigest(e.name), diffId);
  const claim = await storedClaim(store, e.name);
  const trusted = claim ?? diffId;
  if (trusted !== undefined && trustStored) {
    const stored = await storedWithSize(store, trusted, e.size);
    if (stored) return { ...stored, name: e.name, offset: e.offset, fromStore: true };
  }
  const hint = claim === undefined && hintable ? (hints.get(e.name, e.size) ?? diffId) : undefined;
  if (hint !== diffId) await ticket?.settled(hint);
  const pinHint = hint !== undefined && (await store.blobs.has(hint));
  let staged = await stage(claim ?? (pinHint ? hint : undefined));
  if (pinHint && staged.blob.digest !== hint) {
    await store.writer.discard(staged.blob);
    staged = await stage(undefined);
  }
  if (claim === undefined) hints.remember(e.name, e.size, staged.blob.digest);
  return staged;
}

function duplicate(e: TarEntryHeader): LayerstoreError {
  return new LayerstoreError('E_DUPLICATE_ENTRY', 'the archive holds this entry twice; refusing to guess which one is meant', {
    entry: e.rawName,
    offset: e.offset,
  });
}

/**
 * The bookkeeping both readers share: directories and links are recorded, devices and
 * fifos skipped, a sparse entry and a second entry of a name refused. True when `e` is a
 * file to record.
 */
function admit(view: TarView, e: TarEntryHeader): boolean {
  if (e.sparse !== undefined) {
    // Image tools never write one; layers may hold sparse files, and the file index reads them.
    throw new LayerstoreError('E_UNSUPPORTED', `entry ${JSON.stringify(e.rawName)} is a sparse file (GNU tar --sparse), which an image archive does not hold`, {
      entry: e.rawName,
      offset: e.offset,
      hint: 'create the archive again without --sparse (-S)',
    });
  }
  if (e.type === 'directory') {
    view.dirs.add(e.name);
    return false;
  }
  if (e.type === 'other') return false; // devices, fifos: never part of an image archive's structure
  if (e.name === '') throw new LayerstoreError('E_UNSAFE_PATH', 'a non-directory entry names the archive root', { entry: e.rawName, offset: e.offset });
  if (view.entries.has(e.name) || view.links.has(e.name)) throw duplicate(e);
  if (e.type === 'symlink' || e.type === 'link') {
    view.links.set(e.name, { type: e.type, target: e.linkname ?? '' });
    return false;
  }
  return true;
}
