import { decodeName } from './name-bytes.js';
import { LayerstoreError } from '../errors.js';

/**
 * Field decoding for 512-byte tar header blocks, for the tar engine's structure rules
 * (tar-structure.ts). Where tar readers can disagree on where the next header is (pax
 * records, sizes, checksums), the rules are tar-stream's, the reader layerstore used before
 * it had its own engine, so archives it accepted read the same.
 */

const ZERO_BLOCK = Buffer.alloc(512);

export function isZeroBlock(b: Buffer): boolean {
  // A header's first byte (its name) is never 0, so this is mostly one compare.
  return b[0] === 0 && b.length >= 512 && ZERO_BLOCK.compare(b, 0, 512) === 0;
}

/**
 * Both header checksums: the unsigned byte sum (POSIX) and the signed one some old tars
 * wrote, with the checksum field itself counted as spaces.
 */
export function blockSums(b: Buffer): { unsigned: number; signed: number } {
  let unsigned = 8 * 32;
  let high = 0;
  for (let i = 0; i < 148; i++) {
    const v = b[i]!;
    unsigned += v;
    if (v > 127) high++;
  }
  for (let i = 156; i < 512; i++) {
    const v = b[i]!;
    unsigned += v;
    if (v > 127) high++;
  }
  return { unsigned, signed: unsigned - 256 * high };
}

/** Bytes String#trim removes from a latin1 string: tab, LF, VT, FF, CR, space, NBSP. */
function isTrimmed(c: number): boolean {
  return (c >= 0x09 && c <= 0x0d) || c === 0x20 || c === 0xa0;
}

/**
 * The octal number bytes [start, end) spell once trimmed as String#trim trims, or -1 when
 * they are not (only) octal digits: the fast path of checksumOk and parseSize, which read a
 * million headers of a big layer without making a string for each (-1 takes the slow path,
 * whose rules and messages are the reference).
 */
function octalOrMinus1(b: Buffer, start: number, end: number): number {
  while (start < end && isTrimmed(b[start]!)) start++;
  while (end > start && isTrimmed(b[end - 1]!)) end--;
  if (start === end) return -1;
  let n = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]! - 0x30;
    if (c < 0 || c > 7) return -1;
    n = n * 8 + c;
  }
  return n;
}

export function checksumOk(b: Buffer, sums = blockSums(b)): boolean {
  let end = 156;
  while (end > 148 && (b[end - 1] === 0 || b[end - 1] === 0x20)) end--;
  const fast = octalOrMinus1(b, 148, end);
  if (fast >= 0) return fast === sums.unsigned || fast === sums.signed;
  const field = b
    .subarray(148, 156)
    .toString('latin1')
    .replace(/[\0 ]+$/g, '')
    .trim();
  if (!/^[0-7]+$/.test(field)) return false;
  const want = parseInt(field, 8);
  return want === sums.unsigned || want === sums.signed;
}

export function parseSize(b: Buffer, at: number): number {
  const f = b.subarray(124, 136);
  let n: number;
  if (f[0]! & 0x80) {
    // base-256 (GNU) for sizes of 8 GiB and more
    n = 0;
    for (let i = 1; i < 12; i++) n = n * 256 + f[i]!;
    n += (f[0]! & 0x7f) * 256 ** 11;
  } else {
    const nul = f.indexOf(0);
    n = octalOrMinus1(b, 124, nul === -1 ? 136 : 124 + nul);
    if (n < 0) {
      const s = f.toString('latin1').replace(/\0.*$/s, '').trim();
      if (s === '') n = 0;
      else if (!/^[0-7]+$/.test(s)) throw new LayerstoreError('E_TAR_CORRUPT', `tar header has an invalid size field ${JSON.stringify(s)}`, { offset: at });
      else n = parseInt(s, 8);
    }
  }
  if (!Number.isSafeInteger(n) || n < 0) throw new LayerstoreError('E_TAR_CORRUPT', 'tar header has an invalid size', { offset: at });
  return n;
}

/**
 * pax records ("<len> <key>=<value>\n"), decoded exactly as tar-stream decodes them
 * (it stops at the first malformed record), so archives read as they did with tar-stream.
 * GNU sparse format 0.0 repeats two keys, GNU.sparse.offset and GNU.sparse.numbytes, in
 * turn: as Go's archive/tar does, they are joined, in order, into one 0.1-style
 * GNU.sparse.map (tar-sparse-map.ts); out of turn, or with a comma in one, the map is "?",
 * which no map reader takes, as Go refuses the header.
 */
export function decodePax(data: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  const sparse: string[] = [];
  let sparseOk = true;
  let buf = data;
  while (buf.length) {
    let i = 0;
    while (i < buf.length && buf[i] !== 32) i++;
    const len = parseInt(buf.subarray(0, i).toString(), 10);
    if (!len) break;
    const rec = buf.subarray(i + 1, len - 1);
    const eq = rec.indexOf(0x3d); // '='
    if (eq === -1) break;
    const key = rec.toString('utf8', 0, eq);
    // Values are UTF-8 by the standard; GNU tar writes a name that is not as its raw bytes (hdrcharset=BINARY).
    const value = decodeName(rec, eq + 1);
    if (key === 'GNU.sparse.offset' || key === 'GNU.sparse.numbytes') {
      if ((key === 'GNU.sparse.offset') !== (sparse.length % 2 === 0) || value.includes(',')) sparseOk = false;
      sparse.push(value);
    } else out[key] = value;
    buf = buf.subarray(len);
  }
  if (sparse.length > 0) out['GNU.sparse.map'] = sparseOk ? sparse.join(',') : '?';
  return out;
}

