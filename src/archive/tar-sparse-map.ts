import { LayerstoreError } from '../errors.js';

/**
 * The sparse maps of GNU tar's sparse files (`tar --sparse`), read as Go's archive/tar reads
 * them: that is the reader Docker and containerd extract layers with, so a layer's file is
 * what it gives (GNU tar and Python's tarfile give the same). A sparse entry's data holds only
 * the file's data segments; its map says where each goes, and the rest of the file is zeros.
 *
 * - old GNU (typeflag "S", --format=gnu): up to 4 segments in the header block, 21 more in
 *   each extension block after it (before the data), the file's size in the header's
 *   realsize field. Numbers are octal or base-256, as in any header field.
 * - pax 0.0: GNU.sparse.offset and GNU.sparse.numbytes records, in turn, one pair a segment
 *   (decodePax joins them into a 0.1 map); GNU.sparse.numblocks, GNU.sparse.size.
 * - pax 0.1: GNU.sparse.map "offset,length,offset,length,...", the rest as 0.0.
 * - pax 1.0 (GNU tar's default for --format=posix): GNU.sparse.major=1, minor=0; the map is at
 *   the start of the data, decimal numbers each ended by "\n" (the count of segments, then
 *   the pairs), padded to whole blocks; GNU.sparse.realsize.
 * The pax formats give the file's real name in GNU.sparse.name (the header's name is
 * "GNUSparseFile.<pid>/..."). Numbers in pax are decimal.
 *
 * Every fault is E_TAR_CORRUPT at the entry's header, where Go says ErrHeader (or, for data
 * that does not match the map, fails when the file is read).
 */

/** A sparse file as its entry stores it. */
export interface SparseFile {
  /** The file's size, holes included: what extraction writes and `tar -tv` lists. */
  size: number;
  /**
   * Where the entry's data goes in the file: offset, length, offset, length, ... in order,
   * not overlapping, inside `size`; the lengths add up to the entry's data bytes.
   */
  segments: readonly number[];
}

/** What a sparse entry's header (and pax records) say, before any more blocks are read. */
export interface SparseStart {
  /** GNU.sparse.name, the file's name (pax formats). */
  name?: string;
  /** The file's size, when the header gives one (else the entry's size is the file's). */
  size?: number;
  segments: number[];
  /** Blocks to read before the data: old GNU extension blocks, or a 1.0 map. */
  more?: 'gnu-extension' | 'map-1.0';
}

const corrupt = (message: string, at: number) => new LayerstoreError('E_TAR_CORRUPT', message, { offset: at });

/** A decimal number of a pax sparse record (Go's strconv.ParseInt takes a "+"; a "-" fails the map's checks there). */
function decimal(text: string, at: number): number {
  const n = /^\+?[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n)) throw corrupt(`a sparse file's map has an invalid number ${JSON.stringify(text.slice(0, 40))}`, at);
  return n;
}

/** A numeric field of an old GNU sparse header, as Go reads one: base-256, or octal with spaces and NULs around it. */
function gnuNumber(b: Buffer, start: number, length: number, at: number): number {
  let n: number;
  if (b[start]! & 0x80) {
    // A negative one (0x40 set) is refused here; Go refuses it when it checks the map.
    n = b[start]! & 0x40 ? -1 : b[start]! & 0x3f;
    for (let i = start + 1; i < start + length && n >= 0; i++) n = n * 256 + b[i]!;
  } else {
    const text = b
      .toString('latin1', start, start + length)
      .replace(/^[ \0]+|[ \0]+$/g, '')
      .replace(/\0.*$/s, '');
    n = text === '' ? 0 : /^[0-7]+$/.test(text) ? parseInt(text, 8) : -1;
  }
  if (!Number.isSafeInteger(n) || n < 0) throw corrupt('a GNU sparse header has an invalid number', at);
  return n;
}

/** Segments of an old GNU sparse array (`count` entries of 24 bytes at `start`), appended to `out`. */
function gnuSegments(b: Buffer, start: number, count: number, out: number[], at: number): void {
  for (let i = 0; i < count; i++) {
    const e = start + 24 * i;
    if (b[e] === 0) return; // GNU, BSD and Go tar all end the list at an empty offset
    out.push(gnuNumber(b, e, 12, at), gnuNumber(b, e + 12, 12, at));
  }
}

