/**
 * GNU sparse files (`tar --sparse`) through both readers of the tar engine: the file's real
 * name and size, and (through sparseContent) its bytes with the holes as zeros, on archives
 * GNU tar writes in every sparse format (old GNU "S", pax 0.0, 0.1, 1.0), against what GNU
 * tar lists, what Python's tarfile extracts and sha256sum of the file itself; and faulty
 * maps refused by both with E_TAR_CORRUPT.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerstoreError } from '../../src/errors.js';
import { readTarEntries, type TarReadOptions } from '../../src/archive/tar-entries.js';
import { walkTarFile } from '../../src/archive/tar-file-walker.js';
import { sparseContent, sparseContentAt } from '../../src/archive/tar-sparse-content.js';
import { gnuSparseBlocks, paxRecords, rawTar, type RawEntry } from '../helpers/make-tar.js';
import { commands } from '../helpers/peers.js';

const HAVE_TOOLS = commands([
  ['tar', 'tar'],
  ['python3', 'python3'],
  ['sha256sum', 'coreutils'],
]);

const LAYER: TarReadOptions = { rawNames: true, trailing: 'ignore', maxEntries: Infinity };

/** What a reader makes of a file entry: its name, size and the sha256 of its bytes. */
type Seen = { name: string; size: number; sha256: string; sparse: boolean };
type Outcome = { entries: Seen[] } | { error: string };

async function sha256(chunks: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of chunks) h.update(c);
  return h.digest('hex');
}

async function viaStream(buf: Buffer): Promise<Outcome> {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += 3000) parts.push(buf.subarray(i, i + 3000)); // maps and data across chunks
  const seen: Seen[] = [];
  try {
    for await (const e of readTarEntries(Readable.from(parts), LAYER)) {
      if (e.type !== 'file') continue;
      const bytes = e.sparse ? sparseContent(e.body, e.sparse) : e.body;
      seen.push({ name: e.rawName, size: e.sparse?.size ?? e.size, sha256: await sha256(bytes), sparse: e.sparse !== undefined });
    }
    return { entries: seen };
  } catch (e) {
    return { error: e instanceof LayerstoreError ? e.code : `uncoded: ${(e as Error).message}` };
  }
}

let n = 0;
async function viaWalker(buf: Buffer): Promise<Outcome> {
  const file = path.join(tmp, `w${n++}.tar`);
  await fsp.writeFile(file, buf);
  const fh = await fsp.open(file, 'r');
  const seen: Seen[] = [];
  try {
    for await (const e of walkTarFile(fh, buf.length, LAYER)) {
      if (e.type !== 'file') continue;
      const bytes = e.sparse ? sparseContentAt(fh.fd, { ...e, sparse: e.sparse }) : plainAt(fh, e.offset, e.size);
      seen.push({ name: e.rawName, size: e.sparse?.size ?? e.size, sha256: await sha256(bytes), sparse: e.sparse !== undefined });
    }
    return { entries: seen };
  } catch (e) {
    return { error: e instanceof LayerstoreError ? e.code : `uncoded: ${(e as Error).message}` };
  } finally {
    await fh.close();
  }
}

async function* plainAt(fh: FileHandle, offset: number, size: number): AsyncGenerator<Buffer> {
  const b = Buffer.alloc(size);
  await fh.read(b, 0, size, offset);
  yield b;
}

/** Both readers' outcome, checked to be the same. */
async function bothRead(buf: Buffer): Promise<Outcome> {
  const [a, b] = [await viaStream(buf), await viaWalker(buf)];
  expect(b, 'positional walker vs streaming reader').toEqual(a);
  return a;
}

/** The regular files Python's tarfile reads from a tar: name, size, sha256 of what it extracts. */
function pythonFiles(tarFile: string): Array<[string, number, string]> {
  const script =
    'import hashlib, json, sys, tarfile\nt = tarfile.open(sys.argv[1])\nprint(json.dumps([[m.name, m.size, hashlib.sha256(t.extractfile(m).read()).hexdigest()] for m in t if m.isfile()]))';
  return JSON.parse(execFileSync('python3', ['-c', script, tarFile], { encoding: 'utf8', maxBuffer: 64 << 20 }));
}

