/**
 * A byte-level picture of a store directory, so tests can assert that a failed or rejected
 * ingest left the store exactly as it was (DESIGN.md section 7, promise 3).
 *
 * Every entry under `dir` (recursively, dot-directories such as .layerstore/ included) maps
 * from its path relative to `dir` ("/"-separated) to:
 *   - regular file: "sha256:<hex>" of its bytes;
 *   - symlink: "symlink:" + its target (never followed);
 *   - directory: "dir" (so an added or removed empty directory shows up too);
 *   - anything else (fifo, socket, device): "other".
 * The lock directory proper-lockfile creates and removes around index.json updates
 * (.layerstore/index.json.lock) is a directory like any other: present only while a lock is held.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export type StoreSnapshot = Map<string, string>;

export async function snapshotStore(dir: string): Promise<StoreSnapshot> {
  const out: StoreSnapshot = new Map();
  const walk = async (rel: string): Promise<void> => {
    const abs = rel === '' ? dir : path.join(dir, ...rel.split('/'));
    const names = (await fsp.readdir(abs)).sort();
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = path.join(abs, name);
      const st = await fsp.lstat(p);
      if (st.isSymbolicLink()) out.set(r, `symlink:${await fsp.readlink(p)}`);
      else if (st.isDirectory()) {
        out.set(r, 'dir');
        await walk(r);
      } else if (st.isFile())
        out.set(
          r,
          `sha256:${createHash('sha256')
            .update(await fsp.readFile(p))
            .digest('hex')}`,
        );
      else out.set(r, 'other');
    }
  };
  await walk('');
  return out;
}

/** Paths in the snapshot under `prefix/` (e.g. ".layerstore/staging"), directories excluded. */
export function filesUnder(snap: StoreSnapshot, prefix: string): string[] {
  const p = prefix.endsWith('/') ? prefix : `${prefix}/`;
  return [...snap].filter(([k, v]) => k.startsWith(p) && v !== 'dir').map(([k]) => k);
}

/** A plain object (sorted keys) for readable toEqual diffs. */
export function snapshotObject(snap: StoreSnapshot): Record<string, string> {
  return Object.fromEntries([...snap].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
