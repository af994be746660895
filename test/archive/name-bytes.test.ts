/**
 * Tar names that are not UTF-8 (a latin-1 name, as GNU tar stores it) stay apart: each bad
 * byte is kept as U+EF00 + byte (archive/name-bytes.ts). Before, every bad byte read as U+FFFD,
 * so "f-\xff" and "f-\xfe" were one path: diff missed the change, report --files counted one as
 * a replaced copy of the other, though GNU tar (and every engine) sees two files.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeName } from '../../src/archive/name-bytes.js';
import { bytes, cleanupTempDirs, imageOf, tempDir, tempStore } from '../analysis/helpers.js';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';
import { rawTar } from '../helpers/make-tar.js';

afterAll(cleanupTempDirs);

describe('decodeName', () => {
  it('valid UTF-8 reads as UTF-8 (TextDecoder, fatal), U+FFFD itself included', () => {
    const strict = new TextDecoder('utf-8', { fatal: true });
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => {
        const b = Buffer.from(s, 'utf8');
        return decodeName(b) === strict.decode(b);
      }),
      { numRuns: 500 },
    );
    expect(decodeName(Buffer.from('a\ufffdb'))).toBe('a\ufffdb');
  });

  it('different byte strings are different names (any bytes, fast-check)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), fc.uint8Array({ maxLength: 12 }), (x, y) => {
        const a = Buffer.from(x);
        const b = Buffer.from(y);
        return a.equals(b) === (decodeName(a) === decodeName(b));
      }),
      { numRuns: 2000 },
    );
  });

  it('a bad byte is U+EF00 + byte; overlong forms, surrogates and cut sequences are bad bytes', () => {
    expect(decodeName(Buffer.from([0x66, 0x2d, 0xff]))).toBe('f-\uefff');
    expect(decodeName(Buffer.from([0xc0, 0xaf]))).toBe('\uefc0\uefaf'); // overlong "/"
    expect(decodeName(Buffer.from([0xed, 0xa0, 0x80]))).toBe('\uefed\uefa0\uef80'); // a surrogate
    expect(decodeName(Buffer.from([0xe2, 0x82]))).toBe('\uefe2\uef82'); // cut
    expect(decodeName(Buffer.from('é', 'latin1'))).toBe('\uefe9');
  });
});

describe('layers whose names are not UTF-8', () => {
  const lat = (s: string) => Buffer.from(s, 'latin1');
  let store = '';
  let layerA = '';
  beforeAll(async () => {
    ensureBuilt();
    const t = await tempStore();
    store = path.join(t.dir, 'store');
    const file = (nameBytes: Buffer, ch: string) => ({ name: 'x', nameBytes, body: bytes(ch, 1000) });
    const a = rawTar([file(lat('f-\xff'), 'a'), file(lat('g-\xff'), 'b'), file(lat('g-\xfe'), 'c')]);
    const b = rawTar([file(lat('f-\xfe'), 'a'), file(lat('g-\xff'), 'b'), file(lat('g-\xfe'), 'c')]);
    layerA = path.join(tempDir(), 'a.tar');
    writeFileSync(layerA, a);
    await imageOf(t.store, 'latin/a:1', [{ tar: a, compression: 'none' }]);
    await imageOf(t.store, 'latin/b:1', [{ tar: b, compression: 'none' }]);
  });

  it('GNU tar lists three files in the layer, and report --files counts three, nothing replaced', () => {
    const names = execFileSync('tar', ['-tf', layerA, '--quoting-style=escape'], { encoding: 'utf8' }).trim().split('\n');
    expect(names).toEqual(['f-\\377', 'g-\\377', 'g-\\376']);
    const j = JSON.parse(runCli(['--store', store, 'report', '--files', '--json', 'latin/a:1']).stdout);
    expect(j.images[0].waste).toMatchObject({ replacedBytes: 0, deletedBytes: 0, finalFileBytes: 3000 });
  });

  it('diff: f-\\xff removed, f-\\xfe added, the g- files unchanged; the table shows the bytes as \\xNN', () => {
    const r = runCli(['--store', store, 'diff', 'latin/a:1', 'latin/b:1', '--json']);
    expect(r.code, show(r)).toBe(0);
    const d = JSON.parse(r.stdout);
    expect(d.files.removed.map((f: { path: string }) => f.path)).toEqual(['f-\uefff']);
    expect(d.files.added.map((f: { path: string }) => f.path)).toEqual(['f-\ueffe']);
    expect(d.files.changed).toEqual([]);
    expect(d.files.unchanged).toBe(2);
    const t = runCli(['--store', store, 'diff', 'latin/a:1', 'latin/b:1']);
    expect(t.stdout).toMatch(/│ added +│ f-\\xfe +│/);
    expect(t.stdout).toMatch(/│ removed +│ f-\\xff +│/);
  });
});
