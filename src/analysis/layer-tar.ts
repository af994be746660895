import type { Readable } from 'node:stream';
import tar from 'tar-stream';
import { LayerstoreError, isLayerstoreError } from '../errors.js';
import { TarBlockScanner } from '../archive/tar-block-scanner.js';
import { mapTarError } from '../archive/tar-entries.js';

/**
 * Reading the tar INSIDE a layer blob (as opposed to an outer image archive).
 *
 * Why not archive/tar-entries.ts readTarEntries? It is right for outer archives and wrong
 * for layers in one rule: it rejects any non-zero byte after the end-of-archive marker
 * (E_TRAILING_DATA). Real layers carry such bytes: an eStargz layer puts its TOC entry
 * (stargz.index.json) and footer after the zero blocks, and other writers pad. What a
 * container runtime extracts is what Go's archive/tar returns, and that reader stops at the
 * end-of-archive marker. So for layers we keep every other check of TarBlockScanner
 * (header checksums, truncation inside an entry or before any end marker, pax sizes) and
 * only turn "data after the end" from an error into a recorded offset: the entries before
 * the marker are the layer's file system; what follows is ignored, like GNU tar and the
 * runtimes do. The diffID is still the hash of the whole stream, computed by the caller.
 *
 * tar-stream on its own would be worse here: it skips zero blocks and keeps reading, so
 * the eStargz TOC would show up as a file of the image, and it accepts a tar cut at a
 * block boundary (DESIGN.md §8.9). The gate below sits in front of it.
 */
export class LayerBlockGate extends TarBlockScanner {
  constructor() {
    super({ trailing: 'ignore' });
  }

  /** Bytes of tar stream seen, including anything after the end-of-archive marker. */
  get totalBytes(): number {
    return this.bytesSeen;
  }
}

/** Entry kinds as tar-stream names them (null: a typeflag it does not know, e.g. GNU sparse). */
export type TarKind = 'file' | 'contiguous-file' | 'link' | 'symlink' | 'directory' | 'character-device' | 'block-device' | 'fifo' | null;

export interface LayerTarEntry {
  /** The name as the archive spells it (after pax/GNU long-name headers), not normalized. */
  rawName: string;
  rawLinkname?: string;
  kind: TarKind;
  mode: number;
  uid: number;
  gid: number;
  /** Data bytes after the header (the content size of a regular file). */
  size: number;
  /** Offset of the entry's header in the tar stream. */
  offset: number;
  /**
   * The entry's data. Read it to the end or leave it: an unread body is drained before the
   * next entry is produced. Never read it after asking for the next entry.
   */
  body: AsyncIterable<Buffer>;
}

export interface ReadLayerOptions {
  /** Refuse layers with more entries than this (memory guard). Default 2,000,000. */
  maxEntries?: number;
  /** Turn an error of `input` (decompressor, file read) into a coded one. */
  mapInputError?: (e: unknown) => LayerstoreError;
}

export interface LayerTarSummary {
  /** Bytes of the tar stream, including bytes after the end-of-archive marker. */
  tarBytes: number;
  trailingDataAt?: number;
}

/**
 * Iterate the entries of a layer's tar stream (already decompressed). Entry streams are
 * always drained and their error events handled, so a hostile layer cannot stall or kill
 * the process. Errors are LayerstoreErrors: E_TRUNCATED, E_TAR_CORRUPT, E_NOT_TAR, E_EMPTY,
 * E_TOO_LARGE, or whatever mapInputError makes of an input error.
 *
 * `summary` is filled in once the generator has finished normally.
 */
export async function* readLayerEntries(input: Readable, summary: LayerTarSummary = { tarBytes: 0 }, opts: ReadLayerOptions = {}): AsyncGenerator<LayerTarEntry> {
  const maxEntries = opts.maxEntries ?? 2_000_000;
  const mapInput = opts.mapInputError ?? ((e: unknown) => (isLayerstoreError(e) ? e : new LayerstoreError('E_IO', String((e as Error)?.message ?? e), { cause: e })));
  const gate = new LayerBlockGate();
  // allowUnknownFormat: accept pre-POSIX (v7) headers too; the gate has checked checksums.
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
  let failure: LayerstoreError | undefined;
  const fail = (e: LayerstoreError) => {
    failure ??= e;
    extract.destroy(failure);
  };
  input.on('error', (e) => fail(mapInput(e)));
  gate.on('error', (e) => fail(mapTarError(e, 'layer tar')));
  input.pipe(gate).pipe(extract);
  let count = 0;
  try {
    for await (const entry of extract) {
      // tar-stream already swallows entry errors in its iterator; one more listener makes
      // that explicit and independent of its internals.
      entry.on('error', () => {});
      const h = entry.header;
      if (++count > maxEntries) {
        entry.resume();
        throw new LayerstoreError('E_TOO_LARGE', `the layer has more than ${maxEntries} entries`);
      }
      yield {
        rawName: h.name,
        rawLinkname: h.linkname ?? undefined,
        kind: ((h.type as string | null | undefined) ?? null) as TarKind,
        mode: h.mode ?? 0,
        uid: h.uid ?? 0,
        gid: h.gid ?? 0,
        size: h.size ?? 0,
        offset: Math.max(0, ((h as { byteOffset?: number }).byteOffset ?? 512) - 512),
        body: entry as AsyncIterable<Buffer>,
      };
      // Drain whatever the consumer left unread (a no-op for a body read to its end).
      entry.resume();
    }
  } catch (e) {
    throw failure ?? (mapTarError(e, 'layer tar'));
  } finally {
    input.unpipe(gate);
    input.destroy();
    gate.destroy();
  }
  if (failure) throw failure;
  summary.tarBytes = gate.totalBytes;
  if (gate.trailingDataAt !== undefined) summary.trailingDataAt = gate.trailingDataAt;
}

