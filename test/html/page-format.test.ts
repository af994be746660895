/**
 * The report page formats sizes and shows names with the CLI's own functions
 * (src/report/human.ts, src/report/printable.ts): the page script carries their source
 * instead of a copy that could drift.
 */
import vm from 'node:vm';
import { describe, expect, it } from 'vitest';
import { PAGE_FORMAT_SOURCE, PAGE_SCRIPT } from '../../src/html/page-script.js';
import { RAW_BYTE_BASE } from '../../src/archive/name-bytes.js';
import { humanBytes, percent, ratio } from '../../src/report/human.js';
import { printable } from '../../src/report/printable.js';

type Formatters = { humanBytes: typeof humanBytes; percent: typeof percent; ratio: typeof ratio; printable: typeof printable };

/** The page's formatting functions, run from the text the page carries, in a context of their own. */
function pageFormatters(): Formatters {
  expect(PAGE_SCRIPT).toContain(PAGE_FORMAT_SOURCE);
  return vm.runInNewContext(`${PAGE_FORMAT_SOURCE}\n({ humanBytes, percent, ratio, printable })`) as Formatters;
}

const SIZES = [
  0,
  1,
  7,
  999,
  1000,
  1001,
  1234,
  9_994,
  9_995,
  9_999,
  10_000,
  99_949,
  99_950,
  99_999,
  100_000,
  999_499,
  999_500,
  999_999,
  1e6,
  123_456_789,
  1e9,
  4.2e12,
  1e15,
  999.5e15,
  1e18,
  1.5e21,
  2 ** 53,
  0.5,
  -1,
  -1500,
  -2.5e9,
  NaN,
  Infinity,
  -Infinity,
];

describe('page formatting', () => {
  it('the page script has no formatting functions of its own: it carries the CLI source of humanBytes, percent, ratio and printable', () => {
    for (const f of [humanBytes, percent, ratio, printable]) {
      expect(PAGE_SCRIPT).toContain(f.toString());
      expect(PAGE_SCRIPT.split(`function ${f.name}(`).length - 1).toBe(1);
    }
  });

  it('the page and the CLI format the same numbers identically', () => {
    const page = pageFormatters();
    for (const n of SIZES) expect(page.humanBytes(n), `humanBytes(${n})`).toBe(humanBytes(n));
    for (const [a, b] of [
      [0, 0],
      [1, 3],
      [2, 3],
      [5, 0],
      [999, 1000],
      [1, 1],
      [0.125, 1],
    ] as const)
      expect(page.percent(a, b)).toBe(percent(a, b));
    for (const x of [0, 1, 1.005, 2 / 3, 12.345, 1e6]) expect(page.ratio(x)).toBe(ratio(x));
  });

  it('the page and the CLI show the same names the same way: controls, bidi, invisible characters and bytes that are not UTF-8 escaped', () => {
    const page = pageFormatters();
    const raw = (b: number) => String.fromCharCode(RAW_BYTE_BASE + b);
    const names = [
      'usr/bin/evil\u202egpj.exe',
      'etc/line1\nline2',
      `bad${raw(0xff)}${raw(0xfe)}bytes`,
      'ad\u200bmin\u200c\u200d\u2060\ufeff',
      'a\u2028b\u2029c',
      'title\u001b]0;x\u0007\u007f\u0085\u061c\u2066\u2069',
      'srv/日本語/ファイル.txt 😀',
      '',
    ];
    for (const n of names) expect(page.printable(n), JSON.stringify(n)).toBe(printable(n));
    // Every code unit from U+0000 to U+FFFF, one by one.
    for (let c = 0; c <= 0xffff; c++) {
      const ch = String.fromCharCode(c);
      if (page.printable(ch) !== printable(ch)) expect.fail(`U+${c.toString(16)}: page ${page.printable(ch)}, CLI ${printable(ch)}`);
    }
  });
});
