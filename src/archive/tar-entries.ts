import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { LayerstoreError } from '../errors.js';
import { normalizeEntryName } from './entry-name.js';
import { TarBlockScanner } from './tar-block-scanner.js';
import { sparseName } from './tar-header.js';

import type { EntryType } from './tar-header.js';

export type { EntryType };

/** One archive entry's header, as read from the archive (see TarEntry for the body). */
export interface TarEntryHeader {
  /** Normalized name (see normalizeEntryName); "" for the archive root. */
  name: string;
  rawName: string;
  type: EntryType;
  /** Data bytes that follow the header (0 for links and directories). */
  size: number;
  linkname?: string;
  /** Offset of the entry's data in the (decompressed) tar stream. */
  offset: number;
  /** Set for a GNU sparse entry: the name of the file it stores (see sparseName). */
  sparseName?: string;
}

/** One archive entry. `body` must be read to its end (or drained) before the next entry. */
export interface TarEntry extends TarEntryHeader {
  body: AsyncIterable<Buffer>;
}

export interface ReadTarOptions {
  /** Refuse archives with more entries than this (an image archive has few). */
  maxEntries?: number;
}

function typeOf(t: string | null | undefined): EntryType {
  switch (t) {
    case 'file':
    case 'contiguous-file':
      return 'file';
    case 'directory':
      return 'directory';
    case 'symlink':
      return 'symlink';
    case 'link':
      return 'link';
    default:
      return 'other';
  }
}

/**
 * Iterate the entries of a tar stream with coded errors. The block scanner in front of
 * tar-stream enforces the end-of-archive marker, trailing data and truncation rules.
 */
export async function* readTarEntries(input: Readable, opts: ReadTarOptions = {}): AsyncGenerator<TarEntry> {
  const maxEntries = opts.maxEntries ?? 200_000;
  const scanner = new TarBlockScanner();
  // allowUnknownFormat: accept pre-POSIX (v7) headers too; the scanner has checked checksums.
  const extract = tar.extract({ allowUnknownFormat: true } as Parameters<typeof tar.extract>[0]);
  let failure: Error | undefined;
  const fail = (e: Error) => {
    if (!failure) failure = e;
    extract.destroy(failure);
  };
  input.on('error', fail);
  scanner.on('error', fail);
  input.pipe(scanner).pipe(extract);
  let count = 0;
  try {
    for await (const entry of extract) {
      const h = entry.header;
      if (++count > maxEntries) throw new LayerstoreError('E_TOO_LARGE', `the archive has more than ${maxEntries} entries; this is not an image archive`);
      const offset = (h as { byteOffset?: number }).byteOffset ?? entry.offset ?? 0;
      // Drain the body whatever happens next, so tar-stream never stalls on an error path.
      let consumed = false;
      const body = (async function* () {
        consumed = true;
        try {
          for await (const chunk of entry as AsyncIterable<Buffer>) yield chunk;
        } catch (e) {
          // The entry stream fails with tar-stream's own error when the scanner stops the
          // archive; report the scanner's coded reason instead.
          throw mapTarError(failure ?? e);
        }
      })();
      let name: string;
      try {
        name = normalizeEntryName(h.name, offset);
      } catch (e) {
        entry.resume();
        throw e;
      }
      const item: TarEntry = {
        name,
        rawName: h.name,
        type: typeOf(h.type),
        size: h.size ?? 0,
        linkname: h.linkname ?? undefined,
        offset,
        body,
      };
      const sparse = sparseName(scanner.takeSparse(offset) ? 'S' : '', h.name, h.pax as Record<string, string> | null | undefined);
      if (sparse !== undefined) item.sparseName = sparse;
      yield item;
      // Callers read a body to its end; an unread one is drained here.
      if (!consumed) entry.resume();
    }
  } catch (e) {
    throw mapTarError(failure ?? e);
  } finally {
    input.unpipe(scanner);
    input.destroy();
    scanner.destroy();
  }
  if (failure) throw mapTarError(failure);
}

/**
 * Turn an error from tar-stream, zlib, fzstd or the file system into a coded one. `what`
 * names the stream in messages ("archive" for an input, "layer tar" for a layer).
 */
export function mapTarError(e: unknown, what = 'archive'): LayerstoreError {
  if (e instanceof LayerstoreError) return e;
  const msg = (e as Error)?.message ?? String(e);
  const code = (e as NodeJS.ErrnoException)?.code;
  // zlib's errors carry Z_* codes: the file is gzip but the gzip is damaged or cut short.
  if (code === 'Z_BUF_ERROR') return new LayerstoreError('E_TRUNCATED', `the compressed ${what} is truncated (${msg})`, { cause: e });
  if (typeof code === 'string' && code.startsWith('Z_')) return new LayerstoreError('E_DECOMPRESS', `the ${what} does not decompress: ${msg}`, { cause: e });
  if (typeof code === 'string' && /^E[A-Z]+$/.test(code)) return new LayerstoreError('E_IO', `${code}: ${msg}`, { cause: e });
  if (/unexpected end/i.test(msg)) return new LayerstoreError('E_TRUNCATED', `the ${what} is truncated`, { cause: e });
  if (/incorrect header check|invalid (block type|distance|stored block|code)|unexpected end of file|zstd|invalid (magic|window)/i.test(msg)) {
    return new LayerstoreError('E_DECOMPRESS', `the ${what} does not decompress: ${msg}`, { cause: e });
  }
  return new LayerstoreError('E_TAR_CORRUPT', `the ${what} is damaged: ${msg}`, { cause: e });
}
