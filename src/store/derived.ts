import path from 'node:path';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { StoreLayout } from './layout.js';
import { ensureRealDir, openRegularFile, readFileNoFollow, writeFileAtomic } from '../util/fs-safe.js';

/**
 * Files in `STORE/.layerstore/derived/`: caches keyed by the digests they derive from
 * (file indexes, diffIDs, layer compressions, entry hints). A cache costs time when it is
 * missing, never correctness, so both sides fail soft: a file that is absent, too big,
 * unreadable, not a regular file (a FIFO is never waited on) or reached through a symlink
 * reads as absent, and a write that fails (a
 * read-only store, a planted link) is skipped. Nothing is read or written through a link:
 * every directory on the way must be a real one.
 *
 * `rel` is a path below derived/ that this program builds ("records.json", "files/<hex>.idx").
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

/** What a cache checker found wrong with a derived file (`rel` below derived/, as readDerived takes it). */
export interface DerivedProblem {
  rel: string;
  problem: string;
}

/** A derived file verify found wrong: it lies about what it derives from, or is not a regular file. */
export interface BadCache {
  path: string;
  problem: string;
  /** Set when verify --fix deleted it (it is rebuilt when next needed). */
  removed?: boolean;
}

/**
 * Open a derived file for reading by position (big caches are read piece by piece), under
 * the same rules as readDerived; undefined when absent, not a regular file or reached
 * through a link. The caller closes it.
 */
export async function openDerived(layout: StoreLayout, rel: string): Promise<FileHandle | undefined> {
  const file = path.join(layout.derivedDir, rel);
  try {
    for (const dir of dirsOnTheWay(layout, file)) if (!(await fsp.lstat(dir)).isDirectory()) return undefined;
    // Non-blocking and checked: a FIFO planted here is a miss, never a wait.
    return (await openRegularFile(file)).fh;
  } catch {
    return undefined; // absent, unreadable or not a regular file: a cache miss
  }
}

/**
 * Replace a derived file atomically (temp + fsync + rename); false when it could not be
 * written. `bytes` may come in parts (buffers, or text in chunks: a big cache need not be one string in memory).
 */
export async function writeDerived(
  layout: StoreLayout,
  rel: string,
  bytes: Uint8Array | readonly Uint8Array[] | Iterable<string>,
  opts: { durable?: boolean } = {},
): Promise<boolean> {
  const file = path.join(layout.derivedDir, rel);
  try {
    for (const dir of dirsOnTheWay(layout, file)) await ensureRealDir(dir);
    await writeFileAtomic(file, bytes, opts);
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

/**
 * Derived data of one store, by name below derived/ (see readDerived): what other folders
 * get instead of the folder's path. Never a verdict: a miss or a failed write costs time only.
 */
export class DerivedData {
  constructor(private readonly layout: StoreLayout) {}

  /** The file's bytes, or undefined (absent, above `maxBytes`, not a regular file, behind a link). */
  read(rel: string, maxBytes: number): Promise<Buffer | undefined> {
    return readDerived(this.layout, rel, maxBytes);
  }

  /** The file open for reads by position, or undefined as for read(); the caller closes it. */
  open(rel: string): Promise<FileHandle | undefined> {
    return openDerived(this.layout, rel);
  }

  /**
   * Replace the file atomically; false when it could not be written. `durable: false` skips
   * the fsyncs, for a cache whose torn or lost file reads as a miss.
   */
  write(rel: string, bytes: Uint8Array | readonly Uint8Array[] | Iterable<string>, opts: { durable?: boolean } = {}): Promise<boolean> {
    return writeDerived(this.layout, rel, bytes, opts);
  }
}
