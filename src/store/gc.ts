import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { LayerstoreError } from '../errors.js';
import { isDigest, type Digest } from '../digest/digest.js';
import { findLeftovers } from './leftovers.js';
import { markReachable, rootName, type Reachability } from './reachability.js';
import { withIndexLock, writeRootRemovals } from './refs.js';
import type { Descriptor } from '../formats/types.js';
import { fsyncDir, lstatOrUndefined } from '../util/fs-safe.js';
import { unverifiedToSweep } from './unverified.js';
import { kindOf, storeDirProblems, sweepRefused, type NotWhatItShouldBe } from './sweep-check.js';
import { appendAll } from '../util/append.js';
import { RECEIVED_RETENTION_MS, readReceived, writeReceived, type ReceivedBlob } from './received.js';
import type { Store } from './store.js';
import type { StoreLayout } from './layout.js';

export interface GcReport {
  dryRun: boolean;
  blobsRemoved: Array<{ digest: Digest; size: number }>;
  bytesFreed: number;
  derivedRemoved: number;
  leftoversRemoved: number;
  leftoverBytes: number;
  blobsKept: number;
  /** Blobs kept only because a push delivered them into a repository less than a week ago (received.ts). */
  receivedKept: number;
  /** Records of such blobs dropped: older than the retention, or their blob is gone. */
  receivedExpired: number;
}

/** What a gc of a store that holds nothing reports (also the CLI's for a store that does not exist). */
export function emptyGcReport(dryRun: boolean): GcReport {
  return {
    dryRun,
    blobsRemoved: [],
    bytesFreed: 0,
    derivedRemoved: 0,
    leftoversRemoved: 0,
    leftoverBytes: 0,
    blobsKept: 0,
    receivedKept: 0,
    receivedExpired: 0,
  };
}

/**
 * Mark from index.json, sweep unreferenced blobs, their derived data, and leftovers of
 * dead ingests.
 *
 * Why this cannot delete a blob a concurrent ingest is about to reference: ingest renames
 * its blobs into blobs/ and rewrites index.json in one critical section under the store's
 * index lock, and gc marks and sweeps under the same lock, so gc sees either none of an
 * ingest's commit or all of it (blobs and refs). Before that commit, an ingest holds its
 * bytes in staging files that gc leaves alone while their process lives, including hard
 * links that pin blobs it found already stored: if gc unlinks such a blob, the ingest's
 * commit renames the pinned link back. So no grace period is needed, and a gc never
 * waits long: the lock is held only for renames and the index write.
 */
export function gcStore(store: Store, opts: { dryRun?: boolean; now?: number } = {}): Promise<GcReport> {
  return store.gc(opts);
}

