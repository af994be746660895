import { sniffCompression, SNIFF_BYTES, type Compression } from '../archive/compression.js';
import type { Digest } from '../digest/digest.js';
import type { SourceFile } from '../formats/source.js';
import type { BlobWriter, StagedBlob } from '../store/blob-writer.js';
import { RangeWorkers } from '../digest/range-workers.js';
import { StreamDiffId, diffIdOfRange, type DiffIdResult, type FileRange } from './diffid.js';
import { fileChunks, readBuffers } from '../util/buffer-pool.js';
import { readFullyAt } from '../util/fs-safe.js';
import { isLayerstoreError } from '../errors.js';
import type { FileHandle } from 'node:fs/promises';

async function hasBlob(writer: BlobWriter, d: Digest): Promise<boolean> {
  return writer.isStored(d);
}

/**
 * What an ingest hashes on its main thread before it starts threads
 * (RangeWorkers.takeOnMainThread). A thread takes ~45–65 ms to come up on the 2-core bench
 * machine, in which one core hashes
 * and copies ~55–70 MB; with two cores, B bytes take B/r on one thread against start-up +
 * B/2r on two, so threads pay off from about 2 x start-up x r (~110 MB). Below, the main
 * thread is done first and no thread starts at all: a family ingest (an 86 MB base, six
 * 4 MB images) took 0.94x the time, 0.89x the CPU and 12 MB less memory (docs/PERFORMANCE.md).
 */
const MAIN_THREAD_BYTES = 96 * 1024 * 1024;

/** The hashing threads for staging one command's inputs (or one input's). */
export function stagingWorkers(): RangeWorkers {
  return new RangeWorkers(undefined, MAIN_THREAD_BYTES);
}

/** A regular file of the input (formats' SourceFile), hashed and (unless already stored) staged. */
export interface StagedFile extends SourceFile {
  blob: StagedBlob;
  /** The store's own copy stands for the input's entry, whose bytes were not read. */
  fromStore?: boolean;
  /**
   * The bytes themselves, for a small entry read into memory, so a JSON reader need not open
   * the staging file: only when the blob kept them (not when they hashed to another digest
   * than the one pinned, whose bytes are then refused as before).
   */
  bytes?: Buffer;
}

/** Bytes of the input actually read for these files (a stored blob taken by its claim costs none). */
export function bytesReadOf(files: Iterable<StagedFile>): number {
  let n = 0;
  for (const f of files) if (!f.fromStore) n += f.blob.size;
  return n;
}

/**
 * Stage one body: hash and write the raw bytes, sniff the compression from the first bytes,
 * and for gzip/zstd decompress alongside to compute the diffID. One pass, flat memory.
 */
export async function stageBody(
  writer: BlobWriter,
  body: AsyncIterable<Buffer>,
  meta: { name: string; offset: number; existing?: Digest; size?: number },
): Promise<StagedFile> {
  const w = await writer.begin({ existing: meta.existing });
  let compression: Compression | undefined;
  let dec: StreamDiffId | undefined;
  let head: Buffer[] = [];
  let headLen = 0;
  const feed = async (c: Buffer) => {
    if (dec) await Promise.all([w.write(c), dec.write(c)]);
    else await w.write(c);
  };
  const decide = async () => {
    compression = sniffCompression(Buffer.concat(head).subarray(0, SNIFF_BYTES));
    if (compression !== 'none') dec = await StreamDiffId.start(compression, meta.size);
    for (const c of head) await feed(c);
    head = [];
  };
  try {
    for await (const chunk of body) {
      if (compression === undefined) {
        head.push(chunk);
        headLen += chunk.length;
        if (headLen >= SNIFF_BYTES) await decide();
        continue;
      }
      await feed(chunk);
    }
    if (compression === undefined) await decide();
    const blob = await w.finish((d) => hasBlob(writer, d));
    const staged: StagedFile = { name: meta.name, offset: meta.offset, blob, compression: compression! };
    if (dec) {
      const r = await dec.finish(() => zlibDiffIdOfStaged(writer, blob));
      if (r.diffId) staged.diffId = r.diffId;
      else staged.decompressError = r.error;
    } else {
      staged.diffId = blob.digest;
    }
    return staged;
  } catch (e) {
    dec?.abort();
    await w.abort();
    throw e;
  }
}

