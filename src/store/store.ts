import { promises as fsp } from 'node:fs';
import { isLayerstoreError, LayerstoreError } from '../errors.js';
import { StoreLayout } from './layout.js';
import { ownStagingPrefix } from './staging-names.js';
import { BlobReader } from './blobs.js';
import { BlobWriter } from './blob-writer.js';
import { createFileExclusive, ensureRealDir, fsyncDir, lstatOrUndefined, readFileNoFollow, writeFileAtomic } from '../util/fs-safe.js';
import { missingIndexError, readIndex, removeRoots, rootsInPlace, updateIndex, withIndexLock, type RefChange, type RootUpdate } from './refs.js';
import type { Descriptor, Index } from '../formats/types.js';
import type { HasherName } from '../digest/hasher.js';
import type { Digest } from '../digest/digest.js';
import { DerivedData } from './derived.js';
import { readUnverified } from './unverified.js';
import { readReceived, receivedStamp, type ReceivedBlob } from './received.js';
import { runTransaction, type StoreTransaction } from './transaction.js';
import { markReachable, type Reachability } from './reachability.js';
import { gcLayout, pruneLayout, type GcReport, type PruneReport } from './gc.js';
import { verifyLayout, type VerifyOptions, type VerifyReport } from './verify.js';
import { checkWritable, NOT_WRITABLE_CODES, notWritableError } from './writable.js';

/** What a transaction's function may do (transaction.ts itself is private to store/). */
export type { StoreTransaction };

const OCI_LAYOUT = Buffer.from('{"imageLayoutVersion":"1.0.0"}\n');
const STORE_NAMES = new Set(['oci-layout', 'index.json', 'blobs', '.layerstore']);

/**
 * A content-addressed blob store that is an OCI image layout (image-spec v1.1), so skopeo,
 * umoci and other OCI tools read it directly. See StoreLayout for the files, which only
 * store/ knows: every other folder goes through these methods (like containerd's
 * content.Store), and test/store/conformance.ts states the contract for any backend.
 *
 *   blobs     Provider: size/has/read/open a blob by digest (BlobReader)
 *   writer    Ingester: begin -> write* -> finish -> StagedBlob, pin, discard (BlobWriter)
 *   transaction(fn)  Manager: under the store lock, commit blobs, update/remove refs, mark
 *             unverified manifests; all blobs it added are removed again if fn throws
 *   derived   caches keyed by digests (DerivedData): time, never a verdict
 *   gc/verify/reachability  the store's own upkeep
 */
export class Store {
  /** Store-internal: the paths. Never public, so nothing outside store/ builds one. */
  private readonly layout: StoreLayout;
  readonly blobs: BlobReader;
  readonly writer: BlobWriter;
  readonly derived: DerivedData;
  /** open() made this store: there was no directory ('absent') or an empty one ('empty'). */
  private created: 'absent' | 'empty' | undefined;
  /** Opened for reading with no staging directory this user could make: nothing can be staged or pinned. */
  cannotStage = false;

  private constructor(root: string, hasher?: HasherName) {
    this.layout = new StoreLayout(root);
    this.blobs = new BlobReader(this.layout);
    this.writer = new BlobWriter(this.layout, hasher);
    this.derived = new DerivedData(this.layout);
  }

  get root(): string {
    return this.layout.root;
  }

  /**
   * Take back a store this process's open() created, when nothing was stored in it after all
   * (every input of the command was refused): a refused input leaves no store where there was
   * none. Under the store lock, so no commit lands meanwhile; only when it still holds nothing
   * (no refs, no blobs, nothing staged, nothing but the skeleton). The whole directory is
   * renamed away at once, then removed, so another process that opened it meanwhile fails
   * instead of writing into half of one; a directory that was there empty is made again.
   * `ignoreOwnStaging`: this process's staging files do not count (a signal handler's: they go with it).
   */
  async discardIfUnused(opts: { ignoreOwnStaging?: boolean } = {}): Promise<void> {
    const created = this.created;
    if (!created) return;
    const l = this.layout;
    const mode = created === 'empty' ? (await fsp.stat(l.root)).mode & 0o7777 : 0;
    const away = `${l.root}.discarded-${process.pid}-${Date.now()}`;
    const unused = async () =>
      (await readIndex(l)).manifests.length === 0 &&
      (await fsp.readdir(l.sha256Dir)).length === 0 &&
      (await fsp.readdir(l.stagingDir)).every((n) => opts.ignoreOwnStaging && n.startsWith(ownStagingPrefix())) &&
      (await fsp.readdir(l.root)).every((n) => STORE_NAMES.has(n));
    // First without the lock: a store someone else is filling is left at once, not waited for.
    if (!(await unused().catch(() => false))) return;
    // (withIndexLock's release then finds the lock's directory renamed away with the rest: ignored there.)
    const moved = await withIndexLock(l, async () => {
      if (!(await unused())) return false;
      await fsp.rename(l.root, away);
      return true;
    }).catch(() => false);
    if (!moved) return;
    this.created = undefined;
    if (created === 'empty') await fsp.mkdir(l.root, { mode }).catch(() => {});
    await fsp.rm(away, { recursive: true, force: true });
  }

