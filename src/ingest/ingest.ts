import { createReadStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { isLayerstoreError, LayerstoreError, toLayerstoreError } from '../errors.js';
import type { RangeWorkers } from '../digest/range-workers.js';
import { READ_CHUNK } from '../archive/open-archive.js';
import { readSource, type SourceFormat } from '../formats/readers.js';
import type { Store } from '../store/store.js';
import type { RefChange } from '../store/refs.js';
import type { StagedBlob } from '../store/blob-writer.js';
import type { Digest } from '../digest/digest.js';
import { DirView, TarView, type ArchiveView } from './archive-view.js';
import { IngestPlan, type PlannedImage } from './plan.js';
import { bytesReadOf, stagingWorkers } from './staged-file.js';
import { fullyQualified, repositoryFromInputName } from '../formats/ref-names.js';
import type { BareRefRepository } from '../formats/plan.js';
import { EntryHints } from './entry-hints.js';
import { rememberDiffIds } from './blob-diffid.js';
import { openTarInput, openTarStreamInput, type TarInput } from './tar-input.js';
import type { CommitTicket } from './commit-order.js';

export interface IngestProgress {
  /** Bytes of the input file read so far. */
  bytesRead(): number;
  /** Size of the input file (for a directory: 0, unknown in advance). */
  total: number;
}

export interface IngestOptions {
  /** Called once the input is open, so a caller can poll progress. */
  onStart?: (p: IngestProgress) => void;
  /** A ref (normalized, repository:tag) to give the input's one image or index as well as its own refs. */
  tag?: string;
  /**
   * The repository (normalized) for the input's bare OCI ref names ("v1" is stored as
   * REPOSITORY:v1); by default a file or directory's own name (repositoryFromInputName).
   */
  repository?: string;
  /**
   * Read and hash every entry, even one whose name claims a blob the store has (by default
   * such an entry is not read: the store's copy was verified when it arrived).
   */
  verifyInput?: boolean;
  /**
   * Hashing threads shared by several ingests (one command's inputs), owned and closed by the
   * caller: starting threads for each input cost more than a small input's own work. Without
   * it, each input starts its own and closes them.
   */
  workers?: RangeWorkers;
  /**
   * This input's place in its command's commit order (commit-order.ts): it commits after the
   * inputs before it are done, and is done itself when ingestPath/ingestStream returns or throws.
   */
  ticket?: CommitTicket;
}

export interface IngestResult {
  source: string;
  format: SourceFormat;
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
 * Ingest one tarball or OCI layout directory as one transaction: read the input's entry
 * names and sizes, let the format reader ask for the entries it uses (each staged and
 * hashed when first asked for) and verify and resolve images, then commit the blobs the
 * images use (rename into blobs/sha256) and, last, record the refs in index.json. On any
 * error the staged files are removed and blobs and refs stay as they were.
 */
export async function ingestPath(store: Store, input: string, opts: IngestOptions = {}): Promise<IngestResult> {
  return ingestInput(store, input, opts, bareRefRepository(opts, path.basename(path.resolve(input))), async (open) => {
    const st = await fsp.stat(input).catch(() => {
      throw new LayerstoreError('E_INPUT_NOT_FOUND', 'no such file or directory', { source: input });
    });
    if (st.isFIFO() || st.isCharacterDevice() || st.isSocket()) {
      // /dev/stdin, a named pipe, bash's <(...): readable once, like standard input.
      open.hints = await EntryHints.load(store);
      const tv = new TarView(input, store);
      open.view = tv;
      open.tar = await openTarStreamInput(store, createReadStream(input, { highWaterMark: READ_CHUNK }), tv, opts, open.hints);
    } else if (st.isDirectory()) {
      if (!opts.workers) open.workers = stagingWorkers();
      open.view = new DirView(input, input, store, opts.workers ?? open.workers!, !opts.verifyInput, opts.ticket);
      opts.onStart?.({ bytesRead: () => 0, total: 0 });
    } else await openFileInput(store, input, input, opts, open);
  });
}

/**
 * A regular file named `label` in messages, with no name to take a repository from: standard
 * input when the shell opened a file for it (`ingest - < image.tar`). It is read by position,
 * as a named file is (headers walked, stored blobs skipped, ranges hashed on threads), not
 * streamed: 1.6x faster for an 86 MB save.
 */
export async function ingestFileAs(store: Store, file: string, label: string, opts: IngestOptions = {}): Promise<IngestResult> {
  try {
    return await ingestInput(store, label, opts, bareRefRepository(opts), (open) => openFileInput(store, file, label, opts, open));
  } catch (e) {
    if (isLayerstoreError(e) && e.source === file) e.source = label; // the user typed `-`
    throw e;
  }
}

async function openFileInput(store: Store, file: string, label: string, opts: IngestOptions, open: OpenInput): Promise<void> {
  open.hints = await EntryHints.load(store);
  const tv = new TarView(label, store);
  open.view = tv;
  open.tar = await openTarInput(store, file, tv, opts, open.hints);
}

/**
 * Ingest an archive that can be read only once (standard input, an engine's export), named
 * `label` in messages: the same transaction as a file. Blobs are staged as they arrive (a
 * legacy save names them in manifest.json, which comes last), memory stays flat, and a
 * stream that ends early or fails commits nothing.
 */
export async function ingestStream(store: Store, source: Readable, label: string, opts: IngestOptions = {}): Promise<IngestResult> {
  return ingestInput(store, label, opts, bareRefRepository(opts), async (open) => {
    open.hints = await EntryHints.load(store);
    const tv = new TarView(label, store);
    open.view = tv;
    open.tar = await openTarStreamInput(store, source, tv, opts, open.hints);
  });
}

/** What an input opened: released after the ingest, whatever happened. */
interface OpenInput {
  view?: ArchiveView;
  workers?: RangeWorkers;
  hints?: EntryHints;
  tar?: TarInput;
}

/** --repo, else a repository named after the input file or directory (none for a stream). */
function bareRefRepository(opts: IngestOptions, inputName?: string): BareRefRepository | undefined {
  if (opts.repository) return { repository: opts.repository, from: '--repo' };
  const repository = inputName === undefined ? undefined : repositoryFromInputName(inputName);
  return repository ? { repository, from: "the input's name" } : undefined;
}

async function ingestInput(
  store: Store,
  input: string,
  opts: IngestOptions,
  bare: BareRefRepository | undefined,
  openInput: (open: OpenInput) => Promise<void>,
): Promise<IngestResult> {
  const t0 = performance.now();
  const open: OpenInput = {};
  try {
    await openInput(open);
    const view = open.view!;
    const { hints, tar } = open;
    const bytesRead = () => (tar ? tar.bytesRead() : bytesReadOf(view.staged()));
    const result = await commitSource(store, view, { source: input, startedAt: t0, tag: opts.tag, bareRefRepository: bare, bytesRead, ticket: opts.ticket });
    // Committed: the next input may commit while this one saves its hints (a cache) and tidies up.
    opts.ticket?.done();
    await hints?.save();
    return result;
  } catch (e) {
    throw toLayerstoreError(e, input);
  } finally {
    opts.ticket?.done();
    if (open.view) await discardStaged(store, open.view);
    await Promise.all([open.workers?.close(), open.tar?.close()]);
  }
}

/**
 * The end of every way in (a file, a stream, a registry pull): read the view with the reader
 * the format list picks, check that it holds something (`check` first, for the caller's own
 * error), give it --tag, and commit. The caller discards what stays staged (discardStaged).
 */
export async function commitSource(
  store: Store,
  view: ArchiveView,
  opts: {
    source: string;
    startedAt: number;
    bytesRead: () => number;
    tag?: string;
    bareRefRepository?: BareRefRepository | undefined;
    check?: (plan: IngestPlan) => void;
    ticket?: CommitTicket;
  },
): Promise<IngestResult> {
  const plan = new IngestPlan();
  plan.bareRefRepository = opts.bareRefRepository;
  const format = await readSource(view, plan);
  opts.check?.(plan);
  if (plan.images.length === 0 && plan.roots.length === 0) throw new LayerstoreError('E_MANIFEST_INVALID', 'the input holds no images');
  if (opts.tag) tagTheOneRoot(plan, opts.tag);
  const committed = await commitPlan(store, plan, opts.ticket);
  return {
    source: opts.source,
    format,
    images: plan.images,
    ...committed,
    bytesRead: opts.bytesRead(),
    notes: plan.summaryNotes(),
    seconds: (performance.now() - opts.startedAt) / 1000,
  };
}

/** Whatever was staged and not committed (unused entries, or everything on failure) goes. */
export async function discardStaged(store: Store, view: ArchiveView): Promise<void> {
  await view.settle();
  await Promise.all([...view.staged()].map((f) => store.writer.discard(f.blob)));
}

/** --tag: the input must hold one root (an image, or a multi-platform index); it gets `tag` too. */
function tagTheOneRoot(plan: IngestPlan, tag: string): void {
  const roots = new Map(plan.roots.map((r) => [r.descriptor.digest, r.descriptor]));
  if (roots.size !== 1) {
    throw new LayerstoreError('E_USAGE', `--tag names one image, but the input holds ${roots.size} (${plan.images.length} images)`, {
      hint: 'ingest it without --tag, then layerstore tag the one you mean',
    });
  }
  const [descriptor] = roots.values();
  plan.roots.push({ descriptor: descriptor!, ref: tag, fullName: fullyQualified(tag) });
  for (const img of plan.images) if (!img.refs.includes(tag)) img.refs.push(tag);
}

/**
 * Commit under the store lock: the renames into blobs/ and the index.json update happen
 * with no gc in between, so gc (which marks and sweeps under the same lock) can never see
 * a committed blob whose ref is not yet written. The fsyncs of staged files happen before
 * the lock is taken, so concurrent ingests wait only for renames.
 */
export async function commitPlan(
  store: Store,
  plan: IngestPlan,
  ticket?: CommitTicket,
): Promise<Pick<IngestResult, 'blobsAdded' | 'bytesAdded' | 'blobsPresent' | 'refChanges'>> {
  // Everything is staged: wait for the inputs before this one (the next may start reading now).
  // A blob taken from the store is not announced: it is stored already, and announcing it
  // would make the next input wait for this whole commit before looking for it (a family's
  // base, named by every image, serialized each image's staging behind the one before).
  const adding = [...plan.blobs].filter(([, f]) => !f.fromStore).map(([d]) => d);
  await ticket?.turn([...adding, ...plan.synthesized.keys()]);
  const synthesized = new Map<Digest, StagedBlob>();
  try {
    for (const [digest, bytes] of plan.synthesized) synthesized.set(digest, await store.writer.stageBytes(bytes));
    // A re-ingest of what the store holds (blobs and refs as they are): no lock, no write.
    const digests = [...plan.blobs.keys(), ...synthesized.keys()];
    if (plan.unverified.size === 0 && (await store.holdsAlready(digests, plan.roots)))
      return { blobsAdded: 0, bytesAdded: 0, blobsPresent: digests.length, refChanges: [] };
    await Promise.all([...plan.blobs.values(), ...synthesized.values()].map((s) => store.writer.makeDurable('blob' in s ? s.blob : s)));
    const committed = await store.transaction(async (tx) => {
      // A damaged index.json fails the commit before any blob is renamed.
      await tx.readIndex();
      let blobsAdded = 0;
      let bytesAdded = 0;
      let blobsPresent = 0;
      // All or nothing: if anything below fails, the transaction takes back the blobs it
      // added (nothing names them; a concurrent ingest that pinned one keeps its own hard
      // link and restores it). The renames are made durable before index.json names them.
      for (const [digest, blob] of [...[...plan.blobs].map(([d, f]) => [d, f.blob] as const), ...synthesized]) {
        if (await tx.commit(blob, digest)) {
          blobsAdded++;
          bytesAdded += blob.size;
        } else blobsPresent++;
      }
      await tx.markUnverified(plan.unverified);
      const refChanges = await tx.updateRefs(plan.roots);
      return { blobsAdded, bytesAdded, blobsPresent, refChanges };
    });
    await rememberDiffIds(store, plan.blobs.values());
    return committed;
  } finally {
    for (const blob of synthesized.values()) await store.writer.discard(blob);
  }
}