/** An old GNU sparse header (typeflag "S"): its realsize and the segments in the header block. */
export function oldGnuSparse(block: Buffer, at: number): SparseStart {
  // STAR uses typeflag "S" for a map laid out differently: only GNU's magic says which.
  if (block.toString('latin1', 257, 265) !== 'ustar  \0') throw corrupt('a sparse entry (typeflag "S") without the GNU magic', at);
  const segments: number[] = [];
  gnuSegments(block, 386, 4, segments, at);
  return { size: gnuNumber(block, 483, 12, at), segments, more: block[482] ? 'gnu-extension' : undefined };
}

/** An old GNU extension block: its segments appended; true when another block follows. */
export function gnuExtension(block: Buffer, segments: number[], at: number): boolean {
  gnuSegments(block, 0, 21, segments, at);
  return block[504] !== 0;
}

/**
 * The pax formats' sparse records, or undefined when the entry is not sparse. As in Go, a
 * version other than 0.0, 0.1 and 1.0 is not sparse (read as the plain file it says it is),
 * and without a version a GNU.sparse.map (0.1, or 0.0 joined) makes it 0.x.
 */
export function paxSparse(pax: Record<string, string>, at: number): SparseStart | undefined {
  const major = pax['GNU.sparse.major'] ?? '';
  const minor = pax['GNU.sparse.minor'] ?? '';
  let v1: boolean;
  if (major === '0' && (minor === '0' || minor === '1')) v1 = false;
  else if (major === '1' && minor === '0') v1 = true;
  else if (major !== '' || minor !== '') return undefined;
  else if (pax['GNU.sparse.map']) v1 = false;
  else return undefined;
  const start: SparseStart = { segments: [] };
  if (pax['GNU.sparse.name']) start.name = pax['GNU.sparse.name'];
  const size = pax['GNU.sparse.size'] || pax['GNU.sparse.realsize'];
  if (size) start.size = decimal(size, at);
  if (v1) return { ...start, more: 'map-1.0' };
  const count = decimal(pax['GNU.sparse.numblocks'] ?? '', at);
  const map = pax['GNU.sparse.map'] ? pax['GNU.sparse.map'].split(',') : [];
  if (map.length !== 2 * count) throw corrupt(`a sparse file's map has ${map.length} numbers for ${count} segments`, at);
  for (const n of map) start.segments.push(decimal(n, at));
  return start;
}

/**
 * A pax 1.0 map, read block by block from the start of the entry's data: the segments once
 * the last number is in (the rest of that block is padding). A number may run across blocks.
 */
export class SparseMap1x0 {
  private readonly numbers: number[] = [];
  private token = '';
  private want = -1; // numbers after the count, once the count is read

  feed(block: Buffer, at: number): number[] | undefined {
    for (let i = 0; i < 512; i++) {
      const c = block[i]!;
      if (c !== 0x0a) {
        // Longer than any number: refused before it grows (the map may be 1 MiB of one token).
        if (this.token.length > 40) throw corrupt("a sparse file's map has an invalid number", at);
        this.token += String.fromCharCode(c);
        continue;
      }
      const n = decimal(this.token, at);
      this.token = '';
      if (this.want < 0) this.want = 2 * n;
      else this.numbers.push(n);
      if (this.numbers.length === this.want) return this.numbers;
    }
    return undefined;
  }
}

/**
 * The map checked as Go checks it (segments in order, not overlapping, inside the file's
 * size), and against the entry's data, which must be exactly the segments' bytes: Go fails
 * reading such a file ("missing data", "unreferenced data"), so no runtime extracts it.
 */
export function checkedSparse(segments: number[], size: number, stored: number, at: number): SparseFile {
  let end = 0;
  let data = 0;
  for (let i = 0; i < segments.length; i += 2) {
    const offset = segments[i]!;
    const length = segments[i + 1]!;
    if (offset < end) throw corrupt(`a sparse file's map has segment ${i / 2} at ${offset}, before the end of the one before (${end})`, at);
    if (offset + length > size) throw corrupt(`a sparse file's map has segment ${i / 2} ending at ${offset + length}, past the file's size ${size}`, at);
    end = offset + length;
    data += length;
  }
  if (data !== stored) throw corrupt(`a sparse file's map places ${data} bytes, but its entry holds ${stored}`, at);
  return { size, segments };
}