/** The diffID of a staged gzip blob by node:zlib (igzip could not vouch for its bytes). */
async function zlibDiffIdOfStaged(writer: BlobWriter, blob: StagedBlob): Promise<DiffIdResult> {
  let fh: FileHandle;
  try {
    fh = await writer.openStaged(blob);
  } catch (e) {
    // Not kept: they hashed to another digest than the one pinned, and are refused as such.
    if (isLayerstoreError(e) && e.code === 'E_BLOB_MISSING') return { error: e.message };
    throw e;
  }
  try {
    return await diffIdOfRange({ fd: fh.fd, start: 0, size: blob.size, whole: true }, 'gzip', { zlib: true });
  } finally {
    await fh.close();
  }
}

/**
 * Files of one input staged at once. Their gzip layers inflate on Node's thread pool, which
 * has 4 threads: with all four busy, an OCI layout of four gzip layers ingested in
 * 1.92–2.06 s on 2 cores, against 2.38–2.61 s two at a time (bench/README.md). Uncompressed
 * entries beyond the worker count just wait in the workers' queue.
 */
export const STAGING_CONCURRENCY = 4;

/**
 * A gzip or zstd range is hashed on the main thread (takeOnMainThread) only up to this size:
 * its diffID (inflating, and hashing what comes out, ~3x the bytes) is computed on the main
 * thread whichever way, so a thread takes only the range's own hash, and pays off once that
 * hash takes about as long as the thread's start (~50 ms: ~20 MB here).
 */
const MAIN_THREAD_COMPRESSED_BYTES = 16 * 1024 * 1024;

/**
 * Stage a byte range of a file (an entry of an uncompressed archive, or a whole file of a
 * layout directory): its raw bytes are hashed and copied on a worker thread (see
 * BlobWriter.stageRange), or on this one while the pool has not started threads and the range
 * is small (stagingWorkers); for a gzip/zstd range, this thread also decompresses it for the
 * diffID. The two read the range independently, so on a thread they run on two cores.
 */
export async function stageFileRange(
  writer: BlobWriter,
  workers: RangeWorkers,
  src: FileRange,
  meta: { name: string; offset: number; existing?: Digest },
): Promise<StagedFile> {
  const head = Buffer.alloc(Math.min(SNIFF_BYTES, src.size));
  await readFullyAt(src.fd, head, src.start);
  const compression = sniffCompression(head);
  const release = compression === 'none' || src.size <= MAIN_THREAD_COMPRESSED_BYTES ? workers.takeOnMainThread(src.size) : undefined;
  const stored = release
    ? stageRangeHere(writer, src, meta.existing, workers).finally(release)
    : writer.stageRange(workers, src, { existing: meta.existing, alreadyStored: (d) => hasBlob(writer, d) });
  const base = { name: meta.name, offset: meta.offset, compression };
  if (compression === 'none') {
    const blob = await stored;
    return { ...base, blob, diffId: blob.digest };
  }
  const [blob, diff] = await Promise.allSettled([stored, diffIdOfRange(src, compression)]);
  if (blob.status === 'rejected') throw blob.reason;
  if (diff.status === 'rejected') {
    await writer.discard(blob.value);
    throw diff.reason;
  }
  const staged: StagedFile = { ...base, blob: blob.value };
  if (diff.value.diffId) staged.diffId = diff.value.diffId;
  else staged.decompressError = diff.value.error ?? 'unknown error';
  return staged;
}

/**
 * Hash and copy a range on this thread (RangeWorkers.takeOnMainThread), as stageRange does on
 * a thread, `existing` pinned as there: read through fileChunks into three buffers of the
 * process's pool, the next read in flight while this chunk is hashed and the last one
 * written. StagingWriter.write returns once the chunk before has been written, so a buffer is
 * read into again only after its bytes are on their way to disk. (A fresh buffer per chunk,
 * as a read stream makes, doubled the system time, and three fresh ones per range took half
 * the time of staging a 4 MB layer.)
 */
async function stageRangeHere(writer: BlobWriter, src: FileRange, existing: Digest | undefined, workers: RangeWorkers): Promise<StagedBlob> {
  const w = await writer.begin({ existing });
  const bufs = [readBuffers.take(), readBuffers.take(), readBuffers.take()];
  try {
    for await (const chunk of fileChunks(src.fd, src.start, src.size, { into: bufs })) {
      await w.write(chunk);
      workers.countDone(chunk.length);
    }
    const blob = await w.finish((d) => hasBlob(writer, d));
    // Every write has ended (finish waited for them): the buffers are free. Not after a
    // failure, when a write may still read from one.
    readBuffers.give(bufs);
    return blob;
  } catch (e) {
    await w.abort();
    throw e;
  }
}
