import type { FileHandle } from 'node:fs/promises';
import { LayerstoreError } from '../errors.js';
import { normalizeEntryName } from './entry-name.js';
import { readFullyAt } from '../util/fs-safe.js';
import type { ReadTarOptions, TarEntryHeader } from './tar-entries.js';
import { blockSums, checksumOk, cString, decodeHeader, decodePax, emptyExtendedHeader, isExtendedHeader, isZeroBlock, nameOf, octalField, parseSize, sparseName } from './tar-header.js';

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
export interface WalkOptions extends ReadTarOptions {
  /**
   * Data after the end-of-archive marker: 'reject' (outer archives, E_TRAILING_DATA) or
   * 'ignore' (the tar inside a layer; its offset goes to `summary.trailingDataAt`), as
   * TarBlockScanner's option of the same name.
   */
  trailing?: 'reject' | 'ignore';
  /** Hand out names as written (layers report odd names instead of refusing them). */
  rawNames?: boolean;
  /** Bytes read per header read-ahead (default 64 KiB; more for tars of many small files). */
  window?: number;
  /** Filled in when the walk ends normally. */
  summary?: { trailingDataAt?: number };
}

/** An entry as the walker sees it: the header fields layers report, too. */
export interface WalkedEntry extends TarEntryHeader {
  /** Offset of the entry's own header block (after any pax or long-name headers). */
  headerOffset: number;
  mode: number;
  uid: number;
  gid: number;
}

