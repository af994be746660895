/**
 * One command's inputs overlap by one (src/ingest/commit-order.ts): input k+1 is read and
 * staged while input k commits, commits stay in input order, and a blob an earlier input is
 * committing is looked for only once that commit has ended. Unit tests of the order, then
 * the command on real archives: each input of a family reads only its own layer, refs land
 * as if the inputs ran one at a time, a bad input in the middle holds nothing up.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommitOrder } from '../../src/ingest/commit-order.js';
import type { Digest } from '../../src/digest/digest.js';
import { digestOf, fill } from '../helpers/hand-bytes.js';
import { legacySave, type RawEntry } from '../helpers/make-tar.js';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';
import { ingestPath } from '../../src/ingest/ingest.js';
import { Store } from '../../src/store/store.js';
import { writeOciLayoutDir } from '../../fixtures/image-writer.js';

const D1 = `sha256:${'1'.repeat(64)}` as Digest;
const D2 = `sha256:${'2'.repeat(64)}` as Digest;
const tick = () => new Promise((r) => setTimeout(r, 5));

/** Whether `p` has settled after the event loop ran a little. */
async function settledSoon(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  await tick();
  return done;
}

describe('CommitOrder', () => {
  it('a ticket gets its turn only when the one before is done; reached says when the next input may start', async () => {
    const order = new CommitOrder();
    const a = order.ticket();
    const b = order.ticket();
    const aTurn = a.turn([D1]);
    expect(await settledSoon(aTurn)).toBe(true);
    expect(await settledSoon(a.reached)).toBe(true);
    const bTurn = b.turn([D2]);
    expect(await settledSoon(bTurn)).toBe(false);
    expect(await settledSoon(b.reached)).toBe(false);
    a.done();
    expect(await settledSoon(bTurn)).toBe(true);
    expect(await settledSoon(b.reached)).toBe(true);
    b.done();
  });

  it('a later input waits for a blob an earlier one is committing; not for its own, nor for one nobody commits', async () => {
    const order = new CommitOrder();
    const a = order.ticket();
    await a.turn([D1]);
    const b = order.ticket();
    const waiting = b.settled(D1);
    expect(await settledSoon(waiting)).toBe(false);
    expect(await settledSoon(b.settled(D2))).toBe(true);
    expect(await settledSoon(b.settled(undefined))).toBe(true);
    expect(await settledSoon(a.settled(D1))).toBe(true); // its own commit never blocks it
    a.done();
    expect(await settledSoon(waiting)).toBe(true);
    expect(await settledSoon(order.ticket().settled(D1))).toBe(true); // committed: nothing to wait for
  });

  it('an input that fails before its turn (done without turn) lets the next one commit; done twice is harmless', async () => {
    const order = new CommitOrder();
    const a = order.ticket();
    const b = order.ticket();
    const bTurn = b.turn([D1]);
    expect(await settledSoon(bTurn)).toBe(false);
    a.done();
    a.done();
    expect(await settledSoon(bTurn)).toBe(true);
    expect(await settledSoon(a.reached)).toBe(true);
  });
});

