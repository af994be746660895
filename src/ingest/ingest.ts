import { createReadStream, promises as fsp } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { LayerstoreError, toLayerstoreError } from '../errors.js';
import { openArchive, READ_CHUNK, sniffFile } from '../archive/open-archive.js';
import { readTarEntries, type TarEntryHeader } from '../archive/tar-entries.js';
import { walkTarFile } from '../archive/tar-file-walker.js';
import { RangeWorkers } from '../digest/range-workers.js';
import { TaskGroup } from '../util/pool.js';
import { resolveDockerArchive } from '../formats/docker-archive.js';
import { resolveOciLayout } from '../formats/oci.js';
import type { Store } from '../store/store.js';
import { markUnverified } from '../store/unverified.js';
import { fsyncDir } from '../store/fs-safe.js';
import { readIndex, updateIndexLocked, withIndexLock, type RefChange } from '../store/refs.js';
import type { StagedBlob } from '../store/blob-writer.js';
import type { Digest } from '../digest/digest.js';
import { DirView, storedClaim, TarView, type ArchiveView } from './archive-view.js';
import { IngestPlan, type PlannedImage } from './plan.js';
import { STAGING_CONCURRENCY, stageBody, stageFileRange, type StagedFile } from './staged-file.js';
import { EntryHints } from './entry-hints.js';

export interface IngestProgress {
  /** Bytes of the input file read so far. */
  bytesRead(): number;
  /** Size of the input file (for a directory: 0, unknown in advance). */
  total: number;
}

export interface IngestOptions {
  /** Called once the input is open, so a caller can poll progress. */
  onStart?: (p: IngestProgress) => void;
}

export interface IngestResult {
  source: string;
  format: 'docker-save' | 'docker-save-oci' | 'oci-layout';
  images: PlannedImage[];
  /** Blobs this ingest added to the store, and their bytes. */
  blobsAdded: number;
  bytesAdded: number;
  /** Blobs the input holds that the store already had. */
  blobsPresent: number;
  /** Bytes of the input read. */
  bytesRead: number;
  refChanges: RefChange[];
  notes: string[];
  seconds: number;
}

/**
 * Ingest one tarball or OCI layout directory as one transaction: stage and hash every
 * entry, let the format reader verify and resolve images, then commit the blobs the images
 * use (rename into blobs/sha256) and, last, record the refs in index.json. On any error the
 * staged files are removed and blobs and refs stay as they were.
 */
export async function ingestPath(store: Store, input: string, opts: IngestOptions = {}): Promise<IngestResult> {
  const t0 = performance.now();
  let view: ArchiveView | undefined;
  let workers: RangeWorkers | undefined;
  let hints: EntryHints | undefined;
  let bytesRead = 0;
  try {
    const st = await fsp.stat(input).catch(() => {
      throw new LayerstoreError('E_INPUT_NOT_FOUND', 'no such file or directory', { source: input });
    });
    if (st.isDirectory()) {
      workers = new RangeWorkers();
      view = new DirView(input, input, store, workers);
      opts.onStart?.({ bytesRead: () => 0, total: 0 });
    } else {
      const tv = new TarView(input, store);
      view = tv;
      hints = await EntryHints.load(store);
      bytesRead = await stageTar(store, input, tv, opts, hints);
    }
    const { plan, format } = await resolve(view);
    if (plan.images.length === 0 && plan.roots.length === 0) throw new LayerstoreError('E_MANIFEST_INVALID', 'the input holds no images');
    const committed = await commitPlan(store, plan);
    await hints?.save();
    if (view instanceof DirView) bytesRead = [...view.staged()].reduce((n, f) => n + f.blob.size, 0);
    return {
      source: input,
      format,
      images: plan.images,
      ...committed,
      bytesRead,
      notes: plan.summaryNotes(),
      seconds: (performance.now() - t0) / 1000,
    };
  } catch (e) {
    throw toLayerstoreError(e, input);
  } finally {
    // Whatever was staged and not committed (unused entries, or everything on failure) goes.
    if (view) {
      await view.settle();
      await Promise.all([...view.staged()].map((f) => store.writer.discard(f.blob)));
    }
    await workers?.close();
  }
}

