/**
 * `diff` of images with thousands of changes, end to end: the CLI walks the changes as refs
 * and writes them in pieces (analysis/image-diff.ts FileChanges, report/streamed-table.ts),
 * and must print exactly what the whole objects would print — the JSON as JSON.stringify of
 * diffImages' result, the table as one cli-table3 table of every change sorted by bytes,
 * then path. Enough changes (> 2048 rows, > 256 per list) that every streamed path runs.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diffImages, type ImageDiff } from '../../src/analysis/image-diff.js';
import { humanBytes } from '../../src/report/human.js';
import { toJson } from '../../src/report/json.js';
import { table } from '../../src/report/tables.js';
import type { FileSpec } from '../../fixtures/image-writer.js';
import { bytes, cleanupTempDirs, imageOf, tempStore } from '../analysis/helpers.js';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';

afterAll(cleanupTempDirs);

const N = 1500;
const ONLY = 700;

/** The table as the whole-object renderer drew it (before the streamed one). */
function expectedTable(d: ImageDiff, top: number): string {
  const F = d.files;
  const rows = [
    ...F.added.map((f) => ({ op: 'added', path: f.path, bytes: f.bytes, text: `+${humanBytes(f.bytes)}`, why: f.type })),
    ...F.removed.map((f) => ({ op: 'removed', path: f.path, bytes: f.bytes, text: `-${humanBytes(f.bytes)}`, why: f.type })),
    ...F.changed.map((c) => ({
      op: 'changed',
      path: c.path,
      bytes: Math.max(c.before.bytes, c.after.bytes),
      text: `${humanBytes(c.before.bytes)} -> ${humanBytes(c.after.bytes)}`,
      why: c.reasons.join(', '),
    })),
  ].sort((a, b) => b.bytes - a.bytes || (a.path < b.path ? -1 : 1));
  const t = table(['CHANGE', 'PATH', 'BYTES', 'WHAT'], ['left', 'left', 'right', 'left']);
  for (const r of rows.slice(0, top)) t.push([r.op, r.path, r.text, r.why]);
  return `${t.toString()}\n${rows.length > top ? `(${rows.length - top} more; --all lists every change, --json gives them all)\n` : ''}`;
}

describe('diff with thousands of changes', () => {
  let dir = '';
  let d: ImageDiff;
  beforeAll(async () => {
    ensureBuilt();
    const t = await tempStore();
    dir = path.join(t.dir, 'store');
    const a: FileSpec[] = [{ path: 'data', type: 'dir' }];
    const b: FileSpec[] = [{ path: 'data', type: 'dir' }];
    for (let i = 0; i < N; i++) {
      const name = `data/${i % 7 === 0 ? 'ü日本-' : ''}f${i}`;
      a.push({ path: name, content: bytes('a', i % 41) });
      if (i % 5 === 0)
        b.push({ path: name, type: 'symlink', linkname: `f${i + 1}` }); // type
      else if (i % 2 === 0)
        b.push({ path: name, content: bytes('b', (i % 41) + (i % 3)) }); // content
      else if (i % 3 === 0)
        b.push({ path: name, content: bytes('a', i % 41), mode: 0o600 }); // mode
      else b.push({ path: name, content: bytes('a', i % 41) }); // unchanged
    }
    for (let i = 0; i < ONLY; i++) {
      a.push({ path: `only-a/x${i}`, content: bytes('x', i % 13) });
      b.push({ path: `only-b/y${i}`, content: bytes('y', i % 17) });
    }
    const A = await imageOf(t.store, 'many/a:1', [a]);
    const B = await imageOf(t.store, 'many/b:1', [b]);
    d = await diffImages(t.store, A, B);
    expect(d.files.changed.length).toBeGreaterThan(700);
    expect(d.files.added.length + d.files.removed.length + d.files.changed.length).toBeGreaterThan(2048);
  });

  it('--json is JSON.stringify of every change', () => {
    const r = runCli(['--store', dir, 'diff', 'many/a:1', 'many/b:1', '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toBe(toJson({ schemaVersion: 1, ...d }));
  });

  it('the table shows the 30 largest changes, then by path, and says how many more', () => {
    const r = runCli(['--store', dir, 'diff', 'many/a:1', 'many/b:1']);
    expect(r.code, show(r)).toBe(0);
    const F = d.files;
    expect(r.stdout).toContain(`Files: ${F.added.length} added (+${humanBytes(F.addedBytes)}), ${F.removed.length} removed (-${humanBytes(F.removedBytes)}), `);
    expect(r.stdout.slice(r.stdout.indexOf('┌'))).toBe(expectedTable(d, 30));
  });

  it('--all lists every change, as one cli-table3 table would', () => {
    const r = runCli(['--store', dir, 'diff', 'many/a:1', 'many/b:1', '--all']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout.slice(r.stdout.indexOf('┌'))).toBe(expectedTable(d, Number.MAX_SAFE_INTEGER));
  });
});
