import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { LayerstoreError } from '../../src/errors.js';
import { digestFromHex, hexOf, isDigest, parseDigest, shortDigest } from '../../src/digest/digest.js';
import { createHasher, sha256Of } from '../../src/digest/hasher.js';

const HEX = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'; // sha256 of nothing

function invalid(s: unknown): LayerstoreError {
  try {
    parseDigest(s);
  } catch (e) {
    expect(e).toBeInstanceOf(LayerstoreError);
    return e as LayerstoreError;
  }
  throw new Error(`parseDigest(${JSON.stringify(s)}) accepted it`);
}

describe('parseDigest', () => {
  it('accepts sha256: + 64 lowercase hex and returns the same string', () => {
    expect(parseDigest(`sha256:${HEX}`)).toBe(`sha256:${HEX}`);
    expect(isDigest(`sha256:${HEX}`)).toBe(true);
  });

  it.each([
    ['uppercase hex', `sha256:${HEX.toUpperCase()}`],
    ['one uppercase digit', `sha256:${HEX.slice(0, 63)}F`],
    ['uppercase algorithm', `SHA256:${HEX}`],
    ['63 hex digits (short)', `sha256:${HEX.slice(0, 63)}`],
    ['65 hex digits', `sha256:${HEX}0`],
    ['empty hex', 'sha256:'],
    ['non-hex digit', `sha256:${HEX.slice(0, 63)}g`],
    ['sha512', `sha512:${HEX}${HEX}`],
    ['sha384', `sha384:${'a'.repeat(96)}`],
    ['blake3 with a sha256-length hex', `blake3:${HEX}`],
    ['no algorithm', HEX],
    ['leading space', ` sha256:${HEX}`],
    ['trailing newline', `sha256:${HEX}\n`],
    ['path traversal after the hex', `sha256:${HEX}/../x`],
    ['empty string', ''],
  ])('rejects %s with E_DIGEST_INVALID', (_what, s) => {
    expect(invalid(s).code).toBe('E_DIGEST_INVALID');
    expect(isDigest(s)).toBe(false);
  });

  it.each([[undefined], [null], [42], [{}], [[`sha256:${HEX}`]]])('rejects the non-string %j', (v) => {
    expect(invalid(v).code).toBe('E_DIGEST_INVALID');
  });
});

describe('digestFromHex, hexOf, shortDigest', () => {
  it('round-trips', () => {
    const d = digestFromHex(HEX);
    expect(d).toBe(`sha256:${HEX}`);
    expect(hexOf(d)).toBe(HEX);
    expect(shortDigest(d)).toBe('e3b0c44298fc');
  });
  it('digestFromHex refuses uppercase and short hex', () => {
    for (const h of [HEX.toUpperCase(), HEX.slice(1), `${HEX}00`]) {
      expect(() => digestFromHex(h)).toThrowError(LayerstoreError);
    }
  });
});

describe('hashers', () => {
  const data = Buffer.from('layerstore '.repeat(10_000));
  const want = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  it('sha256Of of nothing is the well-known empty digest', () => {
    expect(sha256Of(new Uint8Array(0))).toBe(`sha256:${HEX}`);
  });
  it.each([['node'], ['noble']] as const)('%s hasher: chunked updates give the one-shot digest', (name) => {
    const h = createHasher(name);
    for (let i = 0; i < data.length; i += 4093) h.update(data.subarray(i, i + 4093));
    expect(h.digest()).toBe(want);
    expect(sha256Of(data)).toBe(want);
  });
});
