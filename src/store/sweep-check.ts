import { LayerstoreError } from '../errors.js';
import { lstatOrUndefined } from '../util/fs-safe.js';
import type { StoreLayout } from './layout.js';

/**
 * What gc, prune and verify --fix check before they remove anything: every directory they
 * read or remove in is a real directory of the store, and every path they remove is a
 * regular file (lstat, never followed). A symlink there could lead a removal outside the
 * store; a directory or FIFO where a store file belongs is damage (docs/STORE.md, promise 6).
 */
export interface NotWhatItShouldBe {
  path: string;
  problem: string;
}

/** The store's directories that are there but are not real directories (a symlink, a file). */
export async function storeDirProblems(layout: StoreLayout): Promise<NotWhatItShouldBe[]> {
  const out: NotWhatItShouldBe[] = [];
  for (const dir of [layout.blobsDir, layout.sha256Dir, layout.privateDir, layout.stagingDir, layout.derivedDir, layout.unverifiedDir, layout.quarantineDir]) {
    const st = await lstatOrUndefined(dir);
    if (st && !st.isDirectory()) out.push({ path: dir, problem: `${st.isSymbolicLink() ? 'a symlink' : 'not a directory'} where a store directory belongs` });
  }
  return out;
}

/** What a non-regular entry is, in words. */
export function kindOf(st: { isSymbolicLink(): boolean; isDirectory(): boolean; isFIFO(): boolean }): string {
  return st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : 'not a regular file';
}

/** The sweep refuses: nothing was removed. */
export function sweepRefused(what: 'gc' | 'prune', bad: NotWhatItShouldBe[]): LayerstoreError {
  const few = bad
    .slice(0, 3)
    .map((b) => `${b.path} is ${b.problem}`)
    .join('; ');
  return new LayerstoreError(
    'E_STORE_INVALID',
    `the store is damaged (${few}${bad.length > 3 ? `; and ${bad.length - 3} more` : ''}); ${what} removes nothing`,
    {
      hint: `run layerstore verify (verify --fix moves bad blobs aside and deletes bad caches), remove what else it names, then ${what}`,
    },
  );
}
