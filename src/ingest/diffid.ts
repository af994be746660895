import type { Duplex } from 'node:stream';
import { constants as C, promises as fsp } from 'node:fs';
import { fileChunks } from '../util/buffer-pool.js';
import { ZstdChild, zstdBinary, zstdFileInto } from '../archive/zstd-child.js';
import { checkZstdFile } from '../archive/zstd-frames.js';
import { IGZIP_MIN_BYTES, IgzipHash, gzipBinary } from '../archive/gzip-child.js';
import { createDecompressor, type Compression } from '../archive/compression.js';
import { createHasher, type Hasher } from '../digest/hasher.js';
import type { Digest } from '../digest/digest.js';

/**
 * Output chunk of the inflater that computes a diffID. Smaller than the 1 MiB used where a
 * tar parser reads the output: up to STAGING_CONCURRENCY layers inflate at once, and four
 * at 1 MiB peaked at 157 MB of RSS against 138 MB at 256 KiB, at the same speed (bench/).
 */
const DIFFID_CHUNK = 256 * 1024;

/**
 * Computes a compressed layer's diffID (sha256 of the decompressed stream) while the
 * compressed bytes are being staged. A layer that does not decompress is not an error
 * here (the entry may not be a layer at all); the failure is reported if a manifest uses it.
 */
export class DiffIdComputer {
  private readonly dec: Duplex;
  private readonly hasher: Hasher;
  private error: Error | undefined;
  private readonly done: Promise<void>;

  /** `kind`, or a decompressor already made (a zstd child reading a file itself). */
  constructor(kind: Exclude<Compression, 'none'> | Duplex) {
    this.dec = typeof kind === 'string' ? createDecompressor(kind, { chunkSize: DIFFID_CHUNK }) : kind;
    this.hasher = createHasher();
    this.dec.on('data', (c: Buffer) => this.hasher.update(c));
    this.done = new Promise((resolve) => {
      this.dec.on('end', resolve);
      this.dec.on('error', (e) => {
        this.error ??= e;
        resolve();
      });
    });
  }

  /**
   * Resolves once the decompressor is done with `chunk` (its write callback), so the caller
   * may read into the same buffer again (fileChunks), or once it has failed.
   */
  async write(chunk: Buffer): Promise<void> {
    if (this.error) return;
    await Promise.race([new Promise<void>((resolve) => this.dec.write(chunk, () => resolve())), this.done]);
  }

  async finish(): Promise<DiffIdResult> {
    if (!this.error) this.dec.end();
    await this.done;
    if (this.error) {
      this.dec.destroy();
      return { error: this.error.message };
    }
    return { diffId: this.hasher.digest() };
  }

  abort(): void {
    this.dec.destroy();
  }
}

export interface DiffIdResult {
  diffId?: Digest;
  /** Why the bytes do not decompress. */
  error?: string;
}

/**
 * The diffID of a gzip or zstd stream written to it chunk by chunk, while the same bytes are
 * staged: by igzip for gzip when it is installed (IgzipHash), else by DiffIdComputer. When
 * igzip cannot vouch for the bytes, finish() has `again` compute it with node:zlib from the
 * staged copy.
 */
export class StreamDiffId {
  private constructor(private readonly sink: IgzipHash | DiffIdComputer) {}

  /** `size`: the stream's length, when known (a small one is inflated here, see IGZIP_MIN_BYTES). */
  static async start(kind: Exclude<Compression, 'none'>, size?: number): Promise<StreamDiffId> {
    const bin = kind === 'gzip' && (size === undefined || size >= IGZIP_MIN_BYTES) ? gzipBinary() : undefined;
    const igzip = bin === undefined ? undefined : await IgzipHash.start(bin);
    return new StreamDiffId(igzip ?? new DiffIdComputer(kind));
  }

  /** Resolves once `chunk` may be reused. */
  write(chunk: Buffer): Promise<void> {
    return this.sink.write(chunk);
  }

  async finish(again: () => Promise<DiffIdResult>): Promise<DiffIdResult> {
    if (this.sink instanceof DiffIdComputer) return this.sink.finish();
    const diffId = await this.sink.finish();
    return diffId ? { diffId } : again();
  }

