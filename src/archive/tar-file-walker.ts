import type { FileHandle } from 'node:fs/promises';
import { LayerstoreError } from '../errors.js';
import { normalizeEntryName } from './entry-name.js';
import type { ReadTarOptions, TarEntryHeader } from './tar-entries.js';
import { checksumOk, cString, decodeHeader, decodePax, emptyExtendedHeader, isZeroBlock, nameOf, parseSize } from './tar-header.js';

/**
 * The entries of an uncompressed tar file, read by position: only header blocks (and pax
 * and long-name data) are read, and each entry's data is left where it is, as the byte
 * range [offset, offset + size) of the file, for the caller to read (on other threads, in
 * ingest). readTarEntries has to pass every data byte through one stream; this walker
 * lets ingest hash several entries at once on all cores.
 *
 * It accepts and refuses exactly what readTarEntries does (TarBlockScanner's structure
 * rules, then tar-stream's decoding), with the same error codes: the tar-entries tests run
 * against both. One difference is by design: an entry whose data runs past the end of the
 * file is refused before it is handed out, because the size of a file is known up front.
 */
export async function* walkTarFile(fh: FileHandle, fileSize: number, opts: ReadTarOptions = {}): AsyncGenerator<TarEntryHeader> {
  const maxEntries = opts.maxEntries ?? 200_000;
  const src = new BlockSource(fh, fileSize);
  if (fileSize === 0) throw new LayerstoreError('E_EMPTY', 'the input is empty', { offset: 0 });
  if (fileSize < 512) throw new LayerstoreError('E_NOT_TAR', 'not a tar archive (shorter than one tar header)', { offset: 0 });
  let pos = 0;
  let count = 0;
  let lastName = ''; // the last real entry's name, for truncation messages
  let localPax: Record<string, string> | null = null;
  let globalPax: Record<string, string> | null = null;
  let longPath: string | null = null;
  let longLink: string | null = null;
  const truncated = (inData: boolean, at: number) =>
    new LayerstoreError('E_TRUNCATED', `the archive is truncated: it ends inside ${inData ? 'the data of' : 'the header after'} entry ${JSON.stringify(lastName)}`, {
      entry: lastName || undefined,
      offset: at,
      hint: 'the file was cut short (interrupted copy or download?); produce it again',
    });
  for (;;) {
    if (pos === fileSize) {
      throw new LayerstoreError('E_TRUNCATED', 'the archive is truncated: it has no end-of-archive marker (cut at a block boundary?)', {
        offset: pos,
        hint: 'the file was cut short (interrupted copy or download?); produce it again',
      });
    }
    if (pos + 512 > fileSize) throw truncated(false, fileSize);
    const block = await src.read(pos, 512);
    if (isZeroBlock(block)) {
      await src.expectZerosFrom(pos + 512);
      return;
    }
    if (!checksumOk(block)) {
      throw pos === 0
        ? new LayerstoreError('E_NOT_TAR', 'not a tar archive (the first block is not a valid tar header)', { offset: 0 })
        : new LayerstoreError('E_TAR_CORRUPT', 'tar header checksum does not match; the archive is damaged', { offset: pos });
    }
    const at = pos;
    let size = parseSize(block, at);
    const header = decodeHeader(block, at);
    const dataAt = at + 512;
    if (header === null) {
      // tar-stream skips a block whose checksum is that of an all-zero block.
      pos = dataAt;
      continue;
    }
    const flag = header.typeflag;
    const empty = emptyExtendedHeader(flag, size, at);
    if (empty) throw empty;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K' || flag === 'N') {
      const limit = flag === 'N' ? 4 * 1024 * 1024 : 1024 * 1024;
      if (size > limit) throw new LayerstoreError('E_TAR_CORRUPT', `${flag === 'x' || flag === 'g' ? 'pax' : 'long-name'} header of ${size} bytes is too large`, { offset: at });
      if (dataAt + padded(size) > fileSize) throw truncated(true, fileSize);
      const data = await src.read(dataAt, size);
      if (flag === 'x') localPax = globalPax === null ? decodePax(data) : { ...globalPax, ...decodePax(data) };
      else if (flag === 'g') globalPax = decodePax(data);
      else if (flag === 'K') longLink = cString(data, 0, data.length);
      else longPath = cString(data, 0, data.length);
      pos = dataAt + padded(size);
      continue;
    }
    // A real entry: long names first, then pax records, override the header's fields.
    let name = longPath ?? header.name;
    let linkname = longLink ?? header.linkname;
    if (localPax?.path) name = localPax.path;
    if (localPax?.linkpath) linkname = localPax.linkpath;
    const paxSize = localPax?.size;
    longPath = longLink = localPax = null;
    if (paxSize) {
      const v = parseInt(paxSize, 10);
      if (!Number.isSafeInteger(v) || v < 0) throw new LayerstoreError('E_TAR_CORRUPT', `pax header has an invalid size ${JSON.stringify(paxSize.slice(0, 40))}`, { offset: at });
      size = v;
    }
    if (flag === '5') size = 0;
    lastName = nameOf(block);
    if (++count > maxEntries) throw new LayerstoreError('E_TOO_LARGE', `the archive has more than ${maxEntries} entries; this is not an image archive`);
    const entry: TarEntryHeader = { name: normalizeEntryName(name, dataAt), rawName: name, type: header.type, size, linkname, offset: dataAt };
    if (dataAt + padded(size) > fileSize) throw truncated(true, fileSize);
    yield entry;
    pos = dataAt + padded(size);
  }
}

function padded(size: number): number {
  return Math.ceil(size / 512) * 512;
}

/** Positional reads through a small window, so consecutive headers cost one read. */
class BlockSource {
  private window = Buffer.alloc(0);
  private windowAt = 0;
  private static readonly WINDOW = 64 * 1024;

  constructor(
    private readonly fh: FileHandle,
    private readonly size: number,
  ) {}

  /** `len` bytes at `pos` (the caller has checked they are inside the file). */
  async read(pos: number, len: number): Promise<Buffer> {
    if (pos >= this.windowAt && pos + len <= this.windowAt + this.window.length) {
      return this.window.subarray(pos - this.windowAt, pos - this.windowAt + len);
    }
    const want = Math.min(Math.max(len, BlockSource.WINDOW), this.size - pos);
    const buf = Buffer.allocUnsafe(want);
    let got = 0;
    while (got < want) {
      const { bytesRead } = await this.fh.read(buf, got, want - got, pos + got);
      if (bytesRead === 0) throw new LayerstoreError('E_IO', 'the input file got shorter while it was read', { offset: pos + got });
      got += bytesRead;
    }
    this.window = buf;
    this.windowAt = pos;
    return buf.subarray(0, len);
  }

  /** After the end-of-archive block only zeros may follow (GNU tar pads to a 10 KiB record). */
  async expectZerosFrom(pos: number): Promise<void> {
    const chunk = 1024 * 1024;
    for (let at = pos; at < this.size; at += chunk) {
      const buf = await this.read(at, Math.min(chunk, this.size - at));
      let i = 0;
      while (i < buf.length && buf[i] === 0) i++;
      if (i < buf.length) {
        throw new LayerstoreError('E_TRAILING_DATA', 'there is data after the end-of-archive marker', {
          offset: at + i,
          hint: 'the file may be two archives concatenated, or damaged',
        });
      }
    }
  }
}