/** Typeflags of entries that have no data (hard and symbolic links, devices, directories, FIFOs): never sparse. */
export function isHeaderOnly(typeflag: string): boolean {
  return typeflag.length === 1 && '123456'.includes(typeflag);
}

/** The type of an entry as layerstore sees it. */
export type EntryType = 'file' | 'directory' | 'symlink' | 'link' | 'other';

/** What tar-stream's header decoder makes of a block that passed checksumOk. */
export interface DecodedHeader {
  /** The typeflag character ('\0' for v7 files). */
  typeflag: string;
  type: EntryType;
  /** Name from the block (with the ustar prefix), before long-name and pax overrides. */
  name: string;
  linkname: string | undefined;
}

/**
 * Decode a header block the way tar-stream does, for TarStructure: null for a
 * block tar-stream skips (its checksum sums to that of an all-zero block), an error for a
 * checksum that is neither the unsigned sum nor the signed one some old tars wrote (GNU tar
 * and Go's archive/tar take both; tar-stream only the unsigned one, so here layerstore reads
 * more than it did). Long-name and pax overrides are the caller's.
 */
export function decodeHeader(b: Buffer, at: number, sums = blockSums(b)): DecodedHeader | null {
  if (sums.unsigned === 8 * 32) return null;
  const want = octalField(b, 148, 8);
  if (want !== sums.unsigned && want !== sums.signed)
    throw new LayerstoreError('E_TAR_CORRUPT', 'tar header checksum does not match; the archive is damaged', { offset: at });
  const typeflag = String.fromCharCode(b[156]!);
  let name = cString(b, 0, 100);
  // ustar ("ustar\0") has a prefix field; GNU ("ustar  ") uses that space for other things.
  if (b.subarray(257, 263).toString('latin1') === 'ustar\0' && b[345] !== 0) name = `${cString(b, 345, 155)}/${name}`;
  // tar-stream 3 types an entry by its typeflag alone: a v7-style "name/" with a file
  // typeflag stays a file (its trailing-slash rule runs after the type is taken).
  return { typeflag, type: entryType(typeflag), name, linkname: b[157] === 0 ? undefined : cString(b, 157, 100) };
}

/** The text of a NUL-terminated (or full) field, as UTF-8 (bytes that are not UTF-8 kept: name-bytes.ts). */
export function cString(b: Buffer, start: number, length: number): string {
  const end = b.indexOf(0, start);
  return decodeName(b, start, end === -1 || end > start + length ? start + length : end);
}

function entryType(flag: string): EntryType {
  switch (flag) {
    case '0':
    case '\0':
    case '7': // contiguous file
      return 'file';
    case '5':
      return 'directory';
    case '2':
      return 'symlink';
    case '1':
      return 'link';
    default:
      return 'other';
  }
}

/**
 * A numeric field read as tar-stream reads it: base-256 when the top bit is set (0x80
 * positive, 0xff negative, anything else null), else octal with leading spaces and NULs
 * skipped, up to a space.
 */
export function octalField(b: Buffer, start: number, length: number): number | null {
  if (b[start]! & 0x80) {
    const positive = b[start] === 0x80;
    if (!positive && b[start] !== 0xff) return null;
    let sum = 0;
    for (let i = start + length - 1, p = 1; i > start; i--, p *= 256) sum += (positive ? b[i]! : 0xff - b[i]!) * p;
    return positive ? sum : -sum;
  }
  let i = start;
  const end0 = start + length;
  while (i < end0 && b[i] === 32) i++;
  let end = i;
  while (end < end0 && b[end] !== 32) end++;
  while (i < end && b[i] === 0) i++;
  if (end === i) return 0;
  return parseInt(b.toString('latin1', i, end), 8);
}

/**
 * Whether a typeflag is an extended header that tar-stream reads as data for the next entry
 * (pax "x" local and "g" global, GNU long name "L", long link name "K", old long name "N").
 */
export function isExtendedHeader(typeflag: string): boolean {
  return typeflag.length === 1 && 'xgLKN'.includes(typeflag);
}

/**
 * An extended header (see isExtendedHeader) with no data. It means nothing, and tar-stream
 * 3 misreads the archive after one (it takes bytes of the next entry's data as the missing
 * header data and loses its place), so both readers refuse it rather than let the two see
 * different entries.
 */
export function emptyExtendedHeader(typeflag: string, size: number, at: number): LayerstoreError | undefined {
  if (size !== 0 || !isExtendedHeader(typeflag)) return undefined;
  return new LayerstoreError('E_TAR_CORRUPT', `an empty extended header (typeflag ${JSON.stringify(typeflag)}); the archive is damaged or crafted`, {
    offset: at,
  });
}
