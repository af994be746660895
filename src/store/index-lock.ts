import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
// Imported at start-up on purpose, not when first locking: it loads signal-exit, whose signal
// listeners must come before a command's own. Listening after them, it finds itself the only
// listener once a process.once handler has run, and re-raises the signal: `serve` died of its
// SIGTERM while closing (test/registry/robustness.test.ts caught it).
import lockfile from 'proper-lockfile';
import { LayerstoreError } from '../errors.js';
import type { StoreLayout } from './layout.js';
import { pidNamespace } from './pid-namespace.js';
import { NOT_WRITABLE_CODES, notWritableError } from './writable.js';

/**
 * The store lock: proper-lockfile's directory lock (.layerstore/index.json.lock, kept fresh by
 * mtime updates, stale 30 s after the last one) with the owner written inside it, so that a
 * lock left by a process that was killed (kill -9, OOM, power cut of a container) is broken at
 * once instead of after the stale period, when the owner ran on this host and is gone.
 *
 * Breaking is safe against live owners: it happens under a second proper-lockfile lock (so
 * two breakers never race), re-reads the owner there, and only when the owner file names a
 * process on this host, in this pid namespace, that no longer exists. A lock without a
 * readable owner (its owner is between mkdir and writing the file, or is an older
 * layerstore) and a lock from another host wait for the stale period as before.
 */

const STALE_MS = 30_000;
const UPDATE_MS = 5_000;
/** The wait for a live owner: 200 tries, 10 ms growing by 1.3 up to 500 ms apart (about 100 s). */
const TRIES = 200;
const OWNER_FILE = 'owner.json';

export interface LockOwner {
  pid: number;
  hostname: string;
  /** The pid namespace (Linux: /proc/self/ns/pid), so containers sharing a hostname differ. */
  pidns: string;
  /** When the owning process started (ISO 8601). */
  started: string;
}

/**
 * proper-lockfile removes its lock (release, stale removal, exit) with rmdir: take the owner
 * file out first, so the lock directory is empty again.
 */
const lockFs = {
  ...fs,
  rmdir(p: string, cb: (err: NodeJS.ErrnoException | null) => void) {
    fs.unlink(path.join(p, OWNER_FILE), () => fs.rmdir(p, cb));
  },
  rmdirSync(p: string) {
    try {
      fs.unlinkSync(path.join(p, OWNER_FILE));
    } catch {
      /* none written */
    }
    fs.rmdirSync(p);
  },
};

function me(): LockOwner {
  return { pid: process.pid, hostname: os.hostname(), pidns: pidNamespace(), started: new Date(Date.now() - process.uptime() * 1000).toISOString() };
}

async function readOwner(lockDir: string): Promise<LockOwner | undefined> {
  try {
    const o = JSON.parse(await fsp.readFile(path.join(lockDir, OWNER_FILE), 'utf8')) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || typeof o.hostname !== 'string' || typeof o.pidns !== 'string' || typeof o.started !== 'string') return undefined;
    return o as LockOwner;
  } catch {
    return undefined; // no owner yet (or a half-written one): treat as live
  }
}

/** Whether `o` is a process of this host and pid namespace that no longer exists. */
function ownerIsGone(o: LockOwner): boolean {
  const here = me();
  if (o.hostname !== here.hostname || o.pidns !== here.pidns || o.pid === process.pid) return false;
  try {
    process.kill(o.pid, 0);
    return false; // alive (or a reused pid: waiting for the stale period is the safe side)
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/**
 * Break the lock when its owner is gone; true when it was broken. Under a second lock, so
 * the owner read and the removal are one step for every layerstore process.
 */
async function breakIfOwnerGone(lockDir: string): Promise<boolean> {
  const first = await readOwner(lockDir);
  if (!first || !ownerIsGone(first)) return false;
  let release: () => Promise<void>;
  try {
    release = await lockfile.lock(lockDir, { lockfilePath: `${lockDir}.break`, realpath: false, stale: 5_000, retries: 0 });
  } catch {
    return false; // another process is breaking it: wait as usual
  }
  try {
    const owner = await readOwner(lockDir);
    if (!owner || !ownerIsGone(owner)) return false;
    await new Promise<void>((resolve, reject) => lockFs.rmdir(lockDir, (e) => (e && e.code !== 'ENOENT' ? reject(e) : resolve())));
    process.stderr.write(`layerstore: broke the store lock left by process ${owner.pid} (started ${owner.started}), which no longer runs on this host\n`);
    return true;
  } finally {
    await release().catch(() => {});
  }
}

/** Test-only (test/store/lock-owner.test.ts): hold the lock until killed. Inert unless set. */
async function testHold(): Promise<void> {
  const signal = process.env.LAYERSTORE_TEST_HOLD_LOCK;
  if (!signal) return;
  await fsp.writeFile(signal, String(process.pid));
  await new Promise(() => setInterval(() => {}, 60_000));
}

/** Run `fn` while holding the store's index lock (a directory lock ending in ".lock"). */
export async function withIndexLock<T>(layout: StoreLayout, fn: () => Promise<T>): Promise<T> {
  const lockDir = layout.indexLockPath;
  let compromised: Error | undefined;
  let release: (() => Promise<void>) | undefined;
  let last: unknown;
  for (let attempt = 0; attempt <= TRIES && !release; attempt++) {
    try {
      release = await lockfile.lock(layout.indexFile, {
        lockfilePath: lockDir,
        realpath: false,
        stale: STALE_MS,
        update: UPDATE_MS,
        fs: lockFs,
        onCompromised: (e) => {
          compromised = e;
        },
      });
    } catch (e) {
      last = e;
      if ((e as NodeJS.ErrnoException).code !== 'ELOCKED') break;
      if (await breakIfOwnerGone(lockDir)) continue;
      await new Promise((r) => setTimeout(r, Math.min(10 * 1.3 ** attempt, 500)));
    }
  }
  const code = (last as NodeJS.ErrnoException | undefined)?.code;
  if (!release && code && NOT_WRITABLE_CODES.has(code)) {
    // Not a held lock: this user cannot create the lock at all. Saying "remove the lock"
    // here would send someone to delete a live process's lock for a permission problem.
    throw notWritableError(layout.root, code, `creating ${lockDir}`, last);
  }
  if (!release) {
    throw new LayerstoreError('E_LOCKED', `could not lock the store index (${(last as Error).message})`, {
      hint: 'another layerstore process holds it; wait, or remove .layerstore/index.json.lock if no process is running',
      cause: last,
    });
  }
  try {
    // Written after the lock is taken: a lock seen without it is treated as live.
    await fsp.writeFile(path.join(lockDir, OWNER_FILE), JSON.stringify(me()), { flag: 'wx' });
    await testHold();
    const result = await fn();
    if (compromised) throw new LayerstoreError('E_LOCKED', `the store lock was lost while updating index.json: ${compromised.message}`);
    return result;
  } finally {
    await release().catch(() => {});
  }
}