/** gcStore, for Store.gc (which holds the layout). */
export async function gcLayout(store: Store, layout: StoreLayout, opts: { dryRun?: boolean; now?: number } = {}): Promise<GcReport> {
  // A dry run writes nothing, so it takes no lock: it works on a store this user cannot
  // write, and says what a gc would do at that moment (an ingest committing meanwhile may
  // make it count a blob that a gc under the lock would then keep).
  const body = async (): Promise<GcReport> => {
    const dirs = await storeDirProblems(layout);
    if (dirs.length) throw sweepRefused('gc', dirs);
    const reach = await completeMark(store, layout, 'gc');
    const report = emptyGcReport(!!opts.dryRun);
    // Blobs a push delivered that no manifest names yet are roots while their record lasts
    // (received.ts); expired records, and records of blobs no longer stored, end here.
    const keep = new Set(reach.reachable);
    const received = await readReceived(layout);
    const live = await liveReceived(layout, received, opts.now ?? Date.now());
    for (const r of live) {
      if (!keep.has(r.digest)) report.receivedKept++;
      keep.add(r.digest);
    }
    report.receivedExpired = received.length - live.length;
    // Everything to remove is listed and checked first: damage refuses the sweep before it starts.
    const bad: NotWhatItShouldBe[] = [];
    const blobs: string[] = [];
    for (const n of (await fsp.readdir(layout.sha256Dir)).sort()) {
      const digest = `sha256:${n}`;
      // Foreign names are verify's business (it reports them); gc removes only blobs.
      if (!isDigest(digest)) continue;
      if (keep.has(digest)) {
        report.blobsKept++;
        continue;
      }
      const p = path.join(layout.sha256Dir, n);
      const st = await lstatOrUndefined(p);
      if (!st) continue;
      if (!st.isFile()) {
        bad.push({ path: p, problem: `${kindOf(st)} where a blob belongs` });
        continue;
      }
      blobs.push(p);
      report.blobsRemoved.push({ digest, size: st.size });
      report.bytesFreed += st.size;
    }
    const derived = await derivedToSweep(layout.derivedDir, (d) => keep.has(d), bad);
    const unverified = await unverifiedToSweep(layout, (d) => keep.has(d), bad);
    const leftovers = (await findLeftovers(layout, opts.now)).filter((l) => !l.live);
    if (bad.length) throw sweepRefused('gc', bad);
    report.derivedRemoved = derived.length;
    report.leftoversRemoved = leftovers.length;
    report.leftoverBytes = leftovers.reduce((n, l) => n + l.size, 0);
    if (opts.dryRun) return report;
    if (report.receivedExpired) await writeReceived(layout, live);
    for (const p of blobs) await fsp.rm(p, { force: true });
    if (blobs.length) await fsyncDir(layout.sha256Dir);
    for (const p of [...derived, ...unverified, ...leftovers.map((l) => l.path)]) await fsp.rm(p, { force: true });
    return report;
  };
  return opts.dryRun ? body() : withIndexLock(layout, body);
}

/** The mark, refused when it is incomplete: sweeping then could take blobs a damaged or lost manifest still needs. */
async function completeMark(store: Store, layout: StoreLayout, what: 'gc' | 'prune'): Promise<Reachability> {
  const reach = await markReachable(store, layout);
  if (reach.lostDocuments.length) throw lostDocumentsError(reach.lostDocuments, what);
  if (reach.unreadable.length) {
    throw new LayerstoreError(
      'E_STORE_INVALID',
      `the store is damaged (${reach.unreadable.length} unreadable manifests or non-file blobs); ${what} will not sweep it`,
      { hint: `run layerstore verify, fix what it names (verify --fix, re-ingest), then ${what}` },
    );
  }
  return reach;
}

/** Records of blobs pushed less than the retention ago whose blob is still stored: gc and prune keep those blobs. */
async function liveReceived(layout: StoreLayout, received: ReceivedBlob[], now: number): Promise<ReceivedBlob[]> {
  const live = [];
  for (const r of received) {
    if (now - r.received <= RECEIVED_RETENTION_MS && (await lstatOrUndefined(layout.blobPath(r.digest)))) live.push(r);
  }
  return live;
}

export interface PruneReport {
  dryRun: boolean;
  /** The roots removed from index.json (or that would be). */
  rootsRemoved: Descriptor[];
  /** Blobs only those roots reached: removed with them (or that would be). */
  blobsRemoved: Array<{ digest: Digest; size: number }>;
  bytesFreed: number;
}

/**
 * Remove the roots `pick` selects and the blobs that only they reach, nothing else: orphans
 * that no root reached before (an earlier rm's blobs, a dead push's) are gc's to free, as
 * `docker image prune` touches only dangling images. Who reaches a blob is the mark gc
 * uses (reachability.ts, per root), so a blob another root reaches, or one a push delivered
 * in the last week, stays. A dry run takes the same path and writes nothing; it takes no
 * lock either (it reads index.json once, replaced only by rename), so it works on a store
 * this user cannot write, and says what a real run would do at that moment.
 */
