/**
 * Sort numbers in place by `compare`, stably: a natural merge sort (runs already in order are
 * found and merged pairwise) with one scratch array of the same length. TypedArray#sort with
 * a comparator copies the elements into two heap arrays of boxed numbers first: on a million
 * refs, ~40 MB of garbage on top of whatever the caller just let go; this takes 8 bytes an
 * element, off the heap. Refs in archive order are mostly sorted already, so there are few runs.
 */
export function sortRefs(a: Float64Array, compare: (x: number, y: number) => number): Float64Array {
  const n = a.length;
  if (n < 2) return a;
  // Run boundaries: each run ascending (a descending pair starts a new run).
  const starts: number[] = [0];
  for (let i = 1; i < n; i++) if (compare(a[i - 1]!, a[i]!) > 0) starts.push(i);
  if (starts.length === 1) return a;
  let src: Float64Array = a;
  let dst: Float64Array = new Float64Array(n);
  let runs = starts;
  while (runs.length > 1) {
    const next: number[] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const lo = runs[r]!;
      const mid = r + 1 < runs.length ? runs[r + 1]! : n;
      const hi = r + 2 < runs.length ? runs[r + 2]! : n;
      next.push(lo);
      let i = lo;
      let j = mid;
      let k = lo;
      while (i < mid && j < hi) dst[k++] = compare(src[j]!, src[i]!) < 0 ? src[j++]! : src[i++]!;
      while (i < mid) dst[k++] = src[i++]!;
      while (j < hi) dst[k++] = src[j++]!;
    }
    [src, dst] = [dst, src];
    runs = next;
  }
  if (src !== a) a.set(src);
  return a;
}
