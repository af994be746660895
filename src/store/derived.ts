import path from 'node:path';
import { constants as C, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { StoreLayout } from './layout.js';
import { ensureRealDir, readFileNoFollow, writeFileAtomic } from './fs-safe.js';

/**
 * Files in `STORE/.layerstore/derived/`: caches keyed by the digests they derive from
 * (file indexes, diffIDs, image records, entry hints). A cache costs time when it is
 * missing, never correctness, so both sides fail soft: a file that is absent, too big,
 * unreadable or reached through a symlink reads as absent, and a write that fails (a
 * read-only store, a planted link) is skipped. Nothing is read or written through a link:
 * every directory on the way must be a real one.
 *
 * `rel` is a path below derived/ that this program builds ("records.json", "files/<hex>.json").
 */
export async function readDerived(layout: StoreLayout, rel: string, maxBytes: number): Promise<Buffer | undefined> {
  const file = path.join(layout.derivedDir, rel);
  try {
    for (const dir of dirsOnTheWay(layout, file)) if (!(await fsp.lstat(dir)).isDirectory()) return undefined;
    return await readFileNoFollow(file, maxBytes);
  } catch {
    return undefined;
  }
}

/**
 * Open a derived file for reading by position (big caches are read piece by piece), under
 * the same rules as readDerived; undefined when absent, not a regular file or reached
 * through a link. The caller closes it.
 */
export async function openDerived(layout: StoreLayout, rel: string): Promise<FileHandle | undefined> {
  const file = path.join(layout.derivedDir, rel);
  let fh: FileHandle | undefined;
  try {
    for (const dir of dirsOnTheWay(layout, file)) if (!(await fsp.lstat(dir)).isDirectory()) return undefined;
    fh = await fsp.open(file, C.O_RDONLY | C.O_NOFOLLOW);
    if ((await fh.stat()).isFile()) return fh;
  } catch {
    // absent or unreadable: a cache miss
  }
  await fh?.close().catch(() => {});
  return undefined;
}

/**
 * Replace a derived file atomically (temp + fsync + rename); false when it could not be
 * written. `bytes` may come in parts, written one after another (no joined copy).
 */
export async function writeDerived(layout: StoreLayout, rel: string, bytes: Uint8Array | readonly Uint8Array[]): Promise<boolean> {
  const file = path.join(layout.derivedDir, rel);
  try {
    for (const dir of dirsOnTheWay(layout, file)) await ensureRealDir(dir);
    await writeFileAtomic(file, bytes);
    return true;
  } catch {
    return false;
  }
}

/** derived/ and each directory below it down to `file`'s. */
function dirsOnTheWay(layout: StoreLayout, file: string): string[] {
  const dirs = [layout.derivedDir];
  for (const part of path.relative(layout.derivedDir, path.dirname(file)).split(path.sep).filter(Boolean)) dirs.push(path.join(dirs[dirs.length - 1]!, part));
  return dirs;
}
