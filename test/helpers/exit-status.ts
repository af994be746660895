import { constants } from 'node:os';

/**
 * A child's exit status as a shell reports it ($?): its exit code, or 128 + the number of the
 * signal that ended it (a command stopped by Ctrl-C dies of SIGINT: 130).
 */
export function shellStatus(code: number | null, signal: NodeJS.Signals | null): number | null {
  if (code !== null) return code;
  return signal ? 128 + constants.signals[signal] : null;
}
