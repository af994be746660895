/**
 * A set of 32-byte digests (sha256 of file contents), each given a dense slot number in
 * the order it was first seen: open addressing over 32-byte keys in Buffers and Int32Array
 * buckets, so a million contents cost ~40 MB off the JS heap instead of a Map of hex
 * strings (~150 B each). The bytes of a sha256 are uniformly distributed: the first picks
 * one of 256 bucket tables, the next 4 are the hash.
 */
export class DigestSet {
  // Keys by slot, in chunks of KEYS_CHUNK slots (chunk 0 starts small and doubles up to it);
  // buckets split 256 ways by a digest's first byte, each table doubling on its own: nothing
  // big is ever copied and freed as the set grows (chunked.ts says why that matters).
  private readonly keys: Buffer[];
  private readonly parts: Int32Array[] = [];
  private readonly counts = new Int32Array(PARTS);
  private n = 0;

  constructor(capacity = 64) {
    this.keys = [Buffer.allocUnsafe(Math.min(KEYS_CHUNK, Math.max(1, capacity)) * 32)];
    const each = bucketsFor(Math.ceil(capacity / PARTS));
    for (let p = 0; p < PARTS; p++) this.parts.push(new Int32Array(each).fill(-1));
  }

  get size(): number {
    return this.n;
  }

  /** The slot of the digest at `src[off .. off + 32)`, or -1. */
  find(src: Uint8Array, off: number): number {
    const buckets = this.parts[src[off]!]!;
    const mask = buckets.length - 1;
    for (let b = hashAt(src, off + 1) & mask; ; b = (b + 1) & mask) {
      const slot = buckets[b]!;
      if (slot < 0) return -1;
      if (equal32(this.keys[slot >>> KEYS_SHIFT]!, (slot & KEYS_MASK) * 32, src, off)) return slot;
    }
  }

  /** The slot of the digest at `src[off .. off + 32)`, adding it when new. */
  intern(src: Uint8Array, off: number): number {
    const p = src[off]!;
    const buckets = this.parts[p]!;
    const mask = buckets.length - 1;
    let b = hashAt(src, off + 1) & mask;
    for (; ; b = (b + 1) & mask) {
      const slot = buckets[b]!;
      if (slot < 0) break;
      if (equal32(this.keys[slot >>> KEYS_SHIFT]!, (slot & KEYS_MASK) * 32, src, off)) return slot;
    }
    const slot = this.n++;
    const c = slot >>> KEYS_SHIFT;
    let chunk = this.keys[c];
    if (chunk === undefined) this.keys.push((chunk = Buffer.allocUnsafe(KEYS_CHUNK * 32)));
    else if ((slot & KEYS_MASK) * 32 + 32 > chunk.length) {
      const grown = Buffer.allocUnsafe(Math.min(KEYS_CHUNK * 32, chunk.length * 2));
      chunk.copy(grown);
      this.keys[0] = chunk = grown;
    }
    chunk.set(src.subarray(off, off + 32), (slot & KEYS_MASK) * 32);
    buckets[b] = slot;
    if (++this.counts[p]! * 2 > buckets.length) this.rehash(p);
    return slot;
  }

  /** The digest in `slot` (a view: valid until the next intern). */
  digestAt(slot: number): Buffer {
    const at = (slot & KEYS_MASK) * 32;
    return this.keys[slot >>> KEYS_SHIFT]!.subarray(at, at + 32);
  }

  /** Lowercase hex of the digest in `slot`. */
  hexAt(slot: number): string {
    const at = (slot & KEYS_MASK) * 32;
    return this.keys[slot >>> KEYS_SHIFT]!.toString('hex', at, at + 32);
  }

  /** The digests, slot order, 32 bytes each (a copy). */
  toBuffer(): Buffer {
    const out = Buffer.allocUnsafe(this.n * 32);
    for (let c = 0, at = 0; at < out.length; c++, at += KEYS_CHUNK * 32) this.keys[c]!.copy(out, at, 0, Math.min(KEYS_CHUNK * 32, out.length - at));
    return out;
  }

  private rehash(p: number): void {
    const old = this.parts[p]!;
    const buckets = new Int32Array(old.length * 2).fill(-1);
    const mask = buckets.length - 1;
    for (const slot of old) {
      if (slot < 0) continue;
      let b = hashAt(this.keys[slot >>> KEYS_SHIFT]!, (slot & KEYS_MASK) * 32 + 1) & mask;
      while (buckets[b]! >= 0) b = (b + 1) & mask;
      buckets[b] = slot;
    }
    this.parts[p] = buckets;
  }
}

/** Bucket tables, by a digest's first byte (uniform in a sha256). */
const PARTS = 256;
/** Slots per key chunk: 32,768 x 32 bytes = 1 MiB. */
const KEYS_SHIFT = 15;
const KEYS_CHUNK = 1 << KEYS_SHIFT;
const KEYS_MASK = KEYS_CHUNK - 1;

function bucketsFor(capacity: number): number {
  let n = 16;
  while (n < capacity * 2) n *= 2;
  return n;
}

function hashAt(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

function equal32(a: Uint8Array, ao: number, b: Uint8Array, bo: number): boolean {
  for (let i = 0; i < 32; i++) if (a[ao + i] !== b[bo + i]) return false;
  return true;
}
