/**
 * The tar writer (src/archive/tar-writer.ts) that export uses: what it writes is read back by
 * GNU tar (listing and extraction, byte for byte) and by tar-stream, whose pack wrote export's
 * tarballs before; a size past 8 GiB is written in GNU base-256 and GNU tar reads it; a long
 * name goes into ustar's prefix; a body of another size than declared is refused; and every
 * write waits for the one before, so a caller may reuse its buffer for the next chunk.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { header, TarWriter } from '../../src/archive/tar-writer.js';

let dir = '';
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ls-tar-writer-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Everything written to a Writable, each write's callback delayed a little (a slow disk). */
function slowSink(): { out: Writable; bytes: () => Buffer } {
  const parts: Buffer[] = [];
  const out = new Writable({
    highWaterMark: 1024 * 1024,
    write(chunk: Buffer, _enc, cb) {
      const copy = Buffer.from(chunk); // what was there when the stream took it
      setTimeout(() => {
        parts.push(copy);
        cb();
      }, 1);
    },
  });
  return { out, bytes: () => Buffer.concat(parts) };
}

describe('TarWriter', () => {
  it('writes what GNU tar lists and extracts byte for byte, and tar-stream reads the same entries', async () => {
    const { out, bytes } = slowSink();
    const w = new TarWriter(out);
    const long = `${'d'.repeat(60)}/${'e'.repeat(60)}/${'f'.repeat(70)}.bin`; // 195 bytes: prefix + name
    const body = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) % 251));
    await w.directory('blobs');
    await w.file('blobs/one', 0, Buffer.alloc(0));
    await w.file('blobs/two', body.length, body);
    await w.file(long, 5, Buffer.from('hello'));
    await w.finish();
    const file = path.join(dir, 'a.tar');
    writeFileSync(file, bytes());
    expect(bytes().length % 512).toBe(0);
    const list = execFileSync('tar', ['tvf', file], { encoding: 'utf8' }).trim().split('\n');
    expect(list.map((l) => l.split(/\s+/).pop())).toEqual(['blobs', 'blobs/one', 'blobs/two', long]); // a directory without the slash, as tar-stream wrote it
    const x = path.join(dir, 'x');
    mkdirSync(x);
    execFileSync('tar', ['xf', file, '-C', x]);
    expect(readFileSync(path.join(x, 'blobs/two')).equals(body)).toBe(true);
    expect(readFileSync(path.join(x, long), 'utf8')).toBe('hello');

    const seen: Array<{ name: string; size: number }> = [];
    const extract = tar.extract();
    const done = new Promise<void>((resolve, reject) => {
      extract.on('entry', (h, stream, next) => {
        seen.push({ name: h.name, size: h.size ?? 0 });
        stream.on('end', next);
        stream.resume();
      });
      extract.on('finish', resolve);
      extract.on('error', reject);
    });
    const src = new PassThrough();
    src.pipe(extract);
    src.end(bytes());
    await done;
    expect(seen).toEqual([
      { name: 'blobs', size: 0 },
      { name: 'blobs/one', size: 0 },
      { name: 'blobs/two', size: 3000 },
      { name: long, size: 5 },
    ]);
  });

  it('a header for 10 GiB is written in base-256, which GNU tar reads as that size', () => {
    const size = 10 * 1024 ** 3 + 5;
    const file = path.join(dir, 'big-header.tar');
    writeFileSync(file, Buffer.concat([header('big.bin', size, '0', 0o644, 0), Buffer.alloc(512)]));
    // The body is missing, so GNU tar fails after listing the entry; the listing is what counts.
    const r = spawnSync('tar', ['tvf', file], { encoding: 'utf8' });
    expect(r.stdout).toMatch(new RegExp(`\\s${size}\\s.*big\\.bin`));
  });

  it('refuses a body that is not the size declared, and a name no ustar header can hold', async () => {
    const w = new TarWriter(slowSink().out);
    await expect(w.file('short', 10, Buffer.alloc(9))).rejects.toMatchObject({ code: 'E_SIZE_MISMATCH' });
    const w2 = new TarWriter(slowSink().out);
    await expect(w2.file('long', 2, Buffer.alloc(3))).rejects.toMatchObject({ code: 'E_SIZE_MISMATCH' });
    expect(() => header('x'.repeat(101), 0, '0', 0o644, 0)).toThrow(/too long/);
  });

  it('hands over a chunk only once the one before is written: a buffer refilled for the next chunk never changes what was written', async () => {
    const { out, bytes } = slowSink();
    const w = new TarWriter(out);
    const buf = Buffer.alloc(1000);
    async function* chunks(): AsyncGenerator<Buffer> {
      for (let i = 0; i < 5; i++) {
        buf.fill(65 + i); // the same buffer, refilled
        yield buf;
      }
    }
    await w.file('f', 5000, chunks());
    await w.finish();
    const body = bytes()
      .subarray(512, 512 + 5000)
      .toString('latin1');
    expect(body).toBe(['A', 'B', 'C', 'D', 'E'].map((c) => c.repeat(1000)).join(''));
  });
});
