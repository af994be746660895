import { setImmediate as nextTurn } from 'node:timers/promises';
import { LayerstoreError } from '../errors.js';
import { fileChunks } from '../util/buffer-pool.js';
import { MAX_SPARSE_HOLE_BYTES } from './tar-limits.js';
import type { SparseFile } from './tar-sparse-map.js';

/**
 * The bytes of a sparse file (tar-sparse-map.ts): its stored segments where its map puts
 * them, zeros everywhere else, as extraction writes it. Never the whole file in memory: the
 * segments pass through as they come, and every hole is handed out as pieces of one zero
 * buffer, which no one writes to (so a consumer may even keep a piece).
 */

const ZERO_BYTES = 256 * 1024;
let zeroBuffer: Buffer | undefined; // made on the first hole: most runs never meet a sparse file

/**
 * Zero pieces handed out between two turns of the event loop (64 MiB). A hole waits on no I/O:
 * an async generator's steps are microtasks only, so without a turn now and then, timers,
 * other work and signal handlers (SIGTERM, SIGINT) would wait for the whole hole.
 */
const PIECES_PER_TURN = 256;

async function* zeros(n: number): AsyncGenerator<Buffer> {
  zeroBuffer ??= Buffer.alloc(ZERO_BYTES);
  for (let i = 1; n > 0; n -= ZERO_BYTES, i++) {
    yield zeroBuffer.subarray(0, Math.min(n, ZERO_BYTES));
    if (i % PIECES_PER_TURN === 0) await nextTurn();
  }
}

/** Bytes of a sparse file that are holes (zeros no segment stores). */
export function holeBytes(sparse: SparseFile): number {
  let stored = 0;
  for (let i = 1; i < sparse.segments.length; i += 2) stored += sparse.segments[i]!;
  return sparse.size - stored;
}

/**
 * Whether a sparse file's holes are over MAX_SPARSE_HOLE_BYTES: its bytes are then not to be
 * read (hashed), only its size told (the map's claim costs the writer nothing).
 */
export function tooSparseToRead(sparse: SparseFile): boolean {
  return holeBytes(sparse) > MAX_SPARSE_HOLE_BYTES;
}

/**
 * The file's bytes, from `stored`: the entry's data (a reader's body, or sparseContentAt's
 * ranges), exactly the segments' bytes, as the structure checked. Stops `stored` when done.
 */
export async function* sparseContent(stored: AsyncIterable<Buffer>, sparse: SparseFile): AsyncGenerator<Buffer> {
  const it = stored[Symbol.asyncIterator]();
  const { segments } = sparse;
  let chunk: Buffer = Buffer.alloc(0);
  let pos = 0;
  try {
    for (let i = 0; i < segments.length; i += 2) {
      yield* zeros(segments[i]! - pos);
      let left = segments[i + 1]!;
      pos = segments[i]! + left;
      while (left > 0) {
        if (chunk.length === 0) {
          const r = await it.next();
          if (r.done) throw new LayerstoreError('E_TAR_CORRUPT', "a sparse file's data ends before its map does");
          chunk = r.value;
          continue;
        }
        const part = chunk.subarray(0, Math.min(left, chunk.length));
        chunk = chunk.subarray(part.length);
        left -= part.length;
        yield part;
      }
    }
    yield* zeros(sparse.size - pos);
  } finally {
    await it.return?.(); // a file's read-ahead ends and its buffers go back
  }
}

/** A sparse entry's bytes read by position from an open tar file (the walker's entries). */
export function sparseContentAt(fd: number, entry: { offset: number; size: number; sparse: SparseFile }): AsyncGenerator<Buffer> {
  return sparseContent(fileChunks(fd, entry.offset, entry.size), entry.sparse);
}
