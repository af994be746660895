import { Transform, type TransformCallback } from 'node:stream';
import { LayerstoreError } from '../errors.js';
import { checksumOk, decodePax, emptyExtendedHeader, isZeroBlock, nameOf, parseSize } from './tar-header.js';

/**
 * Walks the 512-byte block structure of a tar stream ahead of tar-stream, which on its own
 * skips zero blocks and keeps reading after the end-of-archive marker, and accepts a tar
 * cut at a block boundary. This walker checks header checksums, stops forwarding at the
 * end-of-archive marker, rejects non-zero bytes after it, and reports truncation, all with
 * byte offsets. It follows tar-stream's rules for how many data bytes follow a header
 * (pax `size` overrides, directories carry none) so both see the same structure.
 */
export interface TarBlockScannerOptions {
  /**
   * What to do with non-zero bytes after the end-of-archive marker: 'reject' (outer image
   * archives: E_TRAILING_DATA) or 'ignore' (the tar inside a layer: eStargz keeps its TOC
   * there, and runtimes stop at the marker; the offset is kept in `trailingDataAt`).
   */
  trailing?: 'reject' | 'ignore';
}

export class TarBlockScanner extends Transform {
  private readonly trailing: 'reject' | 'ignore';
  /** Offset of the first non-zero byte after the end-of-archive marker, when ignored. */
  trailingDataAt: number | undefined;
  /** Every byte seen, including any after the end-of-archive marker. */
  bytesSeen = 0;
  private pos = 0; // absolute offset of the next byte to consume
  private header: Buffer = Buffer.alloc(0); // partial header block
  private skip = 0; // data bytes (with padding) still to forward for the current entry
  private capture: Buffer[] | null = null; // pax data being collected
  private captureLeft = 0;
  private captureKind: 'x' | 'g' | null = null;
  // pax records as tar-stream keeps them: the last local header replaces the previous one,
  // the last global header replaces the previous global one; both apply to the next entry.
  private localPax: Record<string, string> | null = null;
  private globalPax: Record<string, string> | null = null;
  private ended = false; // saw the first zero block
  private entryName = '';
  private entryStart = 0;
  private readonly maxPaxBytes = 1024 * 1024;
  /** Number of entries seen (headers that are not pax/long-name headers). */
  entries = 0;
  /** Data offsets of GNU sparse ("S") entries, whose typeflag tar-stream does not report. */
  private readonly sparseAt = new Set<number>();

