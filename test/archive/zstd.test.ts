/**
 * zstd decompression: the `zstd -dc` child (zstd-child.ts) and the fzstd fallback must turn
 * the same bytes into the same bytes, and bad input into one coded error, never a hang.
 * The reference is the zstd command itself.
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { Readable, type Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mkdtempSync, promises as fsp, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { diffIdOfRange } from '../../src/ingest/diffid.js';
import { createDecompressor } from '../../src/archive/compression.js';
import { ZstdChild, zstdBinary, zstdFileInto } from '../../src/archive/zstd-child.js';
import { mapTarError } from '../../src/archive/tar-entries.js';
import { peer } from '../helpers/peers.js';

const ZSTD = peer('the zstd command', zstdBinary() !== undefined, 'apt-get install zstd') ? zstdBinary() : undefined;
const zstd = (args: string[], input: Buffer): Buffer => {
  const r = spawnSync('zstd', args, { input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`zstd ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** Layer-like bytes: random blocks repeated, so they compress about 2x. */
function sample(mb: number): Buffer {
  const block = randomBytes(64 * 1024);
  const parts: Buffer[] = [];
  for (let i = 0; i < mb * 16; i++) parts.push(i % 2 ? block : randomBytes(64 * 1024));
  return Buffer.concat(parts);
}

async function run(make: () => Duplex, input: Buffer): Promise<{ sha: string; n: number } | { code: string; message: string }> {
  const h = createHash('sha256');
  let n = 0;
  try {
    // 1 MiB writes, as ingest does
    const chunks = Array.from({ length: Math.ceil(input.length / (1 << 20)) }, (_, i) => input.subarray(i << 20, (i + 1) << 20));
    await pipeline(Readable.from(chunks), make(), async (src: AsyncIterable<Buffer>) => {
      for await (const c of src) {
        h.update(c);
        n += c.length;
      }
    });
    return { sha: h.digest('hex'), n };
  } catch (e) {
    const m = mapTarError(e, 'layer');
    return { code: m.code, message: m.message };
  }
}