async function stageTar(store: Store, file: string, view: TarView, opts: IngestOptions, hints: EntryHints): Promise<number> {
  const sniffed = await sniffFile(file);
  if (sniffed.compression === 'none' && store.writer.canStageRanges) return stageTarFile(store, file, sniffed.size, view, opts, hints);
  const arc = openArchive(file, sniffed);
  opts.onStart?.({ bytesRead: arc.bytesRead, total: arc.fileSize });
  let entries = 0;
  for await (const e of readTarEntries(arc.stream)) {
    entries++;
    if (!admit(view, e)) continue;
    const meta = { name: e.name, offset: e.offset };
    // A hint needs a way back to the bytes when it is wrong: the entry's range of an
    // uncompressed file (its offset in the tar is its offset in the file).
    const staged = await stagePinned(
      store,
      hints,
      e,
      arc.compression === 'none',
      (existing) => stageBody(store.writer, e.body, { ...meta, existing }),
      () => stageBody(store.writer, createReadStream(file, { start: e.offset, end: e.offset + e.size - 1, highWaterMark: READ_CHUNK }), meta),
    );
    view.files.set(e.name, staged);
  }
  if (entries === 0) throw new LayerstoreError('E_EMPTY', 'the archive has no entries');
  return arc.bytesRead();
}

/**
 * An uncompressed archive file: walk its headers by position and stage the entries' byte
 * ranges on worker threads, several at once, instead of passing every byte
 * through one stream on the main thread. A compressed entry (a gzip layer in an OCI
 * archive) is decompressed on this thread for its diffID meanwhile (stageFileRange).
 */
async function stageTarFile(store: Store, file: string, size: number, view: TarView, opts: IngestOptions, hints: EntryHints): Promise<number> {
  const fh = await fsp.open(file, 'r');
  const workers = new RangeWorkers();
  const tasks = new TaskGroup(STAGING_CONCURRENCY);
  opts.onStart?.({ bytesRead: () => Math.min(size, workers.bytesDone()), total: size });
  const pending = new Set<string>(); // names being staged, for the duplicate check
  const stageEntry = (e: TarEntryHeader, existing: Digest | undefined): Promise<StagedFile> =>
    stageFileRange(store.writer, workers, { path: file, fd: fh.fd, start: e.offset, size: e.size, whole: false }, { name: e.name, offset: e.offset, existing });
  let entries = 0;
  try {
    // Every started task ends before the caller discards what was staged.
    await tasks.run(async () => {
      for await (const e of walkTarFile(fh, size)) {
        entries++;
        if (tasks.failed) break;
        if (!admit(view, e, pending)) continue;
        pending.add(e.name);
        await tasks.add(async () => {
          view.files.set(e.name, await stagePinned(store, hints, e, true, (existing) => stageEntry(e, existing), () => stageEntry(e, undefined)));
        });
      }
    });
  } finally {
    await Promise.all([workers.close(), fh.close()]);
  }
  if (entries === 0) throw new LayerstoreError('E_EMPTY', 'the archive has no entries');
  return size;
}

/**
 * Stage one file entry of an archive, pinning the stored blob its name claims
 * ("blobs/sha256/<hex>") or, for a `hintable` entry, the one an entry hint names, so bytes
 * the store has are hashed, not written. `stage(existing)` stages the entry's bytes
 * (pinning `existing` when given); `restage()` stages them again, unpinned, for a hint that
 * turned out wrong (same name and size, other bytes).
 */
async function stagePinned(
  store: Store,
  hints: EntryHints,
  e: TarEntryHeader,
  hintable: boolean,
  stage: (existing: Digest | undefined) => Promise<StagedFile>,
  restage: () => Promise<StagedFile>,
): Promise<StagedFile> {
  const claim = await storedClaim(store, e.name);
  const hint = claim === undefined && hintable ? hints.get(e.name, e.size) : undefined;
  const pinHint = hint !== undefined && (await store.blobs.has(hint));
  let staged = await stage(claim ?? (pinHint ? hint : undefined));
  if (pinHint && staged.blob.digest !== hint) {
    await store.writer.discard(staged.blob);
    staged = await restage();
  }
  if (claim === undefined) hints.remember(e.name, e.size, staged.blob.digest);
  return staged;
}

