/**
 * The file index of a layer: entries, content hashes, compression, hostile and damaged
 * layers, the trailing-data rule for layers, and the on-disk cache.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { createReadStream, existsSync, promises as fsp, readdirSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { RangeWorkers } from '../../src/digest/range-workers.js';
import type { Store } from '../../src/store/store.js';
import { sniffCompression } from '../../src/archive/compression.js';
import {
  buildFileIndex,
  FILE_INDEX_VERSION,
  fileIndexRel,
  getFileIndex,
  indexLayerStream,
  MAX_LAYER_ENTRIES,
  MAX_UNSAFE_KEPT,
  type FileIndex,
} from '../../src/analysis/file-index.js';
import { EntryTable } from '../../src/analysis/entry-table.js';
import { writeIndexCache } from '../../src/analysis/file-index-cache.js';
import { normalizeLayerPath } from '../../src/analysis/layer-path.js';
import { ingestPath } from '../../src/ingest/ingest.js';
import { loadImages } from '../../src/analysis/load-images.js';
import { layerTar } from '../../fixtures/image-writer.js';
import { paxRecords, rawHeader, rawTar, truncate } from '../helpers/make-tar.js';
import { bytes, cleanupTempDirs, FIX, imageOf, tempDir, tempStore } from './helpers.js';
import { commands, realFixtures } from '../helpers/peers.js';
import { storePaths } from '../helpers/store-paths.js';

const fileIndexPath = (store: { root: string }, d: Parameters<typeof fileIndexRel>[0]): string => path.join(storePaths(store).derivedDir, fileIndexRel(d));

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

type Outcome = { index: Omit<FileIndex, 'digest'> } | { code: string; error: unknown };
const outcome = (p: Promise<Omit<FileIndex, 'digest'>>): Promise<Outcome> =>
  p.then(
    (index) => ({ index }),
    (error: unknown) => ({ code: (error as { code?: string }).code ?? String(error), error }),
  );

/**
 * Index raw layer bytes through the streaming reader, and, when they are an uncompressed
 * tar, also as a stored blob through the positional reader (buildFileIndex's path for
 * such layers from 16 MiB): the two must give the same index or fail with the same code.
 */
async function indexBytes(buf: Buffer): Promise<Omit<FileIndex, 'digest'>> {
  const streamed = await outcome(indexLayerStream(Readable.from([buf]), sniffCompression(buf)).then((r) => r.index));
  if (sniffCompression(buf) === 'none') {
    const staged = await store.writer.stageBytes(buf);
    await store.writer.commit(staged);
    const positional = await outcome(buildFileIndex(store, staged.digest, { threadsFromBytes: 0 }).then(({ digest: _d, ...index }) => index));
    if ('code' in streamed) expect('code' in positional ? positional.code : 'no error').toBe(streamed.code);
    else expect(positional).toEqual(streamed);
  }
  if ('code' in streamed) throw streamed.error;
  return streamed.index;
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code ?? String(e);
  }
}

let store: Store;
beforeAll(async () => {
  ({ store } = await tempStore());
});
afterAll(cleanupTempDirs);

describe('normalizeLayerPath', () => {
  it.each([
    ['./a/b/', 'a/b'],
    ['/etc/passwd', 'etc/passwd'],
    ['a//b/./c', 'a/b/c'],
    ['./', ''],
    ['a\\b', 'a\\b'],
    ['...', '...'],
    ['..foo/x', '..foo/x'],
  ])('%j -> %j', (raw, want) => expect(normalizeLayerPath(raw)).toEqual({ ok: true, path: want }));
  it.each([
    ['../x', 'dotdot'],
    ['a/../../b', 'dotdot'],
    ['a/..', 'dotdot'],
    ['a\0b', 'nul'],
  ])('%j is unsafe (%s)', (raw, reason) => expect(normalizeLayerPath(raw)).toEqual({ ok: false, reason }));
});