describe('ingest of several archives in one command', () => {
  let tmp = '';
  const archives: string[] = [];
  const BASE = 8 * 1024 * 1024;
  const APP = 300 * 1024;

  beforeAll(() => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'ls-commit-order-'));
    // A base (8 MiB) shared by five images, each adding its own layer, as legacy saves; image i
    // is tagged acme/app:i and also acme/app:latest (the last input's must win).
    const base = fill(BASE, 'order-base');
    for (let i = 0; i < 5; i++) {
      const layers = [base, fill(APP, `order-app-${i}`)];
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => digestOf(l)) } }));
      const configName = `${digestOf(config).slice(7)}.json`;
      const files: RawEntry[] = [{ name: configName, body: config }, ...layers.map((body, j) => ({ name: `l${j}/layer.tar`, body }))];
      const manifest = [{ Config: configName, RepoTags: [`acme/app:${i}`, 'acme/app:latest'], Layers: layers.map((_, j) => `l${j}/layer.tar`) }];
      const f = path.join(tmp, `image-${i}.tar`);
      writeFileSync(f, legacySave({ manifest, files }));
      archives.push(f);
    }
  });
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('each input after the first reads only its own layer (the shared base is committed once, found stored), and refs land in input order', () => {
    const store = path.join(tmp, 'store-family');
    const r = runCli(['--store', store, 'ingest', '--json', ...archives]);
    expect(r.code, show(r)).toBe(0);
    const out = JSON.parse(r.stdout) as {
      results: Array<{ source: string; bytesRead: number; blobsAdded: number; refChanges: Array<{ ref: string; from?: string }> }>;
    };
    expect(out.results.map((x) => x.source)).toEqual(archives);
    expect(out.results[0]!.bytesRead).toBeGreaterThanOrEqual(BASE + APP);
    for (const x of out.results.slice(1)) {
      expect(x.bytesRead).toBeLessThan(BASE);
      expect(x.blobsAdded).toBe(3); // app layer, config, manifest
    }
    // acme/app:latest moved from image 0 to 1 to ... 4, one step per input.
    const moves = out.results.map((x) => x.refChanges.find((c) => c.ref === 'docker.io/acme/app:latest' || c.ref === 'acme/app:latest'));
    expect(moves[0]?.from).toBeUndefined();
    for (const m of moves.slice(1)) expect(m?.from).toBeDefined();
    const ls = JSON.parse(runCli(['--store', store, 'ls', '--json']).stdout) as { images: Array<{ refs: string[]; manifestDigest: string }> };
    const latest = ls.images.find((i) => i.refs.some((x) => x.endsWith('acme/app:latest')))!;
    expect(latest.refs.some((x) => x.endsWith('acme/app:4'))).toBe(true);
    expect(runCli(['--store', store, 'verify']).code).toBe(0);
  });

  /**
   * Ingest two inputs in commit order with the first commit held up 300 ms, so the second
   * input gets well into its own work meanwhile.
   */
  async function twoInputsFirstCommitHeld(store: Store, first: string, second: string) {
    const transaction = store.transaction.bind(store);
    let held = false;
    store.transaction = (async (fn: never) => {
      if (!held) {
        held = true;
        await new Promise((r) => setTimeout(r, 300));
      }
      return transaction(fn);
    }) as typeof store.transaction;
    const order = new CommitOrder();
    const a = order.ticket();
    const b = order.ticket();
    const ra = ingestPath(store, first, { ticket: a });
    await a.reached;
    const rb = await ingestPath(store, second, { ticket: b });
    return [await ra, rb] as const;
  }

  it('the next input, started while the first still commits the shared base, waits for that commit instead of reading the base again', async () => {
    const store = await Store.open(path.join(tmp, 'store-slow-commit'), { create: true });
    const [ra, rb] = await twoInputsFirstCommitHeld(store, archives[0]!, archives[1]!);
    expect(ra.bytesRead).toBeGreaterThanOrEqual(BASE);
    expect(rb.bytesRead).toBeLessThan(BASE);
    expect(rb.blobsPresent).toBe(1); // the base, committed by the first input
  });

  it('a blob the first input takes from the store does not hold up the next: it stages while the first commits', async () => {
    const store = await Store.open(path.join(tmp, 'store-warm-base'), { create: true });
    await ingestPath(store, archives[0]!); // the base is stored before the command
    const transaction = store.transaction.bind(store);
    let released = false;
    store.transaction = (async (fn: never) => {
      await new Promise((r) => setTimeout(r, 300));
      released = true;
      return transaction(fn);
    }) as typeof store.transaction;
    const order = new CommitOrder();
    const a = order.ticket();
    const b = order.ticket();
    let bStagedWhileHeld: boolean | undefined;
    const turn = b.turn.bind(b);
    b.turn = (ds) => {
      bStagedWhileHeld = !released;
      return turn(ds);
    };
    const ra = ingestPath(store, archives[1]!, { ticket: a });
    await a.reached;
    const rb = await ingestPath(store, archives[2]!, { ticket: b });
    expect((await ra).blobsAdded).toBe(3);
    expect(rb.blobsAdded).toBe(3);
    expect(rb.bytesRead).toBeLessThan(BASE);
    // Before, the first input announced the stored base as its own commit, and the second
    // waited for that whole commit before it could look for the base.
    expect(bStagedWhileHeld).toBe(true);
  });

  it('the same for OCI layout directories: the second layout finds the shared layer the first is committing', async () => {
    const store = await Store.open(path.join(tmp, 'store-slow-layouts'), { create: true });
    const base = { tar: fill(BASE, 'layout-base'), compression: 'none' as const };
    const dirs = [0, 1].map((i) => {
      const dir = path.join(tmp, `layout-${i}`);
      writeOciLayoutDir(dir, [{ repoTags: [`acme/layout:${i}`], layers: [base, { tar: fill(APP, `layout-app-${i}`), compression: 'none' }] }]);
      return dir;
    });
    const [ra, rb] = await twoInputsFirstCommitHeld(store, dirs[0]!, dirs[1]!);
    expect(ra.bytesRead).toBeGreaterThanOrEqual(BASE);
    expect(rb.bytesRead).toBeLessThan(BASE);
    expect(rb.blobsPresent).toBeGreaterThanOrEqual(1);
  });

  it('a bad input in the middle fails alone (exit 2, its line in order) and the inputs after it land', () => {
    const store = path.join(tmp, 'store-bad');
    const bad = path.join(tmp, 'bad.tar');
    writeFileSync(bad, Buffer.alloc(4096, 7)); // not a tar
    const r = runCli(['--store', store, 'ingest', archives[0]!, bad, archives[1]!, path.join(tmp, 'missing.tar'), archives[2]!]);
    expect(r.code, show(r)).toBe(2);
    const lines = r.stdout.trim().split('\n');
    expect(lines.map((l) => l.split(':')[0])).toEqual([archives[0], archives[1], archives[2]]);
    expect(r.stderr).toMatch(/3 of 5 inputs ingested, 2 failed/);
    const ls = JSON.parse(runCli(['--store', store, 'ls', '--json']).stdout) as { images: unknown[] };
    expect(ls.images).toHaveLength(3);
    expect(runCli(['--store', store, 'verify']).code).toBe(0);
  });
});
