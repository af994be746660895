/**
 * The tar engine's two readers (readTarEntries, streaming; walkTarFile, positional) are one
 * set of structure rules (tar-structure.ts): on the same bytes they hand out the same
 * entries or fail with the same error code, and what they list is what GNU tar lists, on
 * archives GNU tar writes in every format and on the real archives (and the layers inside
 * them) under ../shared/fixtures-real.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerstoreError } from '../../src/errors.js';
import { readTarEntries, type TarReadOptions } from '../../src/archive/tar-entries.js';
import { walkTarFile } from '../../src/archive/tar-file-walker.js';
import { paxRecords, rawTar, truncate, flipByte } from '../helpers/make-tar.js';

interface Listed {
  name: string;
  type: string;
  size: number;
  linkname?: string;
  /** A sparse entry's file size (`size` is its stored data). */
  sparse?: number;
}
type Outcome = { entries: Listed[] } | { error: string };

const listed = (e: { rawName: string; type: string; size: number; linkname?: string; sparse?: { size: number } }): Listed => {
  const out: Listed = { name: e.rawName, type: e.type, size: e.size };
  if (e.linkname !== undefined) out.linkname = e.linkname;
  if (e.sparse !== undefined) out.sparse = e.sparse.size;
  return out;
};

async function viaStream(buf: Buffer, opts: TarReadOptions): Promise<Outcome> {
  const parts: Buffer[] = [];
  for (let i = 0; i < buf.length; i += 4096) parts.push(buf.subarray(i, i + 4096));
  const seen: Listed[] = [];
  try {
    for await (const e of readTarEntries(Readable.from(parts), opts)) {
      for await (const _ of e.body);
      seen.push(listed(e));
    }
    return { entries: seen };
  } catch (e) {
    return { error: e instanceof LayerstoreError ? e.code : `uncoded: ${(e as Error).message}` };
  }
}

let files = 0;
async function viaWalker(buf: Buffer, opts: TarReadOptions): Promise<Outcome> {
  const file = path.join(tmp, `w${files++}.tar`);
  await fsp.writeFile(file, buf);
  const fh = await fsp.open(file, 'r');
  const seen: Listed[] = [];
  try {
    for await (const e of walkTarFile(fh, buf.length, opts)) seen.push(listed(e));
    return { entries: seen };
  } catch (e) {
    return { error: e instanceof LayerstoreError ? e.code : `uncoded: ${(e as Error).message}` };
  } finally {
    await fh.close();
  }
}

/** Both readers' outcome, checked to be the same. */
async function bothRead(buf: Buffer, opts: TarReadOptions = {}): Promise<Outcome> {
  const [a, b] = [await viaStream(buf, opts), await viaWalker(buf, opts)];
  expect(b, 'positional walker vs streaming reader').toEqual(a);
  return a;
}

const LAYER: TarReadOptions = { rawNames: true, trailing: 'ignore', maxEntries: Infinity };

/** What GNU tar lists (`tar -tv`), as the same fields. */
function gnuList(file: string): Listed[] {
  const r = spawnSync('tar', ['--numeric-owner', '--quoting-style=literal', '-tvf', file], { encoding: 'utf8', maxBuffer: 64 << 20 });
  const out: Listed[] = [];
  for (const line of r.stdout.split('\n')) {
    if (line === '') continue;
    const m = /^(\S)\S+ \S+\s+(\d+|\d+,\d+) \d{4}-\d\d-\d\d \d\d:\d\d (.*)$/.exec(line);
    if (!m) throw new Error(`unparsed tar -tv line: ${line}`);
    const [, t, size, rest] = m as unknown as [string, string, string, string];
    const type = ({ '-': 'file', d: 'directory', l: 'symlink', h: 'link' } as Record<string, string>)[t] ?? 'other';
    const sep = type === 'symlink' ? ' -> ' : type === 'link' ? ' link to ' : undefined;
    const cut = sep ? rest.indexOf(sep) : -1;
    const e: Listed = { name: cut >= 0 ? rest.slice(0, cut) : rest, type, size: type === 'file' ? Number(size) : 0 };
    if (cut >= 0) e.linkname = rest.slice(cut + sep!.length);
    out.push(e);
  }
  return out;
}

