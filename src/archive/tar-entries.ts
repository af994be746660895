import type { Readable } from 'node:stream';
import type { LayerstoreError } from '../errors.js';
import { emptyInput, mapTarError, noEndMarker, shorterThanHeader, trailingData, truncatedInSparseMap, truncatedInside } from './tar-errors.js';
import { DEFAULT_MAX_ENTRIES } from './tar-limits.js';
import { padded, TarStructure, type TarHeaderEntry } from './tar-structure.js';

import type { EntryType } from './tar-header.js';

export type { EntryType };
export { mapTarError };

/** One archive entry's header, as read from the archive (see TarEntry for the body). */
export type TarEntryHeader = TarHeaderEntry;

/** One archive entry. `body` must be read to its end (or left alone) before the next entry is asked for. */
export interface TarEntry extends TarHeaderEntry {
  body: AsyncIterable<Buffer>;
}

/** Options both readers (readTarEntries, walkTarFile) take. */
export interface TarReadOptions {
  /** Refuse archives with more entries than this (E_TOO_LARGE); an image archive has few. */
  maxEntries?: number;
  /**
   * Data after the end-of-archive marker: 'reject' (outer image archives: E_TRAILING_DATA)
   * or 'ignore' (the tar inside a layer: eStargz keeps its TOC there, and runtimes stop at
   * the marker; its offset goes to `summary.trailingDataAt`).
   */
  trailing?: 'reject' | 'ignore';
  /** Hand out names as written (layers report odd names instead of refusing them). */
  rawNames?: boolean;
  /**
   * Where the input may end: 'marker' (outer image archives: only after the end-of-archive
   * marker, else E_TRUNCATED / E_EMPTY) or 'entry' (the tar inside a layer, read as Go's
   * archive/tar reads it for docker, containerd and podman: the input may also end where a
   * header would start or in the padding of an entry or of an extended header, and an empty
   * input is an empty archive; an end inside a header, a sparse map or any data is still
   * E_TRUNCATED).
   */
  end?: 'marker' | 'entry';
  /** Header-only typeflags carry no data whatever their size says, as Go reads a layer (TarStructureOptions). */
  headerOnlyNoData?: boolean;
  /** Filled in when the read ends normally. */
  summary?: TarSummary;
}

export interface TarSummary {
  /** Bytes of the tar, including any after the end-of-archive marker. */
  tarBytes?: number;
  trailingDataAt?: number;
}

export interface ReadTarStreamOptions extends TarReadOptions {
  /** Turn an error of `input` (decompressor, file read) into a coded one (default: mapTarError). */
  mapInputError?: (e: unknown) => LayerstoreError;
}

/**
 * Iterate the entries of a tar stream with coded errors: the streaming reader of the tar
 * engine (TarStructure has the rules; walkTarFile is the positional reader). Entry bodies
 * are sub-arrays of the input's chunks, nothing is copied; the whole input is read (after
 * the end-of-archive marker only zeros may follow, or with `trailing: 'ignore'` anything).
 */
export async function* readTarEntries(input: Readable, opts: ReadTarStreamOptions = {}): AsyncGenerator<TarEntry> {
  const tar = new TarStructure({ maxEntries: opts.maxEntries ?? DEFAULT_MAX_ENTRIES, rawNames: opts.rawNames, headerOnlyNoData: opts.headerOnlyNoData });
  const src = new ChunkSource(input, opts.mapInputError ?? ((e) => mapTarError(e)));
  let generation = 0; // which entry's body may read
  const atEntryEnd = opts.end === 'entry';
  const finish = () => {
    if (opts.summary) opts.summary.tarBytes = src.pos;
  };
  try {
    for (;;) {
      const at = src.pos;
      const block = await src.take(512);
      // Where a new header would start, a layer may end; never inside an entry's sparse map.
      if (block.length === 0 && atEntryEnd && !tar.inSparseMap) return finish();
      if (block.length < 512) {
        if (tar.inSparseMap) throw truncatedInSparseMap(tar.lastName, src.pos);
        if (at === 0) throw block.length === 0 ? emptyInput() : shorterThanHeader();
        throw block.length === 0 ? noEndMarker(at) : truncatedInside(false, tar.lastName, src.pos);
      }
      const step = tar.header(block, at);
      if (step.kind === 'end') {
        const trailing = await src.firstNonZeroToEnd(opts.trailing !== 'ignore');
        if (trailing !== undefined && opts.trailing !== 'ignore') throw trailingData(trailing);
        if (opts.summary && trailing !== undefined) opts.summary.trailingDataAt = trailing;
        return finish();
      }
      if (step.kind === 'skip') continue;
      if (step.kind === 'extended') {
        const data = await src.take(step.size);
        if (data.length < step.size) throw truncatedInside(true, tar.lastName, src.pos);
        tar.extended(data);
        const pad = padded(step.size) - step.size;
        // Go's reader takes an end in an extended header's padding as the archive's end (its
        // entry never came), as it does after an entry's data.
        if (atEntryEnd && (await src.skipUpTo(pad)) < pad) return finish();
        if (!atEntryEnd && !(await src.skip(pad))) throw truncatedInside(true, tar.lastName, src.pos);
        continue;
      }
      const entry = step.entry;
      const mine = ++generation;
      let left = padded(entry.size); // data and padding not yet read
      let dataLeft = entry.size;
      const lastName = tar.lastName;
      const body = (async function* (): AsyncGenerator<Buffer> {
        while (dataLeft > 0) {
          // A caller bug, not bad input: the source has moved on to the next entry.
          if (mine !== generation) throw new Error('tar entry body read after the next entry was asked for');
          const chunk = await src.upTo(dataLeft);
          if (chunk.length === 0) throw truncatedInside(true, lastName, src.pos);
          dataLeft -= chunk.length;
          left -= chunk.length;
          yield chunk;
        }
      })();
      yield { ...entry, body };
      generation++; // the body may not read from here on
      // Whatever the caller left unread (the whole body, then the padding) is skipped.
      const pad = left - dataLeft;
      if (!(await src.skip(dataLeft))) throw truncatedInside(true, lastName, src.pos);
      // Go's reader takes an input ending in (or instead of) the padding as the archive's end.
      if (atEntryEnd && (await src.skipUpTo(pad)) < pad) return finish();
      if (!atEntryEnd && !(await src.skip(pad))) throw truncatedInside(true, lastName, src.pos);
    }
  } finally {
    src.close();
  }
}

