/**
 * export when writing the tarball fails: a reader of `-o -` that goes away (EPIPE), a full
 * file system (a real tmpfs: ENOSPC) and a directory this user may not write (EACCES, run as
 * nobody through setpriv). Each ends with one error line (or, for EPIPE, quietly, as every
 * command does when its reader stops), never a Node stack trace, and no temp file is left
 * where the tarball was to appear.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';
import { onPath, peer } from '../helpers/peers.js';
import { cli, randomLayer, run, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

const REF = 'exp/fail:1';
/** One line, with the error code; no Node stack trace or "Unhandled 'error' event". */
const ONE_LINE = (what: RegExp) => new RegExp(`^layerstore: error: ${what.source}\\[E_IO\\]\\n(  hint: .*\\n)?$`);

describe('export: a tarball that cannot be written', () => {
  let tmp = '';
  let store = '';

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-export-fail-'));
    chmodSync(tmp, 0o755); // nobody reads the store (the EACCES case)
    store = path.join(tmp, 'store');
    const input = path.join(tmp, 'in.tar');
    // 2 MB: more than a pipe holds, and more than the 1 MiB tmpfs below.
    writeFileSync(input, await writeArchive('v25', [{ repoTags: [REF], layers: [await randomLayer('exp-fail', 2 * 1024 * 1024)] }]));
    const r = await cli(['--store', store, '-q', 'ingest', input]);
    expect(r.code, showRun(r)).toBe(0);
  }, 60_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('-o /dev/stdout into `| head -c 100` (a shell pipe): stops quietly as -o - does (exit 0, nothing on stderr)', () => {
    const errFile = path.join(tmp, 'dev-stdout.err');
    const r = spawnSync(
      'bash',
      [
        '-c',
        `"$0" "$1" --store "$2" export "$3" -o /dev/stdout 2>"$4" | head -c 100 | wc -c; echo "\${PIPESTATUS[0]}"`,
        process.execPath,
        stableCli(),
        store,
        REF,
        errFile,
      ],
      { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, LAYERSTORE_STORE: '' } },
    );
    expect(r.stdout.trim().split(/\s+/)).toEqual(['100', '0']);
    expect(readFileSync(errFile, 'utf8')).toBe('');
  });

  it('-o - whose reader stops after 100 bytes: stops quietly (exit 0, nothing on stderr)', async () => {
    const env = { ...process.env };
    delete env.LAYERSTORE_STORE;
    const child = spawn(process.execPath, [stableCli(), '--store', store, 'export', REF, '-o', '-'], {
      cwd: REPO_ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    let got = 0;
    // `| head -c 100`: read the first bytes, then close our end of the pipe.
    child.stdout.on('data', (c: Buffer) => {
      got += c.length;
      child.stdout.destroy();
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(got).toBeGreaterThan(0);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('-o on a full tmpfs: exit 2, one E_IO line naming ENOSPC, no temp file left', async () => {
    if (!peer('root (to mount a tmpfs)', process.getuid?.() === 0, 'run the tests as root, as CI does')) return;
    const mnt = path.join(tmp, 'small');
    mkdirSync(mnt);
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', mnt], { encoding: 'utf8' });
    expect(m.status, m.stderr).toBe(0);
    try {
      const r = await cli(['--store', store, 'export', REF, '-o', path.join(mnt, 'x.tar')]);
      expect(r.code, showRun(r)).toBe(2);
      expect(r.stderr).toMatch(ONE_LINE(/cannot write the tarball to .*x\.tar: .*\(ENOSPC\) /));
      expect(readdirSync(mnt)).toEqual([]);
    } finally {
      spawnSync('umount', [mnt]);
    }
  });

  it('-o in a directory this user may not write: exit 2, one E_IO line naming EACCES, nothing written', async () => {
    if (!peer('root and setpriv (util-linux)', process.getuid?.() === 0 && onPath('setpriv'), 'run the tests as root, as CI does')) return;
    const dir = path.join(tmp, 'roots-only');
    mkdirSync(dir, { mode: 0o755 });
    const env = { ...process.env };
    delete env.LAYERSTORE_STORE;
    const r = await run(
      'setpriv',
      ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, stableCli(), '--store', store, 'export', REF, '-o', path.join(dir, 'x.tar')],
      { env },
    );
    expect(r.code, showRun(r)).toBe(2);
    expect(r.stderr).toMatch(ONE_LINE(/cannot write the tarball to .*x\.tar: permission denied \(EACCES\) /));
    expect(readdirSync(dir)).toEqual([]);
  });
});
