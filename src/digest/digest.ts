import { LayerstoreError } from '../errors.js';

/**
 * A validated sha256 digest, "sha256:" + 64 lowercase hex. Made only by parseDigest or
 * digestFromHex, so any Digest can be turned into a store path without further checks.
 */
export type Digest = string & { readonly __brand: 'Digest' };

const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;
const HEX_RE = /^[0-9a-f]{64}$/;

export function parseDigest(s: unknown, what = 'digest'): Digest {
  if (typeof s !== 'string' || !DIGEST_RE.test(s)) {
    // The OCI grammar allows other algorithms; this store holds sha256 only.
    const shown = typeof s === 'string' ? s.slice(0, 100) : typeof s;
    throw new LayerstoreError('E_DIGEST_INVALID', `${what} ${JSON.stringify(shown)} is not a sha256 digest (sha256: + 64 lowercase hex)`);
  }
  return s as Digest;
}

export function isDigest(s: unknown): s is Digest {
  return typeof s === 'string' && DIGEST_RE.test(s);
}

export function digestFromHex(hex: string): Digest {
  if (!HEX_RE.test(hex)) throw new LayerstoreError('E_DIGEST_INVALID', `${JSON.stringify(hex.slice(0, 100))} is not 64 lowercase hex`);
  return `sha256:${hex}` as Digest;
}

export function hexOf(d: Digest): string {
  return d.slice(7);
}

/** Short form for tables: the first 12 hex digits, as docker shows image IDs. */
export function shortDigest(d: string): string {
  return d.startsWith('sha256:') ? d.slice(7, 19) : d.slice(0, 12);
}