describe('entries', () => {
  it('records path, type, mode, owner, size, link target and content sha256 of every entry', async () => {
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 7); // several chunks
    const tar = await layerTar([
      { path: './etc', type: 'dir', mode: 0o755 },
      { path: './etc/hosts', content: '127.0.0.1 localhost\n', mode: 0o644 },
      { path: '/usr/bin/tool', content: big, mode: 0o4755 },
      { path: 'usr/bin/alias', type: 'link', linkname: 'usr/bin/tool' },
      { path: 'usr/bin/sym', type: 'symlink', linkname: '../../etc/hosts' },
      { path: 'empty', content: '' },
      { path: `long/${'n'.repeat(120)}/${'m'.repeat(90)}`, content: 'long name' },
    ]);
    const idx = await indexBytes(tar);
    expect(idx.entries).toEqual([
      { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 },
      { path: 'etc/hosts', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 20, sha256: sha('127.0.0.1 localhost\n') },
      { path: 'usr/bin/tool', type: 'file', mode: 0o4755, uid: 0, gid: 0, size: big.length, sha256: sha(big) },
      { path: 'usr/bin/alias', type: 'hardlink', mode: 0o644, uid: 0, gid: 0, size: 0, linkTarget: 'usr/bin/tool', sha256: sha(big) },
      { path: 'usr/bin/sym', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkTarget: '../../etc/hosts' },
      { path: 'empty', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, sha256: sha('') },
      { path: `long/${'n'.repeat(120)}/${'m'.repeat(90)}`, type: 'file', mode: 0o644, uid: 0, gid: 0, size: 9, sha256: sha('long name') },
    ]);
    expect(idx.totals).toEqual({ entries: 7, files: 4, dirs: 1, symlinks: 1, hardlinks: 1, other: 0, fileBytes: 20 + big.length + 9 });
    expect(idx.diffId).toBe(`sha256:${sha(tar)}`);
    expect(idx.tarBytes).toBe(tar.length);
    expect(idx.compression).toBe('none');
    expect(idx.unsafeCount).toBe(0);
  });

  it('reads gzip and zstd layers by sniffing their bytes, with the same result as the plain tar', async () => {
    const tar = await layerTar([
      { path: 'a', content: bytes('a', 5000) },
      { path: 'b/c', content: 'c' },
    ]);
    const plain = await indexBytes(tar);
    const gz = await indexBytes(zlib.gzipSync(tar));
    const zst = await indexBytes(execFileSync('zstd', ['-q', '-c'], { input: tar }));
    expect(gz.compression).toBe('gzip');
    expect(zst.compression).toBe('zstd');
    for (const x of [gz, zst]) {
      expect(x.entries).toEqual(plain.entries);
      expect(x.diffId).toBe(plain.diffId);
      expect(x.tarBytes).toBe(tar.length);
    }
  });

  it('the well-known empty layers index to nothing', async () => {
    const gnuEmpty = execFileSync('tar', ['-cf', '-', '-T', '/dev/null']);
    const dockerGzEmpty = Buffer.from([
      31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20, 140, 88, 0, 8, 0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0,
    ]);
    for (const b of [Buffer.alloc(1024), gnuEmpty, dockerGzEmpty]) {
      const idx = await indexBytes(b);
      expect(idx.entries).toEqual([]);
      expect(idx.trailingDataAt).toBeUndefined();
    }
  });

  it('never holds a whole file in memory (a 96 MiB file streams through)', async () => {
    const size = 96 * 1024 * 1024;
    const header = rawHeader({ name: 'huge.bin', declaredSize: size });
    const chunk = Buffer.alloc(1024 * 1024, 0x41);
    const hash = createHash('sha256');
    for (let i = 0; i < size / chunk.length; i++) hash.update(chunk);
    let peak = 0;
    const src = Readable.from(
      (function* () {
        yield header;
        for (let i = 0; i < size / chunk.length; i++) {
          peak = Math.max(peak, process.memoryUsage().arrayBuffers);
          yield chunk;
        }
        yield Buffer.alloc(1024);
      })(),
      { objectMode: false },
    );
    const base = process.memoryUsage().arrayBuffers;
    const { index } = await indexLayerStream(src, 'none');
    expect(index.entries[0]).toMatchObject({ path: 'huge.bin', size, sha256: hash.digest('hex') });
    expect(peak - base).toBeLessThan(48 * 1024 * 1024);
  });
});

