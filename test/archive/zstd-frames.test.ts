/**
 * ZstdFrameCheck: reads zstd frame headers as bytes go by (RFC 8878 3.1) and refuses a window
 * above 128 MiB. It must walk real zstd output (several frames, checksums, skippable frames,
 * RLE and raw blocks) however the bytes are chunked, and read the window the way the spec
 * and both decoders do: Window_Descriptor, or Frame_Content_Size for a single-segment frame.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fsp, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { checkZstdFile, ZSTD_WINDOW_LIMIT, ZstdFrameCheck } from '../../src/archive/zstd-frames.js';
import { createDecompressor } from '../../src/archive/compression.js';
import { zstdBinary } from '../../src/archive/zstd-child.js';
import type { LayerstoreError } from '../../src/errors.js';
import { peer } from '../helpers/peers.js';

const HAVE_ZSTD = peer('the zstd command', zstdBinary() !== undefined, 'apt-get install zstd');
const zstd = (args: string[], input: Buffer): Buffer => {
  const r = spawnSync('zstd', ['-q', '-c', ...args], { input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`zstd ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};

/** What the check says of `bytes` pushed `step` bytes at a time: undefined, or the error. */
function check(bytes: Buffer, step = bytes.length): { code: string; message: string; offset?: number } | undefined {
  const c = new ZstdFrameCheck();
  try {
    for (let i = 0; i < bytes.length; i += step) c.push(bytes.subarray(i, i + step));
    return undefined;
  } catch (e) {
    const err = e as LayerstoreError;
    return { code: err.code, message: err.message, offset: err.offset };
  }
}

/** The same, reading a file's headers only. */
async function checkFile(bytes: Buffer) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ls-zstd-frames-'));
  const file = path.join(dir, 'f.zst');
  writeFileSync(file, bytes);
  const fh = await fsp.open(file, 'r');
  try {
    const e = await checkZstdFile(fh, 0, bytes.length);
    return e ? { code: e.code, message: e.message, offset: e.offset } : undefined;
  } finally {
    await fh.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A frame by hand: header (descriptor byte, then window byte or content size), one raw block of `body`. */
function frame(fhd: number, fields: number[], body: Buffer, checksum = false): Buffer {
  const block = Buffer.alloc(3);
  block.writeUIntLE(1 | (body.length << 3), 0, 3); // last, raw
  return Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, fhd, ...fields]), block, body, checksum ? Buffer.alloc(4) : Buffer.alloc(0)]);
}