let tmp: string;
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-sparse-'));
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe.skipIf(!HAVE_TOOLS)('sparse files GNU tar writes: the name, size and bytes GNU tar, Python and sha256sum give', () => {
  /** Files with holes: the reproducer's, one with 40 data islands (old GNU extension blocks), all hole, data then a hole. */
  let src: string;
  const names = ['sparse.bin', 'islands.bin', 'allhole.bin', 'headdata.bin', 'plain-copy.bin'];
  beforeAll(async () => {
    src = path.join(tmp, 'src');
    await fsp.mkdir(src);
    const file = (name: string) => path.join(src, name);
    execFileSync('truncate', ['-s', '1M', file('sparse.bin')]);
    const sh = (cmd: string) => execFileSync('sh', ['-c', cmd], { cwd: src });
    sh('printf data | dd of=sparse.bin bs=1 seek=500000 conv=notrunc 2>/dev/null');
    sh('truncate -s 8M islands.bin');
    for (let i = 0; i < 40; i++) sh(`printf 'island %d' ${i} | dd of=islands.bin bs=1 seek=${i * 200_000 + 12_345} conv=notrunc 2>/dev/null`);
    sh('truncate -s 3M allhole.bin');
    sh('head -c 10000 /dev/urandom > headdata.bin && truncate -s 2M headdata.bin');
    sh('cp --sparse=never sparse.bin plain-copy.bin'); // the same bytes, no holes: tar stores it whole
  });

  const variants: Array<[string, string[]]> = [
    ['gnu', ['--format=gnu']],
    ['oldgnu', ['--format=oldgnu']],
    ['pax 0.0', ['--format=posix', '--sparse-version=0.0']],
    ['pax 0.1', ['--format=posix', '--sparse-version=0.1']],
    ['pax 1.0', ['--format=posix', '--sparse-version=1.0']],
  ];
  for (const [label, flags] of variants) {
    it(`tar --sparse ${flags.join(' ')} (${label})`, async () => {
      const tarFile = path.join(tmp, `${label.replace(/\W/g, '')}.tar`);
      execFileSync('tar', ['--sparse', ...flags, '-cf', tarFile, '-C', src, ...names]);
      const got = await bothRead(await fsp.readFile(tarFile));
      if ('error' in got) throw new Error(`refused: ${got.error}`);
      // GNU tar wrote the holey ones as sparse entries (else this test would prove nothing).
      expect(got.entries.map((e) => [e.name, e.sparse])).toEqual(names.map((name) => [name, name !== 'plain-copy.bin']));
      // GNU tar's own listing: the real names and sizes.
      const listed = execFileSync('tar', ['-tvf', tarFile], { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((l) => {
          const m = /^-\S+ \S+\s+(\d+) \S+ \S+ (.*)$/.exec(l)!;
          return [m[2], Number(m[1])];
        });
      expect(got.entries.map((e) => [e.name, e.size])).toEqual(listed);
      // Python's tarfile extracts the same bytes, and they are the files' own (sha256sum).
      expect(got.entries.map((e) => [e.name, e.size, e.sha256])).toEqual(pythonFiles(tarFile));
      const sums = execFileSync('sha256sum', names, { cwd: src, encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((l) => l.split(/\s+/)[0]);
      expect(got.entries.map((e) => e.sha256)).toEqual(sums);
      // The sparse file and its plain copy are the same content.
      expect(got.entries[0]!.sha256).toBe(got.entries[4]!.sha256);
    });
  }
});

/** A pax 1.0 sparse entry by hand: records, then the map in front of the data. */
function pax10(name: string, realSize: number, map: string, data: string | Buffer, extra: string[] = []): RawEntry[] {
  const mapBlocks = Buffer.alloc(Math.ceil(Buffer.byteLength(map) / 512) * 512);
  mapBlocks.write(map, 'latin1');
  return [
    {
      name: 'PaxHeaders/x',
      typeflag: 'x',
      body: paxRecords(['GNU.sparse.major=1', 'GNU.sparse.minor=0', `GNU.sparse.name=${name}`, `GNU.sparse.realsize=${realSize}`, ...extra]),
    },
    { name: `GNUSparseFile.1/${name}`, body: Buffer.concat([mapBlocks, Buffer.from(data)]) },
  ];
}

/** A pax 0.1 sparse entry by hand. */
function pax01(name: string, realSize: number, numblocks: number, map: string, data: string, type?: RawEntry['type']): RawEntry[] {
  return [
    {
      name: 'PaxHeaders/x',
      typeflag: 'x',
      body: paxRecords([`GNU.sparse.size=${realSize}`, `GNU.sparse.numblocks=${numblocks}`, `GNU.sparse.name=${name}`, `GNU.sparse.map=${map}`]),
    },
    { name: `GNUSparseFile.1/${name}`, body: data, type },
  ];
}

const after: RawEntry = { name: 'after', body: 'A' };
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

describe('hand-made sparse entries: exact bytes, and faulty maps refused by both readers', () => {
  it('a 1.0 map whose numbers run across a block boundary, data segments split across stream chunks', async () => {
    // 200 segments of 3 bytes every 1000 bytes: the map text is over 1 KiB.
    const segs: number[] = [];
    for (let i = 0; i < 200; i++) segs.push(i * 1000 + 7, 3);
    const map = `${segs.length / 2}\n${segs.join('\n')}\n`;
    expect(map.length).toBeGreaterThan(1024);
    const data = Buffer.alloc(600);
    for (let i = 0; i < 600; i++) data[i] = 65 + (i % 26);
    const want = Buffer.alloc(230_000);
    for (let i = 0; i < 200; i++) data.copy(want, i * 1000 + 7, i * 3, i * 3 + 3);
    expect(await bothRead(rawTar([...pax10('dir/f', 230_000, map, data), after]))).toEqual({
      entries: [
        { name: 'dir/f', size: 230_000, sha256: sha(want), sparse: true },
        { name: 'after', size: 1, sha256: sha('A'), sparse: false },
      ],
    });
  });

  it('old GNU with extension blocks, pax 0.0 (offset/numbytes records) and an empty map: the bytes they describe', async () => {
    const segs: number[] = [];
    for (let i = 0; i < 30; i++) segs.push(i * 100, 10); // 30 segments: the header's 4, then 2 extension blocks
    const data = 'x'.repeat(300);
    const want = Buffer.alloc(5000);
    for (let i = 0; i < 30; i++) want.fill('x', i * 100, i * 100 + 10);
    const pax00: RawEntry = {
      name: 'PaxHeaders/y',
      typeflag: 'x',
      body: paxRecords([
        'GNU.sparse.size=50',
        'GNU.sparse.numblocks=2',
        'GNU.sparse.offset=10',
        'GNU.sparse.numbytes=2',
        'GNU.sparse.offset=40',
        'GNU.sparse.numbytes=3',
      ]),
    };
    const want00 = Buffer.alloc(50);
    want00.write('ab', 10);
    want00.write('cde', 40);
    const tar = rawTar([
      gnuSparseBlocks({ name: 'gnu', realSize: 5000, segments: segs, data }),
      pax00,
      { name: 'zero-zero', body: 'abcde' },
      gnuSparseBlocks({ name: 'empty', realSize: 70_000, segments: [], data: '' }),
      after,
    ]);
    const got = await bothRead(tar);
    expect(got).toEqual({
      entries: [
        { name: 'gnu', size: 5000, sha256: sha(want), sparse: true },
        { name: 'zero-zero', size: 50, sha256: sha(want00), sparse: true },
        { name: 'empty', size: 70_000, sha256: sha(Buffer.alloc(70_000)), sparse: true },
        { name: 'after', size: 1, sha256: sha('A'), sparse: false },
      ],
    });
    // Python's tarfile reads these hand-made blocks the same way.
    if (HAVE_TOOLS) {
      const file = path.join(tmp, 'hand.tar');
      await fsp.writeFile(file, tar);
      expect(pythonFiles(file)).toEqual('entries' in got ? got.entries.map((e) => [e.name, e.size, e.sha256]) : []);
    }
  });

  const bigMap = `${1_000_000}\n${'0\n0\n'.repeat(300_000)}`; // 1.2 MB of map: over the 1 MiB cap
  const faults: Array<[string, Array<RawEntry | Buffer>]> = [
    ['segments out of order', pax01('f', 100, 2, '50,10,10,10', 'x'.repeat(20))],
    ['overlapping segments', pax01('f', 100, 2, '10,10,15,10', 'x'.repeat(20))],
    ['a segment past the real size', pax01('f', 100, 1, '95,10', 'x'.repeat(10))],
    ['less data than the map places', pax01('f', 100, 1, '0,10', 'x'.repeat(9))],
    ['more data than the map places', pax01('f', 100, 1, '0,10', 'x'.repeat(11))],
    ['numblocks and the map disagree', pax01('f', 100, 2, '0,10', 'x'.repeat(10))],
    ['a number that is not one', pax01('f', 100, 1, '0,1O', 'x'.repeat(10))],
    ['a negative number', pax01('f', 100, 1, '-1,10', 'x'.repeat(10))],
    ['sparse records on a symlink', pax01('f', 100, 1, '0,0', '', 'symlink')],
    [
      'pax 0.0 records out of turn',
      [
        {
          name: 'PaxHeaders/y',
          typeflag: 'x',
          body: paxRecords(['GNU.sparse.size=50', 'GNU.sparse.numblocks=1', 'GNU.sparse.numbytes=2', 'GNU.sparse.offset=10']),
        },
        { name: 'f', body: 'ab' },
      ],
    ],
    // two blocks of map, in an entry of 520 bytes
    ["a 1.0 map running past its entry's data", [pax10('f', 100, '', '')[0]!, { name: 'f', body: `200\n${'0\n0\n'.repeat(200)}`.slice(0, 520) }]],
    ['a 1.0 map over 1 MiB', pax10('f', 100, bigMap, '')],
    ['a 1.0 entry with no data for its map', [pax10('f', 100, '', '')[0]!, { name: 'f', body: '' }]],
    ['old GNU "S" without the GNU magic', [gnuSparseBlocks({ name: 'f', realSize: 10, segments: [0, 1], data: 'x', magic: 'ustar\x0000' })]],
    ['old GNU with a segment past its real size', [gnuSparseBlocks({ name: 'f', realSize: 10, segments: [5, 6], data: 'xxxxxx' })]],
    [
      'old GNU extension blocks over 1 MiB',
      [
        (() => {
          const b = gnuSparseBlocks({ name: 'f', realSize: 10, segments: [], data: '' });
          b[482] = 1;
          // the header's checksum covers byte 482: write it again
          b.fill(0x20, 148, 156);
          let sum = 0;
          for (let i = 0; i < 512; i++) sum += b[i]!;
          b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
          const ext = Buffer.alloc(512);
          ext[504] = 1;
          return Buffer.concat([b.subarray(0, 512), ...Array.from({ length: 2100 }, () => ext)]);
        })(),
      ],
    ],
  ];
  for (const [label, entries] of faults) {
    it(`${label} -> E_TAR_CORRUPT from both readers`, async () => {
      expect(await bothRead(rawTar([...entries, after]))).toEqual({ error: 'E_TAR_CORRUPT' });
    });
  }

  it('a version other than 0.0, 0.1 and 1.0, or GNU.sparse.name alone: not sparse (as Go reads it), the entry as written', async () => {
    const tar = rawTar([
      { name: 'PaxHeaders/x', typeflag: 'x', body: paxRecords(['GNU.sparse.major=2', 'GNU.sparse.minor=0', 'GNU.sparse.name=real']) },
      { name: 'GNUSparseFile.1/real', body: 'as is' },
      { name: 'PaxHeaders/x', typeflag: 'x', body: paxRecords(['GNU.sparse.name=real2']) },
      { name: 'named', body: 'plain' },
      { name: 'PaxHeaders/g', typeflag: 'g', body: paxRecords(['GNU.sparse.map=0,1', 'GNU.sparse.numblocks=1', 'GNU.sparse.size=9']) },
      { name: 'global-ignored', body: 'g' },
    ]);
    expect(await bothRead(tar)).toEqual({
      entries: [
        { name: 'GNUSparseFile.1/real', size: 5, sha256: sha('as is'), sparse: false },
        { name: 'named', size: 5, sha256: sha('plain'), sparse: false },
        { name: 'global-ignored', size: 1, sha256: sha('g'), sparse: false },
      ],
    });
  });
});