export async function* walkTarFile(fh: FileHandle, fileSize: number, opts: WalkOptions = {}): AsyncGenerator<WalkedEntry> {
  const maxEntries = opts.maxEntries ?? 200_000;
  const src = new BlockSource(fh, fileSize, opts.window);
  if (fileSize === 0) throw new LayerstoreError('E_EMPTY', 'the input is empty', { offset: 0 });
  if (fileSize < 512) throw new LayerstoreError('E_NOT_TAR', 'not a tar archive (shorter than one tar header)', { offset: 0 });
  let pos = 0;
  let count = 0;
  let lastHeaderAt: number | undefined; // the last real entry's header, named in truncation messages
  let localPax: Record<string, string> | null = null;
  let globalPax: Record<string, string> | null = null;
  let longPath: string | null = null;
  let longLink: string | null = null;
  const truncated = async (inData: boolean, at: number) => {
    const lastName = lastHeaderAt === undefined ? '' : nameOf(Buffer.from(await src.read(lastHeaderAt, 512)));
    return new LayerstoreError('E_TRUNCATED', `the archive is truncated: it ends inside ${inData ? 'the data of' : 'the header after'} entry ${JSON.stringify(lastName)}`, {
      entry: lastName || undefined,
      offset: at,
      hint: 'the file was cut short (interrupted copy or download?); produce it again',
    });
  };
  try {
    for (;;) {
      if (pos === fileSize) {
        throw new LayerstoreError('E_TRUNCATED', 'the archive is truncated: it has no end-of-archive marker (cut at a block boundary?)', {
          offset: pos,
          hint: 'the file was cut short (interrupted copy or download?); produce it again',
        });
      }
      if (pos + 512 > fileSize) throw await truncated(false, fileSize);
      const block = src.cached(pos, 512) ?? (await src.read(pos, 512));
      if (isZeroBlock(block)) {
        const trailing = await src.firstNonZero(pos + 512);
        if (trailing !== undefined && opts.trailing !== 'ignore') {
          throw new LayerstoreError('E_TRAILING_DATA', 'there is data after the end-of-archive marker', {
            offset: trailing,
            hint: 'the file may be two archives concatenated, or damaged',
          });
        }
        if (opts.summary && trailing !== undefined) opts.summary.trailingDataAt = trailing;
        return;
      }
      const sums = blockSums(block);
      if (!checksumOk(block, sums)) {
        throw pos === 0
          ? new LayerstoreError('E_NOT_TAR', 'not a tar archive (the first block is not a valid tar header)', { offset: 0 })
          : new LayerstoreError('E_TAR_CORRUPT', 'tar header checksum does not match; the archive is damaged', { offset: pos });
      }
      const at = pos;
      let size = parseSize(block, at);
      const header = decodeHeader(block, at, sums.unsigned);
      const dataAt = at + 512;
      if (header === null) {
        // tar-stream skips a block whose checksum is that of an all-zero block.
        pos = dataAt;
        continue;
      }
      const flag = header.typeflag;
      const empty = emptyExtendedHeader(flag, size, at);
      if (empty) throw empty;
      if (isExtendedHeader(flag)) {
        const limit = flag === 'N' ? 4 * 1024 * 1024 : 1024 * 1024;
        if (size > limit) throw new LayerstoreError('E_TAR_CORRUPT', `${flag === 'x' || flag === 'g' ? 'pax' : 'long-name'} header of ${size} bytes is too large`, { offset: at });
        if (dataAt + padded(size) > fileSize) throw await truncated(true, fileSize);
        const data = src.cached(dataAt, size) ?? (await src.read(dataAt, size));
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
      const sparse = sparseName(flag, name, localPax);
      longPath = longLink = localPax = null;
      if (paxSize) {
        const v = parseInt(paxSize, 10);
        if (!Number.isSafeInteger(v) || v < 0) throw new LayerstoreError('E_TAR_CORRUPT', `pax header has an invalid size ${JSON.stringify(paxSize.slice(0, 40))}`, { offset: at });
        size = v;
      }
      if (flag === '5') size = 0;
      lastHeaderAt = at;
      if (++count > maxEntries) throw new LayerstoreError('E_TOO_LARGE', `the archive has more than ${maxEntries} entries; this is not an image archive`);
      const entry: WalkedEntry = {
        name: opts.rawNames ? name : normalizeEntryName(name, dataAt),
        rawName: name,
        type: header.type,
        size,
        linkname,
        offset: dataAt,
        headerOffset: at,
        mode: octalField(block, 100, 8) ?? 0,
        uid: octalField(block, 108, 8) ?? 0,
        gid: octalField(block, 116, 8) ?? 0,
      };
      if (sparse !== undefined) entry.sparseName = sparse;
      if (dataAt + padded(size) > fileSize) throw await truncated(true, fileSize);
      yield entry;
      pos = dataAt + padded(size);
    }
  } finally {
    // The caller closes the file after the walk: no read may still be running then.
    await src.idle();
  }
}

function padded(size: number): number {
  return Math.ceil(size / 512) * 512;
}

/**
 * Positional reads through a window, so consecutive headers cost one read. The window's
 * two buffers are reused (fresh buffers cost a page fault per 4 KiB), and while the walk
 * moves forward through the file (a tar of many small files), the next window is read
 * ahead into the other buffer. A Buffer handed out is valid until the next read() call.
 */
class BlockSource {
  private readonly bufs: Buffer[];
  private active = 0;
  private window: Buffer = Buffer.alloc(0);
  private windowAt = 0;
  private ahead: { at: number; buf: number; done: Promise<number> } | undefined;

  constructor(
    private readonly fh: FileHandle,
    private readonly size: number,
    private readonly windowBytes = 64 * 1024,
  ) {
    const n = Math.min(windowBytes, size);
    this.bufs = [Buffer.allocUnsafe(n), Buffer.allocUnsafe(n)];
  }

  /** `len` bytes at `pos` when the window holds them (no await needed). */
  cached(pos: number, len: number): Buffer | undefined {
    if (pos >= this.windowAt && pos + len <= this.windowAt + this.window.length) {
      return this.window.subarray(pos - this.windowAt, pos - this.windowAt + len);
    }
    return undefined;
  }

  /** `len` bytes at `pos` (the caller has checked they are inside the file). */
  async read(pos: number, len: number): Promise<Buffer> {
    const hit = this.cached(pos, len);
    if (hit) return hit;
    if (len > this.bufs[0]!.length) {
      // Longer than a window (a big pax header): a buffer of its own.
      const buf = Buffer.allocUnsafe(len);
      await this.fill(buf, pos, len);
      return buf;
    }
    const sequential = pos < this.windowAt + this.window.length + this.windowBytes;
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead) {
      const got = await ahead.done;
      if (pos >= ahead.at && pos + len <= ahead.at + got) {
        this.use(ahead.buf, ahead.at, got);
      } else {
        ahead.at = -1; // not where the walk went
      }
    }
    if (!this.cached(pos, len)) {
      const buf = 1 - this.active;
      const target = this.bufs[buf]!;
      const got = await this.fill(target, pos, Math.min(target.length, this.size - pos));
      this.use(buf, pos, got);
    }
    const next = this.windowAt + this.window.length;
    if (sequential && next < this.size) {
      const buf = 1 - this.active;
      const target = this.bufs[buf]!;
      const done = this.fill(target, next, Math.min(target.length, this.size - next));
      done.catch(() => {}); // a failed read-ahead is retried by the read that needs it
      this.ahead = { at: next, buf, done };
    }
    return this.cached(pos, len)!;
  }

  private use(buf: number, at: number, len: number): void {
    this.active = buf;
    this.window = this.bufs[buf]!.subarray(0, len);
    this.windowAt = at;
  }

  private async fill(buf: Buffer, pos: number, want: number): Promise<number> {
    await readFullyAt(this.fh.fd, buf, pos, want);
    return want;
  }

  /** Wait for a read-ahead still in flight (before the file is closed). */
  async idle(): Promise<void> {
    await this.ahead?.done.catch(() => {});
  }

  /** After the end-of-archive block only zeros may follow (GNU tar pads to a 10 KiB record). */
  async firstNonZero(pos: number): Promise<number | undefined> {
    const chunk = 1024 * 1024;
    for (let at = pos; at < this.size; at += chunk) {
      const buf = await this.read(at, Math.min(chunk, this.size - at));
      let i = 0;
      while (i < buf.length && buf[i] === 0) i++;
      if (i < buf.length) return at + i;
    }
    return undefined;
  }
}
