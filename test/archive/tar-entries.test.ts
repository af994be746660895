/**
 * readTarEntries (streaming) and walkTarFile (positional reads of a file) are the tar engine's
 * two readers over one set of structure rules (tar-structure.ts: checksums, end-of-archive,
 * trailing data, truncation, pax and long names); they must accept and refuse exactly the
 * same archives (every case runs against both). Archives come from rawTar (hand-built ustar), GNU tar and tar-stream.
 * Every case runs with the archive delivered whole and in small odd-sized chunks, so the
 * stream reader's partial-header and partial-data paths are exercised too.
 */
import { execFileSync } from 'node:child_process';
import { createReadStream, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pack } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerstoreError, type ErrorCode } from '../../src/errors.js';
import { readTarEntries, type TarEntry } from '../../src/archive/tar-entries.js';
import { walkTarFile } from '../../src/archive/tar-file-walker.js';
import type { SparseFile } from '../../src/archive/tar-sparse-map.js';
import { flipByte, gnuSparseBlocks, paxRecords as pax, rawHeader, rawTar, truncate } from '../helpers/make-tar.js';

interface Seen {
  name: string;
  type: TarEntry['type'];
  size: number;
  linkname?: string;
  offset: number;
  body: string;
  sparse?: SparseFile;
}

/** How the archive reaches the reader; WALKER: written to a file and read by walkTarFile. */
const WALKER = -1;
const CHUNKINGS = [
  ['whole', 0],
  ['37-byte chunks', 37],
  ['positional file walker', WALKER],
] as const;

let walkFiles = 0;
/** The same entries through walkTarFile, bodies read from the file by their ranges. */
async function* walkerEntries(buf: Buffer, maxEntries?: number): AsyncGenerator<TarEntry> {
  const file = path.join(tmp, `walk-${walkFiles++}.tar`);
  await fsp.writeFile(file, buf);
  const fh = await fsp.open(file, 'r');
  try {
    for await (const e of walkTarFile(fh, buf.length, maxEntries ? { maxEntries } : {})) {
      const body = (async function* () {
        const b = Buffer.alloc(e.size);
        await fh.read(b, 0, e.size, e.offset);
        yield b;
      })();
      yield { ...e, body };
    }
  } finally {
    await fh.close();
  }
}

function source(buf: Buffer, chunk: number): Readable {
  if (chunk === 0) return Readable.from([buf]);
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += chunk) parts.push(buf.subarray(i, i + chunk));
  return Readable.from(parts);
}

async function entries(buf: Buffer | Readable, chunk = 0, opts?: { skipBodies?: boolean; maxEntries?: number; slow?: boolean }): Promise<Seen[]> {
  const out: Seen[] = [];
  let reader: AsyncIterable<TarEntry>;
  if (chunk === WALKER) {
    let bytes: Buffer;
    if (Buffer.isBuffer(buf)) bytes = buf;
    else {
      const parts: Buffer[] = [];
      for await (const c of buf) parts.push(c as Buffer);
      bytes = Buffer.concat(parts);
    }
    reader = walkerEntries(bytes, opts?.maxEntries);
  } else {
    reader = readTarEntries(Buffer.isBuffer(buf) ? source(buf, chunk) : buf, opts?.maxEntries ? { maxEntries: opts.maxEntries } : {});
  }
  for await (const e of reader) {
    let body = '';
    if (!opts?.skipBodies) {
      const parts: Buffer[] = [];
      // ingest opens a staging file before it reads a body: the body is read a moment later
      if (opts?.slow) await new Promise((r) => setTimeout(r, 5));
      for await (const c of e.body) parts.push(c);
      body = Buffer.concat(parts).toString('latin1');
    }
    const s: Seen = { name: e.name, type: e.type, size: e.size, offset: e.offset, body };
    if (e.linkname !== undefined) s.linkname = e.linkname;
    if (e.sparse !== undefined) s.sparse = e.sparse;
    out.push(s);
  }
  return out;
}

async function rejection(buf: Buffer, chunk = 0): Promise<LayerstoreError> {
  try {
    await entries(buf, chunk);
  } catch (e) {
    expect(e).toBeInstanceOf(LayerstoreError);
    return e as LayerstoreError;
  }
  throw new Error('expected readTarEntries to reject');
}

async function expectCode(buf: Buffer, code: ErrorCode, chunk = 0): Promise<LayerstoreError> {
  const err = await rejection(buf, chunk);
  expect(err.code, err.describe()).toBe(code);
  return err;
}

