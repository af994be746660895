/**
 * report --files' table of the largest wasted files names the layers a copy sits in and those
 * that hide it: a path rewritten in many layers must not make one row as wide as all their
 * digests (--json lists every one).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FileSpec } from '../../fixtures/image-writer.js';
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