function skippable(payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(0x184d2a5e, 0);
  h.writeUInt32LE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

async function decodeWith(choice: 'js' | 'binary', bytes: Buffer): Promise<string> {
  const prev = process.env.LAYERSTORE_ZSTD;
  if (choice === 'js') process.env.LAYERSTORE_ZSTD = 'js';
  else delete process.env.LAYERSTORE_ZSTD;
  try {
    const h = createHash('sha256');
    await pipeline(Readable.from([bytes]), createDecompressor('zstd'), async (src: AsyncIterable<Buffer>) => {
      for await (const c of src) h.update(c);
    });
    return h.digest('hex');
  } catch (e) {
    return `${(e as Error).message} [${(e as LayerstoreError).code}]`;
  } finally {
    if (prev === undefined) delete process.env.LAYERSTORE_ZSTD;
    else process.env.LAYERSTORE_ZSTD = prev;
  }
}

describe('ZstdFrameCheck', () => {
  it('the limit is 128 MiB', () => expect(ZSTD_WINDOW_LIMIT).toBe(2 ** 27));

  it.skipIf(!HAVE_ZSTD)('walks real zstd output, one byte at a time or all at once: frames with checksums, skippable frames, raw and RLE blocks', async () => {
    const text = Buffer.from('layer bytes '.repeat(40_000));
    const random = createHash('sha512').update('x').digest().toString('hex').repeat(3000); // compresses into mixed blocks
    const zeros = Buffer.alloc(400_000); // RLE blocks
    const bytes = Buffer.concat([
      zstd(['--long=27'], text),
      skippable(Buffer.from('skip me')),
      zstd(['-19', '--check'], Buffer.from(random)),
      zstd(['--no-check'], zeros),
      zstd(['-1'], Buffer.alloc(0)),
    ]);
    for (const step of [1, 7, 4096, bytes.length]) expect(check(bytes, step), `step ${step}`).toBeUndefined();
    expect(await checkFile(bytes)).toBeUndefined();
    // and the decoders agree on what it is
    const want = createHash('sha256')
      .update(Buffer.concat([text, Buffer.from(random), zeros]))
      .digest('hex');
    expect(await decodeWith('js', bytes)).toBe(want);
    expect(await decodeWith('binary', bytes)).toBe(want);
  });

  it.skipIf(!HAVE_ZSTD)('refuses a 1 GiB window in a later frame, at that frame, pushed in any chunks or read from a file', async () => {
    const first = zstd(['-3'], Buffer.from('first frame '.repeat(1000)));
    const bytes = Buffer.concat([first, skippable(Buffer.alloc(100)), zstd(['--long=30'], Buffer.from('second'))]);
    const want = { code: 'E_DECOMPRESS', message: 'zstd window of 1024 MiB exceeds the 128 MiB limit', offset: first.length + 108 };
    for (const step of [1, 5, bytes.length]) expect(check(bytes, step)).toEqual(want);
    expect(await checkFile(bytes)).toEqual(want);
  });

  it('reads Window_Descriptor exponent and mantissa: 128 MiB passes, 128 MiB + 1/8 does not', () => {
    // exponent 17 (2^27), mantissa 0 / 1
    expect(check(frame(0x00, [17 << 3], Buffer.from('hi')))).toBeUndefined();
    expect(check(frame(0x00, [(17 << 3) | 1], Buffer.from('hi')))?.message).toBe('zstd window of 144 MiB exceeds the 128 MiB limit');
    // exponent 16 (64 MiB), mantissa 7: 64 + 56 = 120 MiB
    expect(check(frame(0x00, [(16 << 3) | 7], Buffer.from('hi')))).toBeUndefined();
  });

  it('a single-segment frame: the window is its Frame_Content_Size, in 1, 2 (+256), 4 or 8 bytes', () => {
    const le = (n: number, bytes: number) => Array.from({ length: bytes }, (_, i) => Math.floor(n / 2 ** (8 * i)) % 256);
    // 4-byte size 2^30
    expect(check(frame(0xa0, le(2 ** 30, 4), Buffer.from('x')))?.message).toBe('zstd window of 1024 MiB exceeds the 128 MiB limit');
    // 8-byte size 2^33 (beyond 32 bits)
    expect(check(frame(0xe0, le(2 ** 33, 8), Buffer.from('x')))?.message).toBe('zstd window of 8192 MiB exceeds the 128 MiB limit');
    // 4-byte size exactly the limit, and 2-byte size (value + 256), with a dictionary id byte and a checksum flag
    expect(check(frame(0xa0, le(ZSTD_WINDOW_LIMIT, 4), Buffer.from('x')))).toBeUndefined();
    expect(check(frame(0x65, [9, ...le(1000 - 256, 2)], Buffer.from('x'), true))).toBeUndefined();
  });

  it.skipIf(!HAVE_ZSTD)('a hand-made single-segment frame decodes the same with both decoders; one above the limit is refused alike', async () => {
    const ok = frame(0x20, [5], Buffer.from('hello'));
    const hello = createHash('sha256').update('hello').digest('hex');
    expect(await decodeWith('js', ok)).toBe(hello);
    expect(await decodeWith('binary', ok)).toBe(hello);
    const big = frame(0xa0, [0, 0, 0, 0x40], Buffer.from('hello'));
    const refusal = 'zstd window of 1024 MiB exceeds the 128 MiB limit [E_DECOMPRESS]';
    expect(await decodeWith('js', big)).toBe(refusal);
    expect(await decodeWith('binary', big)).toBe(refusal);
  });

  it('refuses what it cannot walk: a frame that is not zstd, a reserved bit, a reserved block type', () => {
    expect(check(Buffer.concat([frame(0x20, [2], Buffer.from('ok')), Buffer.from('junk after the frame')]))).toMatchObject({
      code: 'E_DECOMPRESS',
      message: 'zstd data does not decompress: not a zstd frame at byte 11',
    });
    expect(check(frame(0x28, [2], Buffer.from('ok')))?.message).toMatch(/reserved bit/);
    const reservedBlock = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x20, 2]), Buffer.from([0x07, 0, 0])]);
    expect(check(reservedBlock)?.message).toMatch(/reserved type/);
  });

  it('says nothing of a stream cut short (the decoder reports the truncation)', () => {
    const f = frame(0x20, [100], Buffer.alloc(100));
    expect(check(f.subarray(0, 3))).toBeUndefined();
    expect(check(f.subarray(0, 50))).toBeUndefined();
  });
});
