/**
 * diffImages: layers by blob digest, files of the two final file systems.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { diffImages } from '../../src/analysis/image-diff.js';
import { layerTar } from '../../fixtures/image-writer.js';
import { bytes, cleanupTempDirs, ingestImages, tempStore } from './helpers.js';

afterAll(cleanupTempDirs);

describe('diffImages', () => {
  it('layers added/removed/common and files added/removed/changed, with byte totals', async () => {
    const { store } = await tempStore();
    const base = await layerTar([
      { path: 'etc/conf', content: bytes('c', 10), mode: 0o644 },
      { path: 'bin/sh', content: bytes('s', 200) },
      { path: 'lib/x', content: bytes('x', 30) },
      { path: 'lib/y', content: bytes('y', 5) },
    ]);
    const app1 = await layerTar([
      { path: 'app/main', content: bytes('m', 100) },
      { path: 'app/link', type: 'symlink', linkname: 'main' },
      { path: 'app/data', type: 'dir' },
      { path: 'app/data/file', content: bytes('d', 7) },
      { path: 'app/same', content: bytes('s', 9) },
    ]);
    const app2 = await layerTar([
      { path: 'app/main', content: bytes('M', 120) }, // content
      { path: 'app/link', type: 'symlink', linkname: 'other' }, // link target
      { path: 'app/data', content: bytes('D', 3) }, // dir -> file (app/data/file goes away)
      { path: 'app/same', content: bytes('s', 9) }, // rewritten, identical: unchanged
      { path: 'app/new', content: bytes('n', 40) }, // added
      { path: 'lib/.wh.x' }, // removes lib/x
      { path: 'etc/conf', content: bytes('c', 10), mode: 0o600 }, // mode only
    ]);
    const [a, b] = await ingestImages(store, [
      {
        repoTags: ['d/app:1'],
        layers: [
          { tar: base, compression: 'gzip' },
          { tar: app1, compression: 'gzip' },
        ],
      },
      {
        repoTags: ['d/app:2'],
        layers: [
          { tar: base, compression: 'gzip' },
          { tar: app2, compression: 'gzip' },
        ],
      },
    ]);
    const d = await diffImages(store, a!, b!);
    expect(d.a.refs).toEqual(['d/app:1']);
    expect(d.layers.common.map((l) => l.digest)).toEqual([a!.layers[0]!.digest]);
    expect(d.layers.removed.map((l) => l.digest)).toEqual([a!.layers[1]!.digest]);
    expect(d.layers.added.map((l) => l.digest)).toEqual([b!.layers[1]!.digest]);
    expect(d.layers).toMatchObject({ addedBytes: b!.layers[1]!.size, removedBytes: a!.layers[1]!.size, commonBytes: a!.layers[0]!.size });

    const f = d.files;
    expect(f.added.map((x) => [x.path, x.type, x.bytes])).toEqual([['app/new', 'file', 40]]);
    expect(f.removed.map((x) => [x.path, x.type, x.bytes])).toEqual([
      ['app/data/file', 'file', 7],
      ['lib/x', 'file', 30],
    ]);
    expect(f.changed.map((x) => [x.path, x.reasons])).toEqual([
      ['app/data', ['type', 'mode']], // dir 0755 -> file 0644
      ['app/link', ['link']],
      ['app/main', ['content']],
      ['etc/conf', ['mode']],
    ]);
    expect(f.changed.find((x) => x.path === 'etc/conf')).toMatchObject({ before: { mode: 0o644 }, after: { mode: 0o600 } });
    expect(f.changed.find((x) => x.path === 'app/link')).toMatchObject({ before: { linkTarget: 'main' }, after: { linkTarget: 'other' } });
    // bytes: added 40; removed 7 + 30; changed before main 100 + conf 10 = 110, after main 120 + data 3 + conf 10 = 133.
    expect(f).toMatchObject({ addedBytes: 40, removedBytes: 37, changedBytesBefore: 110, changedBytesAfter: 133 });
    // unchanged: bin/sh, lib/y, app/same.
    expect(f.unchanged).toBe(3);
  });

  it('an image against itself: nothing changed', async () => {
    const { store } = await tempStore();
    const [a] = await ingestImages(store, [
      {
        repoTags: ['d/self:1'],
        layers: [
          {
            tar: await layerTar([
              { path: 'f', content: 'x' },
              { path: 'g', type: 'symlink', linkname: 'f' },
            ]),
            compression: 'none',
          },
        ],
      },
    ]);
    const d = await diffImages(store, a!, a!);
    expect(d.layers).toMatchObject({ added: [], removed: [], addedBytes: 0, removedBytes: 0 });
    expect(d.files).toMatchObject({ added: [], removed: [], changed: [], unchanged: 2 });
  });
});
