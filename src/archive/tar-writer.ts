import type { Writable } from 'node:stream';
import { LayerstoreError } from '../errors.js';

/**
 * Writes a tar stream (ustar headers, byte for byte as tar-stream wrote them) into a Writable,
 * each block handed over only once the one before has been written (its write callback):
 * a body chunk may then come from a reused buffer (util/buffer-pool.ts fileChunks), which a
 * stream queue holding on to it would see overwritten. Exporting through tar-stream's pack
 * (a new 1 MiB buffer per chunk read, queued in the pack) took 1.7x as long here.
 *
 * Names up to 100 bytes, or 255 split at a "/" into ustar's prefix; a size above the 11
 * octal digits (8 GiB) in GNU base-256, which GNU tar, Go's archive/tar (docker) and
 * tar-stream read.
 */
export class TarWriter {
  constructor(
    private readonly out: Writable,
    private readonly mtime = 0,
  ) {}

  async directory(name: string, mode = 0o755): Promise<void> {
    await this.write(header(name, 0, '5', mode, this.mtime));
  }

  /** A file of `size` bytes: `body` must give exactly that many (checked). */
  async file(name: string, size: number, body: Buffer | AsyncIterable<Buffer>, mode = 0o644): Promise<void> {
    await this.write(header(name, size, '0', mode, this.mtime));
    let n = 0;
    for await (const chunk of Buffer.isBuffer(body) ? [body] : body) {
      n += chunk.length;
      if (n > size) break;
      if (chunk.length > 0) await this.write(chunk);
    }
    if (n !== size) throw new LayerstoreError('E_SIZE_MISMATCH', `tar entry ${name}: ${n} bytes given for a size of ${size}`, { expected: size, actual: n });
    const pad = (512 - (size % 512)) % 512;
    if (pad > 0) await this.write(Buffer.alloc(pad));
  }

  /** The end-of-archive marker (two zero blocks), then the end of `out`. */
  async finish(): Promise<void> {
    await this.write(Buffer.alloc(1024));
    await new Promise<void>((resolve, reject) => {
      this.out.end((e?: Error | null) => (e ? reject(e) : resolve()));
    });
  }

  /** Resolves once `buf` has been written (the stream no longer holds it). */
  private write(buf: Buffer): Promise<void> {
    return new Promise((resolve, reject) => {
      this.out.write(buf, (e) => (e ? reject(e) : resolve()));
    });
  }
}

const OCTAL_SIZE_MAX = 0o77777777777;

/** One ustar header block. */
export function header(name: string, size: number, typeflag: '0' | '5', mode: number, mtime: number): Buffer {
  const b = Buffer.alloc(512);
  const [prefix, base] = splitName(name);
  b.write(base, 0, 'utf8');
  b.write(octal(mode & 0o7777, 6), 100);
  b.write(octal(0, 6), 108); // uid
  b.write(octal(0, 6), 116); // gid
  if (size <= OCTAL_SIZE_MAX) b.write(octal(size, 11), 124);
  else base256(b, size, 124, 12);
  b.write(octal(mtime, 11), 136);
  b.write(typeflag, 156);
  b.write('ustar\0', 257, 'latin1');
  b.write('00', 263);
  b.write(octal(0, 6), 329); // devmajor
  b.write(octal(0, 6), 337); // devminor
  if (prefix) b.write(prefix, 345, 'utf8');
  b.fill(' ', 148, 156); // the checksum counts its own field as spaces
  let sum = 0;
  for (const x of b) sum += x;
  b.write(octal(sum, 6), 148);
  b[155] = 0;
  return b;
}

/** `n` as `width` octal digits and a space (the field's last byte stays NUL), as tar-stream writes it. */
function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width, '0')} `;
}

/** GNU base-256: the high bit of the first byte set, the number big-endian in the rest. */
function base256(b: Buffer, n: number, at: number, len: number): void {
  let v = BigInt(n);
  for (let i = at + len - 1; i > at; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  b[at] = 0x80;
}

/** ustar's prefix and name fields for `name`. */
function splitName(name: string): [string, string] {
  const bytes = Buffer.byteLength(name);
  if (bytes <= 100) return ['', name];
  for (let i = name.indexOf('/'); i !== -1; i = name.indexOf('/', i + 1)) {
    const prefix = name.slice(0, i);
    const rest = name.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(rest) <= 100 && rest !== '') return [prefix, rest];
  }
  throw new Error(`tar entry name too long for a ustar header: ${JSON.stringify(name)}`);
}
