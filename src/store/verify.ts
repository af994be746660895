import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { isDigest, type Digest } from '../digest/digest.js';
import { isLayerstoreError } from '../errors.js';
import { findLeftovers, type Leftover } from './leftovers.js';
import { markReachable, type RootName } from './reachability.js';
import { readReceived } from './received.js';
import { fsyncDir, ensureRealDir, lstatOrUndefined } from '../util/fs-safe.js';
import { checkBlob, recheckBlob, type BadProblem, type BlobVerdict } from './blob-check.js';
import { withIndexLock } from './index-lock.js';
import type { BadCache, DerivedProblem } from './derived.js';
import type { Store } from './store.js';
import type { StoreLayout } from './layout.js';
import { appendAll } from '../util/append.js';
import { storeDirProblems } from './sweep-check.js';

const STORE_DIR_HINT = "remove it (what a link points to is not the store's); gc and prune sweep nothing until then";

export interface BadBlob {
  /** The name in blobs/sha256 (a digest, or whatever foreign name was found there). */
  name: string;
  problem: BadProblem;
  /** For a hash mismatch: what the bytes hash to. */
  actual?: Digest;
  /** The refs (or untagged images) that depend on it. */
  roots: RootName[];
  quarantinedTo?: string;
}

export interface VerifyReport {
  blobsChecked: number;
  bytesChecked: number;
  badBlobs: BadBlob[];
  /** Blobs a manifest or index.json names that the store lacks. */
  missing: Array<{ digest: Digest; neededBy: Digest; roots: RootName[] }>;
  /** Manifests or indexes that do not parse. */
  unreadable: Array<{ digest: Digest; error: string }>;
  /** Stored blobs no ref reaches (gc removes them). */
  orphans: Array<{ digest: Digest; size: number }>;
  /** Staging/temp files of processes that are gone (interrupted ingests). */
  leftovers: Leftover[];
  /** Index children not stored (one platform saved out of several): normal, reported for information. */
  absentPlatforms: number;
  /** Derived files (caches) that lie about what they derive from, or are not regular files. */
  badCaches: BadCache[];
  /** Store state files that cannot be read (`.layerstore/received.json`): damage, which --fix cannot repair (the file is state, not a cache). */
  badFiles: Array<{ path: string; error: string; hint?: string }>;
  /**
   * Damage means exit code 3: a bad blob, a missing blob, an unreadable manifest, a bad
   * state file (badFiles), or a bad cache that is still there (--fix deletes those, which repairs them).
   */
  damaged: boolean;
  fixed: { quarantined: number; leftoversRemoved: number; cachesRemoved: number };
}

/** What verify reports on a store that holds nothing (also the CLI's for a store that does not exist). */
export function emptyVerifyReport(): VerifyReport {
  return {
    blobsChecked: 0,
    bytesChecked: 0,
    badBlobs: [],
    missing: [],
    unreadable: [],
    orphans: [],
    leftovers: [],
    absentPlatforms: 0,
    badCaches: [],
    badFiles: [],
    damaged: false,
    fixed: { quarantined: 0, leftoversRemoved: 0, cachesRemoved: 0 },
  };
}

export interface VerifyOptions {
  fix?: boolean;
  onProgress?: (bytesDone: number, bytesTotal: number) => void;
  /**
   * Checks of derived data the store cannot judge itself (a cache whose meaning belongs to
   * a higher layer, e.g. analysis's records): given the blobs that hash to their names, the
   * derived files that lie. The caller passes them; the store imports nothing above it.
   */
  checkCaches?: (good: Set<Digest>) => Promise<DerivedProblem[]>;
  /**
   * Test-only (test/store/verify-race.test.ts): called before each name in blobs/sha256 is
   * checked, and once after every blob is hashed, so a test can change the store at those
   * points as a concurrent gc, prune or ingest would.
   */
  testHooks?: { beforeBlob?: (name: string) => void | Promise<void>; afterHash?: () => void | Promise<void> };
}

/**
 * Re-hash every blob, check that every ref resolves to manifests whose config and layers
 * are present, and report orphans and leftovers of interrupted ingests. With `fix`, bad
 * blobs move to .layerstore/quarantine/ (never deleted silently: re-ingesting the source
 * restores the good bytes) and stale staging files are removed.
 */
export function verifyStore(store: Store, opts: VerifyOptions = {}): Promise<VerifyReport> {
  return store.verify(opts);
}

/**
 * verifyStore, for Store.verify (which holds the layout).
 *
 * The hashing (long) runs without the store lock, so gc, prune and ingest go on meanwhile: a
 * name that vanishes is not damage (gone is gone; the mark, taken after the hashing, says
 * whether a root still needs it: MISSING). --fix takes the lock for its own phase, marks
 * again there, and re-checks every blob it is about to move (still the file it hashed, and
 * still bad): a blob replaced by a good copy meanwhile stays.
 */
export async function verifyLayout(store: Store, layout: StoreLayout, opts: VerifyOptions = {}): Promise<VerifyReport> {
  const names = (await fsp.readdir(layout.sha256Dir)).sort();
  let total = 0;
  for (const n of names) {
    const st = await fsp.lstat(path.join(layout.sha256Dir, n)).catch(() => undefined);
    if (st?.isFile()) total += st.size;
  }
  const verdicts = new Map<string, BlobVerdict>();
  let done = 0;
  for (const n of names) {
    await opts.testHooks?.beforeBlob?.(n);
    const v = await checkBlob(layout.sha256Dir, n, (k) => opts.onProgress?.(done + k, total));
    if (v.kind !== 'gone') done += v.size ?? 0;
    verdicts.set(n, v);
  }
  await opts.testHooks?.afterHash?.();
  let report = await assess(store, layout, verdicts, opts);
  if (opts.fix && (report.badBlobs.length || report.leftovers.length || report.badCaches.length)) {
    report = await withIndexLock(layout, async () => {
      for (const [n, v] of verdicts) if (v.kind === 'bad') verdicts.set(n, await recheckBlob(layout.sha256Dir, n, v));
      const r = await assess(store, layout, verdicts, opts);
      await applyFix(layout, r);
      return r;
    });
  }
  report.damaged =
    report.badBlobs.length > 0 ||
    report.missing.length > 0 ||
    report.unreadable.length > 0 ||
    report.badFiles.length > 0 ||
    report.badCaches.some((c) => !c.removed);
  return report;
}

