import { openRegularFile } from '../util/fs-safe.js';
import type { Digest } from './digest.js';
import { RangeWorkers } from './range-workers.js';

export interface FileHash {
  digest: Digest;
  bytes: number;
}

/**
 * sha256 of a whole file, computed on another thread. The file index uses it to check a
 * layer blob against its name while the main thread parses and hashes the files inside the
 * layer: the two hashes of the same bytes then run on two cores instead of one after the
 * other (bench/README.md). Links are not followed, and only a regular file is opened (a FIFO
 * would block).
 */
export async function hashFileInWorker(path: string): Promise<FileHash> {
  const { fh, size } = await openRegularFile(path);
  const workers = new RangeWorkers(1);
  try {
    return { digest: await workers.hash({ src: fh.fd, start: 0, size }), bytes: size };
  } finally {
    await workers.close();
    await fh.close();
  }
}
