import type { FileHandle } from 'node:fs/promises';
import { LayerstoreError } from '../errors.js';

/**
 * Largest zstd window we decode: 128 MiB, zstd's own default decoder limit (`zstd -d` takes
 * `--long=27` frames without `--memory`). A decoder holds a frame's whole window: fzstd
 * allocates it as the frame starts, so a 40 kB layer made with `--long=30` would cost 1 GiB.
 */
export const ZSTD_WINDOW_LIMIT = 128 * 1024 * 1024;

const MiB = 1024 * 1024;
const ZSTD_MAGIC = 0xfd2fb528;
const SKIPPABLE_MAGIC = 0x184d2a50; // the low 4 bits are free
const DICT_ID_BYTES = [0, 1, 2, 4];

export function windowTooLarge(window: number, offset: number): LayerstoreError {
  return new LayerstoreError('E_DECOMPRESS', `zstd window of ${+(window / MiB).toFixed(1)} MiB exceeds the ${ZSTD_WINDOW_LIMIT / MiB} MiB limit`, {
    offset,
    hint: `recompress it with a window up to ${ZSTD_WINDOW_LIMIT / MiB} MiB (zstd --long=27 or less)`,
  });
}

function malformed(why: string, offset: number): LayerstoreError {
  return new LayerstoreError('E_DECOMPRESS', `zstd data does not decompress: ${why} at byte ${offset}`, { offset });
}

type State = 'magic' | 'frameHeader' | 'block' | 'skippableSize';

/**
 * Walks the frames of a zstd stream as its compressed bytes go by (RFC 8878 section 3.1),
 * reading only frame and block headers and skipping block contents, and throws when a frame
 * declares a window above ZSTD_WINDOW_LIMIT: its Window_Descriptor, or for a single-segment
 * frame its Frame_Content_Size, which is then the window (3.1.1.1.2). Every frame is
 * checked as it is reached, skippable ones passed over. Bytes it cannot walk are refused
 * too, so no decoder ever meets a frame header this has not seen. A decoder is fed only
 * what went through here first: fzstd then never allocates above the limit, and the zstd
 * command gives the same answer.
 */
export class ZstdFrameCheck {
  private state: State = 'magic';
  private readonly head = Buffer.alloc(18); // the longest frame header
  private have = 0;
  private want = 4;
  private skipBytes = 0;
  private checksum = false;
  /** Stream offset of the next byte, and of the header being read. */
  private pos = 0;
  private headAt = 0;

  /** Bytes it will pass over before it reads a header again (a file scan need not read them). */
  get skipping(): number {
    return this.skipBytes;
  }

  /** Pass over `n` bytes (at most `skipping`) without reading them. */
  skip(n: number): void {
    this.skipBytes -= n;
    this.pos += n;
  }

  push(chunk: Uint8Array): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.skipBytes > 0) {
        const n = Math.min(this.skipBytes, chunk.length - i);
        this.skip(n);
        i += n;
        continue;
      }
      if (this.have === 0) this.headAt = this.pos;
      const n = Math.min(this.want - this.have, chunk.length - i);
      this.head.set(chunk.subarray(i, i + n), this.have);
      this.have += n;
      this.pos += n;
      i += n;
      if (this.have === this.want) this.step();
    }
  }

  /** A header is complete: read it, and say what comes next. */
  private step(): void {
    const h = this.head;
    const next = (state: State, want: number, skip = 0) => {
      this.state = state;
      this.want = want;
      this.have = 0;
      this.skipBytes = skip;
    };
    switch (this.state) {
      case 'magic': {
        const magic = h.readUInt32LE(0);
        if (magic === ZSTD_MAGIC) {
          this.state = 'frameHeader';
          this.want = 5; // and then the rest, once the descriptor byte says how long it is
        } else if ((magic & 0xfffffff0) >>> 0 === SKIPPABLE_MAGIC) {
          this.state = 'skippableSize';
          this.want = 8;
        } else throw malformed('not a zstd frame', this.headAt);
        return;
      }
      case 'frameHeader': {
        const fhd = h[4]!;
        const single = (fhd >> 5) & 1;
        const fcsBytes = [single, 2, 4, 8][fhd >> 6]!;
        const length = 5 + (single ? 0 : 1) + DICT_ID_BYTES[fhd & 3]! + fcsBytes;
        if (fhd & 0x08) throw malformed('a frame header with its reserved bit set', this.headAt);
        if (this.want < length) {
          this.want = length;
          return;
        }
        let window: number;
        if (single) {
          const at = length - fcsBytes;
          // 1, 2 (+256), 4 or 8 bytes, little-endian (RFC 8878 3.1.1.1.4)
          window =
            fcsBytes === 1
              ? h[at]!
              : fcsBytes === 2
                ? h.readUInt16LE(at) + 256
                : fcsBytes === 4
                  ? h.readUInt32LE(at)
                  : h.readUInt32LE(at) + h.readUInt32LE(at + 4) * 2 ** 32;
        } else {
          const wd = h[5]!;
          const base = 2 ** (10 + (wd >> 3));
          window = base + (base / 8) * (wd & 7);
        }
        if (window > ZSTD_WINDOW_LIMIT) throw windowTooLarge(window, this.headAt);
        this.checksum = (fhd & 0x04) !== 0;
        return next('block', 3);
      }
      case 'block': {
        const b = h[0]! | (h[1]! << 8) | (h[2]! << 16);
        const type = (b >> 1) & 3;
        if (type === 3) throw malformed('a block of the reserved type', this.headAt);
        const content = type === 1 ? 1 : b >>> 3; // an RLE block stores one byte
        if (b & 1) return next('magic', 4, content + (this.checksum ? 4 : 0)); // the last block
        return next('block', 3, content);
      }
      case 'skippableSize':
        return next('magic', 4, h.readUInt32LE(4));
    }
  }
}

/**
 * Check every frame of a zstd file by reading only its headers (positional reads that skip
 * block contents): for a file the zstd command reads by itself. The window error, or
 * undefined.
 */
export async function checkZstdFile(fh: FileHandle, start: number, size: number): Promise<LayerstoreError | undefined> {
  const check = new ZstdFrameCheck();
  const buf = Buffer.alloc(4096);
  const end = start + size;
  try {
    for (let pos = start; pos < end; ) {
      const skip = Math.min(check.skipping, end - pos);
      if (skip > 0) {
        check.skip(skip);
        pos += skip;
        continue;
      }
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
      if (bytesRead === 0) break;
      check.push(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } catch (e) {
    if (e instanceof LayerstoreError) return e;
    throw e;
  }
  return undefined;
}
