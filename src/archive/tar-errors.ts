import { LayerstoreError } from '../errors.js';

/** The coded errors both tar readers raise for the same structure faults. */

const CUT_HINT = 'the file was cut short (interrupted copy or download?); produce it again';

/** The input ends inside an entry's data (or an extended header's), or inside a header. */
export function truncatedInside(inData: boolean, lastName: string, at: number): LayerstoreError {
  return new LayerstoreError(
    'E_TRUNCATED',
    `the archive is truncated: it ends inside ${inData ? 'the data of' : 'the header after'} entry ${JSON.stringify(lastName)}`,
    {
      entry: lastName || undefined,
      offset: at,
      hint: CUT_HINT,
    },
  );
}

/** The input ends inside the sparse map of entry `lastName` (before the entry's data). */
export function truncatedInSparseMap(lastName: string, at: number): LayerstoreError {
  return new LayerstoreError('E_TRUNCATED', `the archive is truncated: it ends inside the sparse map of entry ${JSON.stringify(lastName)}`, {
    entry: lastName || undefined,
    offset: at,
    hint: CUT_HINT,
  });
}

/** The input ends at a block boundary without the end-of-archive marker. */
export function noEndMarker(at: number): LayerstoreError {
  return new LayerstoreError('E_TRUNCATED', 'the archive is truncated: it has no end-of-archive marker (cut at a block boundary?)', {
    offset: at,
    hint: CUT_HINT,
  });
}

export function emptyInput(): LayerstoreError {
  return new LayerstoreError('E_EMPTY', 'the input is empty', { offset: 0 });
}

export function shorterThanHeader(): LayerstoreError {
  return new LayerstoreError('E_NOT_TAR', 'not a tar archive (shorter than one tar header)', { offset: 0 });
}

export function trailingData(at: number): LayerstoreError {
  return new LayerstoreError('E_TRAILING_DATA', 'there is data after the end-of-archive marker', {
    offset: at,
    hint: 'the file may be two archives concatenated, or damaged',
  });
}

/**
 * Turn an error from the input (zlib, fzstd, the file system) into a coded one. `what`
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
