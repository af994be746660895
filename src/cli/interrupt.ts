import type { Store } from '../store/store.js';
import { restoreTerminal } from './terminal-restore.js';

/** Exit status of a command stopped by SIGINT (Ctrl-C), SIGTERM or SIGHUP (its terminal closed): 128 + the signal's number, as shells report it. */
export const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129 } as const;

export type StopSignal = keyof typeof SIGNAL_EXIT;

/**
 * The end of a command stopped by `sig`: the terminal as it was, `what` on a line of its own,
 * then the process ends by the signal itself (a shell reports 128 + its number, SIGNAL_EXIT).
 * Dying of it, not exiting with that code, is what a shell expects of a child stopped by
 * Ctrl-C (a `for` loop running layerstore stops too), and process.exit would wait for the
 * thread pool, where a read of a named pipe that sends nothing never returns.
 */
function exitInterrupted(sig: StopSignal, what: string): never {
  restoreTerminal();
  process.stderr.write(`layerstore: interrupted (${sig}); ${what}\n`);
  process.exitCode = SIGNAL_EXIT[sig];
  process.emit('exit', SIGNAL_EXIT[sig]); // the exit hooks (the store lock's release) run as on any exit
  process.removeAllListeners(sig); // the signal's default action again: it ends the process
  process.kill(process.pid, sig);
  process.exit(SIGNAL_EXIT[sig]); // not reached while the signal's default action is to end the process
}

/** Handle the first SIGINT, SIGTERM or SIGHUP with `onSignal`; a second is not handled: it kills at once. Returns a function that removes the handlers. */
function onFirstSignal(onSignal: (sig: StopSignal) => void): () => void {
  const handler = (sig: StopSignal) => {
    dispose();
    onSignal(sig);
  };
  const signals = Object.keys(SIGNAL_EXIT) as StopSignal[];
  const dispose = () => {
    for (const sig of signals) process.off(sig, handler);
  };
  for (const sig of signals) process.once(sig, handler);
  return dispose;
}

/**
 * Ctrl-C or SIGTERM during a command that only reads, or whose every step stands on its own
 * (verify, verify --fix): say `what` and exit with SIGNAL_EXIT. Returns a function that
 * removes the handlers.
 */
export function exitOnSignal(what: string): () => void {
  return onFirstSignal((sig) => exitInterrupted(sig, what));
}

/**
 * Ctrl-C or SIGTERM during a command that writes into `store` (ingest, pull): remove this
 * process's staging files, take back a store this process created if nothing was stored in
 * it, say `what` on stderr and exit with SIGNAL_EXIT. Committed blobs and index.json are
 * always consistent, so nothing else needs undoing. A second signal is not handled here: it
 * kills at once. Returns a function that removes the handlers.
 */
export function exitCleanlyOnSignal(store: Store, what: string): () => void {
  return onFirstSignal((sig) => {
    restoreTerminal(); // at once: nothing is drawn while the staging files go
    store.writer.removeOwnStagingSync();
    // Returns at once for a store that was there before (no I/O: the command's work does not
    // go on meanwhile); otherwise the command's downloads may still begin staging files until
    // it is done, which it ignores and which are removed again just before exit.
    void store
      .discardIfUnused({ ignoreOwnStaging: true })
      .catch(() => {})
      .finally(() => {
        store.writer.removeOwnStagingSync();
        exitInterrupted(sig, what);
      });
  });
}

/**
 * Ctrl-C or SIGTERM during a command that can stop early and still keep what it did (report
 * --registry: the scan stops as --max-time stops it, and what it fetched is saved): call
 * `stop` and let the command finish; `received()` says which signal came. A second signal is
 * not handled: it kills at once. `dispose` removes the handlers.
 */
export function stopOnSignal(stop: (sig: StopSignal) => void): { received(): StopSignal | undefined; dispose(): void } {
  let got: StopSignal | undefined;
  const dispose = onFirstSignal((sig) => {
    got = sig;
    stop(sig);
  });
  return { received: () => got, dispose };
}