/** The readers' listing in GNU tar's terms: only files have a size there, a sparse file its real one. */
const asGnu = (o: Outcome): Listed[] | string =>
  'error' in o ? o.error : o.entries.map(({ sparse, ...e }) => ({ ...e, size: e.type === 'file' ? (sparse ?? e.size) : 0 }));

let tmp: string;
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-engine-'));
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

const longName = (n: number) => `deep/${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(Math.max(1, n - 128))}`;

describe('both readers refuse and accept the same hostile archives (one structure function)', () => {
  it('a GNU "N" long-name header over the 1 MiB extended-header cap -> E_TAR_CORRUPT (the walker allowed 4 MiB, the stream tar-stream\'s 4 MiB)', async () => {
    const big = Buffer.alloc(2 * 1024 * 1024, 'n');
    const tar = rawTar([
      { name: '././@LongLink', typeflag: 'N', body: big },
      { name: 'x', body: 'X' },
    ]);
    expect(await bothRead(tar)).toEqual({ error: 'E_TAR_CORRUPT' });
  });

  it('a pax size before a GNU "N" long-name header applies to the entry after it, not to the "N" header (the stream scanner took "N" for an entry)', async () => {
    const body = 'B'.repeat(2000);
    const tar = rawTar([
      { name: 'PaxHeaders/p', typeflag: 'x', body: paxRecords(['size=2000']) },
      { name: '././@LongLink', typeflag: 'N', body: `${'n'.repeat(150)}\0` },
      { name: 'short', declaredSize: 9, body },
      { name: 'after', body: 'A' },
    ]);
    expect(await bothRead(tar)).toEqual({
      entries: [
        { name: 'n'.repeat(150), type: 'file', size: 2000 },
        { name: 'after', type: 'file', size: 1 },
      ],
    });
  });

  it('many long-name headers in a row: the last one names the entry, and they do not count as entries', async () => {
    const longs = Array.from({ length: 300 }, (_, i) => ({ name: '././@LongLink', typeflag: i % 2 ? 'L' : 'N', body: `${'l'.repeat(101)}${i}\0` }));
    const tar = rawTar([...longs, { name: 'x', body: 'X' }]);
    expect(await bothRead(tar, { maxEntries: 1 })).toEqual({ entries: [{ name: `${'l'.repeat(101)}299`, type: 'file', size: 1 }] });
  });

  it('pax path and linkpath, GNU long link name, hard links', async () => {
    const tar = rawTar([
      { name: 'PaxHeaders/p', typeflag: 'x', body: paxRecords([`path=${longName(200)}`]) },
      { name: 'p', body: 'P' },
      { name: '././@LongLink', typeflag: 'K', body: `${longName(180)}\0` },
      { name: 'sym', type: 'symlink', linkname: 'short' },
      { name: 'PaxHeaders/l', typeflag: 'x', body: paxRecords([`linkpath=${longName(200)}`]) },
      { name: 'hard', type: 'link', linkname: 'short' },
    ]);
    expect(await bothRead(tar)).toEqual({
      entries: [
        { name: longName(200), type: 'file', size: 1 },
        { name: 'sym', type: 'symlink', size: 0, linkname: longName(180) },
        { name: 'hard', type: 'link', size: 0, linkname: longName(200) },
      ],
    });
  });

  it('a bad checksum, a cut archive, a GNU sparse entry, a pax header over the cap: same codes and flags from both', async () => {
    const plain = rawTar([
      { name: 'a', body: 'A'.repeat(700) },
      { name: 'b', body: 'B' },
    ]);
    expect(await bothRead(flipByte(plain, 1536 + 10))).toEqual({ error: 'E_TAR_CORRUPT' });
    expect(await bothRead(truncate(plain, 1000))).toEqual({ error: 'E_TRUNCATED' });
    expect(await bothRead(truncate(plain, 2048))).toEqual({ error: 'E_TRUNCATED' });
    expect(await bothRead(rawTar([{ name: 'PaxHeaders/p', typeflag: 'x', body: Buffer.alloc(1024 * 1024 + 1, 'x') }, { name: 'a' }]))).toEqual({
      error: 'E_TAR_CORRUPT',
    });
    // typeflag S with ustar's magic: not GNU's sparse header (STAR lays its map out differently)
    expect(await bothRead(rawTar([{ name: 'sparse', typeflag: 'S', body: 'map' }]))).toEqual({ error: 'E_TAR_CORRUPT' });
  });
});

