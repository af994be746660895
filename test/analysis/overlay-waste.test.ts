/**
 * Overlay semantics and waste, one case per rule, on images built in code and ingested
 * through the real ingest path. Every expected byte count is worked out by hand in the
 * comment above it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import { imageFilesystem, stackLayers, type OverlayResult } from '../../src/analysis/overlay.js';
import { computeWaste, imageWaste, topDuplicates, topWasted, wasteSummary } from '../../src/analysis/waste.js';
import type { FileEntry, FileIndex } from '../../src/analysis/file-index.js';
import type { Digest } from '../../src/digest/digest.js';
import { bytes, cleanupTempDirs, imageOf, tempStore } from './helpers.js';

let store: Store;
beforeAll(async () => {
  ({ store } = await tempStore());
});
afterAll(cleanupTempDirs);

const paths = (o: OverlayResult) => o.files.map((f) => f.path);
/** What report --files prints (wasteSummary) is what computeWaste + topWasted say, for any N. */
const sameSummary = (o: OverlayResult) => {
  const { copies: _c, duplicates: _d, ...totals } = computeWaste(o);
  for (const n of [0, 1, 2, 3, 5, 1000]) expect(wasteSummary(o, n)).toEqual({ ...totals, top: topWasted(computeWaste(o), n) });
};
const invariant = (o: OverlayResult) => {
  const w = computeWaste(o);
  expect(w.totalFileBytes).toBe(w.finalFileBytes + w.replacedBytes + w.deletedBytes);
  sameSummary(o);
};

