import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { LayerstoreError } from '../errors.js';
import { defaultStoreDir } from '../store/default-location.js';
import { Store } from '../store/store.js';

/** Options every command takes. */
export interface GlobalOptions {
  store?: string;
  quiet?: boolean;
  debug?: boolean;
}

export function storeDir(opts: GlobalOptions): string {
  return opts.store ? path.resolve(opts.store) : defaultStoreDir();
}

/** Open the store for reading; a store that does not exist yet reads as empty. */
export async function openForRead(opts: GlobalOptions): Promise<Store | undefined> {
  const dir = storeDir(opts);
  if (!(await Store.exists(dir))) {
    // Absent or empty: nothing ingested yet. Anything else is not a store, and saying "empty" would mislead.
    const entries = await fsp.readdir(dir).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [] as string[];
      throw new LayerstoreError('E_NOT_A_STORE', `${dir} is not a store directory (${e.code})`, {
        hint: 'pass --store DIR with a store, or an empty or new directory',
      });
    });
    if (entries.length > 0)
      throw new LayerstoreError('E_NOT_A_STORE', `${dir} is not a layerstore store (no oci-layout file)`, { hint: 'pass --store DIR with a store' });
    return undefined;
  }
  return Store.open(dir);
}

/** Open the store a command needs to exist (diff, export, tag, rm, push): a missing one is E_NOT_A_STORE, exit 2. */
export async function requireStore(opts: GlobalOptions): Promise<Store> {
  const store = await openForRead(opts);
  if (!store)
    throw new LayerstoreError('E_NOT_A_STORE', `no store at ${storeDir(opts)}`, {
      hint: 'ingest something first (layerstore ingest IMAGE.tar), or pass --store DIR',
    });
  return store;
}

export function info(opts: GlobalOptions, line: string): void {
  if (!opts.quiet) process.stderr.write(line + '\n');
}
