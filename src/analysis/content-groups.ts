/**
 * Items (numbered 0..n-1) grouped by equal 32-byte digest, by sorting rather than by a set of
 * every digest: each item becomes one float, the top bits of its digest above its number,
 * sorted natively; runs of equal top bits are checked byte for byte (and split, rarely, when
 * two digests share their top bits). 8 bytes an item, against ~50 for a DigestSet of every
 * content and its growth.
 *
 * `digestOf(item)` gives the buffer and offset of an item's digest; `take(item)` says which
 * items count; `visit` gets each group of `minSize` (2) or more items, their numbers
 * ascending: in the order of their first (smallest) item with `byFirstItem`, else as found
 * (no list of the groups kept).
 */
export function forEachContentGroup(
  n: number,
  take: (item: number) => boolean,
  digestOf: (item: number) => { buf: Uint8Array; off: number },
  visit: (items: Int32Array) => void,
  opts: { minSize?: number; byFirstItem?: boolean } = {},
): void {
  const minSize = opts.minSize ?? 2;
  const itemBits = Math.max(1, Math.ceil(Math.log2(n + 1)));
  const topBits = Math.min(32, 53 - itemBits);
  const SHIFT = 2 ** itemBits;
  let m = 0;
  const keys = new Float64Array(n);
  for (let item = 0; item < n; item++) {
    if (!take(item)) continue;
    const { buf, off } = digestOf(item);
    const top = ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
    keys[m++] = Math.floor(top / 2 ** (32 - topBits)) * SHIFT + item;
  }
  const sorted = keys.subarray(0, m).sort();
  const itemOf = (k: number) => sorted[k]! % SHIFT;
  const topOf = (k: number) => Math.floor(sorted[k]! / SHIFT);
  const same = (a: number, b: number) => {
    const x = digestOf(a);
    const y = digestOf(b);
    for (let i = 0; i < 32; i++) if (x.buf[x.off + i] !== y.buf[y.off + i]) return false;
    return true;
  };
  const cmp = (a: number, b: number) => {
    const x = digestOf(a);
    const y = digestOf(b);
    for (let i = 0; i < 32; i++) if (x.buf[x.off + i] !== y.buf[y.off + i]) return x.buf[x.off + i]! - y.buf[y.off + i]!;
    return a - b;
  };
  // Groups as (first item, start, end) in `members`; then visited by first item.
  const members = new Int32Array(m);
  const groups: number[] = [];
  for (let s = 0; s < m; ) {
    let e = s + 1;
    while (e < m && topOf(e) === topOf(s)) e++;
    if (e - s >= minSize) {
      for (let k = s; k < e; k++) members[k] = itemOf(k);
      const run = members.subarray(s, e);
      let alike = true;
      for (let k = 1; k < run.length && alike; k++) alike = same(run[0]!, run[k]!);
      if (!alike) run.sort(cmp);
      for (let a = 0; a < run.length; ) {
        let b = a + 1;
        while (b < run.length && (alike || same(run[a]!, run[b]!))) b++;
        if (b - a >= minSize) {
          if (opts.byFirstItem) groups.push(run[a]!, s + a, s + b);
          else visit(run.subarray(a, b));
        }
        a = b;
      }
    }
    s = e;
  }
  const order = Array.from({ length: groups.length / 3 }, (_, g) => g).sort((x, y) => groups[3 * x]! - groups[3 * y]!);
  for (const g of order) visit(members.subarray(groups[3 * g + 1]!, groups[3 * g + 2]!));
}
