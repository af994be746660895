import { readFullyAt } from './fs-safe.js';

/**
 * Buffers of one size, kept for reuse from one operation to the next. Memory a process has
 * not touched yet costs a page fault per 4 KiB on first use, and so does memory malloc has
 * given back to the system (it unmaps a freed 1 MiB block): on these VMs hashing a fresh
 * 1 MiB buffer took ~3 ms against ~0.6 ms for one used before, and reading a file through a
 * read stream (a new buffer per chunk) and hashing it ran at a quarter of the speed of
 * reading into two reused buffers. An operation that needs a few buffers for a short while,
 * many times over, takes them from a pool. At most `keep` idle buffers are held; a buffer is
 * given back only when nothing can still read into or write from it.
 */
export class BufferPool {
  private readonly idle: Buffer[] = [];

  constructor(
    readonly size: number,
    private readonly keep: number,
  ) {}

  take(): Buffer {
    return this.idle.pop() ?? Buffer.allocUnsafe(this.size);
  }

  give(bufs: Buffer[]): void {
    for (const b of bufs) if (b.length === this.size && this.idle.length < this.keep && !this.idle.includes(b)) this.idle.push(b);
  }

  /** Idle buffers held. */
  get held(): number {
    return this.idle.length;
  }
}

/**
 * The process's 1 MiB read buffers: ingest's main-thread staging (three per range, up to four
 * ranges at once) and fileChunks. At most 12 MiB stays held.
 */
export const readBuffers = new BufferPool(1024 * 1024, 12);

/**
 * Bytes `start .. start + size` of open file `fd`, in chunks of up to 1 MiB read into reused
 * buffers, the next read in flight while the caller handles a chunk. A chunk is valid only
 * until the next one is asked for: hash it or copy it, never keep it or hand it to something
 * that holds on to it (a stream's write queue). Two buffers come from `pool` and go back once
 * no read is in flight. A caller that still uses a chunk after asking for the next (its
 * write of chunk k may run while k+1 is read) passes its own buffers as `into`, three of the
 * pool's size, and gives them back itself when its writes have ended. A file shorter than
 * the range is E_IO (fs-safe readFullyAt).
 */
export async function* fileChunks(
  fd: number,
  start: number,
  size: number,
  { pool = readBuffers, into }: { pool?: BufferPool; into?: Buffer[] } = {},
): AsyncGenerator<Buffer> {
  if (size <= 0) return;
  const bufs = into ?? [pool.take(), pool.take()];
  const n = bufs[0]!.length;
  const readChunk = async (k: number): Promise<Buffer> => {
    const chunk = bufs[k % bufs.length]!.subarray(0, Math.min(n, size - k * n));
    await readFullyAt(fd, chunk, start + k * n);
    return chunk;
  };
  const chunks = Math.ceil(size / n);
  let next: Promise<Buffer> | undefined = readChunk(0);
  try {
    for (let k = 0; k < chunks; k++) {
      const chunk = await next!;
      next = k + 1 < chunks ? readChunk(k + 1) : undefined;
      next?.catch(() => {}); // awaited on the next turn, or below
      yield chunk;
    }
  } finally {
    // Stopped early or failed: the read in flight, if any, must end before its buffer is reused.
    await next?.catch(() => {});
    if (!into) pool.give(bufs);
  }
}
