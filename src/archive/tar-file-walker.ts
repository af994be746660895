import type { FileHandle } from 'node:fs/promises';
import { readFullyAt } from '../util/fs-safe.js';
import { emptyInput, noEndMarker, shorterThanHeader, trailingData, truncatedInSparseMap, truncatedInside } from './tar-errors.js';
import { DEFAULT_MAX_ENTRIES } from './tar-limits.js';
import { padded, TarStructure, type TarHeaderEntry } from './tar-structure.js';
import type { TarReadOptions } from './tar-entries.js';

/**
 * The entries of an uncompressed tar file, read by position: only header blocks (and pax
 * and long-name data) are read, and each entry's data is left where it is, as the byte
 * range [offset, offset + size) of the file, for the caller to read (on other threads, in
 * ingest). readTarEntries has to pass every data byte through one stream; this walker
 * lets ingest hash several entries at once on all cores.
 *
 * Both readers drive the same TarStructure, so they accept and refuse the same archives
 * with the same error codes (the tar-entries tests run against both). One difference is by
 * design: an entry whose data runs past the end of the file is refused before it is handed
 * out, because the size of a file is known up front.
 */
export interface WalkOptions extends TarReadOptions {
  /** Bytes read per header read-ahead (default 64 KiB; more for tars of many small files). */
  window?: number;
}

export async function* walkTarFile(fh: FileHandle, fileSize: number, opts: WalkOptions = {}): AsyncGenerator<TarHeaderEntry> {
  const tar = new TarStructure({ maxEntries: opts.maxEntries ?? DEFAULT_MAX_ENTRIES, rawNames: opts.rawNames, headerOnlyNoData: opts.headerOnlyNoData });
  const src = new BlockSource(fh, fileSize, opts.window);
  // 'entry' (a layer, read as Go reads it): the file may end where a header would start or in an entry's padding.
  const atEntryEnd = opts.end === 'entry';
  const finish = () => {
    if (opts.summary) opts.summary.tarBytes = fileSize;
  };
  if (fileSize === 0 && atEntryEnd) return finish();
  if (fileSize === 0) throw emptyInput();
  if (fileSize < 512) throw shorterThanHeader();
  let pos = 0;
  try {
    for (;;) {
      // Never inside an entry's sparse map, under any policy (Go reads its blocks with mustReadFull).
      if (pos + 512 > fileSize && tar.inSparseMap) throw truncatedInSparseMap(tar.lastName, fileSize);
      if (pos === fileSize && atEntryEnd) return finish();
      if (pos === fileSize) throw noEndMarker(pos);
      if (pos + 512 > fileSize) throw truncatedInside(false, tar.lastName, fileSize);
      const block = src.cached(pos, 512) ?? (await src.read(pos, 512));
      const step = tar.header(block, pos);
      const dataAt = pos + 512;
      if (step.kind === 'end') {
        const trailing = await src.firstNonZero(dataAt);
        if (trailing !== undefined && opts.trailing !== 'ignore') throw trailingData(trailing);
        if (opts.summary) {
          if (trailing !== undefined) opts.summary.trailingDataAt = trailing;
          opts.summary.tarBytes = fileSize;
        }
        return;
      }
      if (step.kind === 'skip') {
        pos = dataAt;
        continue;
      }
      const size = step.kind === 'extended' ? step.size : step.entry.size;
      if (atEntryEnd && dataAt + size <= fileSize && dataAt + padded(size) > fileSize) {
        // The data is whole and the file ends in (or instead of) its padding: the end, as Go
        // reads it (an extended header's entry then never comes).
        if (step.kind === 'entry') yield step.entry;
        return finish();
      }
      if (dataAt + padded(size) > fileSize) throw truncatedInside(true, tar.lastName, fileSize);
      if (step.kind === 'extended') tar.extended(src.cached(dataAt, size) ?? (await src.read(dataAt, size)));
      else yield step.entry;
      pos = dataAt + padded(size);
    }
  } finally {
    // The caller closes the file after the walk: no read may still be running then.
    await src.idle();
  }
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
