import { createRequire } from 'node:module';
import { CHUNK_CHARS } from '../util/text-chunks.js';
import { table } from './tables.js';

/** cli-table3's own cell width (ANSI codes stripped, wide characters counted as two), so the widths here are the ones it would choose. */
const { strlen } = createRequire(import.meta.url)('cli-table3/src/utils') as { strlen(s: string): number };

/** Printable ASCII only: one column a character, one line (most paths). */
const PLAIN = /^[\x20-\x7e]*$/;
const width = (s: string): number => (PLAIN.test(s) ? s.length : strlen(s));

/** Up to this many rows a table is drawn by cli-table3 in one piece (its layout costs grow faster than the rows). */
export const WHOLE_TABLE_ROWS = 2048;

/**
 * A table of `count` rows exactly as table() prints it, written in pieces of ~1 MB: `diff
 * --all` of a million changes must not hold a million rows of strings, and cli-table3 takes
 * minutes on such a table. Above `wholeRows` rows, the widths come from a first pass over
 * every row (cells(i) is called twice per row), the frame (borders, header) from cli-table3
 * with those widths, and each row is drawn here when its cells are plain ASCII, else by
 * cli-table3 as a one-row table of the same widths (wide characters, line breaks, escapes).
 */
export function* tableChunks(
  head: string[],
  align: Array<'left' | 'right'>,
  count: number,
  cells: (i: number) => string[],
  wholeRows = WHOLE_TABLE_ROWS,
): Generator<string> {
  if (count <= wholeRows) {
    const t = table(head, align);
    for (let i = 0; i < count; i++) t.push(cells(i));
    yield `${t.toString()}\n`;
    return;
  }
  // cli-table3's width of a column: its widest cell plus one space of padding each side.
  const widths = head.map((h) => strlen(h));
  for (let i = 0; i < count; i++) {
    const row = cells(i);
    for (let k = 0; k < row.length; k++) widths[k] = Math.max(widths[k]!, width(row[k]!));
  }
  const colWidths = widths.map((w) => w + 2);
  const frame = table(head, align, colWidths).toString().split('\n');
  let out = `${frame.slice(0, -1).join('\n')}\n`;
  for (let i = 0; i < count; i++) {
    const row = cells(i);
    if (row.every((c) => PLAIN.test(c))) {
      out += `│${row.map((c, k) => ` ${align[k] === 'right' ? c.padStart(widths[k]!) : c.padEnd(widths[k]!)} `).join('│')}│\n`;
    } else {
      const one = table([], align, colWidths);
      one.push(row);
      out += `${one.toString().split('\n').slice(1, -1).join('\n')}\n`;
    }
    if (out.length >= CHUNK_CHARS) {
      yield out;
      out = '';
    }
  }
  yield `${out}${frame.at(-1)}\n`;
}
