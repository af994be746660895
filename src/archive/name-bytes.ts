/**
 * Tar names are bytes. Most are UTF-8, but a layer may hold names that are not (a latin-1
 * file name, written by GNU tar as it found it), and engines apply them byte for byte. Decoded
 * as UTF-8 with U+FFFD for each bad byte, "f-\xff" and "f-\xfe" would be one path: diff would
 * miss the change and report --files would count one as a replaced copy of the other.
 *
 * So a byte that is not part of valid UTF-8 (always 0x80-0xFF) is kept as the character
 * U+EF00 + byte (U+EF80-U+EFFF, in the Private Use Area; the convention of MirBSD's OPTU-8):
 * different bytes stay different names, the text is still valid Unicode (stored, sorted and
 * written as UTF-8 like any other name), and report/printable.ts shows it as \xNN.
 */

/** The first of the 128 characters that stand for a byte that is not UTF-8. */
export const RAW_BYTE_BASE = 0xef00;

/** `b[start, end)` as text: UTF-8, each byte that is not part of a valid sequence as U+EF00 + byte. */
export function decodeName(b: Buffer, start = 0, end = b.length): string {
  const s = b.toString('utf8', start, end);
  // U+FFFD in the text: a bad byte, or a real U+FFFD (EF BF BD); only then decode by hand.
  return s.includes('\ufffd') ? decodeByHand(b, start, end) : s;
}

function decodeByHand(b: Buffer, start: number, end: number): string {
  let out = '';
  let i = start;
  while (i < end) {
    const n = validSequenceLength(b, i, end);
    if (n === 0) {
      out += String.fromCharCode(RAW_BYTE_BASE + b[i]!);
      i++;
    } else {
      out += b.toString('utf8', i, i + n);
      i += n;
    }
  }
  return out;
}

/** Length of the valid UTF-8 sequence at b[i] (RFC 3629: no overlongs, no surrogates, at most U+10FFFF), else 0. */
function validSequenceLength(b: Buffer, i: number, end: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf) => i + k < end && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}