describe('whiteouts', () => {
  it('a file whiteout deletes the lower file', async () => {
    // L0: a.txt 100 + b.txt 50 = 150. L1: .wh.a.txt removes a.txt (100).
    // deleted 100, replaced 0, duplicates 0 (different contents); efficiency 1 - 100/150.
    const img = await imageOf(store, 't/wh-file:1', [
      [
        { path: 'a.txt', content: bytes('a', 100) },
        { path: 'b.txt', content: bytes('b', 50) },
      ],
      [{ path: '.wh.a.txt' }],
    ]);
    const { overlay, waste } = await imageWaste(store, img);
    expect(paths(overlay)).toEqual(['b.txt']);
    expect(overlay.layers[1]!.deleted).toEqual([
      { path: 'a.txt', type: 'file', bytes: 0, hiddenBytes: 100, hiddenLayer: 0, cause: '.wh.a.txt', hiddenSha256: expect.any(String) },
    ]);
    expect(overlay.layers[1]!.whiteouts).toBe(1);
    expect(waste).toMatchObject({
      totalFileBytes: 150,
      finalFileBytes: 50,
      deletedBytes: 100,
      replacedBytes: 0,
      duplicateBytes: 0,
      wastedBytes: 100,
      efficiency: 0.333333,
    });
    const [top] = topWasted(waste, 5);
    expect(top).toEqual({ path: 'a.txt', class: 'deleted', bytes: 100, copies: 1, layers: [img.layers[0]!.digest], hiddenBy: [img.layers[1]!.digest] });
    invariant(overlay);
  });

  it('a directory whiteout deletes the whole lower subtree', async () => {
    // L0: d/x 10, d/sub/y 20, e 5 (total 35). L1: .wh.d removes d, d/x, d/sub, d/sub/y.
    // deleted 10 + 20 = 30; final e (5).
    const img = await imageOf(store, 't/wh-dir:1', [
      [
        { path: 'd', type: 'dir' },
        { path: 'd/x', content: bytes('x', 10) },
        { path: 'd/sub', type: 'dir' },
        { path: 'd/sub/y', content: bytes('y', 20) },
        { path: 'e', content: bytes('e', 5) },
      ],
      [{ path: '.wh.d' }],
    ]);
    const { overlay, waste } = await imageWaste(store, img);
    expect(paths(overlay)).toEqual(['e']);
    expect(overlay.layers[1]!.deleted.map((c) => c.path).sort()).toEqual(['d', 'd/sub', 'd/sub/y', 'd/x']);
    expect(overlay.layers[1]!.deletedBytes).toBe(30);
    expect(waste).toMatchObject({ totalFileBytes: 35, deletedBytes: 30, replacedBytes: 0, duplicateBytes: 0, wastedBytes: 30 });
    invariant(overlay);
  });

  it('an opaque directory hides what lower layers put there, not what the same layer adds', async () => {
    // L0: d/old 40, d/sub/deep 8, keep 3 (total 51).
    // L1: d/ + d/new 7, with the opaque marker written AFTER d/new (order must not matter).
    // deleted: d/old 40 + d/sub/deep 8 = 48. final: d, d/new, keep. total 51 + 7 = 58.
    const img = await imageOf(store, 't/opaque:1', [
      [
        { path: 'd', type: 'dir' },
        { path: 'd/old', content: bytes('o', 40) },
        { path: 'd/sub/deep', content: bytes('p', 8) },
        { path: 'keep', content: bytes('k', 3) },
      ],
      [{ path: 'd', type: 'dir' }, { path: 'd/new', content: bytes('n', 7) }, { path: 'd/.wh..wh..opq' }],
    ]);
    const { overlay, waste } = await imageWaste(store, img);
    expect(paths(overlay)).toEqual(['d', 'd/new', 'keep']);
    expect(overlay.layers[1]!.opaqueDirs).toEqual(['d']);
    expect(overlay.layers[1]!.deleted.map((c) => [c.path, c.hiddenBytes, c.cause])).toEqual(
      expect.arrayContaining([
        ['d/old', 40, 'd/.wh..wh..opq'],
        ['d/sub/deep', 8, 'd/.wh..wh..opq'],
      ]),
    );
    expect(waste).toMatchObject({ totalFileBytes: 58, finalFileBytes: 10, deletedBytes: 48, replacedBytes: 0, wastedBytes: 48 });
    invariant(overlay);
  });

  it('a whiteout only reaches lower layers; the same path re-added in that layer survives', async () => {
    // L0: f 30. L1: .wh.f and a new f of 12. deleted 30; final f = 12 bytes from layer 1.
    const img = await imageOf(store, 't/wh-readd:1', [[{ path: 'f', content: bytes('a', 30) }], [{ path: 'f', content: bytes('b', 12) }, { path: '.wh.f' }]]);
    const { overlay, waste } = await imageWaste(store, img);
    expect(overlay.files).toEqual([{ path: 'f', entry: expect.objectContaining({ size: 12 }), layer: 1 }]);
    expect(waste).toMatchObject({ deletedBytes: 30, replacedBytes: 0, wastedBytes: 30, totalFileBytes: 42 });
    invariant(overlay);
  });

  it('whiteouts that name nothing, or nothing sensible, change nothing', async () => {
    // .wh.missing (no such lower file), .wh.. (would be the parent), aufs .wh..wh.plnk.
    const img = await imageOf(store, 't/wh-odd:1', [
      [{ path: 'a/f', content: bytes('a', 9) }],
      [{ path: 'a/.wh.missing' }, { path: 'a/.wh..' }, { path: '.wh..wh.plnk' }],
    ]);
    const { overlay, waste } = await imageWaste(store, img);
    expect(paths(overlay)).toEqual(['a/f']);
    expect(overlay.layers[1]!.ignoredWhiteouts).toBe(2);
    expect(waste.wastedBytes).toBe(0);
  });
});

