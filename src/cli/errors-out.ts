import { toLayerstoreError } from '../errors.js';
import type { GlobalOptions } from './context.js';

/** One line per error on stderr, plus a hint line; the stack only with --debug. */
export function printError(e: unknown, opts: GlobalOptions): void {
  const err = toLayerstoreError(e);
  process.stderr.write(`layerstore: error: ${err.describe()}\n`);
  if (err.hint) process.stderr.write(`  hint: ${err.hint}\n`);
  if (opts.debug) process.stderr.write(`${(e as Error)?.stack ?? e}\n`);
}
