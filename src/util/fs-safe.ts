import { closeSync, constants as C, fstatSync, openSync, promises as fsp, read, readSync, type Stats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { LayerstoreError } from '../errors.js';

/**
 * File-system helpers that never follow a symlink inside the store: a store path that is a
 * symlink (planted by someone else) is an error, never a redirection outside the root.
 */

/** Create `dir` if missing; fail if it (or what is there) is not a real directory. */
export async function ensureRealDir(dir: string): Promise<void> {
  try {
    await fsp.mkdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
  }
  const st = await fsp.lstat(dir);
  if (!st.isDirectory()) {
    throw new LayerstoreError('E_STORE_INVALID', `${dir} is ${st.isSymbolicLink() ? 'a symlink' : 'not a directory'}; the store never follows links`, {
      hint: 'remove it, or choose another --store',
    });
  }
}

/** lstat that returns undefined for a missing path. */
export async function lstatOrUndefined(p: string) {
  try {
    return await fsp.lstat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, C.O_RDONLY | C.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * How every file of the store is opened for reading (index.json, oci-layout, blobs, derived
 * caches). O_NOFOLLOW: a symlink at the last component fails (ELOOP), it is never followed.
 * O_NONBLOCK: opening a FIFO planted there returns at once, where a plain open would wait
 * for a writer forever (in serve, on the one thread that answers every request); for a
 * regular file the flag changes nothing. Then fstat of what was opened (no window between
 * a check and the open) and anything but a regular file is refused.
 */
const READ_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK;

const NOT_REGULAR_HINT = 'the store is damaged: remove it and restore the file it replaced (verify --fix moves a bad blob aside)';

function notRegular(p: string, st: Stats): LayerstoreError {
  const what = st.isFIFO() ? 'a FIFO' : st.isDirectory() ? 'a directory' : st.isCharacterDevice() || st.isBlockDevice() ? 'a device' : 'something else';
  return new LayerstoreError('E_STORE_INVALID', `${p} is ${what}, not a regular file`, { hint: NOT_REGULAR_HINT });
}

/** A socket cannot be opened at all (ENXIO): the same refusal. */
function openFailure(p: string, e: unknown): unknown {
  return (e as NodeJS.ErrnoException).code === 'ENXIO'
    ? new LayerstoreError('E_STORE_INVALID', `${p} is a socket, not a regular file`, { hint: NOT_REGULAR_HINT })
    : e;
}

/** Open a regular file of the store for reading (see READ_FLAGS); E_STORE_INVALID for anything else. */
export async function openRegularFile(p: string): Promise<{ fh: FileHandle; size: number }> {
  const fh = await fsp.open(p, READ_FLAGS).catch((e: unknown) => {
    throw openFailure(p, e);
  });
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw notRegular(p, st);
    return { fh, size: st.size };
  } catch (e) {
    await fh.close();
    throw e;
  }
}

/** openRegularFile, synchronously: a descriptor the caller closes. */
export function openRegularFileSync(p: string): { fd: number; size: number } {
  let fd: number;
  try {
    fd = openSync(p, READ_FLAGS);
  } catch (e) {
    throw openFailure(p, e);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw notRegular(p, st);
    return { fd, size: st.size };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Read a small regular file of the store (see openRegularFile). */
export async function readFileNoFollow(p: string, maxBytes: number): Promise<Buffer> {
  const { fh, size } = await openRegularFile(p);
  try {
    if (size > maxBytes) throw new LayerstoreError('E_TOO_LARGE', `${p} is ${size} bytes, above the ${maxBytes}-byte limit`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/**
 * Fill `buf[0 .. len)` from the open file `fd` at `pos` (positional reads: the descriptor
 * may be shared with other readers). A file that ends first is E_IO: the callers have
 * checked the range against the file's size, so it changed while it was read.
 */
export async function readFullyAt(fd: number, buf: Buffer, pos: number, len = buf.length): Promise<void> {
  let got = 0;
  while (got < len) {
    const n = await new Promise<number>((resolve, reject) => read(fd, buf, got, len - got, pos + got, (e, k) => (e ? reject(e) : resolve(k))));
    if (n === 0) throw shorter(pos + got);
    got += n;
  }
}

/** readFullyAt, synchronously: for a few KB (a config), cheaper than a thread-pool round trip. */
export function readFullyAtSync(fd: number, buf: Buffer, pos: number, len = buf.length): void {
  for (let got = 0; got < len; ) {
    const n = readSync(fd, buf, got, len - got, pos + got);
    if (n === 0) throw shorter(pos + got);
    got += n;
  }
}

function shorter(offset: number): LayerstoreError {
  return new LayerstoreError('E_IO', 'the input file got shorter while it was read', { offset });
}

/**
 * readFileNoFollow, synchronously, optionally only the first `maxBytes` (`head`). For many
 * tiny files (manifests, configs, a layer's magic bytes) a synchronous read costs ~5x less
 * than an async one, whose thread-pool round trips dominate (bench/README.md).
 */
export function readFileNoFollowSync(p: string, maxBytes: number, opts: { head?: boolean } = {}): Buffer {
  const { fd, size } = openRegularFileSync(p);
  try {
    if (size > maxBytes && !opts.head) throw new LayerstoreError('E_TOO_LARGE', `${p} is ${size} bytes, above the ${maxBytes}-byte limit`);
    const buf = Buffer.allocUnsafe(Math.min(size, maxBytes));
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break; // the file shrank: return what is there
      off += n;
    }
    return buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/**
 * Create `target` with `bytes` only if nothing is there yet, atomically: the bytes go to a
 * temp file (fsync'd) that is then hard-linked into place, which fails when another process
 * created `target` first, and that one stays. Returns whether this call created it. Check
 * then write would let a second creator replace a file the first already filled.
 */
export async function createFileExclusive(target: string, bytes: Uint8Array): Promise<boolean> {
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o644);
  try {
    await fh.writeFile(bytes);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fsp.link(tmp, target);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await fsp.rm(tmp, { force: true });
  }
}

/**
 * Replace `target` with `bytes` (buffers, or text in chunks) atomically: write a temp file beside it, fsync, rename over,
 * fsync the directory. Readers see the old or the new content, never a mix. `durable: false`
 * leaves out both fsyncs (a cache: after a crash the file may be missing or empty).
 */
export async function writeFileAtomic(
  target: string,
  bytes: Uint8Array | readonly Uint8Array[] | Iterable<string>,
  opts: { durable?: boolean } = {},
): Promise<void> {
  const durable = opts.durable !== false;
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o644);
  try {
    if (bytes instanceof Uint8Array) await fh.writeFile(bytes);
    else for (const part of bytes) await fh.writeFile(part); // each from where the last one ended
    if (durable) await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    const existing = await lstatOrUndefined(target);
    if (existing?.isSymbolicLink()) throw new LayerstoreError('E_STORE_INVALID', `${target} is a symlink; the store never follows links`);
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw e;
  }
  if (durable) await fsyncDir(dir);
}
