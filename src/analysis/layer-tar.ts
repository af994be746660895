import type { Readable } from 'node:stream';
import { LayerstoreError, isLayerstoreError } from '../errors.js';
import { readTarEntries, type TarEntry, type TarReadOptions, type TarSummary } from '../archive/tar-entries.js';
import { sparseContent, tooSparseToRead } from '../archive/tar-sparse-content.js';

/**
 * Reading the tar INSIDE a layer blob (as opposed to an outer image archive), through the
 * tar engine's streaming reader with the layer policy:
 *
 * - data after the end-of-archive marker is recorded, not refused: an eStargz layer puts
 *   its TOC entry (stargz.index.json) and footer after the zero blocks, and other writers
 *   pad. What a container runtime extracts is what Go's archive/tar returns, and that
 *   reader stops at the marker, as GNU tar does. The diffID is still the hash of the whole
 *   stream, computed by the caller.
 * - names are handed out as written: the file index reports odd names instead of refusing
 *   the layer.
 * - no entry cap here: the file index counts entries itself.
 * - the stream may end without the end-of-archive marker, where a header would start or in
 *   an entry's padding, and an empty stream is an empty layer: Go's archive/tar reads such
 *   layers to the end without error, so engines run them (Debian's umoci 0.4.7 writes them).
 *   An end inside a header or an entry's data is still E_TRUNCATED.
 * - a GNU sparse file (tar --sparse) is the file a runtime extracts: its real name and size,
 *   and as body its bytes with the holes as zeros (the tar engine reads its map as Go's
 *   archive/tar does), so it is the same content as the plain file. An image archive's own
 *   entries are never sparse: ingest refuses one. Unless its holes are over
 *   MAX_SPARSE_HOLE_BYTES (tar-limits.ts): then `unread` is set and the body is empty (a map
 *   claims terabytes of zeros in a few header bytes; hashing them takes minutes per TiB).
 */
export type LayerTarEntry = Omit<TarEntry, 'sparse'> & {
  /** A sparse file whose bytes are not handed out (its holes are over the cap): `size` is still its real size. */
  unread?: true;
};

const NO_BYTES: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: async function* () {} };

export interface ReadLayerOptions {
  /** Turn an error of `input` (decompressor, file read) into a coded one. */
  mapInputError?: (e: unknown) => LayerstoreError;
}

export type LayerTarSummary = TarSummary;

/** The tar engine's options for the tar inside a layer (both readers: file-index.ts walks big ones by position). */
export const LAYER_POLICY = {
  trailing: 'ignore',
  end: 'entry',
  headerOnlyNoData: true,
  rawNames: true,
  maxEntries: Infinity,
} as const satisfies TarReadOptions;

/**
 * Iterate the entries of a layer's tar stream (already decompressed). Errors are
 * LayerstoreErrors: E_TRUNCATED, E_TAR_CORRUPT, E_NOT_TAR, E_EMPTY, or whatever
 * mapInputError makes of an input error. `summary` is filled in once the generator has
 * finished normally.
 */
export async function* readLayerEntries(input: Readable, summary: LayerTarSummary = {}, opts: ReadLayerOptions = {}): AsyncGenerator<LayerTarEntry> {
  const mapInputError =
    opts.mapInputError ?? ((e: unknown) => (isLayerstoreError(e) ? e : new LayerstoreError('E_IO', String((e as Error)?.message ?? e), { cause: e })));
  for await (const e of readTarEntries(input, { ...LAYER_POLICY, summary, mapInputError })) {
    if (e.sparse === undefined) yield e;
    else {
      const { sparse, ...entry } = e;
      // The stored data left unread is skipped by the reader.
      if (tooSparseToRead(sparse)) yield { ...entry, size: sparse.size, body: NO_BYTES, unread: true };
      else yield { ...entry, size: sparse.size, body: sparseContent(e.body, sparse) };
    }
  }
}