export async function pruneLayout(store: Store, layout: StoreLayout, pick: (d: Descriptor) => boolean, opts: { dryRun?: boolean } = {}): Promise<PruneReport> {
  const body = async (): Promise<PruneReport> => {
    const index = await store.readIndex();
    const rootsRemoved = index.manifests.filter(pick);
    const report: PruneReport = { dryRun: !!opts.dryRun, rootsRemoved, blobsRemoved: [], bytesFreed: 0 };
    if (rootsRemoved.length === 0) return report;
    const dirs = await storeDirProblems(layout);
    if (dirs.length) throw sweepRefused('prune', dirs);
    const reach = await completeMark(store, layout, 'prune');
    const pruned = new Set(rootsRemoved.map(rootName));
    const kept = new Set((await liveReceived(layout, await readReceived(layout), Date.now())).map((r) => r.digest));
    const bad: NotWhatItShouldBe[] = [];
    for (const digest of [...reach.reachable].sort()) {
      const by = reach.roots.get(digest);
      if (!by || kept.has(digest) || ![...by].every((n) => pruned.has(n))) continue;
      const st = await lstatOrUndefined(layout.blobPath(digest));
      if (!st) continue;
      if (!st.isFile()) {
        bad.push({ path: layout.blobPath(digest), problem: `${kindOf(st)} where a blob belongs` });
        continue;
      }
      report.blobsRemoved.push({ digest, size: st.size });
      report.bytesFreed += st.size;
    }
    const gone = new Set(report.blobsRemoved.map((b) => b.digest));
    const derived = await derivedToSweep(layout.derivedDir, (d) => !gone.has(d), bad);
    const unverified = await unverifiedToSweep(layout, (d) => !gone.has(d), bad);
    if (bad.length) throw sweepRefused('prune', bad);
    if (opts.dryRun) return report;
    // The roots first: a crash between the two leaves orphans for gc, never a ref to a missing blob.
    await writeRootRemovals(layout, index, pick);
    for (const d of gone) await fsp.rm(layout.blobPath(d), { force: true });
    if (gone.size) await fsyncDir(layout.sha256Dir);
    for (const p of [...derived, ...unverified]) await fsp.rm(p, { force: true });
    return report;
  };
  return opts.dryRun ? body() : withIndexLock(layout, body);
}

/**
 * A ref whose manifest is missing (lost, or quarantined by verify --fix) still needs its
 * config and layers, but what they are is written only in that manifest. Rather than guess,
 * gc sweeps nothing until the user restores the image or removes the ref (README, gc).
 */
function lostDocumentsError(lost: Reachability['missing'], what: 'gc' | 'prune' = 'gc'): LayerstoreError {
  const roots = [...new Set(lost.flatMap((m) => m.roots))].sort();
  const digests = [...new Set(lost.map((m) => m.digest))].sort();
  const few = (xs: string[]) => (xs.length > 3 ? `${xs.slice(0, 3).join(', ')} and ${xs.length - 3} more` : xs.join(', '));
  // An untagged root is removed by its digest.
  const rmArgs = roots.map((n) => n.replace(/^<none>@/, ''));
  return new LayerstoreError(
    'E_STORE_INVALID',
    `${few(roots)} need${roots.length === 1 ? 's' : ''} ${digests.length === 1 ? 'a manifest that is' : 'manifests that are'} missing from the store (${few(digests)}); ${what} cannot tell what ${digests.length === 1 ? 'it names' : 'they name'}, so ${what} sweeps nothing`,
    { hint: `ingest the image again (that restores the manifest), or \`layerstore rm ${few(rmArgs)}\` if it is no longer wanted; then ${what}` },
  );
}

/**
 * The derived files to remove: named by the hex digest they derive from ("<hex>.json" etc.),
 * in any real subfolder (a readdir entry's type is the entry's own: a link is never walked).
 * A name to remove that is not a regular file goes to `bad`; derived/ itself was checked
 * (storeDirProblems) and is walked only when it is a real directory.
 */
async function derivedToSweep(dir: string, keep: (d: Digest) => boolean, bad: NotWhatItShouldBe[]): Promise<string[]> {
  if (!(await lstatOrUndefined(dir))?.isDirectory()) return [];
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      appendAll(out, await derivedToSweep(p, keep, bad));
      continue;
    }
    const m = /^([0-9a-f]{64})/.exec(e.name);
    if (!m || keep(`sha256:${m[1]}` as Digest)) continue;
    if (e.isFile()) out.push(p);
    else bad.push({ path: p, problem: `${kindOf(e)} where a cache file belongs` });
  }
  return out;
}
