/**
 * A set of 32-byte digests (sha256 of file contents), each given a dense slot number in
 * the order it was first seen: open addressing over one Buffer of 32-byte keys and an
 * Int32Array of buckets, so a million contents cost ~40 MB off the JS heap instead of a
 * Map of hex strings (~150 B each). The first 4 bytes of a sha256 are uniformly
 * distributed, so they are the hash.
 */
export class DigestSet {
  private keys: Buffer;
  private buckets: Int32Array;
  private n = 0;

  constructor(capacity = 64) {
    this.keys = Buffer.allocUnsafe(Math.max(1, capacity) * 32);
    this.buckets = new Int32Array(bucketsFor(capacity)).fill(-1);
  }

  get size(): number {
    return this.n;
  }

  /** The slot of the digest at `src[off .. off + 32)`, or -1. */
  find(src: Uint8Array, off: number): number {
    const mask = this.buckets.length - 1;
    for (let b = hashAt(src, off) & mask; ; b = (b + 1) & mask) {
      const slot = this.buckets[b]!;
      if (slot < 0) return -1;
      if (equal32(this.keys, slot * 32, src, off)) return slot;
    }
  }

  /** The slot of the digest at `src[off .. off + 32)`, adding it when new. */
  intern(src: Uint8Array, off: number): number {
    const mask = this.buckets.length - 1;
    let b = hashAt(src, off) & mask;
    for (; ; b = (b + 1) & mask) {
      const slot = this.buckets[b]!;
      if (slot < 0) break;
      if (equal32(this.keys, slot * 32, src, off)) return slot;
    }
    const slot = this.n++;
    if (slot * 32 + 32 > this.keys.length) {
      const grown = Buffer.allocUnsafe(this.keys.length * 2);
      this.keys.copy(grown, 0, 0, slot * 32);
      this.keys = grown;
    }
    this.keys.set(src.subarray(off, off + 32), slot * 32);
    this.buckets[b] = slot;
    if (this.n * 2 > this.buckets.length) this.rehash();
    return slot;
  }

  /** The digest in `slot` (a view: valid until the next intern). */
  digestAt(slot: number): Buffer {
    return this.keys.subarray(slot * 32, slot * 32 + 32);
  }

  /** Lowercase hex of the digest in `slot`. */
  hexAt(slot: number): string {
    return this.keys.toString('hex', slot * 32, slot * 32 + 32);
  }

  /** The digests, slot order, 32 bytes each (a trimmed copy). */
  toBuffer(): Buffer {
    return Buffer.from(this.keys.subarray(0, this.n * 32));
  }

  private rehash(): void {
    const buckets = new Int32Array(this.buckets.length * 2).fill(-1);
    const mask = buckets.length - 1;
    for (let slot = 0; slot < this.n; slot++) {
      let b = hashAt(this.keys, slot * 32) & mask;
      while (buckets[b]! >= 0) b = (b + 1) & mask;
      buckets[b] = slot;
    }
    this.buckets = buckets;
  }
}

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
