/**
 * Every failure layerstore reports carries a stable `code` from one union, so tests and
 * scripts can match on it instead of on message text. Where they apply, errors also carry
 * the archive `entry`, its byte `offset`, and `expected`/`actual` values.
 */
export type ErrorCode =
  | 'E_USAGE' // bad command line
  | 'E_INPUT_NOT_FOUND' // a PATH that does not exist or matched nothing
  | 'E_NOT_TAR' // input is not a tar (or not a tar inside gzip/zstd)
  | 'E_TAR_CORRUPT' // bad header checksum, bad size field
  | 'E_TRUNCATED' // the archive ends before its end-of-archive marker or mid-entry
  | 'E_TRAILING_DATA' // non-zero bytes after the end-of-archive marker
  | 'E_EMPTY' // an archive with no entries
  | 'E_UNSAFE_PATH' // absolute, escaping, NUL or backslash in an entry name or link target
  | 'E_DUPLICATE_ENTRY' // the same entry name twice
  | 'E_LINK' // a symlink/hardlink that dangles, loops or points outside the archive
  | 'E_NO_MANIFEST' // neither manifest.json nor index.json + oci-layout
  | 'E_MANIFEST_INVALID' // malformed or schema-invalid manifest/index/config JSON
  | 'E_BLOB_MISSING' // the manifest names an entry or blob that is not in the input
  | 'E_DIGEST_MISMATCH' // bytes do not hash to the digest the input claims
  | 'E_SIZE_MISMATCH' // bytes are not the size a descriptor claims
  | 'E_DIFFID_MISMATCH' // a layer's uncompressed sha256 differs from the config's diff_id
  | 'E_DECOMPRESS' // a gzip/zstd layer that does not decompress
  | 'E_TOO_LARGE' // a JSON document above the size limit
  | 'E_UNSUPPORTED' // a format we recognise but do not ingest
  | 'E_DIGEST_INVALID' // a string that is not a valid sha256 digest
  | 'E_REF_NOT_FOUND' // a ref or digest the store does not have
  | 'E_NOT_A_STORE' // --store names something that is not a store (usage: exit 2)
  | 'E_STORE_INVALID' // the store is damaged (exit 3)
  | 'E_LOCKED' // could not take the store lock in time
  | 'E_BUDGET_INVALID' // a budget file that is missing, malformed or has unknown rules
  | 'E_REGISTRY' // a remote registry refused a request or answered something invalid
  | 'E_AUTH' // a remote registry wants credentials we do not have, or refused ours
  | 'E_ENGINE' // a container engine (Docker, podman) is unreachable or refused a request
  | 'E_IO'; // an operating-system error (disk full, permission)

export interface ErrorDetails {
  entry?: string;
  offset?: number;
  expected?: string | number;
  actual?: string | number;
  source?: string;
  hint?: string;
  cause?: unknown;
}

export class LayerstoreError extends Error {
  readonly code: ErrorCode;
  entry?: string;
  offset?: number;
  expected?: string | number;
  actual?: string | number;
  /** The input (tarball or directory) being read when the error happened. */
  source?: string;
  /** What the user can do about it. */
  hint?: string;

  constructor(code: ErrorCode, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'LayerstoreError';
    this.code = code;
    this.entry = details.entry;
    this.offset = details.offset;
    this.expected = details.expected;
    this.actual = details.actual;
    this.source = details.source;
    this.hint = details.hint;
  }

  /** One line for people: source, entry, offset, message. */
  describe(): string {
    const where: string[] = [];
    if (this.source) where.push(this.source);
    if (this.entry !== undefined) where.push(`entry ${JSON.stringify(this.entry)}`);
    if (this.offset !== undefined) where.push(`at byte ${this.offset}`);
    return `${where.length ? where.join(', ') + ': ' : ''}${this.message} [${this.code}]`;
  }
}

export function isLayerstoreError(e: unknown): e is LayerstoreError {
  return e instanceof LayerstoreError;
}

/** Map an operating-system error to a coded one, keeping coded errors as they are. */
export function toLayerstoreError(e: unknown, source?: string): LayerstoreError {
  if (isLayerstoreError(e)) {
    if (source && !e.source) e.source = source;
    return e;
  }
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err === 'object' && typeof err.code === 'string') {
    const hint =
      err.code === 'ENOSPC'
        ? 'free some disk space and run again; the store was left as it was'
        : err.code === 'EACCES' || err.code === 'EPERM'
          ? 'check the permissions of the store directory'
          : undefined;
    const msg = err.message.startsWith(`${err.code}:`) ? err.message : `${err.code}: ${err.message}`;
    return new LayerstoreError('E_IO', msg, { source, hint, cause: e });
  }
  return new LayerstoreError('E_IO', String((e as Error)?.message ?? e), { source, cause: e });
}
