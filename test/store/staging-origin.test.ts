/**
 * Staging files say where their pid means something (host and pid namespace, staging-names.ts):
 * gc and verify judge a file from another container sharing the store by its age, never by a
 * pid of their own namespace, so they never delete a live foreign ingest's staging files.
 */
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { FOREIGN_STAGING_MS, hereTag, parseStagingName, stagingLive } from '../../src/store/staging-names.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { cli, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

/** A pid above Linux's pid_max: never alive. */
const DEAD_PID = 4_194_305;
const HOUR = 60 * 60 * 1000;

function aliveHere(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

describe('the liveness rule of a staging file', () => {
  const alive = (pid: number) => pid === 42;
  it('from here: its pid decides', () => {
    expect(stagingLive({ pid: 42, where: 'aaaaaaaa' }, 100 * HOUR, alive, 'aaaaaaaa')).toBe(true);
    expect(stagingLive({ pid: 43, where: 'aaaaaaaa' }, 0, alive, 'aaaaaaaa')).toBe(false);
  });
  it('from another pid namespace or host, or an older name that does not say: alive until untouched for 24 h, whatever its pid', () => {
    expect(FOREIGN_STAGING_MS).toBe(24 * HOUR);
    for (const who of [{ pid: 43, where: 'bbbbbbbb' }, { pid: 43 }, { pid: 42, where: 'bbbbbbbb' }]) {
      expect(stagingLive(who, 23 * HOUR, alive, 'aaaaaaaa'), JSON.stringify(who)).toBe(true);
      expect(stagingLive(who, 25 * HOUR, alive, 'aaaaaaaa'), JSON.stringify(who)).toBe(false);
    }
  });
  it('names: new and older shapes', () => {
    expect(parseStagingName('12-0123abcd-0123456789abcdef.partial')).toEqual({ pid: 12, where: '0123abcd' });
    expect(parseStagingName('12-0123456789abcdef.partial')).toEqual({ pid: 12 });
    expect(parseStagingName('x.partial')).toBeUndefined();
  });
});

describe('gc and verify with staging files of another pid namespace', () => {
  let tmp: string;
  let template: string;
  let tar: string;
  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-staging-origin-'));
    template = path.join(tmp, 'template');
    tar = path.join(tmp, 'img.tar');
    writeFileSync(tar, await writeArchive('v25', [{ repoTags: ['ns/app:1'], layers: [await randomLayer('ns-a', 4_000_000)] }]));
    const r = await cli(['--store', template, '-q', 'ingest', tar]);
    expect(r.code, showRun(r)).toBe(0);
  }, 60_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('keeps a fresh foreign file whose pid is dead here, removes it once untouched for 25 h, and removes a dead local one', async () => {
    const S = path.join(tmp, 'planted');
    cpSync(template, S, { recursive: true });
    const staging = path.join(S, '.layerstore', 'staging');
    const other = hereTag() === '0badc0de' ? '0badc0df' : '0badc0de';
    const fresh = `${DEAD_PID}-${other}-0123456789abcdef.partial`;
    const old = `${DEAD_PID}-${other}-fedcba9876543210.partial`;
    const local = `${DEAD_PID}-${hereTag()}-00112233445566ff.partial`;
    for (const n of [fresh, old, local]) writeFileSync(path.join(staging, n), 'staged bytes\n');
    const v = await cli(['--store', S, 'verify', '--json']);
    expect(v.code, showRun(v)).toBe(0);
    expect((JSON.parse(v.stdout).leftovers as Array<{ path: string }>).map((l) => path.basename(l.path))).toEqual([local]);
    const gc = await cli(['--store', S, 'gc', '--json']);
    expect(gc.code, showRun(gc)).toBe(0);
    expect(JSON.parse(gc.stdout).leftoversRemoved).toBe(1);
    expect(readdirSync(staging).sort()).toEqual([fresh, old].sort());
    // A file's ctime cannot be set back: the clock of gc is moved on instead.
    const later = await (await Store.open(S)).gc({ now: Date.now() + 25 * HOUR });
    expect(later.leftoversRemoved).toBe(2);
    expect(readdirSync(staging)).toEqual([]);
  });

  it('a live ingest in another pid namespace (unshare -pf): gc from here leaves its staging files, and the ingest succeeds', async () => {
    const S = path.join(tmp, 'unshared');
    cpSync(template, S, { recursive: true });
    const staging = path.join(S, '.layerstore', 'staging');
    // The ingest reads its archive from stdin, which this test feeds: it stages the first bytes,
    // then waits for more, mid-staging, for as long as the test wants. Inside the namespace
    // its pid is set (ns_last_pid) to one no process has here, so a pid-only rule calls it dead.
    let pid = 30_000;
    while (aliveHere(pid + 1)) pid++;
    // sh stays pid 1 of the namespace; its child, the CLI, gets the next pid.
    const script = `echo ${pid} > /proc/sys/kernel/ns_last_pid && "$0" "$@"`;
    const child = spawn(
      'unshare',
      ['-pf', '--mount-proc', 'sh', '-c', script, process.execPath, stableCli(), '--store', S, '-q', 'ingest', '-', '--tag', 'ns/other:1'],
      {
        cwd: REPO_ROOT,
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const done = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const bytes = await writeArchive('v25', [{ repoTags: ['ns/other:1'], layers: [await randomLayer('ns-b', 3_000_000)] }]);
    child.stdin.write(bytes.subarray(0, 1_000_000));
    const until = Date.now() + 20_000;
    while (readdirSync(staging).length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    const staged = readdirSync(staging);
    expect(staged.length, stderr).toBeGreaterThan(0);
    expect(parseStagingName(staged[0]!)?.pid, 'the ingest runs under the pid set in its namespace').toBe(pid + 1);
    expect(aliveHere(pid + 1), 'a pid-only rule would call the ingest dead').toBe(false);
    const gc = await cli(['--store', S, 'gc', '--json']);
    expect(gc.code, showRun(gc)).toBe(0);
    expect(JSON.parse(gc.stdout).leftoversRemoved).toBe(0);
    for (const n of staged) expect(existsSync(path.join(staging, n)), n).toBe(true);
    child.stdin.end(bytes.subarray(1_000_000));
    expect(await done, stderr).toBe(0);
    expect(readdirSync(staging)).toEqual([]);
  }, 60_000);
});
