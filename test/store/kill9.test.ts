/**
 * Promise 2 (DESIGN.md §7): "A crash at any point leaves no partial blob at a final path and no
 * ref to a missing blob."
 *
 * A real `layerstore ingest` process is SIGKILLed at 30+ points chosen by byte progress: the
 * test polls the bytes the child has written so far (/proc/PID/io wchar: every 1/30 of the
 * bytes staged) and the blobs renamed into blobs/sha256 (during the commit) and kills when a
 * threshold is passed. After every kill:
 *   - every file in blobs/sha256 hashes to its name (no partial blob is visible);
 *   - index.json parses, is byte-for-byte either the old or the new index, and every blob a
 *     ref needs is present; `layerstore verify --json` exits 0 and reports the leftovers;
 *   - re-running the same ingest succeeds, `gc` removes the leftovers, the staging folder is
 *     empty, and the store is byte-for-byte the store an uninterrupted ingest makes.
 *     (verify and gc run as `layerstore verify` / `layerstore gc` processes after every
 *     commit-phase kill and every other staging kill, and as verifyStore() / gcStore() in this
 *     process after the rest: the same code, two node start-ups less. The killed ingest and
 *     its re-run are always real `layerstore ingest` processes.)
 * The phase each kill landed in is read from the store after the kill, not assumed.
 *
 * A kill inside the commit leaves proper-lockfile's lock directory behind. The kill loop ages
 * it (as if its 30 s stale period had passed); one extra kill at the start leaves it as it is,
 * and the ingest started right after must break it by itself (its owner is gone: see
 * lock-owner.test.ts) and succeed (checked last).
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync, lstatSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  blobsAndIndex,
  bytesUnder,
  checkStore,
  cli,
  leftovers,
  ls,
  randomLayer,
  showRun,
  sleepSync,
  stableCli,
  startCli,
  tarFileBytes,
  writeArchive,
} from '../helpers/store-proc.js';
import { Store } from '../../src/store/store.js';
import { gcStore } from '../../src/store/gc.js';
import { verifyStore } from '../../src/store/verify.js';

type Phase =
  | 'staging'
  | 'mid-commit'
  | 'committed, index not yet written'
  | 'index temp file written, not renamed'
  | 'index written'
  | 'finished before the kill';

interface Target {
  kind: 'staged-bytes' | 'new-blobs';
  at: number;
  label: string;
}

describe('kill -9 during ingest (promise 2)', () => {
  let tmp: string;
  let tarball: string;
  let template: string;
  let templateState: Record<string, string>;
  let finalState: Record<string, string>;
  let templateIndex: Buffer;
  let finalIndex: Buffer;
  let stagedTotal: number;
  let newBlobs: string[];
  const phases = new Map<Phase, number>();
  let stale: { S: string; rerun: ReturnType<typeof cli> } | undefined;
  const log: string[] = [];

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-kill9-'));
    // Two images sharing a base layer; many smallish layers, so staging passes many distinct
    // byte offsets (writes go in 1 MiB chunks) and the commit has many renames to land between.
    const L = async (name: string, size: number) => randomLayer(`kill9/${name}`, size);
    const base = await L('base', 300_000);
    const la = await Promise.all(Array.from({ length: 16 }, (_, i) => L(`a${i}`, 110_000 + 997 * i)));
    const lb = await Promise.all(Array.from({ length: 12 }, (_, i) => L(`b${i}`, 130_000 + 991 * i)));
    const bytes = await writeArchive('legacy', [
      { repoTags: ['kill/a:1'], layers: [base, ...la] },
      { repoTags: ['kill/b:1'], layers: [base, ...lb] },
    ]);
    tarball = path.join(tmp, 'big.tar');
    writeFileSync(tarball, bytes);
    stagedTotal = tarFileBytes(bytes).bytes;

    // The store before the ingest already holds another image, which must survive every kill.
    const pre = path.join(tmp, 'pre.tar');
    writeFileSync(pre, await writeArchive('v25', [{ repoTags: ['pre/existing:1'], layers: [await L('pre', 70_000)] }]));
    template = path.join(tmp, 'template');
    const r0 = await cli(['--store', template, '-q', 'ingest', pre]);
    expect(r0.code, showRun(r0)).toBe(0);
    templateState = blobsAndIndex(template);
    templateIndex = readFileSync(path.join(template, 'index.json'));

    // What an uninterrupted ingest makes.
    const cal = path.join(tmp, 'calibration');
    cpSync(template, cal, { recursive: true });
    const r1 = await cli(['--store', cal, '-q', 'ingest', tarball]);
    expect(r1.code, showRun(r1)).toBe(0);
    const v1 = await cli(['--store', cal, 'verify', '--json']);
    expect(v1.code, showRun(v1)).toBe(0);
    expect(JSON.parse(v1.stdout)).toMatchObject({ damaged: false, orphans: [], leftovers: [] });
    finalState = blobsAndIndex(cal);
    finalIndex = readFileSync(path.join(cal, 'index.json'));
    newBlobs = ls(path.join(cal, 'blobs', 'sha256')).filter((n) => !templateState[`blobs/sha256/${n}`]);
    expect(newBlobs.length).toBeGreaterThanOrEqual(30);
    log.push(`tarball ${bytes.length} bytes, ${stagedTotal} bytes staged, ${newBlobs.length} new blobs; uninterrupted ingest ${r1.ms} ms`);

    // A kill inside the commit leaves the lock held by a dead process. Make one now and start
    // the next ingest at once: it has to wait the 30 s stale period, which it does in the
    // background while the kill points below run; the last test checks how it ended.
    for (let attempt = 0; attempt < 8 && !stale; attempt++) {
      const k = await killAt({ kind: 'new-blobs', at: 1, label: 'stale lock' }, `stale-${attempt}`);
      if (k.killed && leftovers(k.S).lock) {
        const v = await cli(['--store', k.S, 'verify', '--json']);
        expect(v.code, `verify needs no lock\n${showRun(v)}`).toBe(0);
        stale = { S: k.S, rerun: cli(['--store', k.S, '-q', 'ingest', tarball], 110_000) };
      }
    }
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (log.length) console.log(`[kill9]\n${log.join('\n')}`);
  });

  /** Spawn an ingest into a fresh copy of the template and SIGKILL it when `t` is reached. */
  async function killAt(t: Target, n: number | string) {
    const S = path.join(tmp, `s${n}`);
    cpSync(template, S, { recursive: true });
    const staging = path.join(S, '.layerstore', 'staging');
    const blobs = path.join(S, 'blobs', 'sha256');
    const indexFile = path.join(S, 'index.json');
    const indexIno = statSync(indexFile).ino;
    const before = ls(blobs).length;
    const lockDir = path.join(S, '.layerstore', 'index.json.lock');

    const proc = startCli(['--store', S, '-q', 'ingest', tarball], { timeoutMs: 60_000 });
    const io = `/proc/${proc.child.pid}/io`;
    const deadline = Date.now() + 30_000;
    let killed = false;
    let polls = 0;
    const kill = () => {
      proc.child.kill('SIGKILL');
      killed = true;
    };
    // Poll synchronously (the child runs on its own). Staging kills watch the bytes the child
    // has written so far (wchar of /proc/PID/io: one read per poll, where stat-ing every
    // staging file would cost more than the ingest); commit kills count the blobs renamed into
    // blobs/sha256, spinning without sleep once the store lock is taken.
    for (;;) {
      polls++;
      if (t.kind === 'staged-bytes') {
        let written = 0;
        try {
          written = Number(/wchar: (\d+)/.exec(readFileSync(io, 'latin1'))?.[1] ?? 0);
        } catch {
          /* not started yet, or gone */
        }
        if (written >= t.at) {
          kill();
          break;
        }
      } else {
        let nb = 0;
        try {
          nb = readdirSync(blobs).length - before;
        } catch {
          /* ignore */
        }
        if (nb >= t.at) {
          kill();
          break;
        }
      }
      if (polls % 8 === 0) {
        let indexMoved = false;
        try {
          indexMoved = statSync(indexFile).ino !== indexIno;
        } catch {
          /* mid-rename */
        }
        if (indexMoved || Date.now() > deadline) break;
      }
      const spin = t.kind === 'new-blobs' && existsLock(lockDir);
      if (!spin) sleepSync(1);
    }
    const r = await proc.done;
    const seen = { staged: bytesUnder(staging), blobs: ls(blobs).length - before };
    if (killed && r.signal !== 'SIGKILL') killed = false; // it finished first
    return { S, r, killed, seen, indexIno };
  }

  function existsLock(p: string): boolean {
    try {
      lstatSync(p);
      return true;
    } catch {
      return false;
    }
  }

  /** What the store shows after the kill. */
  function phaseOf(S: string, killed: boolean): Phase {
    if (!killed) return 'finished before the kill';
    const idx = readFileSync(path.join(S, 'index.json'));
    const present = newBlobs.filter((n) => ls(path.join(S, 'blobs', 'sha256')).includes(n)).length;
    if (!idx.equals(templateIndex)) return 'index written';
    if (present === 0) return 'staging';
    if (present < newBlobs.length) return 'mid-commit';
    return leftovers(S).tmp.length ? 'index temp file written, not renamed' : 'committed, index not yet written';
  }

  /**
   * `cliTools`: run `layerstore verify` and `layerstore gc` as processes; otherwise
   * verifyStore() and gcStore() in this process (the same code without two node start-ups, to
   * keep the suite's time down). Every commit-phase kill and every other staging kill use the CLI.
   */
  async function checkAfterKill(S: string, phase: Phase, label: string, cliTools: boolean) {
    // No partial blob at a final path, no ref to a missing blob, index is old or new, pre-existing blobs intact.
    const c = checkStore(S);
    expect(c.badBlobs, `${label}: blobs whose bytes do not hash to their name`).toEqual([]);
    expect(c.indexError, label).toBeUndefined();
    expect(c.missing, `${label}: refs name missing blobs`).toEqual([]);
    const idx = readFileSync(path.join(S, 'index.json'));
    expect(idx.equals(templateIndex) || idx.equals(finalIndex), `${label}: index.json is neither the old nor the new one:\n${idx}`).toBe(true);
    const state = blobsAndIndex(S);
    for (const [k, v] of Object.entries(templateState)) if (k !== 'index.json') expect(state[k], `${label}: pre-existing ${k}`).toBe(v);
    for (const k of Object.keys(state)) if (k !== 'index.json') expect(finalState[k], `${label}: unexpected file ${k}`).toBe(state[k]);

    const left = leftovers(S);
    let vj: { damaged: boolean; leftovers: unknown[] };
    if (cliTools) {
      const v = await cli(['--store', S, 'verify', '--json']);
      expect(v.code, `${label}: verify after the kill\n${showRun(v)}`).toBe(0);
      vj = JSON.parse(v.stdout);
    } else vj = await verifyStore(await Store.open(S));
    expect(vj.damaged, `${label}: verify after the kill`).toBe(false);
    expect(vj.leftovers.length, `${label}: verify reports every leftover`).toBe(left.staging.length + left.tmp.length);
    if (phase === 'staging') expect(left.lock, `${label}: no lock is held while staging`).toBe(false);

    // A kill -9 inside the commit leaves proper-lockfile's lock directory; it counts as stale 30 s
    // after its last mtime update. Age it instead of waiting (stale-lock.test.ts waits for real).
    if (left.lock) {
      const old = new Date(Date.now() - 120_000);
      utimesSync(path.join(S, '.layerstore', 'index.json.lock'), old, old);
    }
    const again = await cli(['--store', S, '-q', 'ingest', tarball]);
    expect(again.code, `${label}: re-run of the ingest\n${showRun(again)}`).toBe(0);
    let removed: number;
    if (cliTools) {
      const gc = await cli(['--store', S, 'gc', '--json']);
      expect(gc.code, `${label}: gc\n${showRun(gc)}`).toBe(0);
      removed = JSON.parse(gc.stdout).leftoversRemoved;
    } else removed = (await gcStore(await Store.open(S))).leftoversRemoved;
    expect(removed, `${label}: gc removes the leftovers of the killed ingest`).toBe(left.staging.length + left.tmp.length);
    expect(leftovers(S), `${label}: nothing left behind`).toEqual({ staging: [], tmp: [], lock: false });
    expect(blobsAndIndex(S), `${label}: the store equals an uninterrupted ingest's`).toEqual(finalState);
    return { phase, left };
  }

  it('recovers from SIGKILL at 30+ points spread over staging and commit', { timeout: 400_000 }, async () => {
    const targets: Target[] = [];
    const K = 30;
    for (let k = 0; k < K; k++)
      targets.push({
        kind: 'staged-bytes',
        at: Math.max(1, Math.floor((k * stagedTotal) / K)),
        label: k === 0 ? 'first byte written' : `written >= ${k}/${K}`,
      });
    for (const j of [1, 16]) targets.push({ kind: 'new-blobs', at: j, label: `${j} new blobs visible` });
    targets.push({ kind: 'new-blobs', at: newBlobs.length, label: 'all new blobs visible' });
    targets.push({ kind: 'new-blobs', at: newBlobs.length, label: 'all new blobs visible (2)' });

    let n = 0;
    let kills = 0;
    const hitPhases: string[] = [];
    // Kill runs go one at a time (they poll the child's progress); each run's checks, re-run and
    // gc happen in the background on its own store copy, at most two at once.
    const pending = new Set<Promise<void>>();
    const failures: unknown[] = [];
    const tryTarget = async (t: Target) => {
      while (pending.size >= 2) await Promise.race(pending);
      const { S, killed, seen, r } = await killAt(t, ++n);
      const label = `#${n} (${t.label}; after the kill: ${seen.staged} bytes in staging, ${seen.blobs} new blobs; ${r.ms} ms)`;
      if (killed) kills++;
      const phase = phaseOf(S, killed);
      phases.set(phase, (phases.get(phase) ?? 0) + 1);
      const p = checkAfterKill(S, phase, label, phase !== 'staging' || n % 2 === 0)
        .then(({ left }) => {
          hitPhases.push(`${label} -> ${phase}; left ${left.staging.length} staging, ${left.tmp.length} tmp${left.lock ? ', lock' : ''}`);
        })
        .catch((e) => void failures.push(e))
        .finally(() => {
          pending.delete(p);
          rmSync(S, { recursive: true, force: true });
        });
      pending.add(p);
    };
    for (const t of targets) await tryTarget(t);
    // The commit phases last milliseconds; try a few more times when the first attempts missed them.
    for (let extra = 0; extra < 6 && !phases.has('mid-commit'); extra++)
      await tryTarget({ kind: 'new-blobs', at: 1 + extra * 5, label: `retry: ${1 + extra * 5} new blobs visible` });
    for (let extra = 0; extra < 6 && !phases.has('committed, index not yet written') && !phases.has('index temp file written, not renamed'); extra++)
      await tryTarget({ kind: 'new-blobs', at: newBlobs.length, label: 'retry: all new blobs visible' });
    await Promise.all(pending);
    if (failures.length) throw failures[0];
    hitPhases.sort((a, b) => Number(/#(\d+)/.exec(a)![1]) - Number(/#(\d+)/.exec(b)![1]));

    log.push(...hitPhases);
    log.push(`kill points: ${kills} SIGKILLs in ${n} runs; phases: ${[...phases].map(([p, c]) => `${p} x${c}`).join(', ')}`);
    expect(kills).toBeGreaterThanOrEqual(30);
    expect(phases.get('staging') ?? 0).toBeGreaterThanOrEqual(25);
    expect(phases.has('mid-commit'), 'a kill landed between the first and the last rename into blobs/').toBe(true);
    expect(
      phases.has('committed, index not yet written') || phases.has('index temp file written, not renamed'),
      'a kill landed after the last rename, before index.json was replaced',
    ).toBe(true);
  });

  it('a lock left by kill -9 inside the commit: the next ingest breaks it (its owner is gone), then succeeds', { timeout: 120_000 }, async () => {
    expect(stale, 'a kill landed while the lock was held').toBeDefined();
    const again = await stale!.rerun;
    expect(again.code, showRun(again)).toBe(0);
    // It broke the dead process's lock (no 30 s stale wait), and neither failed with E_LOCKED
    // nor needed a human to remove the lock.
    expect(again.stderr).toMatch(/broke the store lock left by process \d+/);
    log.push(`dead owner's lock: the ingest started right after a kill inside the commit broke it and succeeded in ${again.ms} ms`);
    const gc = await cli(['--store', stale!.S, 'gc', '--json']);
    expect(gc.code, showRun(gc)).toBe(0);
    expect(leftovers(stale!.S)).toEqual({ staging: [], tmp: [], lock: false });
    expect(blobsAndIndex(stale!.S)).toEqual(finalState);
  });
});