describe('replacements', () => {
  it('an upper file overwrites the lower one: the lower copy is replaced, the top copy is not waste', async () => {
    // L0: f 100. L1: f 30. replaced 100; final 30; total 130; efficiency 1 - 100/130 = 0.230769.
    const img = await imageOf(store, 't/overwrite:1', [[{ path: 'f', content: bytes('x', 100) }], [{ path: 'f', content: bytes('y', 30) }]]);
    const { overlay, waste } = await imageWaste(store, img);
    expect(overlay.layers[1]!.replaced).toEqual([{ path: 'f', type: 'file', bytes: 30, hiddenBytes: 100, hiddenLayer: 0, hiddenSha256: expect.any(String) }]);
    expect(waste).toMatchObject({
      totalFileBytes: 130,
      finalFileBytes: 30,
      replacedBytes: 100,
      deletedBytes: 0,
      duplicateBytes: 0,
      wastedBytes: 100,
      efficiency: 0.230769,
    });
    invariant(overlay);
  });

  it('a file overwritten twice: every hidden lower copy is waste', async () => {
    // 50 (L0) and 60 (L1) are hidden by 70 (L2): replaced 110.
    const img = await imageOf(store, 't/overwrite2:1', [
      [{ path: 'f', content: bytes('a', 50) }],
      [{ path: 'f', content: bytes('b', 60) }],
      [{ path: 'f', content: bytes('c', 70) }],
    ]);
    const { waste } = await imageWaste(store, img);
    expect(waste).toMatchObject({ replacedBytes: 110, wastedBytes: 110, finalFileBytes: 70, totalFileBytes: 180 });
    expect(topWasted(waste, 1)[0]).toMatchObject({
      path: 'f',
      class: 'replaced',
      bytes: 110,
      copies: 2,
      layers: [img.layers[0]!.digest, img.layers[1]!.digest],
    });
  });

  it('a file replaced by a symlink counts as replaced', async () => {
    // L0: f 100, g 1. L1: f -> g. replaced 100; final f is a symlink (0 bytes) + g 1.
    const img = await imageOf(store, 't/symlink:1', [
      [
        { path: 'f', content: bytes('x', 100) },
        { path: 'g', content: 'g' },
      ],
      [{ path: 'f', type: 'symlink', linkname: 'g' }],
    ]);
    const { overlay, waste } = await imageWaste(store, img);
    const f = overlay.files.find((x) => x.path === 'f')!;
    expect(f.entry).toMatchObject({ type: 'symlink', linkTarget: 'g', size: 0 });
    expect(overlay.layers[1]!.replaced).toEqual([{ path: 'f', type: 'symlink', bytes: 0, hiddenBytes: 100, hiddenLayer: 0, hiddenSha256: expect.any(String) }]);
    expect(waste).toMatchObject({ replacedBytes: 100, deletedBytes: 0, wastedBytes: 100, finalFileBytes: 1 });
    invariant(overlay);
  });

  it('a directory replaced by a file removes the subtree (hidden by the new file)', async () => {
    // L0: d/x 10, d/y 20. L1: d is a 5-byte file. replaced 30; final d (5).
    const img = await imageOf(store, 't/dir2file:1', [
      [
        { path: 'd', type: 'dir' },
        { path: 'd/x', content: bytes('x', 10) },
        { path: 'd/y', content: bytes('y', 20) },
      ],
      [{ path: 'd', content: bytes('d', 5) }],
    ]);
    const { overlay, waste } = await imageWaste(store, img);
    expect(paths(overlay)).toEqual(['d']);
    const rep = overlay.layers[1]!.replaced.map((c) => [c.path, c.hiddenBytes, c.cause ?? null]).sort();
    expect(rep).toEqual([
      ['d', 0, null],
      ['d/x', 10, 'd'],
      ['d/y', 20, 'd'],
    ]);
    expect(waste).toMatchObject({ totalFileBytes: 35, finalFileBytes: 5, replacedBytes: 30, deletedBytes: 0, wastedBytes: 30 });
    invariant(overlay);
  });

  it('a path under a lower file replaces that file with a directory', async () => {
    // L0: a 12 (file). L1: a/b 3. replaced 12; final a/b (a itself is implicit now).
    const img = await imageOf(store, 't/file2dir:1', [[{ path: 'a', content: bytes('a', 12) }], [{ path: 'a/b', content: bytes('b', 3) }]]);
    const { overlay, waste } = await imageWaste(store, img);
    expect(paths(overlay)).toEqual(['a/b']);
    expect(waste).toMatchObject({ replacedBytes: 12, totalFileBytes: 15, finalFileBytes: 3 });
    invariant(overlay);
  });

  it('a directory over a directory keeps the children and is not a change', async () => {
    const img = await imageOf(store, 't/dir2dir:1', [
      [
        { path: 'd', type: 'dir', mode: 0o700 },
        { path: 'd/x', content: 'x' },
      ],
      [{ path: 'd', type: 'dir', mode: 0o755 }],
    ]);
    const o = await imageFilesystem(store, img);
    expect(paths(o)).toEqual(['d', 'd/x']);
    expect(o.files[0]).toMatchObject({ layer: 1, entry: { mode: 0o755 } });
    expect(o.layers[1]!.added).toEqual([]);
    expect(o.layers[1]!.replaced).toEqual([]);
  });

  it('the same path twice in one layer: the later entry wins, the earlier one is replaced', async () => {
    const img = await imageOf(store, 't/dup-entry:1', [
      [
        { path: 'f', content: bytes('a', 8) },
        { path: 'f', content: bytes('b', 3) },
      ],
    ]);
    const { overlay, waste } = await imageWaste(store, img);
    expect(overlay.files).toEqual([{ path: 'f', entry: expect.objectContaining({ size: 3 }), layer: 0 }]);
    expect(waste).toMatchObject({ replacedBytes: 8, totalFileBytes: 11 });
  });
});

