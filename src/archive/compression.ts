import { Transform, type Duplex, type TransformCallback } from 'node:stream';
import { ZstdChild, zstdBinary } from './zstd-child.js';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import type { Decompress as ZstdDecompress } from 'fzstd';
import { LayerstoreError } from '../errors.js';
import { ZstdFrameCheck } from './zstd-frames.js';

export type Compression = 'none' | 'gzip' | 'zstd';

/**
 * Decide compression from magic bytes only; media types and file names are not trusted.
 * A zstd stream may begin with a skippable frame (RFC 8878 3.1.2: magic 0x184D2A50-5F, little
 * endian), as moby's and containerd's detection also accept: that is zstd too.
 */
export function sniffCompression(head: Uint8Array): Compression {
  if (head.length >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (head.length >= 4 && head[0] === 0x28 && head[1] === 0xb5 && head[2] === 0x2f && head[3] === 0xfd) return 'zstd';
  if (head.length >= 4 && (head[0]! & 0xf0) === 0x50 && head[1] === 0x2a && head[2] === 0x4d && head[3] === 0x18) return 'zstd';
  return 'none';
}

/** Enough leading bytes to sniff every format we know. */
export const SNIFF_BYTES = 4;

const CHUNK = 1024 * 1024;

/**
 * A streaming decompressor. gzip uses node:zlib (multi-member streams such as eStargz are
 * decompressed whole); zstd runs the zstd command in a child process when there is one
 * (zstd-child.ts: ~10x faster), else fzstd, because Node 20 has no zstd in zlib. Both
 * refuse, alike, a zstd frame whose window is above ZSTD_WINDOW_LIMIT (zstd-frames.ts).
 */
export function createDecompressor(kind: Exclude<Compression, 'none'>, opts: { chunkSize?: number } = {}): Duplex {
  if (kind === 'gzip') return zlib.createGunzip({ chunkSize: opts.chunkSize ?? CHUNK });
  const bin = zstdBinary();
  return bin ? new ZstdChild(bin) : new ZstdTransform();
}

/** fzstd is loaded only when it is used (no zstd command): it costs ~15 ms of start-up. */
const requireHere = createRequire(import.meta.url);

class ZstdTransform extends Transform {
  private readonly dec: ZstdDecompress;
  /** Every frame header is checked before fzstd sees it: fzstd allocates the window it declares. */
  private readonly frames = new ZstdFrameCheck();
  constructor() {
    super();
    const { Decompress } = requireHere('fzstd') as typeof import('fzstd');
    this.dec = new Decompress((chunk) => {
      this.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      this.frames.push(chunk);
      this.dec.push(chunk);
      cb();
    } catch (e) {
      cb(zstdError(e));
    }
  }
  override _flush(cb: TransformCallback): void {
    try {
      this.dec.push(new Uint8Array(0), true);
      cb();
    } catch (e) {
      cb(zstdError(e));
    }
  }
}

function zstdError(e: unknown): Error {
  if (e instanceof LayerstoreError) return e;
  return new LayerstoreError('E_DECOMPRESS', `zstd data does not decompress: ${(e as Error)?.message ?? e}`, { cause: e });
}
