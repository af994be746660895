/**
 * An export caught in the act, for tests that race it deterministically: `layerstore export
 * REF... -o DIR/x.tar` is started, and stopped with SIGSTOP as soon as its temp file appears in
 * DIR (the walk is done: every blob it writes is held; the tarball is being written). The test
 * then does what it races (a signal, an rm + gc) and sends SIGCONT.
 */
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'vitest';
import { cli, delay, showRun, startCli, writeArchive, type Running } from '../helpers/store-proc.js';

/** A 64 MB layer: writing it takes long enough for the temp file to be seen before the end. */
export const BIG_LAYER_BYTES = 64 * 1024 * 1024;

export async function stoppedExport(store: string, refs: string[], dir: string): Promise<Running & { tmp: string }> {
  const run = startCli(['--store', store, 'export', ...refs, '-o', path.join(dir, 'x.tar')], { timeoutMs: 60_000 });
  let ended = false;
  void run.done.then(() => (ended = true));
  const deadline = Date.now() + 30_000;
  for (;;) {
    const tmp = readdirSync(dir).find((n) => n.endsWith('.tmp'));
    if (tmp) {
      run.child.kill('SIGSTOP');
      return { ...run, tmp };
    }
    if (ended) throw new Error(`the export ended before its temp file was seen:\n${(await run.done).stderr}`);
    if (Date.now() > deadline) throw new Error('no temp file within 30 s');
    await delay(1);
  }
}

/** A store in `dir` holding `images` (a docker save of them, ingested, then removed). */
export async function storeOf(dir: string, images: Parameters<typeof writeArchive>[1]): Promise<string> {
  const store = path.join(dir, 'store');
  const input = path.join(dir, 'in.tar');
  writeFileSync(input, await writeArchive('v25', images));
  const r = await cli(['--store', store, '-q', 'ingest', input]);
  expect(r.code, showRun(r)).toBe(0);
  rmSync(input);
  return store;
}