describe('duplicates and hardlinks', () => {
  it('the same content at several paths: every copy beyond the first (by sorted path) is waste', async () => {
    // L0: c, a, b, all 64 x "z" (written in that order); L1: d with the same content, e different.
    // final: a b c d (z) + e. Survivor: "a". duplicates: b, c, d = 3 x 64 = 192.
    const z = bytes('z', 64);
    const img = await imageOf(store, 't/dups:1', [
      [
        { path: 'c', content: z },
        { path: 'a', content: z },
        { path: 'b', content: z },
      ],
      [
        { path: 'd', content: z },
        { path: 'e', content: bytes('e', 64) },
      ],
    ]);
    const { waste } = await imageWaste(store, img);
    expect(waste).toMatchObject({
      totalFileBytes: 320,
      finalFileBytes: 320,
      duplicateBytes: 192,
      replacedBytes: 0,
      deletedBytes: 0,
      wastedBytes: 192,
      efficiency: 0.4,
    });
    const [g] = topDuplicates(waste, 10);
    expect(g).toMatchObject({ size: 64, wastedBytes: 192, survivor: { path: 'a', layer: img.layers[0]!.digest } });
    expect(g!.copies.map((c) => c.path)).toEqual(['b', 'c', 'd']);
    expect(topWasted(waste, 10).map((w) => [w.path, w.class, w.bytes, w.duplicateOf])).toEqual([
      ['b', 'duplicate', 64, 'a'],
      ['c', 'duplicate', 64, 'a'],
      ['d', 'duplicate', 64, 'a'],
    ]);
  });

  it('a duplicate that is later deleted is not counted twice', async () => {
    // L0: a, b (same 40 bytes). L1: .wh.b. deleted 40; final only a: no duplicates.
    const img = await imageOf(store, 't/dup-del:1', [
      [
        { path: 'a', content: bytes('q', 40) },
        { path: 'b', content: bytes('q', 40) },
      ],
      [{ path: '.wh.b' }],
    ]);
    const { waste } = await imageWaste(store, img);
    expect(waste).toMatchObject({ deletedBytes: 40, duplicateBytes: 0, wastedBytes: 40 });
  });

  it('hardlinks are entries of 0 bytes: not duplicates, never counted twice', async () => {
    // L0: f 100 and two hardlinks to it. total 100, no waste.
    const img = await imageOf(store, 't/hardlinks:1', [
      [
        { path: 'bin', type: 'dir' },
        { path: 'bin/f', content: bytes('f', 100) },
        { path: 'bin/g', type: 'link', linkname: 'bin/f' },
        { path: 'bin/h', type: 'link', linkname: './bin/f' },
      ],
    ]);
    const { overlay, waste } = await imageWaste(store, img);
    const f = overlay.files.find((x) => x.path === 'bin/f')!.entry;
    const g = overlay.files.find((x) => x.path === 'bin/g')!.entry;
    const h = overlay.files.find((x) => x.path === 'bin/h')!.entry;
    expect(g).toMatchObject({ type: 'hardlink', size: 0, linkTarget: 'bin/f', sha256: f.sha256 });
    expect(h).toMatchObject({ type: 'hardlink', linkTarget: 'bin/f' });
    expect(waste).toMatchObject({ totalFileBytes: 100, finalFileBytes: 100, duplicateBytes: 0, wastedBytes: 0, efficiency: 1 });
  });

  it('an image without file bytes has efficiency 1', async () => {
    const img = await imageOf(store, 't/empty-files:1', [
      [
        { path: 'd', type: 'dir' },
        { path: 'e', content: '' },
        { path: 'f', content: '' },
      ],
    ]);
    const { waste } = await imageWaste(store, img);
    expect(waste).toMatchObject({ totalFileBytes: 0, wastedBytes: 0, efficiency: 1 });
  });
});

