/**
 * Promises 4 and 5 (DESIGN.md §7), with real processes:
 *   4. Concurrent ingests of the same content all succeed and leave one intact copy.
 *   5. gc never deletes a blob reachable from a ref, nor one a running ingest is about to
 *      reference.
 *
 * - 2 and 4 `layerstore ingest` processes at once, into one new store (so they also race to
 *   create it), of tarballs that overlap (a shared base layer, layers shared pairwise), in
 *   three formats; 5 rounds each. Afterwards the store is exactly what ingesting the same
 *   tarballs one after another makes: the same blob files (each hashing to its name, with one
 *   link: no pin left in staging), the same refs, nothing left in staging, verify clean.
 * - A separate process runs gc over and over while 4 ingests run (and, in one round, a shell
 *   loop of the real `layerstore gc`); the store starts with orphans that share blobs with
 *   the incoming images, so gc has something to delete exactly where it must not.
 * - An ingest of an OCI-shaped tarball whose blobs are all stored (so ingest pins them with
 *   hard links instead of writing them) races `rm` of its refs + `gc`: once triggered by the
 *   pins themselves (so the gc provably runs inside the ingest), and once with real `rm` and
 *   `gc` processes started alongside.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobLinkCounts,
  blobsAndIndex,
  checkStore,
  cli,
  lastJson,
  leftovers,
  ls,
  randomLayer,
  run,
  showRun,
  stableCli,
  stableDist,
  startCli,
  startScript,
  writeArchive,
  type Shape,
} from '../helpers/store-proc.js';
import { Store } from '../../src/store/store.js';
import { verifyStore } from '../../src/store/verify.js';

function blobsOnly(S: string): Record<string, string> {
  const all = blobsAndIndex(S);
  delete all['index.json'];
  return all;
}

const SHAPES: Shape[] = ['legacy', 'v25', 'oci', 'legacy'];

describe('concurrent processes on one store (promises 4 and 5)', () => {
  let tmp: string;
  const tarballs: string[] = [];
  let victim: string;
  let pinned: string;
  const refsOfTarball: string[][] = [];
  let n = 0;
  const newStore = () => path.join(tmp, `store-${++n}`);
  const stats: string[] = [];

  /** The store that ingesting `inputs` one after another makes. */
  const reference = new Map<string, { state: Record<string, string>; refs: Map<string, string> }>();
  async function sequential(inputs: string[]) {
    const key = inputs.join('\n');
    let ref = reference.get(key);
    if (!ref) {
      const S = newStore();
      for (const t of inputs) {
        const r = await cli(['--store', S, '-q', 'ingest', t]);
        expect(r.code, showRun(r)).toBe(0);
      }
      ref = { state: blobsOnly(S), refs: checkStore(S).refs };
      reference.set(key, ref);
    }
    return ref;
  }

  /** Everything the promise says about a store after concurrent writers are done. */
  /** `cliVerify`: run `layerstore verify` as a process (once per test); else verifyStore() here. */
  async function expectIntact(S: string, expected: { state: Record<string, string>; refs: Map<string, string> }, label: string, cliVerify = false) {
    const c = checkStore(S);
    expect(c.badBlobs, label).toEqual([]);
    expect(c.missing, label).toEqual([]);
    expect(Object.fromEntries([...c.refs].sort()), `${label}: refs`).toEqual(Object.fromEntries([...expected.refs].sort()));
    // index.json's order of roots follows commit order, so it is compared by refs above.
    expect(blobsOnly(S), `${label}: one file per digest, the same files as a sequential ingest`).toEqual(expected.state);
    expect(
      Object.values(blobLinkCounts(S)).every((k) => k === 1),
      `${label}: no blob is still linked from staging`,
    ).toBe(true);
    expect(leftovers(S), `${label}: nothing left behind`).toEqual({ staging: [], tmp: [], lock: false });
    if (cliVerify) {
      const v = await cli(['--store', S, 'verify', '--json']);
      expect(v.code, `${label}: verify\n${showRun(v)}`).toBe(0);
      expect(JSON.parse(v.stdout), label).toMatchObject({ damaged: false, badBlobs: [], missing: [], leftovers: [] });
    } else {
      const rep = await verifyStore(await Store.open(S));
      expect(rep, label).toMatchObject({ damaged: false, badBlobs: [], missing: [], leftovers: [] });
    }
  }

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-conc-'));
    const L = (name: string, size: number) => randomLayer(`conc/${name}`, size);
    const base = await L('base', 600_000);
    const own = await Promise.all([0, 1, 2, 3].map((i) => L(`own${i}`, 300_000 + i)));
    const pair = await Promise.all([0, 1, 2, 3].map((i) => L(`pair${i}`, 150_000 + i)));
    // Tarball i: image i = [base, pair(i-1), own(i)] and image i' = [base, pair(i)]: each shares
    // the base with every other tarball and one layer with each neighbour.
    for (let i = 0; i < 4; i++) {
      const imgs = [
        { repoTags: [`conc/img${i}:1`], layers: [base, pair[(i + 3) % 4]!, own[i]!] },
        { repoTags: [`conc/img${i}-slim:1`], layers: [base, pair[i]!] },
      ];
      const f = path.join(tmp, `t${i}-${SHAPES[i]}.tar`);
      writeFileSync(f, await writeArchive(SHAPES[i]!, imgs));
      tarballs.push(f);
      refsOfTarball.push(imgs.flatMap((m) => m.repoTags));
    }
    // Orphans for gc to collect: the base and two pair layers under a ref removed before the race.
    victim = path.join(tmp, 'victim.tar');
    writeFileSync(victim, await writeArchive('v25', [{ repoTags: ['conc/victim:1'], layers: [base, pair[0]!, pair[2]!, await L('victim-own', 50_000)] }]));
    // Big enough that hashing it takes a while: the pin race needs an ingest that lasts (at
    // 700 kB a layer the racer hit the window in 5 of 7 tries alone, 2 of 12 under the whole
    // suite's load, as the CLI got faster).
    const big = await Promise.all(Array.from({ length: 8 }, (_, i) => L(`pinned${i}`, 3_000_000 + i)));
    pinned = path.join(tmp, 'pinned-v25.tar');
    writeFileSync(pinned, await writeArchive('v25', [{ repoTags: ['conc/pinned:1', 'conc/pinned:latest'], layers: big }]));
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (stats.length) console.log(`[concurrency]\n${stats.join('\n')}`);
  });

  for (const procs of [2, 4]) {
    it(`${procs} ingests at once into a new store, 5 rounds`, { timeout: 120_000 }, async () => {
      const inputs = tarballs.slice(0, procs);
      const expected = await sequential(inputs);
      let overlapped = 0;
      for (let round = 1; round <= 5; round++) {
        const S = newStore();
        // Rotate the start order so every tarball gets to be first.
        const order = inputs.map((_, i) => inputs[(i + round) % inputs.length]!);
        const runs = order.map((t) => startCli(['--store', S, '-q', 'ingest', t], { timeoutMs: 90_000 }));
        const results = await Promise.all(runs.map((r) => r.done));
        for (const [i, r] of results.entries()) expect(r.code, `round ${round}, ${order[i]}\n${showRun(r)}`).toBe(0);
        // Did they really run at the same time? Every one started before the first one ended.
        const firstEnd = Math.min(...runs.map((r, i) => r.started + results[i]!.ms));
        if (runs.every((r) => r.started < firstEnd)) overlapped++;
        await expectIntact(S, expected, `${procs} procs, round ${round}`, round === 5);
        rmSync(S, { recursive: true, force: true });
      }
      stats.push(`${procs} concurrent ingests: 5 rounds, all exit 0, store identical to a sequential ingest; ${overlapped}/5 rounds fully overlapping`);
      expect(overlapped).toBeGreaterThanOrEqual(4);
    });
  }

  it('gc in a loop in another process never removes a blob a ref or a running ingest needs', { timeout: 150_000 }, async () => {
    const expected = await sequential(tarballs);
    let gcRuns = 0;
    let gcRemoved = 0;
    for (let round = 1; round <= 2; round++) {
      const S = newStore();
      const pre = await cli(['--store', S, '-q', 'ingest', victim]);
      expect(pre.code, showRun(pre)).toBe(0);
      const rm = await cli(['--store', S, 'rm', 'conc/victim:1']);
      expect(rm.code, showRun(rm)).toBe(0);
      const stop = path.join(tmp, `stop-${round}`);
      // Round 1: a node process looping gcStore (dozens of collections); round 2: a shell loop
      // of the real CLI `layerstore gc`.
      let loop: Promise<{ code: number | null; stdout: string; stderr: string }>;
      if (round === 1) {
        const p = startScript('gc-loop.mjs', [stableDist(''), S, stop, '3']);
        await p.ready;
        loop = p.done;
      } else {
        const script = `n=0; while [ ! -e "$1" ]; do "$2" "$3" --store "$4" gc --json > /dev/null || exit 1; n=$((n+1)); done; echo "{\\"runs\\":$n}"`;
        loop = run('bash', ['-c', script, 'gc-shell', stop, process.execPath, stableCli(), S], { timeoutMs: 120_000 });
        await new Promise((r) => setTimeout(r, 300));
      }
      const runs = tarballs.map((t) => startCli(['--store', S, '-q', 'ingest', t], { timeoutMs: 90_000 }));
      const results = await Promise.all(runs.map((r) => r.done));
      writeFileSync(stop, '');
      const g = await loop;
      expect(g.code, `gc loop\n${showRun(g)}`).toBe(0);
      const gj = lastJson(g.stdout);
      gcRuns += gj.runs;
      gcRemoved += gj.blobsRemoved ?? 0;
      for (const [i, r] of results.entries()) expect(r.code, `round ${round}, ${tarballs[i]}\n${showRun(r)}`).toBe(0);
      expect(gj.runs, `gc ran during the ingests (round ${round})`).toBeGreaterThanOrEqual(round === 2 ? 1 : 5);
      // The victim's own layer is unreferenced for good: a gc after the ingests removes it.
      const final = await cli(['--store', S, 'gc', '--json']);
      expect(final.code, showRun(final)).toBe(0);
      await expectIntact(S, expected, `gc loop round ${round}`, round === 2);
      stats.push(
        `gc loop round ${round}: ${gj.runs} gc runs${round === 2 ? ' (CLI processes)' : ' (gcStore in a loop, one process)'} during 4 concurrent ingests`,
      );
      rmSync(S, { recursive: true, force: true });
    }
    expect(gcRemoved, 'the loop did delete orphans (it was not idle)').toBeGreaterThan(0);
    stats.push(`gc loop total: ${gcRuns} gc runs, ${gcRemoved} blobs removed, no referenced blob lost`);
  });

  it('an ingest that pins stored blobs survives rm + gc of its refs in the middle', { timeout: 150_000 }, async () => {
    const S = newStore();
    const first = await cli(['--store', S, '-q', 'ingest', pinned]);
    expect(first.code, showRun(first)).toBe(0);
    const expected = { state: blobsOnly(S), refs: checkStore(S).refs };
    const blobCount = ls(path.join(S, 'blobs', 'sha256')).length;
    let hits = 0;
    let attempts = 0;
    const restoreIfGone = async () => {
      if (checkStore(S).refs.size === 0) {
        const again = await cli(['--store', S, '-q', 'ingest', pinned]);
        expect(again.code, showRun(again)).toBe(0);
      }
    };
    for (const pins of [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]) {
      if (hits >= 5) break;
      attempts++;
      const stop = path.join(tmp, `pin-stop-${attempts}`);
      const racer = startScript('rm-gc-on-pin.mjs', [stableDist(''), S, String(pins), stop, 'conc/pinned:1', 'conc/pinned:latest']);
      await racer.ready;
      // --verify-input: the ingest reads the bytes of the blobs it pins, which keeps the window
      // between pin and commit wide enough for the racer to hit it (without it, stored blobs are
      // pinned and not read, and the same pins are taken in a fraction of the time).
      const ing = await startCli(['--store', S, 'ingest', '--json', '--verify-input', pinned], { timeoutMs: 90_000 }).done;
      writeFileSync(stop, '');
      const rr = await racer.done;
      expect(rr.code, showRun(rr)).toBe(0);
      expect(ing.code, `ingest racing rm + gc (pins ${pins})\n${showRun(ing)}`).toBe(0);
      const race = lastJson(rr.stdout);
      const res = JSON.parse(ing.stdout).results[0];
      const label = `pin race ${attempts} (trigger at ${pins} pins; ${JSON.stringify(race)}; ingest added ${res.blobsAdded} blobs, ${res.refChanges.length} ref changes)`;
      const c = checkStore(S);
      expect(c.badBlobs, label).toEqual([]);
      expect(c.missing, `${label}: no ref names a missing blob`).toEqual([]);
      // The ingest's ref changes tell the order: refs re-added means it committed after the rm.
      const committedAfterRm = res.refChanges.length === 2;
      if (committedAfterRm && race.blobsRemoved === blobCount) {
        // gc deleted every blob of the image while the ingest held pins: the ingest must put
        // them all back (the pinned links are renamed into place) along with both refs.
        hits++;
        expect(res.blobsAdded, `${label}: the ingest re-added what gc removed`).toBe(blobCount);
      }
      await restoreIfGone(); // the rm came after the ingest's commit: a legal order, not a race
      await expectIntact(S, expected, label);
    }
    stats.push(
      `pin race (helper process): ${hits}/${attempts} runs had rm + gc delete every blob while the ingest held its pins; all ingests exit 0, verify clean`,
    );
    expect(hits).toBeGreaterThanOrEqual(5);

    // The same race with the real CLI: `rm`, then `gc` and the ingest started together at
    // staggered offsets; any interleaving must leave a consistent store.
    let readded = 0;
    const offsets = [-250, 0, 250];
    for (const [round, off] of offsets.entries()) {
      const rm = await cli(['--store', S, 'rm', 'conc/pinned:1', 'conc/pinned:latest']);
      expect(rm.code, showRun(rm)).toBe(0);
      const later = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));
      const [ir, gr] = await Promise.all([
        later(-off).then(() => startCli(['--store', S, 'ingest', '--json', pinned], { timeoutMs: 90_000 }).done),
        later(off).then(() => cli(['--store', S, 'gc', '--json'])),
      ]);
      expect(ir.code, showRun(ir)).toBe(0);
      expect(gr.code, showRun(gr)).toBe(0);
      const res = JSON.parse(ir.stdout).results[0];
      const c = checkStore(S);
      expect(c.badBlobs).toEqual([]);
      expect(c.missing, 'no ref names a missing blob').toEqual([]);
      expect(c.refs.size, 'the ingest re-added the refs rm removed').toBe(2);
      if (res.blobsAdded > 0) readded++;
      await expectIntact(S, expected, `CLI race round ${round + 1} (gc ${off} ms after the ingest)`, round === offsets.length - 1);
    }
    stats.push(
      `pin race (CLI rm, then ingest + gc at offsets ${offsets.join('/')} ms): ${offsets.length} rounds, ${readded} where gc removed the image's blobs before the ingest's commit and the ingest restored them`,
    );
    rmSync(S, { recursive: true, force: true });
  });
});
