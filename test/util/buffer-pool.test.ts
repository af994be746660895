/**
 * Reused read buffers (src/util/buffer-pool.ts): fresh memory costs a page fault per 4 KiB
 * here, so byte-moving paths read into buffers kept from one use to the next. What must hold:
 * every chunk is the file's own bytes (checked with sha256sum over dd's cut of the range),
 * also with two readers at once on one pool and after a reader stops early or fails, and a
 * buffer is back in the pool only once no read into it is in flight.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fsp, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BufferPool, fileChunks } from '../../src/util/buffer-pool.js';

const SIZE = 5 * 1024 * 1024 + 12345;
let dir = '';
let file = '';

function sha256sumOf(start: number, size: number): string {
  const out = execFileSync('sh', ['-c', `dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip=${start} count=${size} status=none | sha256sum`, 'sh', file]);
  return out.toString().split(/\s+/)[0]!;
}

/** Run `fn` with the source file open for reading. */
async function withSource<T>(fn: (fd: number) => Promise<T>): Promise<T> {
  const fh = await fsp.open(file, 'r');
  try {
    return await fn(fh.fd);
  } finally {
    await fh.close();
  }
}

async function hashChunks(chunks: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of chunks) h.update(c);
  return h.digest('hex');
}

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ls-buffer-pool-'));
  file = path.join(dir, 'src.bin');
  execFileSync('sh', ['-c', `head -c ${SIZE} /dev/urandom > "$1"`, 'sh', file]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('BufferPool', () => {
  it('hands back the buffers it was given, keeps at most `keep`, and only buffers of its size, each once', () => {
    const pool = new BufferPool(4096, 2);
    const a = pool.take();
    const b = pool.take();
    const c = pool.take();
    expect(a.length).toBe(4096);
    pool.give([a, b, c, Buffer.alloc(10)]);
    expect(pool.held).toBe(2);
    pool.give([a]);
    expect(pool.held).toBe(2);
    const again = [pool.take(), pool.take()];
    expect(again).toContain(a);
    expect(again).toContain(b);
    expect(pool.held).toBe(0);
  });
});

describe('fileChunks', () => {
  for (const [start, size] of [
    [0, 0],
    [0, 1],
    [1, 1024 * 1024],
    [4097, 3 * 1024 * 1024 + 1],
    [0, SIZE],
  ] as const) {
    it(`${size} bytes at ${start}: the chunks are the range's bytes (sha256sum), and both buffers go back to the pool`, async () => {
      const pool = new BufferPool(1024 * 1024, 4);
      await withSource(async (fd) => {
        expect(await hashChunks(fileChunks(fd, start, size, { pool }))).toBe(sha256sumOf(start, size));
        expect(pool.held).toBe(size === 0 ? 0 : 2);
        // The same buffers again: still the right bytes.
        expect(await hashChunks(fileChunks(fd, start, size, { pool }))).toBe(sha256sumOf(start, size));
        expect(pool.held).toBe(size === 0 ? 0 : 2);
      });
    });
  }

  it("the caller's own three buffers (`into`): the range's bytes, and the buffers stay the caller's", async () => {
    const pool = new BufferPool(1024 * 1024, 4);
    const into = [pool.take(), pool.take(), pool.take()];
    await withSource(async (fd) => {
      expect(await hashChunks(fileChunks(fd, 777, 4 * 1024 * 1024 + 5, { pool, into }))).toBe(sha256sumOf(777, 4 * 1024 * 1024 + 5));
    });
    expect(pool.held).toBe(0); // not given back: the caller may still be writing from one
  });

  it('two readers on one pool at once each get their own bytes', async () => {
    const pool = new BufferPool(64 * 1024, 8);
    await withSource(async (fd) => {
      const a = fileChunks(fd, 0, 2 * 1024 * 1024, { pool });
      const b = fileChunks(fd, 3 * 1024 * 1024, 2 * 1024 * 1024 + 7, { pool });
      const ha = createHash('sha256');
      const hb = createHash('sha256');
      let da = false;
      let db = false;
      while (!da || !db) {
        if (!da) {
          const r = await a.next();
          if (r.done) da = true;
          else ha.update(r.value);
        }
        if (!db) {
          const r = await b.next();
          if (r.done) db = true;
          else hb.update(r.value);
        }
      }
      expect(ha.digest('hex')).toBe(sha256sumOf(0, 2 * 1024 * 1024));
      expect(hb.digest('hex')).toBe(sha256sumOf(3 * 1024 * 1024, 2 * 1024 * 1024 + 7));
      expect(pool.held).toBe(4);
    });
  });

  it('a reader that stops early waits for the read ahead before its buffers go back; the next reader is right', async () => {
    const pool = new BufferPool(1024 * 1024, 4);
    await withSource(async (fd) => {
      for await (const c of fileChunks(fd, 0, SIZE, { pool })) {
        expect(c.length).toBe(1024 * 1024);
        break; // the second chunk's read is in flight here
      }
      expect(pool.held).toBe(2);
      expect(await hashChunks(fileChunks(fd, 100, SIZE - 100, { pool }))).toBe(sha256sumOf(100, SIZE - 100));
    });
  });

  it('a file shorter than the range is E_IO, and the buffers still come back (no read left in flight)', async () => {
    const pool = new BufferPool(1024 * 1024, 4);
    await withSource(async (fd) => {
      await expect(hashChunks(fileChunks(fd, SIZE - 1024 * 1024, 2 * 1024 * 1024, { pool }))).rejects.toMatchObject({ code: 'E_IO' });
      expect(pool.held).toBe(2);
      expect(await hashChunks(fileChunks(fd, 0, 2 * 1024 * 1024, { pool }))).toBe(sha256sumOf(0, 2 * 1024 * 1024));
    });
  });
});