/** The report from the blobs' verdicts and a mark of the store as it is now. */
async function assess(store: Store, layout: StoreLayout, verdicts: Map<string, BlobVerdict>, opts: VerifyOptions): Promise<VerifyReport> {
  const reach = await markReachable(store, layout);
  // Blobs pushed to serve that no manifest names yet are kept by gc for a while: not orphans.
  // A damaged record file is damage: gc refuses to sweep past it, so no blob can be called an
  // orphan ("gc removes them" would be false) and the store is not consistent.
  const badFiles: VerifyReport['badFiles'] = [];
  let received = new Set<Digest>();
  try {
    received = new Set((await readReceived(layout)).map((r) => r.digest));
  } catch (e) {
    if (!isLayerstoreError(e)) throw e;
    badFiles.push({ path: layout.receivedFile, error: `${e.message} [${e.code}]`, hint: e.hint });
  }
  const rootsOf = (d: string) => [...(reach.roots.get(d as Digest) ?? [])].sort();

  const report: VerifyReport = {
    ...emptyVerifyReport(),
    missing: reach.missing,
    unreadable: reach.unreadable,
    absentPlatforms: reach.absentPlatforms,
    badFiles,
  };
  const good = new Set<Digest>();
  // With unreadable or lost manifests the mark is incomplete, so nothing can be called an orphan.
  const markComplete = reach.unreadable.length === 0 && reach.lostDocuments.length === 0 && badFiles.length === 0;
  for (const [n, v] of verdicts) {
    if (v.kind === 'gone') continue;
    const digest = `sha256:${n}`;
    if (v.kind === 'bad') {
      if (v.problem === 'hash-mismatch') {
        report.blobsChecked++;
        report.bytesChecked += v.size ?? 0;
      }
      report.badBlobs.push({ name: n, problem: v.problem, ...(v.actual ? { actual: v.actual } : {}), roots: isDigest(digest) ? rootsOf(digest) : [] });
      continue;
    }
    report.blobsChecked++;
    report.bytesChecked += v.size;
    good.add(digest as Digest);
    // An orphan gc removed since it was hashed is not one any more.
    if (markComplete && !reach.reachable.has(digest as Digest) && !received.has(digest as Digest) && (await lstatOrUndefined(path.join(layout.sha256Dir, n))))
      report.orphans.push({ digest: digest as Digest, size: v.size });
  }
  report.leftovers = (await findLeftovers(layout)).filter((l) => !l.live);
  const lying = opts.checkCaches ? await opts.checkCaches(good) : [];
  report.badCaches = [...(await oddDerivedFiles(layout.derivedDir)), ...lying.map((c) => ({ path: path.join(layout.derivedDir, c.rel), problem: c.problem }))];
  // A store directory that is a link (or a file) is damage: gc and prune refuse to sweep
  // through it. derived/ is a cache, so --fix removes what is there (the link, never its target).
  for (const d of await storeDirProblems(layout)) {
    if (d.path === layout.derivedDir) report.badCaches.unshift({ path: d.path, problem: d.problem });
    else badFiles.push({ path: d.path, error: `${d.path} is ${d.problem}; the store never follows links`, hint: STORE_DIR_HINT });
  }
  return report;
}

/** --fix, under the store lock: bad blobs to quarantine, leftovers and bad caches removed. */
async function applyFix(layout: StoreLayout, report: VerifyReport): Promise<void> {
  if (report.badBlobs.length) {
    const qdir = layout.quarantineDir;
    await ensureRealDir(qdir);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (const b of report.badBlobs) {
      const to = path.join(qdir, `${b.name}.${stamp}`);
      await fsp.rename(path.join(layout.sha256Dir, b.name), to);
      b.quarantinedTo = to;
      report.fixed.quarantined++;
    }
    await fsyncDir(layout.sha256Dir);
  }
  for (const l of report.leftovers) {
    await fsp.rm(l.path, { force: true });
    report.fixed.leftoversRemoved++;
  }
  // A cache is only ever a shortcut: deleting it repairs it (it is rebuilt when needed).
  for (const c of report.badCaches) {
    await fsp.rm(c.path, { force: true });
    c.removed = true;
    report.fixed.cachesRemoved++;
  }
}

/**
 * Entries under derived/ that are neither regular files nor directories (a FIFO, a link, a
 * device): readers never open them (fs-safe openRegularFile), but they are not this program's
 * output. derived/ itself is walked only when it is a real directory.
 */
async function oddDerivedFiles(dir: string): Promise<BadCache[]> {
  if (!(await lstatOrUndefined(dir))?.isDirectory()) return [];
  const out: BadCache[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) appendAll(out, await oddDerivedFiles(p));
    else if (!e.isFile())
      out.push({ path: p, problem: `${e.isSymbolicLink() ? 'a symlink' : e.isFIFO() ? 'a FIFO' : 'not a regular file'} where a cache file belongs` });
  }
  return out;
}
