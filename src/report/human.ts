/**
 * Human sizes in SI units (1 kB = 1000 bytes, 1 MB = 1000 kB), as docker shows them.
 * Every table in layerstore uses this one function, so units never mix.
 *
 * The report page runs these three functions' own source (html/page-script.ts): keep them
 * function declarations that use nothing from outside themselves.
 */
export function humanBytes(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1000 && u < units.length - 1) {
    v /= 1000;
    u++;
  }
  const s = u === 0 ? String(v) : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
  return `${n < 0 ? '-' : ''}${s} ${units[u]}`;
}

export function ratio(x: number): string {
  return `${x.toFixed(2)}x`;
}

export function percent(part: number, whole: number): string {
  return whole === 0 ? '0%' : `${((part / whole) * 100).toFixed(1)}%`;
}
