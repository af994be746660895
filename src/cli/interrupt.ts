import type { Store } from '../store/store.js';

/** Exit code of a command stopped by SIGINT (Ctrl-C) or SIGTERM: 128 + the signal's number, as shells report it. */
export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;

/**
 * Ctrl-C or SIGTERM during a command that writes into `store` (ingest, pull): remove this
 * process's staging files, take back a store this process created if nothing was stored in
 * it, say `what` on stderr and exit with SIGNAL_EXIT. Committed blobs and index.json are
 * always consistent, so nothing else needs undoing. A second signal is not handled here: it
 * kills at once. Returns a function that removes the handlers.
 */
export function exitCleanlyOnSignal(store: Store, what: string): () => void {
  const onSignal = (sig: 'SIGINT' | 'SIGTERM') => {
    store.writer.removeOwnStagingSync();
    // Returns at once for a store that was there before (no I/O: the command's work does not
    // go on meanwhile); otherwise the command's downloads may still begin staging files until
    // it is done, which it ignores and which are removed again just before exit.
    void store
      .discardIfUnused({ ignoreOwnStaging: true })
      .catch(() => {})
      .finally(() => {
        store.writer.removeOwnStagingSync();
        process.stderr.write(`layerstore: interrupted (${sig}); ${what}\n`);
        process.exit(SIGNAL_EXIT[sig]);
      });
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

export type StopSignal = keyof typeof SIGNAL_EXIT;

/**
 * Ctrl-C or SIGTERM during a command that can stop early and still keep what it did (report
 * --registry: the scan stops as --max-time stops it, and what it fetched is saved): call
 * `stop` and let the command finish; `received()` says which signal came. A second signal is
 * not handled: it kills at once. `dispose` removes the handlers.
 */
export function stopOnSignal(stop: (sig: StopSignal) => void): { received(): StopSignal | undefined; dispose(): void } {
  let got: StopSignal | undefined;
  const onSignal = (sig: StopSignal) => {
    got = sig;
    // Only the first: the next Ctrl-C finds no handler and kills the process.
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stop(sig);
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return {
    received: () => got,
    dispose: () => {
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    },
  };
}
