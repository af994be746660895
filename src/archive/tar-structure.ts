import { LayerstoreError } from '../errors.js';
import { normalizeEntryName } from './entry-name.js';
import { MAX_EXTENDED_HEADER_BYTES } from './tar-limits.js';
import {
  blockSums,
  checksumOk,
  cString,
  decodeHeader,
  decodePax,
  emptyExtendedHeader,
  isExtendedHeader,
  isZeroBlock,
  octalField,
  parseSize,
  sparseName,
  type EntryType,
} from './tar-header.js';

/**
 * The one place the structure rules of tar live: what a header block (with the extended
 * headers before it) makes, and how many data bytes follow it. Both readers drive it, the
 * streaming one (tar-entries.ts) and the positional one (tar-file-walker.ts); they only
 * differ in how they get bytes, so they accept and refuse the same archives.
 *
 * The rules are tar-stream's where readers can disagree on where the next header is (pax
 * records decoded up to the first malformed one; the last local pax header, merged over
 * the last global one, applies to the next entry; GNU long names first, then pax path,
 * linkpath and size; directories carry no data), and stricter elsewhere: checksums are
 * checked, extended headers are capped, an empty one is refused.
 */

/** One entry as its header block(s) describe it. */
export interface TarHeaderEntry {
  /** Normalized name (see normalizeEntryName), or the raw one with `rawNames`; "" for the root. */
  name: string;
  /** The name as written (after GNU long-name and pax overrides). */
  rawName: string;
  type: EntryType;
  /** Data bytes that follow the header (0 for directories; a pax size overrides the header's). */
  size: number;
  linkname?: string;
  /** Offset of the entry's data. */
  offset: number;
  /** Offset of the entry's own header block (after any extended headers). */
  headerOffset: number;
  mode: number;
  uid: number;
  gid: number;
  /** Set for a GNU sparse entry: the name of the file it stores (see sparseName). */
  sparseName?: string;
}

/** What a reader does after a header block. */
export type TarStep =
  | { kind: 'end' } // the end-of-archive marker (a zero block)
  | { kind: 'skip' } // a block that means nothing (checksum of a zero block): the next block is a header
  | { kind: 'extended'; size: number } // `size` bytes of extended header data follow: hand them to extended()
  | { kind: 'entry'; entry: TarHeaderEntry }; // entry.size data bytes follow

export interface TarStructureOptions {
  /** Refuse more entries than this (E_TOO_LARGE). */
  maxEntries: number;
  /** Hand out names as written (layers report odd names instead of refusing them). */
  rawNames?: boolean;
}

export class TarStructure {
  private localPax: Record<string, string> | null = null;
  private globalPax: Record<string, string> | null = null;
  private longPath: string | null = null;
  private longLink: string | null = null;
  private pending = ''; // typeflag of the extended header whose data is awaited
  private count = 0;
  /** The last entry's name as its header block gives it (named in truncation errors). */
  lastName = '';

  constructor(private readonly opts: TarStructureOptions) {}

  /** The 512-byte header block at offset `at`. */
  header(block: Buffer, at: number): TarStep {
    if (isZeroBlock(block)) return { kind: 'end' };
    const sums = blockSums(block);
    if (!checksumOk(block, sums)) {
      throw at === 0
        ? new LayerstoreError('E_NOT_TAR', 'not a tar archive (the first block is not a valid tar header)', { offset: 0 })
        : new LayerstoreError('E_TAR_CORRUPT', 'tar header checksum does not match; the archive is damaged', { offset: at });
    }
    let size = parseSize(block, at);
    const header = decodeHeader(block, at, sums);
    if (header === null) return { kind: 'skip' };
    const flag = header.typeflag;
    const empty = emptyExtendedHeader(flag, size, at);
    if (empty) throw empty;
    if (isExtendedHeader(flag)) {
      if (size > MAX_EXTENDED_HEADER_BYTES) {
        throw new LayerstoreError('E_TAR_CORRUPT', `${flag === 'x' || flag === 'g' ? 'pax' : 'long-name'} header of ${size} bytes is too large`, {
          offset: at,
        });
      }
      this.pending = flag;
      return { kind: 'extended', size };
    }
    // A real entry: long names first, then pax records, override the header's fields.
    let name = this.longPath ?? header.name;
    let linkname = this.longLink ?? header.linkname;
    const pax = this.localPax;
    if (pax?.path) name = pax.path;
    if (pax?.linkpath) linkname = pax.linkpath;
    const sparse = sparseName(flag, name, pax);
    this.longPath = this.longLink = this.localPax = null;
    if (pax?.size) {
      const v = parseInt(pax.size, 10);
      if (!Number.isSafeInteger(v) || v < 0)
        throw new LayerstoreError('E_TAR_CORRUPT', `pax header has an invalid size ${JSON.stringify(pax.size.slice(0, 40))}`, { offset: at });
      size = v;
    }
    if (header.type === 'directory') size = 0;
    this.lastName = header.name;
    if (++this.count > this.opts.maxEntries)
      throw new LayerstoreError('E_TOO_LARGE', `the archive has more than ${this.opts.maxEntries} entries; this is not an image archive`);
    const offset = at + 512;
    const entry: TarHeaderEntry = {
      name: this.opts.rawNames ? name : normalizeEntryName(name, offset),
      rawName: name,
      type: header.type,
      size,
      linkname,
      offset,
      headerOffset: at,
      mode: octalField(block, 100, 8) ?? 0,
      uid: octalField(block, 108, 8) ?? 0,
      gid: octalField(block, 116, 8) ?? 0,
    };
    if (sparse !== undefined) entry.sparseName = sparse;
    return { kind: 'entry', entry };
  }

  /** The data of the extended header header() announced. */
  extended(data: Buffer): void {
    const flag = this.pending;
    this.pending = '';
    if (flag === 'x') this.localPax = this.globalPax === null ? decodePax(data) : { ...this.globalPax, ...decodePax(data) };
    else if (flag === 'g') this.globalPax = decodePax(data);
    else if (flag === 'K') this.longLink = cString(data, 0, data.length);
    else this.longPath = cString(data, 0, data.length); // 'L', 'N'
  }
}

/** Bytes a tar gives `size` data bytes: whole 512-byte blocks. */
export function padded(size: number): number {
  return Math.ceil(size / 512) * 512;
}
