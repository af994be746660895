/**
 * The size and checksum fields of a tar header are read byte by byte (no string per header)
 * with the string rules as the fallback: on any bytes whatever, both must say what the rules
 * say (a NUL ends the size field, String#trim's whitespace is trimmed, only octal digits
 * count, the checksum's trailing NULs and spaces go first). The reference below is those
 * rules written with strings, as tar-header.ts had them.
 */
import { describe, expect, it } from 'vitest';
import { blockSums, checksumOk, parseSize } from '../../src/archive/tar-header.js';
import { prng } from '../helpers/prng.js';

function referenceSize(b: Buffer): number | 'error' {
  const f = b.subarray(124, 136);
  if (f[0]! & 0x80) return 'error'; // base-256: not generated here
  const s = f.toString('latin1').replace(/\0.*$/s, '').trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return 'error';
  return parseInt(s, 8);
}

function referenceChecksum(b: Buffer): boolean {
  const field = b
    .subarray(148, 156)
    .toString('latin1')
    .replace(/[\0 ]+$/g, '')
    .trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const want = parseInt(field, 8);
  const sums = blockSums(b);
  return want === sums.unsigned || want === sums.signed;
}

// Bytes a field is made of: digits above all, then what trim and the NUL rules are about.
const ALPHABET = [0x30, 0x31, 0x33, 0x37, 0x30, 0x35, 0x00, 0x20, 0x09, 0x0a, 0x0b, 0x0d, 0xa0, 0x38, 0x39, 0x2b, 0x2d, 0x78, 0x85, 0xff];

function field(rand: () => number, length: number): Buffer {
  const f = Buffer.alloc(length);
  const shape = rand();
  for (let i = 0; i < length; i++) f[i] = ALPHABET[Math.floor(rand() * (shape < 0.5 ? 6 : ALPHABET.length))]!;
  if (shape < 0.3) {
    // The usual shape: zero-padded digits, then a NUL (or a space and a NUL).
    const digits = 1 + Math.floor(rand() * (length - 1));
    for (let i = 0; i < length; i++) f[i] = i < digits ? 0x30 + Math.floor(rand() * 8) : i === digits ? (rand() < 0.5 ? 0 : 0x20) : 0;
  }
  return f;
}

describe('tar header fields read byte by byte agree with the string rules', () => {
  it('size field: 200k fields of digits, NULs, whitespace (NBSP included) and other bytes', () => {
    const rand = prng(17);
    const b = Buffer.alloc(512);
    for (let k = 0; k < 200_000; k++) {
      field(rand, 12).copy(b, 124);
      b[124] = b[124]! & 0x7f; // keep to the octal form
      // Bytes after the field (the mtime) must not matter.
      b[136] = rand() < 0.5 ? 0 : 0x31;
      const want = referenceSize(b);
      let got: number | 'error';
      try {
        got = parseSize(b, 0);
      } catch {
        got = 'error';
      }
      expect(got, b.subarray(124, 136).toString('hex')).toBe(want);
    }
  });

  it('checksum field: 200k blocks, some with the right sum in the usual and the odd spellings', () => {
    const rand = prng(99);
    const b = Buffer.alloc(512);
    for (let k = 0; k < 200_000; k++) {
      for (let i = 0; i < 512; i += 4) b.writeUInt32LE(Math.floor(rand() * 2 ** 32), i);
      if (rand() < 0.5) {
        // The right unsigned sum, spelled with odd padding.
        b.fill(0x20, 148, 156);
        const sum = blockSums(b).unsigned;
        const text = sum.toString(8).padStart(Math.floor(rand() * 8), rand() < 0.5 ? '0' : ' ');
        const tail = ['\0', ' ', '\0 ', '\t', '\xa0', ''][Math.floor(rand() * 6)]!;
        Buffer.from((text + tail).slice(0, 8).padEnd(8, rand() < 0.5 ? '\0' : ' '), 'latin1').copy(b, 148);
      } else field(rand, 8).copy(b, 148);
      expect(checksumOk(b), b.subarray(148, 156).toString('hex')).toBe(referenceChecksum(b));
    }
  });
});