describe('hostile and damaged layers', () => {
  it('names with ".." or NUL are counted apart and not listed; the rest is indexed', async () => {
    const paxNul = (name: string) => {
      // A pax record is "<len> <key>=<value>\n", where <len> counts itself.
      const rec = ` path=${name}\n`;
      let len = rec.length + 1;
      while (String(len).length + rec.length !== len) len = String(len).length + rec.length;
      return { name: 'PaxHeader', typeflag: 'x', body: `${len}${rec}` };
    };
    const tar = rawTar([
      { name: 'ok', body: 'fine' },
      { name: '../evil', body: 'x' },
      { name: 'a/../../escape', body: 'y' },
      paxNul('nul\0name'),
      { name: 'placeholder', body: 'z' },
      { name: 'link-out', type: 'link', linkname: '../../etc/shadow' },
      { name: 'sym-out', type: 'symlink', linkname: '../../../etc/shadow' }, // symlink targets are data: kept
      { name: '/abs/path', body: 'abs' },
    ]);
    const idx = await indexBytes(tar);
    expect(idx.entries.map((e) => e.path)).toEqual(['ok', 'sym-out', 'abs/path']);
    expect(idx.unsafeCount).toBe(4);
    expect(idx.unsafe.map((u) => [u.rawName, u.reason])).toEqual([
      ['../evil', 'dotdot'],
      ['a/../../escape', 'dotdot'],
      ['nul\0name', 'nul'],
      ['link-out', 'link-dotdot'],
    ]);
  });

  it('keeps at most MAX_UNSAFE_KEPT unsafe samples but counts them all', async () => {
    const tar = rawTar(Array.from({ length: MAX_UNSAFE_KEPT + 20 }, (_, i) => ({ name: `../x${i}`, body: 'q' })));
    const idx = await indexBytes(tar);
    expect(idx.unsafeCount).toBe(MAX_UNSAFE_KEPT + 20);
    expect(idx.unsafe).toHaveLength(MAX_UNSAFE_KEPT);
  });

  it('data after the end-of-archive marker is ignored and its offset recorded (eStargz, padding)', async () => {
    const body = rawTar([{ name: 'README.md', body: 'hello' }]); // header + 1 block + 2 zero blocks
    const toc = rawTar([{ name: 'stargz.index.json', body: '{"version":1}' }], { endBlocks: 2 });
    const idx = await indexBytes(Buffer.concat([body, toc, Buffer.from('footer!')]));
    expect(idx.entries.map((e) => e.path)).toEqual(['README.md']);
    expect(idx.trailingDataAt).toBe(body.length);
    // Zero padding alone (GNU tar's 10 KiB record) is not trailing data.
    const padded = await indexBytes(rawTar([{ name: 'a', body: 'x' }], { padTo: 10240 }));
    expect(padded.trailingDataAt).toBeUndefined();
  });

  it('truncation inside an entry or a header is E_TRUNCATED; an end where a header would start is the end (as Go reads layers)', async () => {
    const tar = rawTar([
      { name: 'a', body: bytes('a', 3000) },
      { name: 'b', body: 'b' },
    ]);
    expect(await codeOf(indexBytes(truncate(tar, 1500)))).toBe('E_TRUNCATED'); // mid-data
    expect(await codeOf(indexBytes(truncate(tar, 512 + 3072 + 100)))).toBe('E_TRUNCATED'); // mid-header
    // block boundary, no end marker: Go's archive/tar (docker, containerd) stops there (test/analysis/layer-end.test.ts)
    expect((await indexBytes(truncate(tar, 512 + 3072 + 1024))).entries.map((e) => e.path)).toEqual(['a', 'b']);
    expect(await codeOf(indexBytes(rawTar([{ name: 'a', body: 'x', declaredSize: 5000 }])))).toBe('E_TRUNCATED'); // size field lies
  });

  it('a damaged header is E_TAR_CORRUPT; a broken gzip is E_DECOMPRESS', async () => {
    const tar = rawTar([
      { name: 'a', body: 'x' },
      { name: 'b', body: 'y' },
    ]);
    const bad = Buffer.from(tar);
    bad[1024 + 10] = bad[1024 + 10]! ^ 0xff; // inside the second header's name: checksum mismatch
    expect(await codeOf(indexBytes(bad))).toBe('E_TAR_CORRUPT');
    const gz = zlib.gzipSync(rawTar([{ name: 'a', body: bytes('r', 100_000) }]));
    expect(await codeOf(indexBytes(truncate(gz, gz.length - 40)))).toBe('E_DECOMPRESS');
    const garbled = Buffer.from(gz);
    garbled[10] = 0xff; // first deflate block header: reserved block type
    expect(await codeOf(indexBytes(garbled))).toBe('E_DECOMPRESS');
    expect(await codeOf(indexBytes(Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), bytes('z', 100)])))).toBe('E_DECOMPRESS');
  });

  it('unknown entry types are recorded as "other" and their data is skipped', async () => {
    const tar = rawTar([
      { name: 'fifo', typeflag: '6' },
      { name: 'label', typeflag: 'V', body: bytes('s', 700) },
      { name: 'after', body: 'ok' },
    ]);
    const idx = await indexBytes(tar);
    expect(idx.entries.map((e) => [e.path, e.type, e.size])).toEqual([
      ['fifo', 'other', 0],
      ['label', 'other', 700],
      ['after', 'file', 2],
    ]);
  });
});

