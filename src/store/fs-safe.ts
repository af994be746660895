import { closeSync, constants as C, fstatSync, openSync, promises as fsp, read, readSync } from 'node:fs';
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

/** Read a small file without following a symlink at its final component. */
export async function readFileNoFollow(p: string, maxBytes: number): Promise<Buffer> {
  const fh = await fsp.open(p, C.O_RDONLY | C.O_NOFOLLOW);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new LayerstoreError('E_STORE_INVALID', `${p} is not a regular file`);
    if (st.size > maxBytes) throw new LayerstoreError('E_TOO_LARGE', `${p} is ${st.size} bytes, above the ${maxBytes}-byte limit`);
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
    if (n === 0) throw new LayerstoreError('E_IO', 'the input file got shorter while it was read', { offset: pos + got });
    got += n;
  }
}

/**
 * readFileNoFollow, synchronously, optionally only the first `maxBytes` (`head`). For many
 * tiny files (manifests, configs, a layer's magic bytes) a synchronous read costs ~5x less
 * than an async one, whose thread-pool round trips dominate (bench/README.md).
 */
export function readFileNoFollowSync(p: string, maxBytes: number, opts: { head?: boolean } = {}): Buffer {
  const fd = openSync(p, C.O_RDONLY | C.O_NOFOLLOW);
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new LayerstoreError('E_STORE_INVALID', `${p} is not a regular file`);
    if (st.size > maxBytes && !opts.head) throw new LayerstoreError('E_TOO_LARGE', `${p} is ${st.size} bytes, above the ${maxBytes}-byte limit`);
    const buf = Buffer.allocUnsafe(Math.min(st.size, maxBytes));
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
 * Replace `target` with `bytes` (or text given in chunks) atomically: write a temp file beside
 * it, fsync, rename over, fsync the directory. Readers see the old or the new content, never a mix.
 */
export async function writeFileAtomic(target: string, bytes: Uint8Array | Iterable<string>): Promise<void> {
  const dir = path.dirname(target);
  const tmp = path.join(dir, `.${path.basename(target)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await fsp.open(tmp, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o644);
  try {
    if (bytes instanceof Uint8Array) await fh.writeFile(bytes);
    else for (const chunk of bytes) await fh.writeFile(chunk); // each from where the last ended
    await fh.sync();
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
  await fsyncDir(dir);
}
