/**
 * Names from images reach the terminal through the tables: a file name or artifact type must
 * not clear the screen, set the title, reorder text or draw a line that reads as a row. Each
 * such character is shown as \uXXXX (printable.ts); the JSON outputs keep the names as they are.
 */
import path from 'node:path';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RAW_BYTE_BASE } from '../../src/archive/name-bytes.js';
import { printable } from '../../src/report/printable.js';
import { bytes, cleanupTempDirs, imageOf, tempStore } from '../analysis/helpers.js';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';

afterAll(cleanupTempDirs);

const CLEAR = 'clear\u001b[2J\u001b[H';
const TITLE = 'title\u001b]0;PWNED\u0007';
const RLO = 'evil\u202Etxt.exe';
const FAKE_ROW = 'x\n│ removed │ etc/shadow │ -1.00 GB │ file │';

describe('printable', () => {
  it('writes controls, DEL, C1 and bidi controls as \\uXXXX and leaves the rest alone', () => {
    expect(printable(CLEAR)).toBe('clear\\u001b[2J\\u001b[H');
    expect(printable(TITLE)).toBe('title\\u001b]0;PWNED\\u0007');
    expect(printable(RLO)).toBe('evil\\u202etxt.exe');
    expect(printable('a\r\n\t\u007f\u0085b')).toBe('a\\u000d\\u000a\\u0009\\u007f\\u0085b');
    for (const ok of ['usr/lib/x86_64-linux-gnu/libc.so.6', 'srv/日本語/ファイル.txt', 'é/ü €', '']) expect(printable(ok)).toBe(ok);
  });

  it('writes invisible characters (zero-width, word joiner, BOM) and the Unicode line and paragraph separators as \\uXXXX', () => {
    // Invisible: "ad\u200bmin" would read as "admin"; U+2028/2029 break the line like a newline.
    expect(printable('ad\u200bmin\u200c\u200d\u2060\ufeff')).toBe('ad\\u200bmin\\u200c\\u200d\\u2060\\ufeff');
    expect(printable('line1\u2028line2\u2029')).toBe('line1\\u2028line2\\u2029');
  });

  it('writes a name byte that is not UTF-8 (kept as U+EF00 + byte) as \\xNN, and is one self-contained function (the report page runs its source)', () => {
    const raw = (b: number) => String.fromCharCode(RAW_BYTE_BASE + b);
    expect(printable(`bad${raw(0xff)}${raw(0xfe)}bytes`)).toBe('bad\\xff\\xfebytes');
    expect(printable(`x${raw(0x80)}`)).toBe('x\\x80');
    // Run from its own text in an empty context: it needs nothing of its module.
    const copy = vm.runInNewContext(`${printable.toString()}\nprintable`) as typeof printable;
    for (const s of [CLEAR, TITLE, RLO, FAKE_ROW, `bad${raw(0xff)}`, 'ad\u200bmin', 'ok']) expect(copy(s)).toBe(printable(s));
  });
});

describe('tables of hostile file names', () => {
  let store = '';
  beforeAll(async () => {
    ensureBuilt();
    const t = await tempStore();
    store = path.join(t.dir, 'store');
    await imageOf(t.store, 'term/a:1', [[{ path: 'base', content: bytes('b', 10) }]]);
    const names = [CLEAR, TITLE, RLO, FAKE_ROW];
    // Two copies of one content: the duplicate tables of report --files name both paths.
    await imageOf(t.store, 'term/b:1', [[{ path: 'base', content: bytes('b', 10) }, ...names.map((n) => ({ path: n, content: bytes('d', 500) }))]]);
  });

  const noControls = (out: string) => {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    for (const line of out.split('\n')) expect(line).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
  };

  it('diff and diff --all: names escaped, no control reaches the terminal, no extra row', () => {
    for (const extra of [[], ['--all']]) {
      const r = runCli(['--store', store, 'diff', 'term/a:1', 'term/b:1', ...extra]);
      expect(r.code, show(r)).toBe(0);
      noControls(r.stdout);
      for (const n of [CLEAR, TITLE, RLO, FAKE_ROW]) expect(r.stdout).toContain(printable(n));
      expect(r.stdout.split('\n').filter((l) => l.startsWith('│ added'))).toHaveLength(4);
      expect(r.stdout).not.toMatch(/^│ removed │ etc\/shadow/m);
    }
  });

  it('report --files: the duplicate and wasted tables escape names too; --json keeps them as they are', () => {
    const r = runCli(['--store', store, 'report', '--files', 'term/b:1']);
    expect(r.code, show(r)).toBe(0);
    noControls(r.stdout);
    expect(r.stdout).toContain(printable(FAKE_ROW));
    const j = JSON.parse(runCli(['--store', store, 'diff', 'term/a:1', 'term/b:1', '--json']).stdout);
    expect(j.files.added.map((f: { path: string }) => f.path).sort()).toEqual([CLEAR, TITLE, RLO, FAKE_ROW].sort());
  });
});
