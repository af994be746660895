import { setFlagsFromString } from 'node:v8';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/**
 * Keep V8's young generation at its starting size (1 MB semi-spaces) instead of letting it
 * grow to 2 x 16 MB. V8 doubles it each time the bytes surviving scavenges since the last
 * growth pass its size, so any long run that allocates ends at the maximum, and it does not
 * shrink back while the process is busy: ~30 MB of RSS held to the end of a big report for
 * no gain in speed (measured on a 20 GB image: same wall time; docs/PERFORMANCE.md).
 * `node --max-semi-space-size` cannot be set once V8 runs; the growth factor can.
 */
const FLAG = '--semi-space-growth-factor=1';
let held = false;

export function keepYoungGenerationSmall(): void {
  held = true;
  setFlagsFromString(FLAG);
}

/**
 * Start a worker thread: every thread of the program starts here. A thread's start puts V8's
 * flags back to the command line's (measured: the factor is 2 again once a Worker is
 * online), so the flag is set again once it is online.
 */
export function startThread(source: string | URL, options?: WorkerOptions): Worker {
  const w = new Worker(source, options);
  w.once('online', () => {
    if (held) setFlagsFromString(FLAG);
  });
  return w;
}
