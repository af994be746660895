/**
 * The store lock records its owner (pid, host, pid namespace, start time), so a lock left by a
 * process that was killed (kill -9) is broken at once by the next writer, with a note on
 * stderr, instead of after proper-lockfile's 30 s stale period; a live owner's lock is never
 * broken, and a lock from another host still waits for the stale period.
 *
 * The owner is made to hold the lock deterministically with LAYERSTORE_TEST_HOLD_LOCK (a
 * test-only hook in src/store/index-lock.ts: the process writes its pid to that file once it
 * holds the lock, then waits until killed; inert when unset).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkStore, cli, leftovers, randomLayer, showRun, sleepSync, stableCli, writeArchive } from '../helpers/store-proc.js';
import { REPO_ROOT } from '../helpers/cli.js';

let tmp: string;
let tarA: string;
let tarB: string;
const BROKE = /broke the store lock left by process (\d+) \(started [^)]+\), which no longer runs on this host/;

beforeAll(async () => {
  stableCli();
  tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-lock-owner-'));
  tarA = path.join(tmp, 'a.tar');
  tarB = path.join(tmp, 'b.tar');
  writeFileSync(tarA, await writeArchive('v25', [{ repoTags: ['lock/a:1'], layers: [await randomLayer('lock-a', 40_000)] }]));
  writeFileSync(tarB, await writeArchive('oci', [{ repoTags: ['lock/b:1'], layers: [await randomLayer('lock-b', 40_000)] }]));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** An ingest that takes the store lock and holds it until killed; resolves once it holds it. */
async function holder(S: string, input: string): Promise<{ child: ChildProcess; exited: Promise<unknown> }> {
  const signal = path.join(tmp, `held-${Math.random().toString(36).slice(2)}`);
  const child = spawn(process.execPath, [stableCli(), '--store', S, '-q', 'ingest', input], {
    cwd: REPO_ROOT,
    env: { ...process.env, LAYERSTORE_STORE: undefined, LAYERSTORE_TEST_HOLD_LOCK: signal },
    stdio: 'ignore',
  });
  const exited = new Promise((r) => child.on('exit', r));
  // The holder creates the file, then writes its pid: wait for the pid, not the file alone.
  const written = () => existsSync(signal) && readFileSync(signal, 'utf8') !== '';
  for (let i = 0; i < 600 && !written(); i++) sleepSync(100);
  expect(existsSync(signal), 'the holder took the lock').toBe(true);
  expect(readFileSync(signal, 'utf8')).toBe(String(child.pid));
  return { child, exited };
}

describe('a lock whose owner is gone is broken at once', () => {
  it('kill -9 while an ingest holds the lock: the next ingest breaks it (stderr says so), succeeds, and the store verifies clean', async () => {
    const S = path.join(tmp, 'killed');
    const first = await cli(['--store', S, '-q', 'ingest', tarA]);
    expect(first.code, showRun(first)).toBe(0);
    const h = await holder(S, tarB);
    const lockDir = path.join(S, '.layerstore', 'index.json.lock');
    const owner = JSON.parse(readFileSync(path.join(lockDir, 'owner.json'), 'utf8'));
    expect(owner).toMatchObject({ pid: h.child.pid, hostname: os.hostname() });
    h.child.kill('SIGKILL');
    await h.exited;
    expect(leftovers(S).lock, 'kill -9 left the lock (fresh, not stale)').toBe(true);

    const again = await cli(['--store', S, '-q', 'ingest', tarB]);
    expect(again.code, showRun(again)).toBe(0);
    // The dead owner's lock was broken, not waited out (the stale path prints nothing).
    expect(again.stderr).toMatch(BROKE);
    expect(BROKE.exec(again.stderr)![1]).toBe(String(h.child.pid));
    expect(leftovers(S).lock).toBe(false);
    const v = await cli(['--store', S, 'verify', '--json']);
    expect(v.code, showRun(v)).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ damaged: false, orphans: [] });
    // The killed ingest's staged files are leftovers, as after any kill -9; gc takes them.
    const gc = await cli(['--store', S, 'gc']);
    expect(gc.code, showRun(gc)).toBe(0);
    expect(leftovers(S)).toEqual({ staging: [], tmp: [], lock: false });
    expect([...checkStore(S).refs.keys()].sort()).toEqual(['lock/a:1', 'lock/b:1']);
  });

  it("a live owner's lock is not broken: the second ingest waits for it and succeeds after it is released", async () => {
    const S = path.join(tmp, 'live');
    const h = await holder(S, tarA);
    const second = cli(['--store', S, '-q', 'ingest', tarB]);
    let done = false;
    void second.then(() => (done = true));
    // While the owner lives, the second ingest cannot finish (bounded look, not a timing claim).
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 100));
      expect(done, 'the second ingest finished while the lock was held').toBe(false);
    }
    h.child.kill('SIGTERM'); // signal-exit releases the lock
    await h.exited;
    const r = await second;
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stderr).not.toMatch(BROKE);
    expect(leftovers(S).lock).toBe(false);
    expect([...checkStore(S).refs.keys()]).toEqual(['lock/b:1']);
  });

  it('a re-ingest of what the store holds (blobs and refs as they are) takes no lock: it ends while another ingest holds it', async () => {
    const S = path.join(tmp, 'no-op');
    const first = await cli(['--store', S, '-q', 'ingest', tarA]);
    expect(first.code, showRun(first)).toBe(0);
    const h = await holder(S, tarB);
    const holders = leftovers(S).staging; // the holder's staged files
    try {
      // Before, it waited for the lock (up to ~100 s, then failed): bounded here at 30 s.
      const again = await cli(['--store', S, 'ingest', '--json', tarA], 30_000);
      expect(again.code, showRun(again)).toBe(0);
      expect(JSON.parse(again.stdout).results[0]).toMatchObject({ blobsAdded: 0, refChanges: [] });
      expect(leftovers(S).staging, 'its pins are gone').toEqual(holders);
    } finally {
      h.child.kill('SIGTERM');
      await h.exited;
    }
    expect([...checkStore(S).refs.keys()].sort()).toEqual(['lock/a:1']);
  });

  it("a lock from another host is not broken on the owner's pid: it goes only when stale", async () => {
    const S = path.join(tmp, 'other-host');
    const first = await cli(['--store', S, '-q', 'ingest', tarA]);
    expect(first.code, showRun(first)).toBe(0);
    const lockDir = path.join(S, '.layerstore', 'index.json.lock');
    mkdirSync(lockDir);
    // A pid that does not run here: the owner's host is another one, so that says nothing.
    writeFileSync(
      path.join(lockDir, 'owner.json'),
      JSON.stringify({ pid: 2 ** 22 + 7, hostname: `not-${os.hostname()}`, pidns: '', started: '2020-01-01T00:00:00.000Z' }),
    );
    const old = new Date(Date.now() - 60_000);
    utimesSync(lockDir, old, old); // stale already: the next writer takes it the stale way
    const r = await cli(['--store', S, '-q', 'ingest', tarB]);
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stderr).not.toMatch(BROKE);
    expect(leftovers(S).lock).toBe(false);
  });
});