  constructor(opts: TarBlockScannerOptions = {}) {
    super();
    this.trailing = opts.trailing ?? 'reject';
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytesSeen += chunk.length;
    try {
      this.consume(chunk);
      cb();
    } catch (e) {
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    if (this.ended) return cb();
    if (this.pos === 0 && this.header.length === 0) return cb(new LayerstoreError('E_EMPTY', 'the input is empty', { offset: 0 }));
    if (this.pos === 0) return cb(new LayerstoreError('E_NOT_TAR', 'not a tar archive (shorter than one tar header)', { offset: 0 }));
    if (this.skip > 0 || this.header.length > 0) {
      return cb(
        new LayerstoreError('E_TRUNCATED', `the archive is truncated: it ends inside ${this.skip > 0 ? 'the data of' : 'the header after'} entry ${JSON.stringify(this.entryName)}`, {
          entry: this.entryName || undefined,
          offset: this.pos,
          hint: 'the file was cut short (interrupted copy or download?); produce it again',
        }),
      );
    }
    cb(
      new LayerstoreError('E_TRUNCATED', 'the archive is truncated: it has no end-of-archive marker (cut at a block boundary?)', {
        offset: this.pos,
        hint: 'the file was cut short (interrupted copy or download?); produce it again',
      }),
    );
  }

  private consume(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.ended) {
        // After the first zero block only zeros may follow (GNU tar pads to a 10 KiB record).
        if (this.trailingDataAt !== undefined) return;
        for (let j = i; j < chunk.length; j++) {
          if (chunk[j] !== 0) {
            if (this.trailing === 'ignore') {
              this.trailingDataAt = this.pos + (j - i);
              return;
            }
            throw new LayerstoreError('E_TRAILING_DATA', 'there is data after the end-of-archive marker', {
              offset: this.pos + (j - i),
              hint: 'the file may be two archives concatenated, or damaged',
            });
          }
        }
        this.pos += chunk.length - i;
        return;
      }
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - i);
        const part = chunk.subarray(i, i + n);
        if (this.capture) this.collect(part);
        this.push(part);
        this.skip -= n;
        this.pos += n;
        i += n;
        continue;
      }
      const need = 512 - this.header.length;
      const take = Math.min(need, chunk.length - i);
      this.header = this.header.length === 0 && take === 512 ? chunk.subarray(i, i + 512) : Buffer.concat([this.header, chunk.subarray(i, i + take)]);
      i += take;
      if (this.header.length < 512) return;
      const block = this.header;
      this.header = Buffer.alloc(0);
      this.onHeader(block);
    }
  }

  /** Whether the entry whose data starts at `offset` is a GNU sparse ("S") entry (asked once per entry). */
  takeSparse(offset: number): boolean {
    return this.sparseAt.delete(offset);
  }

  private collect(part: Buffer): void {
    const n = Math.min(part.length, this.captureLeft);
    if (n > 0) this.capture!.push(part.subarray(0, n));
    this.captureLeft -= n;
    if (this.captureLeft === 0) {
      const records = decodePax(Buffer.concat(this.capture!));
      if (this.captureKind === 'x') this.localPax = this.globalPax === null ? records : { ...this.globalPax, ...records };
      else this.globalPax = records;
      this.capture = null;
      this.captureKind = null;
    }
  }

  private onHeader(block: Buffer): void {
    const at = this.pos;
    if (isZeroBlock(block)) {
      this.ended = true;
      this.pos += 512;
      return;
    }
    if (!checksumOk(block)) {
      throw at === 0
        ? new LayerstoreError('E_NOT_TAR', 'not a tar archive (the first block is not a valid tar header)', { offset: 0 })
        : new LayerstoreError('E_TAR_CORRUPT', 'tar header checksum does not match; the archive is damaged', { offset: at });
    }
    const type = String.fromCharCode(block[156]!);
    let size = parseSize(block, at);
    const empty = emptyExtendedHeader(type, size, at);
    if (empty) throw empty;
    this.push(block);
    this.pos += 512;
    if (type === 'x' || type === 'g') {
      if (size > this.maxPaxBytes) throw new LayerstoreError('E_TAR_CORRUPT', `pax header of ${size} bytes is too large`, { offset: at });
      this.capture = [];
      this.captureLeft = size;
      this.captureKind = type;
      if (size === 0) this.collect(Buffer.alloc(0));
    } else if (type === 'L' || type === 'K') {
      if (size > this.maxPaxBytes) throw new LayerstoreError('E_TAR_CORRUPT', `long-name header of ${size} bytes is too large`, { offset: at });
    } else {
      // A real entry. tar-stream applies a pax size only when a local pax header precedes
      // it (merged with any global one), and reads no data for directories.
      this.entries++;
      if (type === 'S') this.sparseAt.add(at + 512);
      this.entryName = nameOf(block);
      this.entryStart = at;
      const paxSizeText = this.localPax?.size;
      this.localPax = null;
      if (paxSizeText) {
        const v = parseInt(paxSizeText, 10);
        if (!Number.isSafeInteger(v) || v < 0) throw new LayerstoreError('E_TAR_CORRUPT', `pax header has an invalid size ${JSON.stringify(paxSizeText.slice(0, 40))}`, { offset: at });
        size = v;
      }
      if (type === '5') size = 0;
    }
    this.skip = size === 0 ? 0 : Math.ceil(size / 512) * 512;
  }
}
