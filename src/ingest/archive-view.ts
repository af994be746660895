import { constants as C, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { LayerstoreError } from '../errors.js';
import { normalizeEntryName } from '../archive/entry-name.js';
import { resolveLinks, type LinkEntry } from '../archive/links.js';
import type { Digest } from '../digest/digest.js';
import { claimedDigest, type FileOptions, type SourceView } from '../formats/source.js';
import { MAX_JSON_BYTES, parseJson } from '../formats/types.js';
import type { Store } from '../store/store.js';
import { STAGING_CONCURRENCY, stageBody, stageFileRange, type StagedFile } from './staged-file.js';
import { storedBlobAsStaged } from './blob-diffid.js';
import { READ_CHUNK } from '../archive/open-archive.js';
import type { RangeWorkers } from '../digest/range-workers.js';
import { limiter } from '../util/pool.js';
import type { CommitTicket } from './commit-order.js';

/**
 * A source view (formats/source.ts) over staged files: a tar input, a layout directory, or a
 * registry pull. A compressed tarball, read in one pass, has had some files staged before any
 * reader asks (see tar-input.ts).
 */
export interface ArchiveView extends SourceView<StagedFile> {
  /** Wait until no staging is running (before the staged files are discarded). */
  settle(): Promise<void>;
  /** Every staged file, to discard those no image used. */
  staged(): Iterable<StagedFile>;
}

/**
 * Stored blob `d` as a StagedFile (pinned, its diffID known), when its size is `size`: what an
 * input entry that claims `d` stands for without reading it. Undefined when the sizes differ
 * (the entry is read then, and its own bytes decide).
 */
export async function storedWithSize(store: Store, d: Digest, size: number): Promise<StagedFile | undefined> {
  if ((await store.blobs.size(d)) !== size) return undefined;
  const f = await storedBlobAsStaged(store, d);
  if (f && f.blob.size !== size) {
    await store.writer.discard(f.blob);
    return undefined;
  }
  return f;
}

/** The digest `name` claims when the store already has that blob (so ingest need not write it). */
export async function storedClaim(store: Store, name: string): Promise<Digest | undefined> {
  const claim = claimedDigest(name);
  return claim !== undefined && (await store.blobs.has(claim)) ? claim : undefined;
}

/** E_TOO_LARGE for a document above the JSON limit, read as JSON by `why`. */
function refuseLargeJson(size: number, why: string, entry: string): void {
  if (size > MAX_JSON_BYTES) throw new LayerstoreError('E_TOO_LARGE', `${why} is ${size} bytes, above the ${MAX_JSON_BYTES}-byte limit`, { entry });
}

async function readStagedJson(store: Store, f: StagedFile, why: string): Promise<unknown> {
  refuseLargeJson(f.blob.size, why, f.name);
  const bytes = f.bytes ?? (await store.writer.readStaged(f.blob, MAX_JSON_BYTES));
  if (!bytes) throw new LayerstoreError('E_DIGEST_MISMATCH', `${why}: the bytes do not match the blob they name`, { entry: f.name });
  try {
    return parseJson(bytes, why);
  } catch (e) {
    if (e instanceof LayerstoreError && e.entry === undefined) e.entry = f.name;
    throw e;
  }
}

function missing(name: string, why: string, resolved?: string): LayerstoreError {
  const via = resolved !== undefined && resolved !== name ? ` (it links to ${JSON.stringify(resolved)}, which is missing)` : '';
  return new LayerstoreError('E_BLOB_MISSING', `${why} names ${JSON.stringify(name)}, which is not in the input${via}`, { entry: name });
}

/** A regular file of a tar input: where its header put it, and how to stage its bytes. */
export interface TarFileEntry {
  /** Normalized name. */
  name: string;
  offset: number;
  size: number;
  /**
   * Stages the bytes (called at most once), or gives the stored blob `diffId` names in their
   * place (FileOptions.diffId); undefined when the pass over a compressed archive did not keep them.
   */
  stage?: (diffId?: Digest) => Promise<StagedFile>;
}

/**
 * A tar input, seen through the headers read before any reader runs: its files, links and
 * directories. A file is staged when a reader first asks for it (see TarFileEntry.stage).
 */
export class TarView implements ArchiveView {
  readonly entries = new Map<string, TarFileEntry>();
  readonly links = new Map<string, LinkEntry>();
  readonly dirs = new Set<string>();
  private readonly staging = new StagingOnDemand(STAGING_CONCURRENCY);
  private readonly done = new Set<StagedFile>();

  constructor(
    readonly label: string,
    private readonly store: Store,
  ) {}

  /** Record a file entry staged already (by the pass over a compressed archive). */
  addStaged(e: TarFileEntry, f: StagedFile): void {
    this.done.add(f);
    this.entries.set(e.name, { ...e, stage: () => Promise.resolve(f) });
  }

  /** The file entry `name` resolves to; a link that escapes or loops is an error, not "absent". */
  lookup(name: string): TarFileEntry | undefined {
    return this.entries.get(resolveLinks(normalizeEntryName(name), this.links));
  }

  async has(name: string): Promise<boolean> {
    return this.lookup(name) !== undefined;
  }

  async file(name: string, why: string, opts: FileOptions = {}): Promise<StagedFile> {
    const n = normalizeEntryName(name);
    const resolved = resolveLinks(n, this.links);
    const e = this.entries.get(resolved);
    if (!e) throw missing(n, why, resolved);
    if (opts.json) refuseLargeJson(e.size, why, e.name);
    const stage = e.stage;
    if (!stage) {
      // Not reached for a name manifest.json lists (ingest fetches those in a second pass).
      throw new LayerstoreError('E_BLOB_MISSING', `${why} names ${JSON.stringify(n)}, whose bytes the pass over this compressed archive did not keep`, {
        entry: n,
        hint: 'decompress the archive and ingest the .tar',
      });
    }
    return this.staging.get(resolved, async () => {
      const f = await stage(opts.diffId);
      this.done.add(f);
      return f;
    });
  }

  async readJson(name: string, why: string): Promise<unknown> {
    return readStagedJson(this.store, await this.file(name, why, { json: true }), why);
  }

  prefetch(files: Array<{ name: string; why: string; diffId?: Digest }>): void {
    // An unsafe or missing name: the reader's own file() call reports it, in its order.
    for (const f of files) this.file(f.name, f.why, { diffId: f.diffId }).catch(() => {});
  }

  settle(): Promise<void> {
    return this.staging.settle();
  }

  staged(): Iterable<StagedFile> {
    return this.done;
  }
}

/**
 * Files staged when first asked for (by a reader or a prefetch), each once, at most `limit`
 * at a time: the part of an ArchiveView that stages on demand (a layout directory, a
 * registry pull).
 */
export class StagingOnDemand {
  private readonly staging = new Map<string, Promise<StagedFile>>();
  private readonly slot: ReturnType<typeof limiter>;

  constructor(limit: number) {
    this.slot = limiter(limit);
  }

  has(key: string): boolean {
    return this.staging.has(key);
  }

  /** The staging of `key`, started with `stage` (when a slot is free) on first request. */
  get(key: string, stage: () => Promise<StagedFile>): Promise<StagedFile> {
    let p = this.staging.get(key);
    if (!p) {
      p = this.slot(stage);
      p.catch(() => {}); // observed by whoever asks for the file (a prefetch may never be)
      this.staging.set(key, p);
    }
    return p;
  }

  /** Wait until no staging is running. */
  async settle(): Promise<void> {
    await Promise.allSettled(this.staging.values());
  }
}

/** An OCI layout (or extracted docker save) directory, staged file by file as readers ask. */
export class DirView implements ArchiveView {
  private readonly files = new StagingOnDemand(STAGING_CONCURRENCY);
  private readonly done: StagedFile[] = [];

  constructor(
    readonly label: string,
    private readonly dir: string,
    private readonly store: Store,
    private readonly workers: RangeWorkers,
    /** Take a stored blob a file's name claims, with the file's size, without reading the file. */
    private readonly trustStored = false,
    /** The command's commit order: a blob an earlier input is committing is looked for after that commit. */
    private readonly ticket?: CommitTicket,
  ) {}

  private pathOf(name: string): string {
    // normalizeEntryName refuses absolute names and "..", so this stays inside `dir`.
    return path.join(this.dir, ...normalizeEntryName(name).split('/'));
  }

  async has(name: string): Promise<boolean> {
    try {
      return (await fsp.stat(this.pathOf(name))).isFile();
    } catch {
      return false;
    }
  }

  async file(name: string, why: string, opts: FileOptions = {}): Promise<StagedFile> {
    const n = normalizeEntryName(name);
    if (opts.json && !this.files.has(n)) {
      // Refused by the size the file system gives, before a byte is copied (a missing file
      // is reported by stage()).
      const st = await fsp.stat(this.pathOf(n)).catch(() => undefined);
      if (st?.isFile()) refuseLargeJson(st.size, why, n);
    }
    return this.files.get(n, () => this.stage(n, why, opts.diffId));
  }

  prefetch(files: Array<{ name: string; why: string; diffId?: Digest }>): void {
    // An unsafe or missing name: the reader's own file() call reports it, in its order.
    for (const f of files) this.file(f.name, f.why, { diffId: f.diffId }).catch(() => {});
  }

  settle(): Promise<void> {
    return this.files.settle();
  }

  private async stage(n: string, why: string, diffId: Digest | undefined): Promise<StagedFile> {
    const p = this.pathOf(n);
    let st: Stats;
    try {
      st = await fsp.stat(p);
    } catch {
      throw missing(n, why);
    }
    if (!st.isFile()) throw missing(n, why);
    // A link inside the layout may point anywhere; read only files that live inside it.
    const [real, root] = await Promise.all([fsp.realpath(p), fsp.realpath(this.dir)]);
    if (!real.startsWith(root + path.sep)) {
      throw new LayerstoreError('E_LINK', `${JSON.stringify(n)} is a link to ${real}, outside the layout directory; refusing to read it`, { entry: n });
    }
    await this.ticket?.settled(claimedDigest(n), diffId);
    const claim = await storedClaim(this.store, n);
    const trusted = claim ?? diffId; // a diffId the store lacks: storedWithSize says so
    if (trusted !== undefined && this.trustStored) {
      const stored = await storedWithSize(this.store, trusted, st.size);
      if (stored) {
        const f = { ...stored, name: n, fromStore: true };
        this.done.push(f);
        return f;
      }
    }
    const fh = await fsp.open(real, C.O_RDONLY | C.O_NOFOLLOW);
    try {
      const meta = { name: n, offset: 0, existing: claim };
      let f: StagedFile;
      if (this.store.writer.canStageRanges) {
        const { size } = await fh.stat();
        f = await stageFileRange(this.store.writer, this.workers, { path: real, fd: fh.fd, start: 0, size, whole: true }, meta);
      } else {
        // Another hasher than node:crypto (the workers' one): stream through it here.
        f = await stageBody(this.store.writer, fh.createReadStream({ autoClose: false, highWaterMark: READ_CHUNK }), meta);
      }
      this.done.push(f);
      return f;
    } finally {
      await fh.close();
    }
  }

  async readJson(name: string, why: string): Promise<unknown> {
    return readStagedJson(this.store, await this.file(name, why, { json: true }), why);
  }

  staged(): Iterable<StagedFile> {
    return this.done;
  }
}
