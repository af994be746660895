/**
 * report --files' table of the largest wasted files names the layers a copy sits in and those
 * that hide it: a path rewritten in many layers must not make one row as wide as all their
 * digests (--json lists every one). A content copied a great many times is counted in full
 * but named by a bounded number of paths, in the table and in --json.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileSpec } from '../../fixtures/image-writer.js';
import { MAX_OCCURRENCES } from '../../src/analysis/files-report.js';
import { bytes, cleanupTempDirs, imageOf, tempStore } from '../analysis/helpers.js';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';

afterAll(cleanupTempDirs);

describe('largest wasted files', () => {
  let store = '';
  beforeAll(async () => {
    ensureBuilt();
    const t = await tempStore();
    store = path.join(t.dir, 'store');
    // The same path written in 12 layers, the copy of each hidden by every layer above it.
    const layers: FileSpec[][] = Array.from({ length: 12 }, (_, i) => [{ path: 'common', content: bytes(String.fromCharCode(97 + i), 1000 + i) }]);
    await imageOf(t.store, 'many/layers:1', layers);
  });

  it('a row names at most four layers and says how many more', () => {
    const r = runCli(['--store', store, 'report', '--files', 'many/layers:1']);
    expect(r.code, show(r)).toBe(0);
    const row = r.stdout.split('\n').find((l) => l.includes('│ common ') && l.includes('replaced'));
    expect(row, r.stdout).toBeDefined();
    expect(row).toMatch(/hidden by ([0-9a-f]{12}, ){3}[0-9a-f]{12} \(\+7 more\)/);
    const j = JSON.parse(runCli(['--store', store, 'report', '--files', '--json', 'many/layers:1']).stdout);
    const wasted: Array<{ path: string; layers: string[]; hiddenBy: string[] }> = j.images[0].wastedFiles;
    expect(wasted.find((f) => f.path === 'common' && f.hiddenBy.length === 11)).toBeDefined();
  });
});

describe('contents stored more than once: paths per content bounded', () => {
  // One content 350 times in layer A (a/f-000 ... a/f-349) and twice in layer B (z/copy-1, z/copy-2),
  // whose paths sort after every one of A's: B must still be named.
  const COPIES_A = 350;
  let store = '';
  let a = '';
  let b = '';
  beforeAll(async () => {
    ensureBuilt();
    const t = await tempStore();
    store = path.join(t.dir, 'store');
    const same = bytes('x', 50);
    const layerA: FileSpec[] = Array.from({ length: COPIES_A }, (_, i) => ({ path: `a/f-${String(i).padStart(3, '0')}`, content: same }));
    const imgA = await imageOf(t.store, 'dup/a:1', [layerA]);
    const imgB = await imageOf(t.store, 'dup/b:1', [
      [
        { path: 'z/copy-1', content: same },
        { path: 'z/copy-2', content: same },
      ],
    ]);
    a = imgA.layers[0]!.digest;
    b = imgB.layers[0]!.digest;
  });

  it(`--json lists the first ${MAX_OCCURRENCES} paths and the first of every other layer; occurrencesOmitted counts the rest, so copies and layers stay exact`, () => {
    const r = runCli(['--store', store, 'report', '--files', '--json']);
    expect(r.code, show(r)).toBe(0);
    const [d] = JSON.parse(r.stdout).duplicateFiles;
    const first = Array.from({ length: MAX_OCCURRENCES }, (_, i) => ({ layer: a, path: `a/f-${String(i).padStart(3, '0')}` }));
    expect(d.occurrences).toEqual([...first, { layer: b, path: 'z/copy-1' }]);
    expect(d.occurrencesOmitted).toBe(COPIES_A + 2 - (MAX_OCCURRENCES + 1));
    expect(d.occurrences.length + d.occurrencesOmitted).toBe(COPIES_A + 2);
    expect(d.layers).toBe(2);
    expect(d.savedBytes).toBe(50 * (COPIES_A + 1));
    // The JSON grows with the paths listed, not with the copies.
    expect(r.stdout.length).toBeLessThan(30_000);
  });

  it('the table counts every copy and says how many paths it does not name', () => {
    const r = runCli(['--store', store, 'report', '--files']);
    expect(r.code, show(r)).toBe(0);
    const row = r.stdout.split('\n').find((l) => l.includes('a/f-000') && !l.includes('duplicate'));
    expect(row, r.stdout).toMatch(new RegExp(`│ +${COPIES_A + 2} │ +2 │`));
    expect(r.stdout).toContain(`(+${COPIES_A + 2 - 3} more)`);
  });
});
