import path from 'node:path';
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
  if (!(await Store.exists(dir))) return undefined;
  return Store.open(dir);
}

export function info(opts: GlobalOptions, line: string): void {
  if (!opts.quiet) process.stderr.write(line + '\n');
}
