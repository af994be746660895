/**
 * The typed-array tree under stackLayers, past its first sizes: thousands of siblings, half
 * of them whited out, a directory made opaque and filled again, a directory replaced by a
 * file and back, checked against the rules worked out by hand.
 */
import { describe, expect, it } from 'vitest';
import { MAX_IMAGE_ENTRIES, StackScratch, stackLayers } from '../../src/analysis/overlay.js';
import type { FileEntry, FileIndex } from '../../src/analysis/file-index.js';
import type { Digest } from '../../src/digest/digest.js';

const D = (c: string) => `sha256:${c.repeat(64)}` as Digest;
const file = (p: string, size = 1): FileEntry => ({
  path: p,
  type: 'file',
  mode: 0o644,
  uid: 0,
  gid: 0,
  size,
  sha256: Buffer.from(p).toString('hex').padEnd(64, '0').slice(0, 64),
});
const dir = (p: string): FileEntry => ({ path: p, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
const index = (entries: FileEntry[]): FileIndex => ({
  version: 2,
  digest: D('0'),
  diffId: D('0'),
  compression: 'none',
  blobBytes: 0,
  tarBytes: 0,
  entries,
  unsafeCount: 0,
  unsafe: [],
  totals: { entries: entries.length, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, other: 0, fileBytes: 0 },
});

describe('stackLayers on many paths', () => {
  it('10,000 siblings, every other one whited out, an opaque directory refilled, a directory replaced by a file and back', () => {
    const N = 10_000;
    const names = Array.from({ length: N }, (_, i) => `d/f${i}`);
    const lower = [dir('d'), ...names.map((p) => file(p, 10)), dir('o'), file('o/x', 5), file('o/y', 5), dir('r'), file('r/z', 7)];
    const upper = [
      ...names.filter((_, i) => i % 2 === 0).map((p) => file(p.replace('d/', 'd/.wh.'), 0)),
      file('o/.wh..wh..opq', 0),
      file('o/y', 3),
      file('r', 2), // replaces directory r and its r/z
    ];
    const top = [file('r/again', 4), file('d/f0', 1)]; // r becomes a directory again; d/f0 comes back
    const o = stackLayers([
      { digest: D('1'), index: index(lower) },
      { digest: D('2'), index: index(upper) },
      { digest: D('3'), index: index(top) },
    ]);
    const kept = names.filter((_, i) => i % 2 === 1);
    const expected = ['d', 'd/f0', ...kept, 'o', 'o/y', 'r/again'].sort();
    expect(o.files.map((f) => f.path)).toEqual(expected);
    expect(o.layers[1]!.deleted.length).toBe(N / 2 + 2); // the whited-out half, o/x and o/y
    expect(o.layers[1]!.deletedBytes).toBe((N / 2) * 10 + 5 + 5);
    expect(o.layers[1]!.replaced.map((c) => [c.path, c.hiddenBytes, c.cause ?? null])).toEqual([
      ['r/z', 7, 'r'],
      ['r', 0, null],
    ]);
    expect(o.layers[2]!.replaced.map((c) => [c.path, c.hiddenBytes, c.cause ?? null])).toEqual([['r', 2, 'r/again']]);
    expect(o.layers[2]!.added.map((c) => c.path)).toEqual(['r/again', 'd/f0']);
    expect(o.files.find((f) => f.path === 'd/f0')).toMatchObject({ layer: 2, entry: { size: 1 } });
    expect(o.finalFileBytes).toBe((N / 2) * 10 + 3 + 4 + 1);
  });

  it('layers holding more entries than the bound for one image are refused with E_TOO_LARGE naming the bound', () => {
    const layers = [
      { digest: D('1'), index: index([dir('a'), file('a/x')]) },
      { digest: D('2'), index: index([file('a/y'), file('a/z')]) },
    ];
    expect(stackLayers(layers, { maxEntries: 4 }).files.map((f) => f.path)).toEqual(['a', 'a/x', 'a/y', 'a/z']);
    expect(() => stackLayers(layers, { maxEntries: 3 })).toThrow(
      expect.objectContaining({ code: 'E_TOO_LARGE', message: expect.stringContaining('hold 4 entries, more than 3') }),
    );
    expect(MAX_IMAGE_ENTRIES).toBe(8_000_000);
  });

  it('an image of 600 layers keeps the entries of layers above the 511th (whose refs pass 32 bits) as files, not implicit directories', () => {
    const layers = Array.from({ length: 600 }, (_, i) => ({
      digest: D('1'),
      index: index(i === 599 ? [file('f0', 9), file('f599', 2)] : [dir('d'), file(`d/f${i}`, 1), file(`f${i}`, 1)]),
    }));
    const o = stackLayers(layers);
    expect(o.files).toHaveLength(1 + 599 + 600);
    expect(o.files.find((f) => f.path === 'f599')).toMatchObject({ layer: 599, entry: { size: 2 } });
    expect(o.files.find((f) => f.path === 'f0')).toMatchObject({ layer: 599, entry: { size: 9 } });
    expect(o.files.find((f) => f.path === 'd/f598')).toMatchObject({ layer: 598 });
    expect(o.layers[599]!.replaced.map((c) => [c.path, c.hiddenLayer, c.hiddenBytes])).toEqual([['f0', 0, 1]]);
    expect(o.layers[599]!.added.map((c) => c.path)).toEqual(['f599']);
    expect(o.finalFileBytes).toBe(599 * 2 - 1 + 9 + 2);
  });

  it('one StackScratch reused for a large image, then a small one, then one of 600 layers gives each the result a fresh stack gives', () => {
    const big = [
      { digest: D('1'), index: index([dir('d'), ...Array.from({ length: 3000 }, (_, i) => file(`d/f${i}`, i)), dir('o'), file('o/x', 5)]) },
      { digest: D('2'), index: index([file('d/.wh.f1', 0), file('o/.wh..wh..opq', 0), file('o/y', 3), file('d/f2/sub', 4)]) },
    ];
    const small = [
      { digest: D('3'), index: index([dir('d'), file('d/f7', 1), file('o', 2)]) },
      { digest: D('4'), index: index([file('d/f1', 6), file('d/.wh.f7', 0)]) },
    ];
    const wide = Array.from({ length: 600 }, (_, i) => ({ digest: D('5'), index: index([file(`f${i % 7}`, i)]) }));
    const view = (o: ReturnType<typeof stackLayers>) => ({
      files: o.files,
      layers: o.layers.map((l) => ({ added: l.added, replaced: l.replaced, deleted: l.deleted, bytes: [l.addedBytes, l.replacedBytes, l.deletedBytes] })),
      sums: [o.totalFileBytes, o.finalFileBytes],
    });
    const scratch = StackScratch.forStacks([big, small]);
    for (const layers of [big, small, wide, small]) expect(view(stackLayers(layers, { scratch }))).toEqual(view(stackLayers(layers)));
  });
});
