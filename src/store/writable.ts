import { constants as C, promises as fsp } from 'node:fs';
import { LayerstoreError } from '../errors.js';
import type { StoreLayout } from './layout.js';

/** Permission errors: this user may not write there (or nobody may: a read-only mount). */
export const NOT_WRITABLE_CODES = new Set(['EACCES', 'EPERM', 'EROFS']);

/**
 * A store this user may not write, said one way by every command that writes (ingest, pull,
 * gc, tag, rm, prune): not a raw EACCES on some staging file, and never "remove the lock".
 */
export function notWritableError(root: string, code: string, what: string, cause?: unknown): LayerstoreError {
  return new LayerstoreError('E_IO', `the store at ${root} is not writable by this user (${code} ${what})`, {
    hint: "run as the store's owner or get write access to it; ls, report, verify, export and the --dry-run of prune and gc only read",
    cause,
  });
}

/**
 * Refuse now, before any input is read, a store whose folders this user cannot write in:
 * the root (index.json is replaced by a rename there), .layerstore (the lock), staging and
 * blobs. A folder not there yet is made later in one this checks.
 */
export async function checkWritable(layout: StoreLayout): Promise<void> {
  for (const dir of [layout.root, layout.privateDir, layout.stagingDir, layout.blobsDir, layout.sha256Dir]) {
    try {
      await fsp.access(dir, C.W_OK | C.X_OK);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code === 'ENOENT') continue;
      if (NOT_WRITABLE_CODES.has(code)) throw notWritableError(layout.root, code, `writing in ${dir}`, e);
      throw e;
    }
  }
}