  /** Whether `root` holds a store (an oci-layout file). */
  static async exists(root: string): Promise<boolean> {
    const layout = new StoreLayout(root);
    const rootSt = await lstatOrUndefined(layout.root);
    if (rootSt && !rootSt.isDirectory()) throw notADirectory(layout.root);
    return rootSt !== undefined && (await lstatOrUndefined(layout.ociLayoutFile)) !== undefined;
  }

  /**
   * Open the store at `root`. With `create` (for a command about to write: ingest, pull), make
   * it when missing (an empty or absent directory), and refuse one this user cannot write
   * (writable.ts) before any work; an existing non-empty directory that is not an OCI layout
   * is refused.
   */
  static async open(root: string, opts: { create?: boolean; hasher?: HasherName } = {}): Promise<Store> {
    const store = new Store(root, opts.hasher);
    const l = store.layout;
    const rootSt = await lstatOrUndefined(l.root);
    if (rootSt && !rootSt.isDirectory()) throw notADirectory(l.root);
    const layoutSt = await lstatOrUndefined(l.ociLayoutFile);
    if (!layoutSt) {
      if (!opts.create) {
        throw new LayerstoreError('E_NOT_A_STORE', `no store at ${l.root}`, {
          hint: 'ingest something first (layerstore ingest IMAGE.tar), or pass --store DIR',
        });
      }
      // Another process may be creating the same store right now: its skeleton is fine.
      if (rootSt && (await fsp.readdir(l.root)).some((n) => !STORE_NAMES.has(n) && !/^\.(index\.json|oci-layout)\..*\.tmp$/.test(n))) {
        throw new LayerstoreError('E_NOT_A_STORE', `${l.root} is not empty and is not a layerstore store (no oci-layout file)`, {
          hint: 'choose an empty or new directory for --store',
        });
      }
      await fsp.mkdir(l.root, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
        throw NOT_WRITABLE_CODES.has(e.code ?? '') ? notWritableError(l.root, e.code!, `creating ${l.root}`, e) : e;
      });
      store.created = rootSt ? 'empty' : 'absent';
    } else {
      await store.checkLayoutFile();
      // Fail before any work (an ingest would stage everything first).
      if (!(await lstatOrUndefined(l.indexFile))) throw missingIndexError(l);
    }
    // Also before any work: an ingest would stage everything, then fail on its first staging file.
    if (opts.create) await checkWritable(l);
    await ensureRealDir(l.blobsDir);
    await ensureRealDir(l.sha256Dir);
    for (const dir of [l.privateDir, l.stagingDir]) {
      if (store.cannotStage) break;
      await ensureRealDir(dir).catch(async (e: NodeJS.ErrnoException) => {
        // A store this user may only read, made without them (umoci, skopeo, an older copy):
        // readers need no staging; what would write there says the store is not writable.
        if (opts.create || !NOT_WRITABLE_CODES.has(e.code ?? '') || (await lstatOrUndefined(dir))) throw e;
        store.cannotStage = true;
      });
    }
    if (!layoutSt) {
      // index.json first: a directory with oci-layout is a store, so it must be complete. Created
      // only if absent, atomically: another process creating the same store may already have
      // committed an image to it, and an empty index written over that would lose its refs.
      await createFileExclusive(
        l.indexFile,
        Buffer.from('{\n  "schemaVersion": 2,\n  "mediaType": "application/vnd.oci.image.index.v1+json",\n  "manifests": []\n}\n'),
      );
      await fsyncDir(l.root);
      await writeFileAtomic(l.ociLayoutFile, OCI_LAYOUT);
    }
    return store;
  }

  private async checkLayoutFile(): Promise<void> {
    let v: unknown;
    try {
      v = JSON.parse((await readFileNoFollow(this.layout.ociLayoutFile, 4096)).toString('utf8'));
    } catch (e) {
      if (isLayerstoreError(e)) throw e; // not a regular file, or too large: it says which
      throw new LayerstoreError('E_STORE_INVALID', `${this.layout.ociLayoutFile} is unreadable or not JSON`, { cause: e });
    }
    const version = (v as { imageLayoutVersion?: unknown })?.imageLayoutVersion;
    if (version !== '1.0.0') throw new LayerstoreError('E_STORE_INVALID', `unsupported OCI layout version ${JSON.stringify(version)}`);
  }

  /** index.json: the roots (refs and untagged images). E_STORE_INVALID when absent or damaged. */
  readIndex(): Promise<Index> {
    return readIndex(this.layout);
  }

  /**
   * A stamp that changes whenever index.json is replaced (its mtime, size and inode): views
   * built from the index are rebuilt when it differs. 'none' when there is no index.
   */
  async indexStamp(): Promise<string> {
    const st = await fsp.stat(this.layout.indexFile).catch(() => undefined);
    return st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'none';
  }

  /**
   * Run `fn` under the store lock as one transaction (see StoreTransaction): its blob
   * commits and ref changes are seen by gc all together or not at all, and if it throws,
   * the blobs it added are removed. Keep it short: concurrent ingests and gc wait for it.
   */
  transaction<T>(fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
    return runTransaction(this.layout, this.writer, fn);
  }

  /**
   * Whether committing would change nothing: every blob in `digests` is stored and index.json
   * already holds `updates` as they are. Read without the lock, and enough to skip the
   * transaction: a root in index.json keeps what it reaches from gc, so an ingest that finds
   * this is as if it had committed at that moment (a later rm or gc comes after it).
   */
  async holdsAlready(digests: Iterable<Digest>, updates: RootUpdate[]): Promise<boolean> {
    for (const d of digests) if (!(await this.blobs.has(d))) return false;
    return rootsInPlace(this.layout, updates);
  }

  /** Add roots to index.json in a transaction of their own. */
  updateRefs(updates: RootUpdate[]): Promise<RefChange[]> {
    return updateIndex(this.layout, updates);
  }

  /** Remove the roots `pick` selects, in a transaction of their own; their blobs stay until gc. */
  removeRoots(pick: (d: Descriptor) => boolean): Promise<Descriptor[]> {
    return removeRoots(this.layout, pick);
  }

  /** Manifests stored although their config disagrees with their layers, with the reason. */
  unverified(): Promise<Map<Digest, string>> {
    return readUnverified(this.layout);
  }

  /** Blobs pushed into repositories that no manifest names yet (see received.ts); read without the lock (the file is replaced atomically). */
  received(): Promise<ReceivedBlob[]> {
    return readReceived(this.layout);
  }

  /** A stamp that changes whenever the received records change, for caches of them. */
  receivedStamp(): Promise<string> {
    return receivedStamp(this.layout);
  }

  /** What the roots reach (the mark phase of gc and verify). */
  reachability(): Promise<Reachability> {
    return markReachable(this, this.layout);
  }

  /** Sweep what no root reaches, under the lock (see gc.ts). */
  gc(opts: { dryRun?: boolean; now?: number } = {}): Promise<GcReport> {
    return gcLayout(this, this.layout, opts);
  }

  /** Remove the roots `pick` selects and the blobs only they reach, under the lock; a dry run only reads (see gc.ts). */
  prune(pick: (d: Descriptor) => boolean, opts: { dryRun?: boolean } = {}): Promise<PruneReport> {
    return pruneLayout(this, this.layout, pick, opts);
  }

  /** Re-hash every blob and check every ref (see verify.ts). */
  verify(opts: VerifyOptions = {}): Promise<VerifyReport> {
    return verifyLayout(this, this.layout, opts);
  }
}

function notADirectory(root: string): LayerstoreError {
  return new LayerstoreError('E_NOT_A_STORE', `store path ${root} is not a directory`, { hint: 'pass --store DIR with a store, or an empty or new directory' });
}