describe.skipIf(
  !commands([
    ['tar', 'tar'],
    ['sha256sum', 'coreutils'],
  ]),
)('GNU sparse files in a layer (tar --sparse): their real name, size and content', () => {
  let dir: string;
  let want: string;
  beforeAll(async () => {
    dir = await tempDir();
    const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { cwd: dir, encoding: 'utf8' });
    sh('mkdir l && truncate -s 1M l/sparse.bin && printf data | dd of=l/sparse.bin bs=1 seek=500000 conv=notrunc 2>/dev/null');
    sh('mkdir l/copy && cp --sparse=never l/sparse.bin l/copy/dense.bin'); // the same bytes, stored whole
    want = sh('sha256sum l/sparse.bin').split(' ')[0]!;
  });

  for (const flags of [['--format=gnu'], ['--format=posix', '--sparse-version=0.0'], ['--format=posix', '--sparse-version=0.1'], ['--format=posix']]) {
    it(`tar --sparse ${flags.join(' ')}: sparse.bin is 1,048,576 bytes of the content its dense copy has (both readers; gzip too)`, async () => {
      const file = path.join(dir, 'layer.tar');
      execFileSync('tar', ['--sparse', ...flags, '-cf', file, '-C', path.join(dir, 'l'), 'sparse.bin', 'copy/dense.bin']);
      const tar = await fsp.readFile(file);
      expect(tar.length).toBeLessThan(1_048_576 + 100_000); // sparse.bin stored sparse: else this proves nothing
      for (const layer of [tar, zlib.gzipSync(tar)]) {
        const idx = await indexBytes(layer);
        expect(idx.entries.filter((e) => e.type === 'file').map((e) => [e.path, e.size, e.sha256])).toEqual([
          ['sparse.bin', 1_048_576, want],
          ['copy/dense.bin', 1_048_576, want],
        ]);
        expect(idx.totals.fileBytes).toBe(2 * 1_048_576);
      }
    });
  }
});