describe('everything at once', () => {
  it('gzip layers, all rules together, bytes add up', async () => {
    // L0: usr/bin/tool 1000, usr/lib/a.so 500, etc/conf 20, cache/x 300, cache/y 200, home/dup 500 (same as a.so)
    // L1: usr/bin/tool 1100 (replaces 1000), .wh.cache (deletes 500), etc/conf -> symlink (replaces 20)
    // L2: usr/lib/.wh..wh..opq + usr/lib/b.so 10 (deletes a.so 500), opt/dup2 = 1100 bytes equal to tool
    // total = 2520 + 1100 + 1110 = 4730
    // deleted = 500 (cache) + 500 (a.so) = 1000; replaced = 1000 + 20 = 1020
    // final files: usr/bin/tool 1100, home/dup 500, usr/lib/b.so 10, opt/dup2 1100 -> 2710
    // duplicates: usr/bin/tool (written by L1) is older than opt/dup2 (L2), so opt/dup2 is the copy: 1100
    // home/dup is no longer a duplicate (a.so is gone). wasted = 1000 + 1020 + 1100 = 3120
    const tool2 = bytes('T', 1100);
    const so = bytes('s', 500);
    const img = await imageOf(
      store,
      't/all:1',
      [
        [
          { path: 'usr/bin/tool', content: bytes('t', 1000) },
          { path: 'usr/lib/a.so', content: so },
          { path: 'etc/conf', content: bytes('c', 20) },
          { path: 'cache/x', content: bytes('x', 300) },
          { path: 'cache/y', content: bytes('y', 200) },
          { path: 'home/dup', content: so },
        ],
        [{ path: 'usr/bin/tool', content: tool2 }, { path: '.wh.cache' }, { path: 'etc/conf', type: 'symlink', linkname: '/etc/other' }],
        [{ path: 'usr/lib/.wh..wh..opq' }, { path: 'usr/lib/b.so', content: bytes('b', 10) }, { path: 'opt/dup2', content: tool2 }],
      ],
      'gzip',
    );
    const { overlay, waste } = await imageWaste(store, img);
    expect(waste).toMatchObject({
      totalFileBytes: 4730,
      finalFileBytes: 2710,
      deletedBytes: 1000,
      replacedBytes: 1020,
      duplicateBytes: 1100,
      wastedBytes: 3120,
    });
    expect(waste.efficiency).toBe(Math.round((1 - 3120 / 4730) * 1e6) / 1e6);
    expect(topWasted(waste, 1)[0]).toMatchObject({
      path: 'opt/dup2',
      bytes: 1100,
      class: 'duplicate',
      duplicateOf: 'usr/bin/tool',
      layers: [img.layers[2]!.digest],
    });
    expect(overlay.layers.map((l) => [l.addedBytes, l.replacedBytes, l.deletedBytes, l.fileBytes])).toEqual([
      [2520, 0, 0, 2520],
      [0, 1020, 500, 1100],
      [1110, 0, 500, 1110],
    ]);
    invariant(overlay);
  });

  it('stackLayers is a pure function of the indexes (deep paths do not recurse)', () => {
    const deep = Array.from({ length: 5000 }, (_, _i) => 'd').join('/');
    const e = (p: string, type: FileEntry['type'], size = 0): FileEntry => ({
      path: p,
      type,
      mode: 0o644,
      uid: 0,
      gid: 0,
      size,
      ...(type === 'file' ? { sha256: 'a'.repeat(64) } : {}),
    });
    const idx = (entries: FileEntry[]): FileIndex => ({
      version: 1,
      digest: `sha256:${'0'.repeat(64)}` as Digest,
      diffId: `sha256:${'0'.repeat(64)}` as Digest,
      compression: 'none',
      blobBytes: 0,
      tarBytes: 0,
      entries,
      unsafeCount: 0,
      unsafe: [],
      totals: { entries: entries.length, files: 0, dirs: 0, symlinks: 0, hardlinks: 0, other: 0, fileBytes: 0 },
    });
    const o = stackLayers([
      { digest: `sha256:${'1'.repeat(64)}` as Digest, index: idx([e(`${deep}/f`, 'file', 7)]) },
      { digest: `sha256:${'2'.repeat(64)}` as Digest, index: idx([e('.wh.d', 'file')]) },
    ]);
    expect(o.files).toEqual([]);
    expect(o.layers[1]!.deletedBytes).toBe(7);
  });
});