  abort(): void {
    this.sink.abort();
  }
}

/**
 * The diffID of the zstd file open as `fd` (at offset 0), decompressed by the zstd child:
 * hashed as its output arrives in one reused buffer (zstdFileInto), or through a ZstdChild
 * stream when no socket can be made. A failure to decompress is an `error`, not a throw.
 */
async function zstdFileDiffId(bin: string, fd: number): Promise<DiffIdResult> {
  const h = createHasher();
  try {
    if (await zstdFileInto(bin, fd, (b) => h.update(b))) return { diffId: h.digest() };
  } catch (e) {
    return { error: (e as Error).message };
  }
  return new DiffIdComputer(new ZstdChild(bin, fd)).finish();
}

/**
 * The diffID of a gzip range by igzip (archive/gzip-child.ts), fed from fileChunks through
 * its stdin (a range of a tar cannot be its stdin: igzip would read on past the range).
 * Undefined when igzip cannot vouch for it: node:zlib decides.
 */
async function igzipDiffIdOfRange(bin: string, src: FileRange): Promise<Digest | undefined> {
  const h = await IgzipHash.start(bin);
  if (!h) return undefined;
  await feedRange(src, h);
  return h.finish();
}

/** Hand a file range to `sink` chunk by chunk (each chunk is read into again once write resolves); a failed read stops the sink. */
async function feedRange(src: FileRange, sink: { write(chunk: Buffer): Promise<void>; abort(): void }): Promise<void> {
  try {
    for await (const chunk of fileChunks(src.fd, src.start, src.size)) await sink.write(chunk);
  } catch (e) {
    sink.abort();
    throw e;
  }
}

/**
 * The diffID of a whole zstd file, read by the zstd child from a descriptor of its own (the
 * child reads from the descriptor's offset, which must be 0), its frame headers checked here.
 */
async function zstdWholeFileDiffId(bin: string, file: string, size: number): Promise<DiffIdResult> {
  const fh = await fsp.open(file, C.O_RDONLY | C.O_NOFOLLOW);
  try {
    // Both run to the end: the file stays open until neither reads it.
    const [frames, diff] = await Promise.allSettled([checkZstdFile(fh, 0, size), zstdFileDiffId(bin, fh.fd)]);
    if (frames.status === 'rejected') throw frames.reason;
    if (frames.value) return { error: frames.value.message };
    if (diff.status === 'rejected') throw diff.reason;
    return diff.value;
  } finally {
    await fh.close();
  }
}

/** A byte range of an open file. `whole`: the range is the entire file. */
export interface FileRange {
  /** The file's name, when the caller may name it: a whole zstd file is then read by the zstd child itself. */
  path?: string;
  fd: number;
  start: number;
  size: number;
  whole: boolean;
}

/**
 * The diffID of a compressed byte range of a file, read by this thread (the range's own
 * digest is the caller's, on a worker). A whole zstd file is given to the zstd child as its
 * stdin, so no bytes go through a pipe from Node to it; its frame headers are read here at
 * the same time, so a window above the limit is refused as on the piped path. A gzip range
 * from IGZIP_MIN_BYTES goes to igzip when it is installed, and to node:zlib when igzip cannot
 * vouch for it (or with `zlib`: the caller knows igzip could not).
 */
export async function diffIdOfRange(src: FileRange, kind: Exclude<Compression, 'none'>, opts: { zlib?: boolean } = {}): Promise<DiffIdResult> {
  const igzip = kind === 'gzip' && !opts.zlib && src.size >= IGZIP_MIN_BYTES ? gzipBinary() : undefined;
  if (igzip !== undefined) {
    const diffId = await igzipDiffIdOfRange(igzip, src);
    if (diffId) return { diffId };
  }
  const bin = kind === 'zstd' && src.whole ? zstdBinary() : undefined;
  if (bin !== undefined && src.path !== undefined) return zstdWholeFileDiffId(bin, src.path, src.size);
  const dec = new DiffIdComputer(kind);
  await feedRange(src, dec);
  return dec.finish();
}