const EMPTY = Buffer.alloc(0);

/** Pulls an input's chunks on demand and hands out parts of them, tracking the offset. */
class ChunkSource {
  /** Absolute offset of the next byte to hand out. */
  pos = 0;
  private chunk: Buffer = EMPTY;
  private at = 0; // next unread byte in chunk
  private readonly it: AsyncIterator<unknown>;
  private ended = false;

  constructor(
    private readonly input: Readable,
    private readonly mapError: (e: unknown) => LayerstoreError,
  ) {
    this.it = input[Symbol.asyncIterator]();
  }

  /** Load the next non-empty chunk; false at the end of the input. */
  private async fill(): Promise<boolean> {
    while (!this.ended) {
      let r: IteratorResult<unknown>;
      try {
        r = await this.it.next();
      } catch (e) {
        throw this.mapError(e);
      }
      if (r.done) {
        this.ended = true;
        break;
      }
      const c = r.value as Buffer | Uint8Array;
      if (c.length === 0) continue;
      this.chunk = Buffer.isBuffer(c) ? c : Buffer.from(c.buffer, c.byteOffset, c.length);
      this.at = 0;
      return true;
    }
    return false;
  }

  /** Up to `max` bytes from the current chunk (a sub-array); empty only at the end of the input. */
  async upTo(max: number): Promise<Buffer> {
    if (this.at === this.chunk.length && !(await this.fill())) return EMPTY;
    const n = Math.min(max, this.chunk.length - this.at);
    const out = this.chunk.subarray(this.at, this.at + n);
    this.at += n;
    this.pos += n;
    return out;
  }

  /** Exactly `n` bytes (a sub-array when one chunk holds them), or fewer at the end of the input. */
  async take(n: number): Promise<Buffer> {
    const first = await this.upTo(n);
    if (first.length === n || first.length === 0) return first;
    const parts = [first];
    let got = first.length;
    while (got < n) {
      const more = await this.upTo(n - got);
      if (more.length === 0) break;
      parts.push(more);
      got += more.length;
    }
    return Buffer.concat(parts, got);
  }

  /** Pass over up to `n` bytes; how many there were before the input ended. */
  async skipUpTo(n: number): Promise<number> {
    let done = 0;
    while (done < n) {
      const part = await this.upTo(n - done);
      if (part.length === 0) break;
      done += part.length;
    }
    return done;
  }

  /** Pass over `n` bytes; false when the input ends first. */
  async skip(n: number): Promise<boolean> {
    return (await this.skipUpTo(n)) === n;
  }

  /**
   * Read the input to its end (or to its first non-zero byte when `stop`); the offset of the
   * first non-zero byte from here, if any.
   */
  async firstNonZeroToEnd(stop: boolean): Promise<number | undefined> {
    let found: number | undefined;
    for (;;) {
      const part = await this.upTo(Infinity);
      if (part.length === 0) return found;
      if (found === undefined) {
        let i = 0;
        while (i < part.length && part[i] === 0) i++;
        if (i < part.length) found = this.pos - part.length + i;
        if (found !== undefined && stop) return found;
      }
    }
  }

  close(): void {
    this.input.destroy();
  }
}