describe('the waste summary report --files prints', () => {
  it('gives the totals and top N of computeWaste and topWasted on layers with whiteouts, an opaque dir, hard links, replaced files and duplicate ties', async () => {
    const img = await imageOf(store, 't/summary:1', [
      [
        { path: 'd', type: 'dir' },
        { path: 'd/a', content: bytes('a', 300) },
        { path: 'd/b', content: bytes('b', 300) },
        { path: 'd/h', type: 'link', linkname: 'd/a' },
        { path: 'o', type: 'dir' },
        { path: 'o/x', content: bytes('x', 200) },
        { path: 'o/y', content: bytes('y', 200) },
        { path: 'r1', content: bytes('r', 120) },
        { path: 'r2', content: bytes('s', 120) },
        { path: 'dup1', content: bytes('D', 50) },
        { path: 'sub', type: 'dir' },
        { path: 'sub/z', content: bytes('z', 70) },
      ],
      [
        { path: 'd/.wh.a' },
        { path: 'd/.wh.b' },
        { path: 'o/.wh..wh..opq' },
        { path: 'o/y', content: bytes('Y', 10) },
        { path: 'r1', content: bytes('R', 5) },
        { path: 'r2', content: bytes('S', 5) },
        { path: 'sub', content: bytes('q', 1) },
        { path: 'dup2', content: bytes('D', 50) },
        { path: 'dup3', content: bytes('D', 50) },
      ],
      [
        { path: 'r1', content: bytes('T', 5) },
        { path: 'dup0', content: bytes('D', 50) },
        { path: 'e', content: bytes('z', 70) },
      ],
    ]);
    const { overlay } = await imageWaste(store, img);
    sameSummary(overlay);
    // Equal bytes rank by path, then class: r1 and r2 (replaced, 120 each) tie with nothing else.
    expect(wasteSummary(overlay, 4).top.map((f) => [f.path, f.class, f.bytes, f.copies])).toEqual([
      ['d/b', 'deleted', 300, 1],
      ['o/x', 'deleted', 200, 1],
      ['o/y', 'deleted', 200, 1],
      ['r1', 'replaced', 125, 2],
    ]);
  });
});
