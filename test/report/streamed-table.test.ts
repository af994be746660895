/**
 * tableChunks must print exactly what one cli-table3 table (report/tables.ts) prints, in
 * pieces, and must cope with row counts where cli-table3 itself fails (`diff --all` of a
 * million changes: cli-table3 throws "Maximum call stack size exceeded" from ~200k rows).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { tableChunks } from '../../src/report/streamed-table.js';
import { table } from '../../src/report/tables.js';

const HEAD = ['CHANGE', 'PATH', 'BYTES', 'WHAT'];
const ALIGN: Array<'left' | 'right'> = ['left', 'left', 'right', 'left'];

const whole = (rows: string[][]): string => {
  const t = table(HEAD, ALIGN);
  for (const r of rows) t.push(r);
  return `${t.toString()}\n`;
};
const streamed = (rows: string[][], wholeRows: number): string[] => [...tableChunks(HEAD, ALIGN, rows.length, (i) => rows[i]!, wholeRows)];

describe('tableChunks', () => {
  it('prints what one cli-table3 table prints: plain, wide, multi-line and escaped cells, either alignment', () => {
    const rows = [
      ['added', 'usr/bin/env', '+1.20 kB', 'file'],
      ['removed', 'srv/日本語/ファイル.txt', '-10 B', 'file'], // wide characters: two columns each
      ['changed', 'etc/line\nbreak', '3 B -> 4 B', 'content, mode'], // a newline in a path: two lines
      ['added', 'x\u001b[31mred\u001b[0m', '+0 B', 'symlink'], // an escape: no width
      ['added', '', '', ''],
      ['removed', 'ü'.repeat(60), '-999 GB', 'other'],
    ];
    for (const wholeRows of [0, 1, 3]) expect(streamed(rows, wholeRows).join('')).toBe(whole(rows));
  });

  it('equals cli-table3 on random rows (fast-check)', () => {
    const cell = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'grapheme', maxLength: 12 }), fc.constantFrom('', 'a/b', '日本', 'é'));
    fc.assert(
      fc.property(fc.array(fc.tuple(cell, cell, cell, cell), { minLength: 1, maxLength: 40 }), fc.nat(45), (rows, wholeRows) => {
        return streamed(rows, wholeRows).join('') === whole(rows);
      }),
      { numRuns: 200 },
    );
  });

  it('writes 250,000 rows in pieces of about a megabyte, every line as wide as the frame', () => {
    const n = 250_000;
    const cells = (i: number) => ['added', `data/d${i % 997}/file-${i}`, `+${i % 1000} B`, 'file'];
    const chunks = [...tableChunks(HEAD, ALIGN, n, cells)];
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) expect(c.length).toBeLessThan(2 * 1024 * 1024);
    const lines = chunks.join('').split('\n');
    expect(lines.pop()).toBe(''); // ends with a newline
    expect(lines).toHaveLength(n + 3); // top border, header, rows, bottom border
    expect(new Set(lines.map((l) => l.length)).size).toBe(1);
    let widest = 0;
    for (let i = 0; i < n; i++) widest = Math.max(widest, cells(i)[1]!.length);
    expect(lines[1]).toBe(`│ CHANGE │ ${'PATH'.padEnd(widest)} │  BYTES │ WHAT │`);
    expect(lines[2]).toBe(`│ added  │ ${'data/d0/file-0'.padEnd(widest)} │ ${'+0 B'.padStart(6)} │ file │`);
    expect(lines.at(-2)).toContain(`data/d${(n - 1) % 997}/file-${n - 1} `);
    // cli-table3 alone cannot draw it: this is why the rows are drawn here.
    expect(() => whole(Array.from({ length: n }, (_, i) => cells(i)))).toThrow(/call stack/);
  });
});
