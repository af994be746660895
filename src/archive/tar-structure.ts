import { LayerstoreError } from '../errors.js';
import { normalizeEntryName } from './entry-name.js';
import { MAX_EXTENDED_HEADER_BYTES, MAX_SPARSE_MAP_BYTES } from './tar-limits.js';
import { checkedSparse, gnuExtension, oldGnuSparse, paxSparse, SparseMap1x0, type SparseFile } from './tar-sparse-map.js';
import {
  blockSums,
  checksumOk,
  cString,
  decodeHeader,
  decodePax,
  emptyExtendedHeader,
  isExtendedHeader,
  isHeaderOnly,
  isZeroBlock,
  octalField,
  parseSize,
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
 * checked, extended headers are capped, an empty one is refused. GNU sparse files are read as
 * Go's archive/tar reads them (tar-sparse-map.ts): the entry gets the file's name and its map,
 * and what readers hand out as its data is the stored segments.
 */

/** One entry as its header block(s) describe it. */
export interface TarHeaderEntry {
  /** Normalized name (see normalizeEntryName), or the raw one with `rawNames`; "" for the root. */
  name: string;
  /** The name as written (after GNU long-name and pax overrides). */
  rawName: string;
  type: EntryType;
  /**
   * Data bytes that follow the header (0 for directories; a pax size overrides the header's).
   * For a sparse entry, the stored segments only (after a 1.0 map): `sparse.size` is the file's.
   */
  size: number;
  linkname?: string;
  /** Offset of the entry's data. */
  offset: number;
  /** Offset of the entry's own header block (after any extended headers). */
  headerOffset: number;
  mode: number;
  uid: number;
  gid: number;
  /**
   * Set for a GNU sparse entry (its name is then the file's real one): the file's size and
   * where the data goes in it. sparseContent (tar-sparse-content.ts) gives the file's bytes.
   */
  sparse?: SparseFile;
}

/** What a reader does after a header block. */
export type TarStep =
  | { kind: 'end' } // the end-of-archive marker (a zero block)
  | { kind: 'skip' } // the block is taken (a zero-sum block, a sparse map block): hand the next one to header()
  | { kind: 'extended'; size: number } // `size` bytes of extended header data follow: hand them to extended()
  | { kind: 'entry'; entry: TarHeaderEntry }; // entry.size data bytes follow

export interface TarStructureOptions {
  /** Refuse more entries than this (E_TOO_LARGE). */
  maxEntries: number;
  /** Hand out names as written (layers report odd names instead of refusing them). */
  rawNames?: boolean;
  /**
   * Header-only typeflags (hard and symbolic links, devices, directories, FIFOs) have no data
   * whatever their size field says, as Go's archive/tar reads them (isHeaderOnlyType): a
   * layer's next header comes right after a link's. Without it only a directory's size is
   * ignored (tar-stream's rule, kept for outer image archives).
   */
  headerOnlyNoData?: boolean;
}

export class TarStructure {
  private localPax: Record<string, string> | null = null;
  private globalPax: Record<string, string> | null = null;
  private longPath: string | null = null;
  private longLink: string | null = null;
  private pending = ''; // typeflag of the extended header whose data is awaited
  private sparseBlocks: SparseBlocks | null = null; // a sparse entry whose map goes on in the next blocks
  private count = 0;
  /** The last entry's name as its header block gives it (named in truncation errors). */
  lastName = '';

  constructor(private readonly opts: TarStructureOptions) {}

  /**
   * Whether the structure is inside an entry's header blocks: a sparse map still to come (old
   * GNU extension blocks, or a 1.0 map in the data). An input may not end there, under any
   * policy: Go's archive/tar reads those blocks with mustReadFull. (A pending pax or long-name
   * header is no such place: Go's Next returns io.EOF when the input ends after one, or in its padding.)
   */
  get inSparseMap(): boolean {
    return this.sparseBlocks !== null;
  }

  /** The 512-byte header block at offset `at`. */
  header(block: Buffer, at: number): TarStep {
    if (this.sparseBlocks) return this.sparseBlock(block, at);
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
    const sparse = flag === 'S' ? oldGnuSparse(block, at) : pax ? paxSparse(pax, at) : undefined;
    if (sparse) {
      if (isHeaderOnly(flag))
        throw new LayerstoreError('E_TAR_CORRUPT', `a sparse file's records on an entry of typeflag ${JSON.stringify(flag)}`, { offset: at });
      if (sparse.name !== undefined) name = sparse.name;
    }
    this.longPath = this.longLink = this.localPax = null;
    if (pax?.size) {
      const v = parseInt(pax.size, 10);
      if (!Number.isSafeInteger(v) || v < 0)
        throw new LayerstoreError('E_TAR_CORRUPT', `pax header has an invalid size ${JSON.stringify(pax.size.slice(0, 40))}`, { offset: at });
      size = v;
    }
    if (header.type === 'directory' || (this.opts.headerOnlyNoData && isHeaderOnly(flag))) size = 0;
    this.lastName = header.name;
    if (++this.count > this.opts.maxEntries)
      throw new LayerstoreError('E_TOO_LARGE', `the archive has more than ${this.opts.maxEntries} entries; this is not an image archive`);
    const offset = at + 512;
    const entry: TarHeaderEntry = {
      name: this.opts.rawNames ? name : normalizeEntryName(name, offset),
      rawName: name,
      type: flag === 'S' ? 'file' : header.type,
      size,
      linkname,
      offset,
      headerOffset: at,
      mode: octalField(block, 100, 8) ?? 0,
      uid: octalField(block, 108, 8) ?? 0,
      gid: octalField(block, 116, 8) ?? 0,
    };
    if (!sparse) return { kind: 'entry', entry };
    const fileSize = sparse.size ?? size; // as in Go: without a real size, the entry's is the file's
    if (sparse.more === undefined) {
      entry.sparse = checkedSparse(sparse.segments, fileSize, size, at);
      return { kind: 'entry', entry };
    }
    const map = sparse.more === 'map-1.0' ? new SparseMap1x0() : undefined;
    if (map) this.mapFits(entry, 1);
    this.sparseBlocks = { entry, fileSize, segments: sparse.segments, map, blocks: 0 };
    return { kind: 'skip' };
  }

  /** One more block of a sparse entry's map; the entry once its map is complete. */
  private sparseBlock(block: Buffer, at: number): TarStep {
    const p = this.sparseBlocks!;
    p.blocks++;
    if (p.blocks * 512 > MAX_SPARSE_MAP_BYTES)
      throw new LayerstoreError('E_TAR_CORRUPT', `the sparse map of ${JSON.stringify(p.entry.rawName)} is over ${MAX_SPARSE_MAP_BYTES} bytes`, {
        offset: at,
      });
    let segments: number[] | undefined;
    if (p.map) {
      segments = p.map.feed(block, at);
      if (!segments) this.mapFits(p.entry, p.blocks + 1);
    } else if (!gnuExtension(block, p.segments, at)) segments = p.segments;
    if (!segments) return { kind: 'skip' };
    this.sparseBlocks = null;
    const entry = p.entry;
    entry.offset = at + 512;
    if (p.map) entry.size -= p.blocks * 512; // the data after the map
    entry.sparse = checkedSparse(segments, p.fileSize, entry.size, entry.headerOffset);
    return { kind: 'entry', entry };
  }

  /** A 1.0 map is part of its entry's data: `blocks` of it must fit there (Go reads it from the data). */
  private mapFits(entry: TarHeaderEntry, blocks: number): void {
    if (blocks * 512 > entry.size)
      throw new LayerstoreError('E_TAR_CORRUPT', `the sparse map of ${JSON.stringify(entry.rawName)} runs past its entry's ${entry.size} data bytes`, {
        offset: entry.headerOffset,
      });
  }

  /** The data of the extended header header() announced. */
  extended(data: Buffer): void {
    const flag = this.pending;
    this.pending = '';
    if (flag === 'x') this.localPax = this.globalPax === null ? decodePax(data) : { ...this.globalPax, ...decodePax(data) };
    else if (flag === 'g')
      this.globalPax = withoutSparse(decodePax(data)); // sparse records describe one file
    else if (flag === 'K') this.longLink = cString(data, 0, data.length);
    else this.longPath = cString(data, 0, data.length); // 'L', 'N'
  }
}

/** A sparse entry between its header and its data, while the blocks of its map are read. */
interface SparseBlocks {
  entry: TarHeaderEntry;
  fileSize: number;
  segments: number[];
  /** The 1.0 map being read from the data; none for old GNU extension blocks. */
  map: SparseMap1x0 | undefined;
  blocks: number;
}

/** Go's archive/tar does not carry global pax records over to later entries; GNU tar writes no sparse ones there. */
function withoutSparse(pax: Record<string, string>): Record<string, string> {
  for (const k of Object.keys(pax)) if (k.startsWith('GNU.sparse.')) delete pax[k];
  return pax;
}

/** Bytes a tar gives `size` data bytes: whole 512-byte blocks. */
export function padded(size: number): number {
  return Math.ceil(size / 512) * 512;
}
