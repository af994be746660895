import { LayerstoreError } from '../errors.js';

const UNITS: Record<string, number> = {
  b: 1,
  // dive (go-humanize) also takes a bare SI letter: "20M" = 20 MB
  k: 1e3,
  m: 1e6,
  g: 1e9,
  t: 1e12,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  tb: 1e12,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
  tib: 1024 ** 4,
};

/**
 * A byte count from a budget file: a number of bytes, or a string with SI ("250MB" =
 * 250,000,000) or IEC ("1.5GiB") units, as docker and dive users write them.
 */
export function parseSize(v: unknown, what: string): number {
  notFinite(v, what);
  if (typeof v === 'number' && v >= 0) return Math.round(v);
  if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(v);
    const unit = m ? (m[2] || 'b').toLowerCase() : '';
    if (m && UNITS[unit] !== undefined) return finite(Math.round(Number(m[1]) * UNITS[unit]!), v, what);
  }
  throw new LayerstoreError('E_BUDGET_INVALID', `${what}: ${JSON.stringify(v)} is not a size (use bytes, or a number with B, kB, MB, GB, KiB, MiB, GiB)`);
}

/**
 * JSON.parse reads a number too large for a double (1e400) as Infinity, which JSON.stringify
 * then shows as "null": say what is wrong with it instead.
 */
function notFinite(v: unknown, what: string): void {
  if (typeof v === 'number' && !Number.isFinite(v))
    throw new LayerstoreError('E_BUDGET_INVALID', `${what}: the number is ${v > 0 ? 'too large' : 'too large a negative number'} (not a finite number)`);
}

/** A value written in digits that is still too large for a double ("1" and 400 zeros). */
function finite(n: number, v: unknown, what: string): number {
  if (!Number.isFinite(n)) throw new LayerstoreError('E_BUDGET_INVALID', `${what}: ${JSON.stringify(v)} is too large (not a finite number)`);
  return n;
}

/** A ratio in [0,1]; "95%" and 0.95 are the same. */
export function parseRatio(v: unknown, what: string): number {
  notFinite(v, what);
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
    if (m) n = Number(m[1]) / 100;
    else if (/^\s*\d+(?:\.\d+)?\s*$/.test(v)) n = Number(v);
  }
  if (n === undefined || !Number.isFinite(n) || n < 0 || n > 1) {
    throw new LayerstoreError('E_BUDGET_INVALID', `${what}: ${JSON.stringify(v)} is not a ratio between 0 and 1 (or a percentage)`);
  }
  return n;
}

/** Growth limits are a size ("10MB") or a percentage of the baseline size ("5%"). */
export type GrowthLimit = { bytes: number } | { ratio: number };

export function parseGrowth(v: unknown, what: string): GrowthLimit {
  if (typeof v === 'string' && v.trim().endsWith('%')) {
    const m = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(v);
    if (!m) throw new LayerstoreError('E_BUDGET_INVALID', `${what}: ${JSON.stringify(v)} is not a percentage`);
    return { ratio: finite(Number(m[1]) / 100, v, what) };
  }
  return { bytes: parseSize(v, what) };
}