describe('the streaming reader hands out sub-arrays of its input, one entry at a time', () => {
  it("a body read on after the next entry was asked for fails, instead of handing out that entry's bytes", async () => {
    const tar = rawTar([
      { name: 'a', body: 'A'.repeat(3000) },
      { name: 'b', body: 'B'.repeat(3000) },
    ]);
    const parts: Buffer[] = [];
    for (let i = 0; i < tar.length; i += 1000) parts.push(tar.subarray(i, i + 1000));
    const it = readTarEntries(Readable.from(parts))[Symbol.asyncIterator]();
    const a = (await it.next()).value!;
    const body = a.body[Symbol.asyncIterator]();
    expect((await body.next()).value.toString()).toMatch(/^A+$/);
    const b = (await it.next()).value!;
    expect(b.name).toBe('b');
    await expect(body.next()).rejects.toThrow(/after the next entry/);
    const rest: Buffer[] = [];
    for await (const c of b.body) rest.push(c);
    expect(Buffer.concat(rest).toString()).toBe('B'.repeat(3000));
    await it.return?.(undefined);
  });
});

describe('both readers list exactly what GNU tar lists', () => {
  const tree = async (dir: string, long: boolean, fifo: boolean) => {
    const put = async (rel: string, data: string | Buffer) => {
      await fsp.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await fsp.writeFile(path.join(dir, rel), data);
    };
    for (const n of [0, 1, 511, 512, 513, 10_000]) await put(`sizes/f${n}`, Buffer.alloc(n, n % 251));
    await put('utf8/é-ü-文字', 'u');
    await fsp.mkdir(path.join(dir, 'empty-dir'));
    await fsp.symlink('../sizes/f1', path.join(dir, 'utf8/sym'));
    await fsp.link(path.join(dir, 'sizes/f513'), path.join(dir, 'hard'));
    if (fifo) execFileSync('mkfifo', [path.join(dir, 'fifo')]); // v7 has no type for it
    // A file with holes, stored as a sparse entry with --sparse (gnu, oldgnu, pax)
    execFileSync('sh', ['-c', 'truncate -s 300K holes && printf data | dd of=holes bs=1 seek=150000 conv=notrunc 2>/dev/null'], { cwd: dir });
    if (long) {
      await put(longName(300), 'long');
      await fsp.symlink(longName(300).replace('deep/', ''), path.join(dir, 'deep/longsym'));
      await fsp.link(path.join(dir, longName(300)), path.join(dir, 'deep/hard-to-long'));
    }
  };

  for (const format of ['gnu', 'oldgnu', 'pax', 'ustar', 'v7']) {
    it(`GNU tar --format=${format}`, async () => {
      const dir = await fsp.mkdtemp(path.join(tmp, `${format}-`));
      await tree(dir, format !== 'ustar' && format !== 'v7', format !== 'v7');
      const file = path.join(tmp, `${format}.tar`);
      const sparse = format === 'ustar' || format === 'v7' ? [] : ['--sparse'];
      execFileSync('tar', ['-C', dir, `--format=${format}`, ...sparse, '--owner=0', '--group=0', '--sort=name', '-cf', file, '.']);
      const buf = await fsp.readFile(file);
      const want = gnuList(file);
      expect(want.length).toBeGreaterThan(10);
      expect(asGnu(await bothRead(buf, LAYER))).toEqual(want);
    });
  }

  it('headers whose checksum was written the old signed way (bytes >= 0x80 in the names): listed as GNU tar lists them', async () => {
    const dir = await fsp.mkdtemp(path.join(tmp, 'signed-'));
    await fsp.writeFile(path.join(dir, 'café-ü'), 'signed');
    await fsp.mkdir(path.join(dir, 'dïr'));
    await fsp.writeFile(path.join(dir, 'dïr/文字'), 'x'.repeat(700));
    const file = path.join(tmp, 'signed.tar');
    execFileSync('tar', ['-C', dir, '--format=ustar', '--owner=0', '--group=0', '--sort=name', '-cf', file, '.']);
    const buf = await fsp.readFile(file);
    // Rewrite every header's checksum as the signed byte sum (each byte as an int8).
    let rewritten = 0;
    for (let at = 0; at + 512 <= buf.length; ) {
      const h = buf.subarray(at, at + 512);
      if (h.every((x) => x === 0)) break;
      let signed = 0;
      let high = false;
      for (let i = 0; i < 512; i++) {
        const v = i >= 148 && i < 156 ? 32 : h[i]!;
        signed += v > 127 ? v - 256 : v;
        if (v > 127) high = true;
      }
      if (high) {
        h.write(`${signed.toString(8).padStart(6, '0')}\0 `, 148, 8, 'latin1');
        rewritten++;
      }
      const size = parseInt(h.toString('latin1', 124, 136).replace(/\0.*$/s, '').trim() || '0', 8);
      at += 512 + Math.ceil(size / 512) * 512;
    }
    expect(rewritten).toBe(3);
    await fsp.writeFile(file, buf);
    const want = gnuList(file);
    expect(want.map((e) => e.name)).toEqual(['./', './café-ü', './dïr/', './dïr/文字']);
    expect(asGnu(await bothRead(buf, LAYER))).toEqual(want);
  });

  const real = path.resolve(__dirname, '../../../shared/fixtures-real');
  it.runIf(existsSync(real))('the real archives under ../shared/fixtures-real, and every tar inside them (layers)', async () => {
    const archives = execFileSync('find', [real, '-name', '*.tar', '-o', '-name', '*.tar.gz'], { encoding: 'utf8' }).split('\n').filter(Boolean).sort();
    expect(archives.length).toBeGreaterThan(15);
    let inner = 0;
    for (const a of archives) {
      let buf = await fsp.readFile(a);
      if (buf[0] === 0x1f && buf[1] === 0x8b) buf = zlib.gunzipSync(buf);
      const file = path.join(tmp, `real-${files++}.tar`);
      await fsp.writeFile(file, buf);
      expect(asGnu(await bothRead(buf, LAYER)), a).toEqual(gnuList(file));
      expect('error' in (await bothRead(buf)), `${a} as an image archive`).toBe(false);
      // The tars inside (layers, plain or gzip), listed the same way.
      const out = await fsp.mkdtemp(path.join(tmp, 'x-'));
      execFileSync('tar', ['-C', out, '-xf', file]);
      for (const f of execFileSync('find', [out, '-type', 'f'], { encoding: 'utf8' }).split('\n').filter(Boolean)) {
        let b = await fsp.readFile(f);
        if (b[0] === 0x1f && b[1] === 0x8b) b = zlib.gunzipSync(b);
        if (b.length < 1024 || (b.subarray(257, 262).toString('latin1') !== 'ustar' && !b.subarray(0, 1024).every((x) => x === 0))) continue;
        const lf = path.join(tmp, `layer-${files++}.tar`);
        await fsp.writeFile(lf, b);
        expect(asGnu(await bothRead(b, LAYER)), `${f} in ${a}`).toEqual(gnuList(lf));
        inner++;
      }
    }
    expect(inner).toBeGreaterThan(20);
  });
});