function duplicate(e: TarEntryHeader): LayerstoreError {
  return new LayerstoreError('E_DUPLICATE_ENTRY', 'the archive holds this entry twice; refusing to guess which one is meant', { entry: e.rawName, offset: e.offset });
}

/**
 * The bookkeeping both readers share: directories and links are recorded, devices and
 * fifos skipped, a second entry of a name refused (`staging`: names whose staging is still
 * running). True when `e` is a file to stage.
 */
function admit(view: TarView, e: TarEntryHeader, staging?: ReadonlySet<string>): boolean {
  if (e.type === 'directory') {
    view.dirs.add(e.name);
    return false;
  }
  if (e.type === 'other') return false; // devices, fifos: never part of an image archive's structure
  if (e.name === '') throw new LayerstoreError('E_UNSAFE_PATH', 'a non-directory entry names the archive root', { entry: e.rawName, offset: e.offset });
  if (view.files.has(e.name) || view.links.has(e.name) || staging?.has(e.name)) throw duplicate(e);
  if (e.type === 'symlink' || e.type === 'link') {
    view.links.set(e.name, { type: e.type, target: e.linkname ?? '' });
    return false;
  }
  return true;
}

async function resolve(view: ArchiveView): Promise<{ plan: IngestPlan; format: IngestResult['format'] }> {
  const plan = new IngestPlan();
  if (await view.has('manifest.json')) {
    await resolveDockerArchive(view, plan);
    const oci = (await view.has('index.json')) && (await view.has('oci-layout'));
    return { plan, format: oci ? 'docker-save-oci' : 'docker-save' };
  }
  if ((await view.has('index.json')) && (await view.has('oci-layout'))) {
    await resolveOciLayout(view, plan);
    return { plan, format: 'oci-layout' };
  }
  if (await view.has('repositories')) {
    throw new LayerstoreError('E_UNSUPPORTED', 'this is a pre-Docker-1.10 save (a repositories file, no manifest.json), which carries no image config digests', {
      hint: 'load it into Docker and save it again with a current Docker, podman or skopeo',
    });
  }
  throw new LayerstoreError('E_NO_MANIFEST', 'not an image archive: it has neither manifest.json (docker save) nor index.json + oci-layout (OCI layout)');
}

/**
 * Commit under the store lock: the renames into blobs/ and the index.json update happen
 * with no gc in between, so gc (which marks and sweeps under the same lock) can never see
 * a committed blob whose ref is not yet written. The fsyncs of staged files happen before
 * the lock is taken, so concurrent ingests wait only for renames.
 */
export async function commitPlan(store: Store, plan: IngestPlan): Promise<Pick<IngestResult, 'blobsAdded' | 'bytesAdded' | 'blobsPresent' | 'refChanges'>> {
  const synthesized = new Map<Digest, StagedBlob>();
  try {
    for (const [digest, bytes] of plan.synthesized) synthesized.set(digest, await store.writer.stageBytes(bytes));
    await Promise.all([...plan.blobs.values(), ...synthesized.values()].map((s) => ('blob' in s ? s.blob : s).durable));
    return await withIndexLock(store.layout, async () => {
      // A damaged index.json fails the commit before any blob is renamed.
      await readIndex(store.layout);
      const added: StagedBlob[] = [];
      let blobsPresent = 0;
      try {
        for (const [digest, blob] of [...[...plan.blobs].map(([d, f]) => [d, f.blob] as const), ...synthesized]) {
          if (await store.writer.commit(blob, digest)) added.push(blob);
          else blobsPresent++;
        }
        // Make the renames durable before index.json names them.
        await fsyncDir(store.layout.sha256Dir);
        await markUnverified(store.layout, plan.unverified);
        const refChanges = await updateIndexLocked(store.layout, plan.roots);
        return { blobsAdded: added.length, bytesAdded: added.reduce((n, b) => n + b.size, 0), blobsPresent, refChanges };
      } catch (e) {
        // All or nothing: take back the blobs this commit added (nothing names them; a
        // concurrent ingest that pinned one keeps its own hard link and restores it).
        for (const b of added) await fsp.rm(store.layout.blobPath(b.digest), { force: true });
        if (added.length) await fsyncDir(store.layout.sha256Dir).catch(() => {});
        throw e;
      }
    });
  } finally {
    for (const blob of synthesized.values()) await store.writer.discard(blob);
  }
}
