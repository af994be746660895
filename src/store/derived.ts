import path from 'node:path';
import { promises as fsp } from 'node:fs';
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
 * Replace a derived file atomically (temp + fsync + rename); false when it could not be
 * written. `bytes` may be text in chunks (a big cache need not be one string in memory).
 */
export async function writeDerived(layout: StoreLayout, rel: string, bytes: Uint8Array | Iterable<string>): Promise<boolean> {
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
