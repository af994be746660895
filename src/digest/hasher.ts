import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { digestFromHex, type Digest } from './digest.js';

// Loaded when first asked for: ~11 ms at every start-up for a hasher almost no run uses.
const requireHere = createRequire(import.meta.url);
const nobleSha256 = () => (requireHere('@noble/hashes/sha2.js') as typeof import('@noble/hashes/sha2.js')).sha256;

/** An incremental SHA-256. update() may be called with chunks of any size. */
export interface Hasher {
  update(chunk: Uint8Array): void;
  digest(): Digest;
}

export type HasherName = 'node' | 'noble';

/**
 * node:crypto is the default: it is OpenSSL underneath and uses the CPU's SHA extensions
 * (SHA-NI), about 9x faster than pure-JS @noble/hashes on this hardware (see bench/).
 * noble stays pluggable for platforms where OpenSSL is unavailable or distrusted.
 */
export function createHasher(name: HasherName = defaultHasherName()): Hasher {
  if (name === 'noble') {
    const h = nobleSha256().create();
    return {
      update: (c) => void h.update(c),
      digest: () => digestFromHex(Buffer.from(h.digest()).toString('hex')),
    };
  }
  const h = createHash('sha256');
  return {
    update: (c) => void h.update(c),
    digest: () => digestFromHex(h.digest('hex')),
  };
}

export function defaultHasherName(): HasherName {
  return process.env.LAYERSTORE_HASHER === 'noble' ? 'noble' : 'node';
}

export function sha256Of(bytes: Uint8Array): Digest {
  return digestFromHex(createHash('sha256').update(bytes).digest('hex'));
}