describe('a sparse file whose holes are over MAX_SPARSE_HOLE_BYTES: its real size, no hash (its zeros are not hashed)', () => {
  it.skipIf(
    !commands([
      ['tar', 'tar'],
      ['truncate', 'coreutils'],
    ]),
  )('GNU tar --sparse of two equal 1 TiB files: both indexed at 1 TiB without sha256 (both readers, gzip too), a small one still hashed', async () => {
    const dir = await tempDir();
    const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { cwd: dir, encoding: 'utf8' });
    sh('mkdir l && truncate -s 1T l/huge.bin && printf data | dd of=l/huge.bin bs=1 seek=500000 conv=notrunc 2>/dev/null');
    sh('cp --sparse=always l/huge.bin l/huge2.bin && truncate -s 1M l/small.bin');
    const file = path.join(dir, 'layer.tar');
    execFileSync('tar', ['--sparse', '--format=posix', '-cf', file, '-C', path.join(dir, 'l'), 'huge.bin', 'huge2.bin', 'small.bin']);
    const tar = await fsp.readFile(file);
    expect(tar.length).toBeLessThan(100_000); // stored sparse: else this proves nothing
    for (const layer of [tar, zlib.gzipSync(tar)]) {
      const idx = await indexBytes(layer);
      expect(idx.entries.map((e) => [e.path, e.size, e.sha256])).toEqual([
        ['huge.bin', 2 ** 40, undefined],
        ['huge2.bin', 2 ** 40, undefined],
        ['small.bin', 1_048_576, sha(Buffer.alloc(1_048_576))],
      ]);
      expect(idx.totals.fileBytes).toBe(2 * 2 ** 40 + 1_048_576);
    }
  });

  it('a hand-made pax 0.1 map claiming 2^53-1 bytes, and a hard link to it: indexed, no hash', async () => {
    const size = Number.MAX_SAFE_INTEGER;
    const tar = rawTar([
      {
        name: 'PaxHeaders/x',
        typeflag: 'x',
        body: paxRecords([`GNU.sparse.size=${size}`, 'GNU.sparse.numblocks=1', 'GNU.sparse.name=hole', `GNU.sparse.map=${size - 5},5`]),
      },
      { name: 'GNUSparseFile.1/hole', body: 'hello' },
      { name: 'link', type: 'link', linkname: 'hole' },
    ]);
    const idx = await indexBytes(tar);
    expect(idx.entries.map((e) => [e.path, e.type, e.size, e.sha256])).toEqual([
      ['hole', 'file', size, undefined],
      ['link', 'hardlink', 0, undefined],
    ]);
  });
});