let tmp: string;
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-tar-'));
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

/** Run GNU tar in `dir` and return the archive bytes. */
function gnuTar(dir: string, args: string[]): Buffer {
  return execFileSync('tar', ['-C', dir, ...args, '-cf', '-', '--owner=0', '--group=0', '--mtime=@1700000000', '.'], { maxBuffer: 64 << 20 });
}

for (const [label, chunk] of CHUNKINGS) {
  describe(`readTarEntries (${label})`, () => {
    it('reads a plain ustar archive: names normalized, types, sizes, data offsets, bodies', async () => {
      const tar = rawTar([
        { name: './etc/', type: 'dir' },
        { name: './etc/motd', body: 'hello' },
        { name: 'big', body: 'x'.repeat(1000) },
        { name: 'lnk', type: 'symlink', linkname: 'etc/motd' },
        { name: 'hard', type: 'link', linkname: 'big' },
      ]);
      expect(await entries(tar, chunk)).toEqual([
        { name: 'etc', type: 'directory', size: 0, offset: 512, body: '' },
        { name: 'etc/motd', type: 'file', size: 5, offset: 1024, body: 'hello' },
        { name: 'big', type: 'file', size: 1000, offset: 2048, body: 'x'.repeat(1000) },
        { name: 'lnk', type: 'symlink', size: 0, linkname: 'etc/motd', offset: 3584, body: '' },
        { name: 'hard', type: 'link', size: 0, linkname: 'big', offset: 4096, body: '' },
      ]);
    });

    it('a pax header overrides the size of the next entry (header says 9, pax says 3)', async () => {
      const tar = rawTar([
        { name: 'PaxHeaders/f', typeflag: 'x', body: pax(['size=3', 'mtime=1700000000.5']) },
        { name: 'f', body: 'abc', declaredSize: 9 },
        { name: 'after', body: 'next' },
      ]);
      expect((await entries(tar, chunk)).map((e) => [e.name, e.size, e.body])).toEqual([
        ['f', 3, 'abc'],
        ['after', 4, 'next'],
      ]);
    });

    it('a pax size override larger than the header size (a >8 GiB file is declared this way)', async () => {
      const data = 'y'.repeat(700);
      const tar = rawTar([
        { name: 'PaxHeaders/f', typeflag: 'x', body: pax(['size=700']) },
        { name: 'f', body: data, declaredSize: 0 },
        { name: 'after', body: 'z' },
      ]);
      expect((await entries(tar, chunk)).map((e) => [e.name, e.size, e.body])).toEqual([
        ['f', 700, data],
        ['after', 1, 'z'],
      ]);
    });

    it('a pax path longer than 100 bytes names the entry', async () => {
      const long = `${'d'.repeat(120)}/${'f'.repeat(80)}.txt`;
      const tar = rawTar([
        { name: 'PaxHeaders/x', typeflag: 'x', body: pax([`path=${long}`]) },
        { name: 'short', body: 'body' },
      ]);
      expect(await entries(tar, chunk)).toEqual([{ name: long, type: 'file', size: 4, offset: 1536, body: 'body' }]);
    });

    it('a global pax header alone does not change sizes (as tar-stream reads it)', async () => {
      const tar = rawTar([
        { name: 'pax_global_header', typeflag: 'g', body: pax(['comment=hello']) },
        { name: 'a', body: 'hello' },
      ]);
      expect((await entries(tar, chunk)).map((e) => [e.name, e.body])).toEqual([['a', 'hello']]);
    });

    it('v7 (pre-POSIX) headers from GNU tar --format=v7: NUL typeflag files, directories, symlinks', async () => {
      const dir = path.join(tmp, `v7-${chunk}`);
      await fsp.mkdir(path.join(dir, 'd', 'sub'), { recursive: true });
      await fsp.writeFile(path.join(dir, 'd', 'sub', 'f'), 'v7 body');
      await fsp.symlink('sub/f', path.join(dir, 'd', 'l'));
      const tar = gnuTar(dir, ['--format=v7', '--sort=name']);
      expect(tar.subarray(257, 263).equals(Buffer.alloc(6))).toBe(true); // no ustar magic
      const seen = await entries(tar, chunk);
      expect(seen.map((e) => [e.name, e.type, e.body, e.linkname ?? null])).toEqual([
        ['', 'directory', '', null],
        ['d', 'directory', '', null],
        ['d/l', 'symlink', '', 'sub/f'],
        ['d/sub', 'directory', '', null],
        ['d/sub/f', 'file', 'v7 body', null],
      ]);
    });

    it('GNU long names (././@LongLink, typeflag L) from GNU tar --format=gnu with a 150-char name', async () => {
      const dir = path.join(tmp, `gnu-${chunk}`);
      const longName = `${'n'.repeat(70)}/${'m'.repeat(79)}`; // 150 characters
      expect(longName).toHaveLength(150);
      await fsp.mkdir(path.join(dir, 'n'.repeat(70)), { recursive: true });
      await fsp.writeFile(path.join(dir, ...longName.split('/')), 'long name body');
      await fsp.symlink(longName, path.join(dir, 'to-long'));
      const tar = gnuTar(dir, ['--format=gnu', '--sort=name']);
      expect(tar.includes(Buffer.from('././@LongLink'))).toBe(true);
      const seen = await entries(tar, chunk);
      expect(seen.map((e) => [e.name, e.type, e.body, e.linkname ?? null])).toEqual([
        ['', 'directory', '', null],
        ['n'.repeat(70), 'directory', '', null],
        [longName, 'file', 'long name body', null],
        ['to-long', 'symlink', '', longName], // long link target: typeflag K
      ]);
    });

    it('GNU tar --format=pax with a 150-char name', async () => {
      const dir = path.join(tmp, `pax-${chunk}`);
      const longName = `${'p'.repeat(70)}/${'q'.repeat(79)}`;
      await fsp.mkdir(path.join(dir, 'p'.repeat(70)), { recursive: true });
      await fsp.writeFile(path.join(dir, ...longName.split('/')), 'pax body');
      const tar = gnuTar(dir, ['--format=pax', '--sort=name', '--pax-option=delete=atime,delete=ctime']);
      const seen = await entries(tar, chunk);
      expect(seen.filter((e) => e.type === 'file').map((e) => [e.name, e.body])).toEqual([[longName, 'pax body']]);
    });

    it("tar-stream's packer: a 150-char name (ustar prefix split) and a pax one it cannot split", async () => {
      const p = pack();
      const chunks: Buffer[] = [];
      p.on('data', (c: unknown) => {
        chunks.push(c as Buffer);
      });
      const done = new Promise<void>((r) => p.on('end', () => r()));
      const prefixName = `${'a'.repeat(100)}/${'b'.repeat(49)}`; // splits at the "/" into prefix + name
      const unsplittable = `${'c'.repeat(150)}`; // no "/": needs a pax path
      p.entry({ name: prefixName, mtime: new Date(0) }, 'one');
      p.entry({ name: unsplittable, mtime: new Date(0) }, 'two');
      p.finalize();
      await done;
      const seen = await entries(Buffer.concat(chunks), chunk);
      expect(seen.map((e) => [e.name, e.body])).toEqual([
        [prefixName, 'one'],
        [unsplittable, 'two'],
      ]);
    });

    it('zero padding after the end marker (GNU 10240-byte records, and more) is accepted', async () => {
      const tar = rawTar([{ name: 'a', body: 'A' }], { padTo: 10240, trailing: Buffer.alloc(10240) });
      expect(tar.length).toBe(20480);
      expect((await entries(tar, chunk)).map((e) => e.name)).toEqual(['a']);
    });

    it('one zero block ends the archive (a lone end block is accepted)', async () => {
      expect((await entries(rawTar([{ name: 'a', body: 'A' }], { endBlocks: 1 }), chunk)).map((e) => e.name)).toEqual(['a']);
    });

    it('entries whose bodies are not read are drained and the next ones still arrive', async () => {
      const tar = rawTar([
        { name: 'a', body: 'x'.repeat(5000) },
        { name: 'b', body: 'y'.repeat(3000) },
        { name: 'c', body: 'z' },
      ]);
      expect((await entries(tar, chunk, { skipBodies: true })).map((e) => [e.name, e.size, e.offset])).toEqual([
        ['a', 5000, 512],
        ['b', 3000, 6144],
        ['c', 1, 9728],
      ]);
    });

    it('an empty stream -> E_EMPTY', async () => {
      await expectCode(Buffer.alloc(0), 'E_EMPTY', chunk);
    });

    it('a first block that is not a tar header -> E_NOT_TAR at offset 0', async () => {
      const err = await expectCode(Buffer.from('not a tar '.repeat(100)), 'E_NOT_TAR', chunk);
      expect(err.offset).toBe(0);
    });

    it('a non-empty stream shorter than one block that is not a tar -> E_NOT_TAR', async () => {
      await expectCode(Buffer.from('hello'), 'E_NOT_TAR', chunk);
    });

    it('a bad checksum in a later header -> E_TAR_CORRUPT with that header offset', async () => {
      const tar = rawTar([
        { name: 'a', body: 'x'.repeat(600) },
        { name: 'b', body: 'y' },
      ]);
      const err = await expectCode(flipByte(tar, 1536 + 3), 'E_TAR_CORRUPT', chunk);
      expect(err.offset).toBe(1536);
    });

    it('an invalid size field -> E_TAR_CORRUPT', async () => {
      const h = rawHeader({ name: 'a', body: 'x' });
      h.write('12345678x9ab', 124, 'latin1');
      h.fill(0x20, 148, 156);
      let sum = 0;
      for (const b of h) sum += b;
      h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
      await expectCode(Buffer.concat([h, Buffer.alloc(512), Buffer.alloc(1024)]), 'E_TAR_CORRUPT', chunk);
    });

    it('a pax header above 1 MiB -> E_TAR_CORRUPT', async () => {
      const tar = rawTar([
        { name: 'PaxHeaders/x', typeflag: 'x', body: pax([`comment=${'c'.repeat(1024 * 1024 + 10)}`]) },
        { name: 'a', body: 'A' },
      ]);
      await expectCode(tar, 'E_TAR_CORRUPT', chunk);
    });

    it('cut at a block boundary after an entry (no end blocks) -> E_TRUNCATED at the cut', async () => {
      const tar = rawTar([{ name: 'a', body: 'x'.repeat(600) }], { endBlocks: 0 });
      const err = await expectCode(tar, 'E_TRUNCATED', chunk);
      expect(err.offset).toBe(1536);
    });

    it('cut inside a header -> E_TRUNCATED', async () => {
      const tar = rawTar([
        { name: 'a', body: 'x' },
        { name: 'b', body: 'y' },
      ]);
      await expectCode(truncate(tar, 1024 + 200), 'E_TRUNCATED', chunk);
    });

    it('cut inside the data of an entry whose body is being read -> E_TRUNCATED (a LayerstoreError, not a stream error)', async () => {
      const tar = rawTar([
        { name: 'a', body: 'x'.repeat(5000) },
        { name: 'b', body: 'y' },
      ]);
      const err = await expectCode(truncate(tar, 512 + 2000), 'E_TRUNCATED', chunk);
      expect(err.entry).toBe('a');
    });

    it('cut inside the data of an entry whose body is read a moment later (as ingest does) -> E_TRUNCATED, not a stream error', async () => {
      const tar = rawTar([
        { name: 'a', body: 'x'.repeat(5000) },
        { name: 'b', body: 'y' },
      ]);
      let err: unknown;
      try {
        const file = path.join(tmp, `cut-${chunk}.tar`);
        await fsp.writeFile(file, truncate(tar, 512 + 2000));
        await entries(createReadStream(file, { highWaterMark: chunk > 0 ? chunk : 64 * 1024 }), chunk, { slow: true });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LayerstoreError);
      expect((err as LayerstoreError).code).toBe('E_TRUNCATED');
    });

    it('cut inside the data of an entry whose body is skipped -> E_TRUNCATED', async () => {
      const tar = rawTar([
        { name: 'a', body: 'x'.repeat(5000) },
        { name: 'b', body: 'y' },
      ]);
      let err: unknown;
      try {
        await entries(truncate(tar, 512 + 2000), chunk, { skipBodies: true });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(LayerstoreError);
      expect((err as LayerstoreError).code).toBe('E_TRUNCATED');
    });

    it('non-zero bytes after the end marker -> E_TRAILING_DATA at their offset', async () => {
      const tar = rawTar([{ name: 'a', body: 'A' }], { trailing: Buffer.from([0, 0, 0, 7]) });
      const err = await expectCode(tar, 'E_TRAILING_DATA', chunk);
      expect(err.offset).toBe(1024 + 1024 + 3);
    });

    it('a second archive after the end marker -> E_TRAILING_DATA', async () => {
      await expectCode(Buffer.concat([rawTar([{ name: 'a', body: 'A' }]), rawTar([{ name: 'b', body: 'B' }])]), 'E_TRAILING_DATA', chunk);
    });

    it('more entries than maxEntries -> E_TOO_LARGE', async () => {
      const tar = rawTar(Array.from({ length: 6 }, (_, i) => ({ name: `f${i}`, body: 'x' })));
      let err: unknown;
      try {
        await entries(tar, chunk, { maxEntries: 5 });
      } catch (e) {
        err = e;
      }
      expect((err as LayerstoreError).code).toBe('E_TOO_LARGE');
      expect((await entries(tar, chunk, { maxEntries: 6 })).length).toBe(6);
    });

    it('an unsafe name -> E_UNSAFE_PATH with the raw name and the entry offset', async () => {
      const err = await expectCode(
        rawTar([
          { name: 'ok', body: 'x' },
          { name: '../evil', body: 'y' },
        ]),
        'E_UNSAFE_PATH',
        chunk,
      );
      expect(err.entry).toBe('../evil');
      expect(err.offset).toBe(1536);
    });

    it('a GNU sparse entry (typeflag S) takes its map from the header: a file of its real size; its stored data is the body', async () => {
      const seen = await entries(
        rawTar([gnuSparseBlocks({ name: 'holes', realSize: 9000, segments: [4096, 9], data: 'condensed' }), { name: 'after', body: 'A' }]),
        chunk,
      );
      expect(seen.map((e) => [e.name, e.type, e.size, e.body, e.sparse])).toEqual([
        ['holes', 'file', 9, 'condensed', { size: 9000, segments: [4096, 9] }],
        ['after', 'file', 1, 'A', undefined],
      ]);
    });

    it('a pax GNU.sparse entry (format 1.0) takes the real name GNU.sparse.name gives; the map in front of its data is read, not handed out', async () => {
      const records = ['GNU.sparse.major=1', 'GNU.sparse.minor=0', 'GNU.sparse.name=dir/real', 'GNU.sparse.realsize=4096'];
      const map = Buffer.alloc(512);
      map.write('1\n100\n8\n');
      const tar = rawTar([
        { name: 'PaxHeader', typeflag: 'x', body: pax(records) },
        { name: 'dir/GNUSparseFile.7/real', body: Buffer.concat([map, Buffer.from('map+data')]) },
        { name: 'after', body: 'A' },
      ]);
      const seen = await entries(tar, chunk);
      expect(seen.map((e) => [e.name, e.type, e.body, e.sparse])).toEqual([
        ['dir/real', 'file', 'map+data', { size: 4096, segments: [100, 8] }],
        ['after', 'file', 'A', undefined],
      ]);
    });

    it('an empty extended header (pax or GNU long name of 0 bytes) -> E_TAR_CORRUPT: tar-stream loses its place after one', async () => {
      for (const typeflag of ['x', 'g', 'L', 'K']) {
        const tar = rawTar([
          { name: 'ext', typeflag },
          { name: 'a', body: 'A' },
          { name: 'b', body: 'B' },
        ]);
        const err = await expectCode(tar, 'E_TAR_CORRUPT', chunk);
        expect(err.offset).toBe(0);
      }
    });

    describe('the scanner and tar-stream agree on where each header is', () => {
      // Three ways to make the scanner skip N data bytes that tar-stream parses as headers:
      // what hides in those bytes is an inner end-of-archive marker and a second archive.
      const smuggle = (paxBodies: string[][]) => {
        const first = rawTar([{ name: 'first', body: 'F' }]); // with its two zero blocks
        const second = rawTar([{ name: 'second', body: 'S' }], { endBlocks: 0 });
        const inner = Buffer.concat([first, second]);
        const paxEntries = paxBodies.map((r, i) => ({
          name: `PaxHeaders/${i}`,
          typeflag: 'x',
          body: pax(r.map((x) => x.replace('$N', String(inner.length)))),
        }));
        return Buffer.concat([rawTar([...paxEntries, { name: 'pad' }], { endBlocks: 0 }), inner, Buffer.alloc(1024)]);
      };
      it('a pax record without "=" before size=N -> E_TRAILING_DATA', async () => {
        await expectCode(smuggle([['comment', 'size=$N']]), 'E_TRAILING_DATA', chunk);
      });
      it('two local pax headers, the first with size=N, the second without a size -> E_TRAILING_DATA', async () => {
        await expectCode(smuggle([['size=$N'], ['comment=x']]), 'E_TRAILING_DATA', chunk);
      });
      it('size=N followed by an empty size= record -> E_TRAILING_DATA', async () => {
        await expectCode(smuggle([['size=$N', 'size=']]), 'E_TRAILING_DATA', chunk);
      });
      it('control: a well-formed pax size=N really makes the N bytes data', async () => {
        const seen = await entries(smuggle([['size=$N']]), chunk);
        expect(seen.map((e) => [e.name, e.size])).toEqual([['pad', 3072]]);
      });
    });
  });
}
