/**
 * Ctrl-C, SIGTERM or a closed terminal (SIGHUP) while `export -o FILE` writes its temp file
 * beside FILE: the export exits 130 / 143 / 129 and leaves neither FILE nor the temp file
 * (which is outside the store: nothing else would ever remove it), nor its pins in the store's
 * staging folder. The export is stopped (SIGSTOP) once its temp file exists, signalled, then
 * continued, so the signal always lands mid-write.
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { leftovers, randomLayer, showRun, stableCli } from '../helpers/store-proc.js';
import { BIG_LAYER_BYTES, stoppedExport, storeOf } from './stopped-export.js';
import { shellStatus } from '../helpers/exit-status.js';

const REF = 'exp/interrupt:1';

describe('export -o FILE interrupted by a signal', () => {
  let tmp = '';
  let store = '';

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-export-interrupt-'));
    store = await storeOf(tmp, [{ repoTags: [REF], layers: [await randomLayer('exp-interrupt', BIG_LAYER_BYTES)] }]);
  }, 60_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it.each([
    ['SIGINT', 130],
    ['SIGTERM', 143],
    ['SIGHUP', 129],
  ] as const)('%s mid-write: exit %i, no tarball, no temp file, no pins left', async (sig, code) => {
    const dir = path.join(tmp, sig);
    mkdirSync(dir);
    const run = await stoppedExport(store, [REF], dir);
    run.child.kill(sig);
    run.child.kill('SIGCONT');
    const r = await run.done;
    expect(shellStatus(r.code, r.signal), showRun(r)).toBe(code);
    expect(r.stderr).toMatch(new RegExp(`interrupted \\(${sig}\\)`));
    expect(readdirSync(dir)).toEqual([]);
    expect(leftovers(store).staging).toEqual([]);
  });
});