describe('getFileIndex and its cache', () => {
  it('caches under derived/files/<hex>.idx, serves the cache, rebuilds a damaged or foreign one', async () => {
    const img = await imageOf(
      store,
      'c/cache:1',
      [
        [
          { path: 'x', content: 'one' },
          { path: 'y', content: 'two' },
          { path: 'l', type: 'symlink', linkname: 'x' },
        ],
      ],
      'gzip',
    );
    const d = img.layers[0]!.digest;
    const file = fileIndexPath(store, d);
    expect(file).toBe(path.join(storePaths(store).derivedDir, 'files', `${d.slice(7)}.idx`));
    const [a, b] = await Promise.all([getFileIndex(store, d), getFileIndex(store, d)]);
    expect(a).toBe(b); // one read for concurrent callers
    expect(a.digest).toBe(d);
    expect(a.diffId).toBe(img.layers[0]!.diffId);
    expect(a.compression).toBe('gzip');
    expect(a.blobBytes).toBe(img.layers[0]!.size);
    expect(readdirSync(path.dirname(file)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    const good = await fsp.readFile(file);
    expect(good.subarray(0, 4).toString('latin1')).toBe('LSFI');
    expect(good.readUInt32LE(4)).toBe(FILE_INDEX_VERSION);
    // Read back from the file, it is the same index.
    const again = await getFileIndex(store, d);
    expect(again).not.toBe(a);
    expect(again).toEqual(a);

    // Served from the cache: a (valid) edit of the cache file shows through.
    const edited = EntryTable.fromEntries(a.entries.map((e) => ({ ...e, mode: 0o600 })));
    const { entries: _e, ...header } = a;
    await writeIndexCache(store.derived, FILE_INDEX_VERSION, header, edited);
    expect((await getFileIndex(store, d)).entries[0]!.mode).toBe(0o600);

    // Damaged and foreign caches are ignored and replaced.
    const flip = (at: number) => {
      const b = Buffer.from(good);
      b[at] = b[at]! ^ 0xff;
      return b;
    };
    const hlen = good.readUInt32LE(8);
    // Sections after the header, for these 3 entries: meta u32[3], sizes f64[3], shaSlot i32[3], pathEnd u32[3], 3 name bytes, metaType...
    const at = 12 + hlen;
    const junk: Array<[string, Buffer]> = [
      ['junk', Buffer.from('{"version":1,"entr')],
      ['empty', Buffer.alloc(0)],
      ['v1 JSON', Buffer.from(JSON.stringify({ ...header, version: 1, entries: a.entries }))],
      ['another version', Buffer.concat([good.subarray(0, 4), Buffer.from([99, 0, 0, 0]), good.subarray(8)])],
      ['cut short', good.subarray(0, good.length - 1)],
      ['one byte more', Buffer.concat([good, Buffer.from([0])])],
      ['header cut', good.subarray(0, at - 3)],
      ['tuple number out of range', flip(at + 3)],
      ['content slot out of range', flip(at + 12 + 24)],
      ['path end past the names', flip(at + 12 + 24 + 12 + 4)],
      ['type code out of range', flip(at + 12 + 24 + 12 + 12 + 3)],
    ];
    const other = JSON.stringify({ ...JSON.parse(good.toString('utf8', 12, 12 + hlen)), digest: `sha256:${'0'.repeat(64)}` });
    const otherHead = Buffer.alloc(12);
    good.copy(otherHead, 0, 0, 8);
    otherHead.writeUInt32LE(Buffer.byteLength(other), 8);
    junk.push(['another layer', Buffer.concat([otherHead, Buffer.from(other), good.subarray(12 + hlen)])]);
    for (const [what, bytes] of junk) {
      await fsp.writeFile(file, bytes);
      const rebuilt = await getFileIndex(store, d);
      expect(rebuilt, what).toEqual(a);
      expect((await fsp.readFile(file)).equals(good), what).toBe(true);
    }
  });

  it('the cache costs ~20 bytes an entry beside its path, and one 32-byte hash per distinct content', async () => {
    const { store } = await tempStore();
    const n = 20_000;
    const files = Array.from({ length: n }, (_, i) => ({ path: `usr/share/pkg-${Math.floor(i / 40)}/file-${i}.txt`, content: '' }));
    const img = await imageOf(store, 'c/many:1', [files], 'gzip');
    const index = await getFileIndex(store, img.layers[0]!.digest);
    expect(index.totals.files).toBe(n);
    const names = files.reduce((k, f) => k + Buffer.byteLength(f.path), 0);
    const size = (await fsp.stat(fileIndexPath(store, img.layers[0]!.digest))).size;
    // 4 (tuple) + 8 (size) + 4 (content slot) + 4 (path end) per entry, the names, one
    // content (all files are empty), and a header of a few hundred bytes.
    expect(size).toBeLessThanOrEqual(n * 20 + names + 32 + 1024);
    expect(size).toBeGreaterThanOrEqual(n * 20 + names);
  });

  it('a layer with more entries than the bound is refused with E_TOO_LARGE naming the layer and the bound, and nothing is cached', async () => {
    const { store } = await tempStore();
    const files = Array.from({ length: 50 }, (_, i) => ({ path: `f${i}`, content: `${i}` }));
    for (const compression of ['gzip', 'none'] as const) {
      // gzip goes through the streaming reader, an uncompressed layer through the positional one
      const img = await imageOf(store, `c/bound-${compression}:1`, [files], compression);
      const d = img.layers[0]!.digest;
      const err = await getFileIndex(store, d, { maxEntries: 49 }).then(
        () => undefined,
        (e: unknown) => e as { code?: string; message: string; source?: string; toString(): string },
      );
      expect(err?.code, compression).toBe('E_TOO_LARGE');
      expect(err?.message).toContain('more than 49 entries');
      expect(err?.source).toBe(`layer ${d}`);
      expect(existsSync(fileIndexPath(store, d))).toBe(false);
      expect((await getFileIndex(store, d, { maxEntries: 50 })).totals.entries).toBe(50);
    }
    expect(MAX_LAYER_ENTRIES).toBe(3_000_000);
  });

  it('never follows a symlink planted in the cache (store promise 6)', async () => {
    const { store } = await tempStore();
    const img = await imageOf(store, 'c/symlink:1', [[{ path: 'f', content: 'data' }]]);
    const d = img.layers[0]!.digest;
    const outside = tempDir('ls-analysis-outside-');
    // A symlink at the cache file itself: not read, not written through.
    await fsp.mkdir(path.join(storePaths(store).derivedDir, 'files'), { recursive: true });
    await fsp.writeFile(path.join(outside, 'victim.json'), 'untouched');
    await fsp.symlink(path.join(outside, 'victim.json'), fileIndexPath(store, d));
    const real = await getFileIndex(store, d);
    expect(real.entries.map((e) => e.path)).toEqual(['f']);
    expect(await fsp.readFile(path.join(outside, 'victim.json'), 'utf8')).toBe('untouched');
    // A symlink in place of the files/ directory: the index is still served, nothing lands outside.
    // A valid cache of the same layer (mode edited), planted outside and reached through the link.
    const { entries: _e, ...header } = real;
    await writeIndexCache(store.derived, FILE_INDEX_VERSION, header, EntryTable.fromEntries(real.entries.map((e) => ({ ...e, mode: 0o600 }))));
    const planted = path.basename(fileIndexPath(store, d));
    await fsp.rename(fileIndexPath(store, d), path.join(outside, planted));
    await fsp.rm(path.join(storePaths(store).derivedDir, 'files'), { recursive: true });
    await fsp.symlink(outside, path.join(storePaths(store).derivedDir, 'files'));
    const served = await getFileIndex(store, d);
    expect(served.entries).toEqual([expect.objectContaining({ path: 'f', mode: 0o644 })]); // not the planted one
    expect(readdirSync(outside).sort()).toEqual([planted, 'victim.json']);
  });

  it('a damaged layer fails with a code and leaves no cache file', async () => {
    const tar = rawTar([{ name: 'a', body: bytes('a', 2000) }], { endBlocks: 0 });
    const img = await imageOf(store, 'c/damaged:1', [{ tar: truncate(tar, 1024), compression: 'gzip' }]);
    const d = img.layers[0]!.digest;
    expect(await codeOf(getFileIndex(store, d))).toBe('E_TRUNCATED');
    expect(existsSync(fileIndexPath(store, d))).toBe(false);
  });

  it('a blob whose bytes no longer match its digest is store damage (E_STORE_INVALID)', async () => {
    const img = await imageOf(store, 'c/tampered:1', [[{ path: 'f', content: bytes('f', 600) }]]);
    const d = img.layers[0]!.digest;
    const blob = storePaths(store).blobPath(d);
    const b = await fsp.readFile(blob);
    b[600] = b[600]! ^ 1; // inside the content of f
    await fsp.chmod(blob, 0o644);
    await fsp.writeFile(blob, b);
    expect(await codeOf(getFileIndex(store, d))).toBe('E_STORE_INVALID');
    expect(existsSync(fileIndexPath(store, d))).toBe(false);
  });

  it('a small uncompressed layer is indexed on this thread: no hashing thread is started for it (~70 ms each)', async () => {
    const img = await imageOf(store, 'c/small:1', [
      [
        { path: 'a', content: bytes('a', 1024 * 1024) },
        { path: 'b', content: bytes('b', 10) },
      ],
    ]);
    const d = img.layers[0]!.digest;
    const spawn = vi.spyOn(RangeWorkers.prototype as unknown as { spawn: () => unknown }, 'spawn');
    try {
      const index = await buildFileIndex(store, d);
      expect(index.entries.find((e) => e.path === 'a')?.sha256).toBe(sha(bytes('a', 1024 * 1024)));
      expect(spawn).not.toHaveBeenCalled();
      // By position with threads it is the same index.
      expect(await buildFileIndex(store, d, { threadsFromBytes: 0 })).toEqual(index);
      expect(spawn).toHaveBeenCalled();
    } finally {
      spawn.mockRestore();
    }
  });

  it('a big blob (checked on another thread) gives the same index, and a tampered one is store damage (E_STORE_INVALID)', async () => {
    const big = bytes('big', 17 * 1024 * 1024); // above the 16 MiB threshold of the hashing thread
    const img = await imageOf(store, 'c/big:1', [
      [
        { path: 'big', content: big },
        { path: 'small', content: bytes('s', 100) },
      ],
    ]);
    const d = img.layers[0]!.digest;
    const blob = storePaths(store).blobPath(d);
    const index = await buildFileIndex(store, d);
    expect(index.diffId).toBe(d); // uncompressed: the diffID is the blob digest, from the thread
    expect(index.entries.find((e) => e.path === 'big')?.sha256).toBe(createHash('sha256').update(big).digest('hex'));
    // the same index as hashing the blob inline
    const inline = await indexLayerStream(createReadStream(blob), 'none');
    expect(inline.blobDigest).toBe(d);
    expect(index).toEqual({ ...inline.index, digest: d });
    const b = await fsp.readFile(blob);
    b[4096] = b[4096]! ^ 1; // inside the content of big
    await fsp.chmod(blob, 0o644);
    await fsp.writeFile(blob, b);
    expect(await codeOf(buildFileIndex(store, d))).toBe('E_STORE_INVALID');
  });

  it('a layer the store lacks is store damage (E_STORE_INVALID: something named it); a bad digest string is E_DIGEST_INVALID', async () => {
    expect(await codeOf(getFileIndex(store, `sha256:${'e'.repeat(64)}`))).toBe('E_STORE_INVALID');
    expect(await codeOf(getFileIndex(store, 'sha256:../../etc'))).toBe('E_DIGEST_INVALID');
  });

  it.skipIf(!realFixtures())('real OCI fixtures: uncompressed, gzip, zstd and eStargz layers of one README.md', async () => {
    const { store } = await tempStore();
    for (const f of ['uncompressed', 'gzip', 'zstd', 'estargz']) await ingestPath(store, path.join(FIX, 'dive', `test-oci-${f}-image.tar`));
    const images = await loadImages(store);
    expect(images.map((i) => i.layers.length)).toEqual([1, 1, 1, 1]);
    const results = new Map<string, FileIndex>();
    for (const img of images) results.set(img.layers[0]!.digest, await getFileIndex(store, img.layers[0]!.digest));
    const byCompression = new Map([...results.values()].map((r) => [r.compression + (r.trailingDataAt !== undefined ? '+toc' : ''), r]));
    expect([...byCompression.keys()].sort()).toEqual(['gzip', 'gzip+toc', 'none', 'zstd']);
    for (const r of results.values()) {
      // SOURCES.md: GNU tar lists only README.md in every variant, eStargz included.
      expect(r.entries.map((e) => e.path)).toEqual(['README.md']);
      const img = images.find((i) => i.layers[0]!.digest === r.digest)!;
      expect(r.diffId).toBe(img.layers[0]!.diffId); // the whole stream, TOC included
    }
    const sums = new Set([...results.values()].map((r) => r.entries[0]!.sha256));
    expect(sums.size).toBe(1);
  });
});
