/**
 * Ctrl-C or SIGTERM while a progress bar is drawn leaves the terminal as it was found: the
 * cursor shown again and line wrapping back on (a bar turns both off), and the interrupt
 * message on a line of its own, not after the bar's text. For ingest (which writes into the
 * store) and verify (which had no handler at all: the signal killed it with the bar up).
 */
import { createWriteStream, openSync, closeSync, readFileSync, ftruncateSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT, runCli, show } from '../helpers/cli.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { commands } from '../helpers/peers.js';
import { interruptOnPty, screenLines, terminalModes, type PtyRun } from '../helpers/pty.js';

let tmp = '';
let fx = '';
withFixtureTemp('interrupt-terminal-', (p) => ({ tmp, fx } = p));

const HIDE_CURSOR = '\x1b[?25l';

function expectTerminalRestored(r: PtyRun, sig: 'SIGINT' | 'SIGTERM', exitCode: number): void {
  const seen = `exit ${r.code}; the terminal showed:\n${JSON.stringify(r.out)}`;
  expect(r.code, seen).toBe(exitCode);
  const m = terminalModes(r.out);
  expect(m.cursorHidden, seen).toBeGreaterThan(0); // a bar was drawn
  expect(m.cursorShown, seen).toBe(m.cursorHidden);
  expect(m.wrapOn, seen).toBe(m.wrapOff);
  // The last mode switch turns things back on: nothing hides the cursor after the restore.
  expect(r.out.lastIndexOf('\x1b[?25h'), seen).toBeGreaterThan(r.out.lastIndexOf(HIDE_CURSOR));
  const msg = screenLines(r.out).find((l) => l.includes(`interrupted (${sig})`));
  expect(msg, seen).toMatch(new RegExp(`^layerstore: interrupted \\(${sig}\\); `));
}

describe('a signal while a progress bar is drawn', () => {
  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('ingest, %s: cursor and line wrap restored, the message on its own line, exit %i', async (sig, exitCode) => {
    if (!commands([['script', 'bsdutils']])) return;
    // Standard input from a named pipe that delivers the start of an archive and then nothing:
    // the ingest waits with its bar drawn. (Not the pipe's path: a read of a path blocks in a
    // thread that process.exit waits for, so the CLI would not end until the pipe does.)
    const fifo = path.join(tmp, `in-${sig}.fifo`);
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const feed = createWriteStream(fifo);
    feed.write(readFileSync(path.join(fx, 'api-v25.tar')).subarray(0, 64 * 1024));
    try {
      const r = await interruptOnPty(['--store', path.join(tmp, `store-${sig}`), 'ingest', '-'], HIDE_CURSOR, sig, { stdin: fifo });
      expectTerminalRestored(r, sig, exitCode);
      expect(screenLines(r.out).join('\n')).toContain('each input not reported above was added whole or not at all');
    } finally {
      feed.destroy();
    }
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const)('verify, %s: cursor and line wrap restored, the message on its own line, exit %i', async (sig, exitCode) => {
    if (!commands([['script', 'bsdutils']])) return;
    const store = path.join(tmp, `verify-${sig}`);
    const r0 = runCli(['--store', store, '-q', 'ingest', path.join(fx, 'api-v25.tar')]);
    expect(r0.code, show(r0)).toBe(0);
    // A 16 GiB blob of holes: seconds of hashing, no disk (verify reads it, whatever its name).
    const fd = openSync(path.join(store, 'blobs', 'sha256', 'f'.repeat(64)), 'w');
    ftruncateSync(fd, 16 * 1024 ** 3);
    closeSync(fd);
    const r = await interruptOnPty(['--store', store, 'verify'], HIDE_CURSOR, sig);
    expectTerminalRestored(r, sig, exitCode);
    expect(screenLines(r.out).join('\n')).toContain('verify did not finish: no verdict on the store');
  });

  it('a bar that ends normally leaves the terminal as it was, too', () => {
    if (!commands([['script', 'bsdutils']])) return;
    const store = path.join(tmp, 'normal');
    const cmd = [process.execPath, CLI, '--store', store, 'ingest', path.join(fx, 'api-v25.tar'), path.join(fx, 'family-legacy.tar')];
    const r = spawnSync('script', ['-qefc', cmd.join(' '), '/dev/null'], { cwd: REPO_ROOT, encoding: 'utf8' });
    expect(r.status, r.stdout).toBe(0);
    const m = terminalModes(r.stdout);
    expect(m.cursorShown).toBe(m.cursorHidden);
    expect(m.wrapOn).toBe(m.wrapOff);
  });
});
