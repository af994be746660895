/**
 * Growable storage in chunks of at most 1 MiB that are never copied while it grows, for the
 * index builder (entry-table.ts) and DigestSet.
 *
 * Why not one array doubled as it fills: glibc serves big blocks with mmap and, each time
 * such a block is freed, raises its mmap threshold to that block's size (up to 32 MiB). A
 * million-entry layer freed doubled columns of 8 and 16 MiB, after which every block below
 * 16 MiB came from the heap, where freed memory stays in the process: the build of a 20 GB
 * image held ~30 MB more than reading the same indexes from the cache (docs/PERFORMANCE.md).
 * Chunks of at most 1 MiB keep the threshold there, so the big blocks (the finished
 * columns, the overlay's tree) are still mapped and given back when freed.
 */

type Typed = Uint32Array | Int32Array | Float64Array;
type TypedCtor<T extends Typed> = new (n: number) => T;

/** Entries per chunk: 256 KiB of 4-byte numbers, 512 KiB of 8-byte ones. */
const SHIFT = 16;
const CHUNK = 1 << SHIFT;
const MASK = CHUNK - 1;
/** Chunk 0 starts small and doubles up to CHUNK, so a small layer holds a small array. */
const FIRST = 1024;

/** Numbers appended in order (set(i) for i = count is an append), read and rewritten by index. */
export class ChunkedColumn<T extends Typed> {
  private readonly chunks: T[];

  constructor(private readonly Ctor: TypedCtor<T>) {
    this.chunks = [new Ctor(FIRST)];
  }

  get(i: number): number {
    return this.chunks[i >>> SHIFT]![i & MASK]!;
  }

  /** Sets entry i; i may be one past the last entry set (growing the column). */
  set(i: number, v: number): void {
    const c = i >>> SHIFT;
    let chunk = this.chunks[c];
    if (chunk === undefined) {
      chunk = new this.Ctor(CHUNK);
      this.chunks.push(chunk);
    } else if ((i & MASK) >= chunk.length) {
      // only chunk 0 is ever shorter than CHUNK
      const grown = new this.Ctor(Math.min(CHUNK, chunk.length * 2));
      grown.set(chunk as never);
      this.chunks[0] = chunk = grown;
    }
    chunk[i & MASK] = v;
  }

  /** The first n entries in one array of length n (a copy; the column is empty after). */
  take(n: number): T {
    const out = new this.Ctor(n);
    for (let c = 0, at = 0; at < n; c++, at += CHUNK) out.set(this.chunks[c]!.subarray(0, Math.min(CHUNK, n - at)) as never, at);
    this.chunks.length = 0;
    this.chunks.push(new this.Ctor(0));
    return out;
  }
}

/** Bytes per chunk of ChunkedBytes (a longer string gets a chunk of its own size). */
const BYTES_CHUNK = 1024 * 1024;

/**
 * UTF-8 strings appended end to end, each addressed by the offsets it would have in one
 * buffer of them all (what take() returns). A string never straddles two chunks.
 */
export class ChunkedBytes {
  private readonly chunks: Buffer[];
  /** Offset of each chunk's first byte. */
  private readonly starts: number[] = [0];
  private used = 0;
  private total = 0;

  constructor(first = 64 * 1024) {
    this.chunks = [Buffer.allocUnsafe(Math.min(first, BYTES_CHUNK))];
  }

  /** Bytes appended so far. */
  get length(): number {
    return this.total;
  }

  /** Appends s; returns its end offset. */
  append(s: string): number {
    // A UTF-16 unit is at most 3 UTF-8 bytes.
    const room = s.length * 3;
    let last = this.chunks.length - 1;
    let chunk = this.chunks[last]!;
    if (this.used + room > chunk.length) {
      if (last === 0 && chunk.length < BYTES_CHUNK && this.used + room <= BYTES_CHUNK) {
        const grown = Buffer.allocUnsafe(Math.min(BYTES_CHUNK, Math.max(chunk.length * 2, this.used + room)));
        chunk.copy(grown, 0, 0, this.used);
        this.chunks[0] = chunk = grown;
      } else {
        // Seal this chunk at what it holds; offsets stay those of one buffer.
        this.chunks[last] = chunk.subarray(0, this.used);
        chunk = Buffer.allocUnsafe(Math.max(BYTES_CHUNK, room));
        this.chunks.push(chunk);
        this.starts.push(this.total);
        this.used = 0;
        last++;
      }
    }
    const n = chunk.write(s, this.used, 'utf8');
    this.used += n;
    this.total += n;
    return this.total;
  }

  /** The string at [start, end) (offsets returned by append). */
  text(start: number, end: number): string {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid]! <= start) lo = mid;
      else hi = mid - 1;
    }
    // An empty string at a chunk's end may name the next chunk: still an empty range.
    const base = this.starts[lo]!;
    return this.chunks[lo]!.toString('utf8', start - base, end - base);
  }

  /** Everything appended, in one buffer of exactly that length (a copy). */
  take(): Buffer {
    const last = this.chunks.length - 1;
    this.chunks[last] = this.chunks[last]!.subarray(0, this.used);
    const out = Buffer.concat(this.chunks, this.total);
    this.chunks.length = 0;
    this.chunks.push(Buffer.alloc(0));
    this.starts.length = 1;
    this.used = 0;
    this.total = 0;
    return out;
  }
}