describe.skipIf(!ZSTD)('zstd through the zstd command', () => {
  const plain = sample(8);
  const packed = zstd(['-q', '-3', '-c'], plain);
  const want = { sha: createHash('sha256').update(plain).digest('hex'), n: plain.length };

  it('is what createDecompressor uses when zstd is on PATH, and LAYERSTORE_ZSTD=js turns it off', () => {
    const d = createDecompressor('zstd');
    d.destroy(); // its zstd child waits on stdin otherwise, for as long as this test file runs
    expect(d).toBeInstanceOf(ZstdChild);
    expect(zstdBinary({ ...process.env, LAYERSTORE_ZSTD: 'js' })).toBeUndefined();
    expect(zstdBinary({ ...process.env, LAYERSTORE_ZSTD: '/nonexistent/zstd' })).toBeUndefined();
  });

  it('child and fzstd both give the bytes zstd compressed (multi-frame input too)', async () => {
    expect(await run(() => new ZstdChild(ZSTD!), packed)).toEqual(want);
    const prev = process.env.LAYERSTORE_ZSTD;
    process.env.LAYERSTORE_ZSTD = 'js';
    try {
      const js = createDecompressor('zstd');
      expect(js).not.toBeInstanceOf(ZstdChild);
      expect(await run(() => js, packed)).toEqual(want);
    } finally {
      if (prev === undefined) delete process.env.LAYERSTORE_ZSTD;
      else process.env.LAYERSTORE_ZSTD = prev;
    }
    const two = Buffer.concat([packed, zstd(['-q', '-1', '-c'], plain)]);
    expect(await run(() => new ZstdChild(ZSTD!), two)).toEqual({
      sha: createHash('sha256')
        .update(Buffer.concat([plain, plain]))
        .digest('hex'),
      n: plain.length * 2,
    });
  });

  it.each([
    ['truncated', (b: Buffer) => b.subarray(0, b.length >> 1)],
    ['not zstd at all', () => randomBytes(300_000)],
    [
      'a flipped byte (caught by the frame checksum)',
      (b: Buffer) => {
        const c = Buffer.from(b);
        c[c.length >> 1] = c[c.length >> 1]! ^ 0x5a;
        return c;
      },
    ],
    ['empty', () => Buffer.alloc(0)],
  ])('%s: one E_DECOMPRESS error with zstd’s reason, no hang', async (_what, damage) => {
    const r = await run(() => new ZstdChild(ZSTD!), damage(packed));
    expect(r).toMatchObject({ code: 'E_DECOMPRESS' });
    expect((r as { message: string }).message).toMatch(/^the layer does not decompress|^zstd data does not decompress: \S/);
  });

  describe('diffIdOfRange: a whole zstd file is the child’s stdin (no pipe from Node)', () => {
    const viaFile = async (bytes: Buffer, whole: boolean) => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'layerstore-zstd-'));
      const file = path.join(dir, 'layer.zst');
      writeFileSync(file, bytes);
      const fh = await fsp.open(file, 'r');
      try {
        return await diffIdOfRange({ path: file, fd: fh.fd, start: 0, size: bytes.length, whole }, 'zstd');
      } finally {
        await fh.close();
        rmSync(dir, { recursive: true, force: true });
      }
    };
    it('gives the sha256 of what zstd compressed, as the piped path does', async () => {
      const expected = `sha256:${want.sha}`;
      expect(await viaFile(packed, true)).toEqual({ diffId: expected });
      expect(await viaFile(packed, false)).toEqual({ diffId: expected });
    });
    it('a damaged file: an error with zstd’s reason, no diffID, no hang', async () => {
      const c = Buffer.from(packed);
      c[c.length >> 1] = c[c.length >> 1]! ^ 0x5a;
      const r = await viaFile(c, true);
      expect(r.diffId).toBeUndefined();
      expect(r.error).toMatch(/^zstd data does not decompress: \S/);
    });
  });

  describe('zstdFileInto: the child reads the file, its output comes through a socket into one reused buffer', () => {
    const withFile = async <T>(bytes: Buffer, fn: (fd: number) => Promise<T>): Promise<T> => {
      const dir = mkdtempSync(path.join(os.tmpdir(), 'layerstore-zstd-into-'));
      const file = path.join(dir, 'layer.zst');
      writeFileSync(file, bytes);
      const fh = await fsp.open(file, 'r');
      try {
        return await fn(fh.fd);
      } finally {
        await fh.close();
        rmSync(dir, { recursive: true, force: true });
      }
    };
    /** This process's zstd children, by pid. */
    const zstdChildren = () =>
      new Set(
        spawnSync('pgrep', ['-P', String(process.pid), 'zstd'], { encoding: 'utf8' })
          .stdout.split(/\s+/)
          .filter(Boolean),
      );

    it('hands over every byte zstd -dc gives, in order, always in the same buffer', async () => {
      const h = createHash('sha256');
      const buffers = new Set<ArrayBufferLike>();
      let n = 0;
      const ok = await withFile(packed, (fd) =>
        zstdFileInto(ZSTD!, fd, (b) => {
          h.update(b);
          n += b.length;
          buffers.add(b.buffer);
        }),
      );
      expect(ok).toBe(true);
      expect({ sha: h.digest('hex'), n }).toEqual(want);
      expect(buffers.size).toBe(1);
    });

    it('a consumer that throws: that error, and no zstd left running', async () => {
      const boom = new Error('consumer failed');
      const before = zstdChildren();
      await expect(
        withFile(packed, (fd) =>
          zstdFileInto(ZSTD!, fd, () => {
            throw boom;
          }),
        ),
      ).rejects.toBe(boom);
      const left = [...zstdChildren()].filter((pid) => !before.has(pid));
      expect(left, spawnSync('ps', ['-o', 'pid,stat,args', '--ppid', String(process.pid)], { encoding: 'utf8' }).stdout).toEqual([]);
    });

    it('no temporary directory to make the socket in: false, and diffIdOfRange still gives the diffID (through a pipe)', async () => {
      const saved = process.env.TMPDIR;
      const dir = mkdtempSync(path.join(os.tmpdir(), 'layerstore-zstd-notmp-'));
      const file = path.join(dir, 'layer.zst');
      writeFileSync(file, packed);
      process.env.TMPDIR = path.join(dir, 'missing');
      const fh = await fsp.open(file, 'r');
      try {
        expect(await zstdFileInto(ZSTD!, fh.fd, () => {})).toBe(false);
        expect(await diffIdOfRange({ path: file, fd: fh.fd, start: 0, size: packed.length, whole: true }, 'zstd')).toEqual({ diffId: `sha256:${want.sha}` });
      } finally {
        if (saved === undefined) delete process.env.TMPDIR;
        else process.env.TMPDIR = saved;
        await fh.close();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });

  it('a consumer that stops early kills the child (no process left behind)', async () => {
    const d = new ZstdChild(ZSTD!);
    const pid = (d as unknown as { child: { pid: number } }).child.pid;
    d.write(packed.subarray(0, 1 << 20));
    await new Promise((r) => d.once('data', r));
    d.destroy();
    await new Promise((r) => setTimeout(r, 200));
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
