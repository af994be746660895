import { Worker } from 'node:worker_threads';
import { digestFromHex, type Digest } from './digest.js';

/**
 * sha256 of a file, computed on another thread. The file index uses it to check a layer
 * blob against its name while the main thread parses and hashes the files inside the layer:
 * the two hashes of the same bytes then run on two cores instead of one after the other
 * (bench/README.md). The worker reads the file itself (1 MiB at a time, one reused buffer),
 * so no bytes cross threads. Code as a string: the same source works from src/ and dist/.
 */
const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash } = require('node:crypto');
const h = createHash('sha256');
const buf = Buffer.allocUnsafe(1 << 20);
let fd;
let bytes = 0;
try {
  fd = fs.openSync(workerData.path, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
  for (;;) {
    const n = fs.readSync(fd, buf, 0, buf.length, null);
    if (n === 0) break;
    h.update(buf.subarray(0, n));
    bytes += n;
  }
  parentPort.postMessage({ hex: h.digest('hex'), bytes });
} catch (e) {
  parentPort.postMessage({ error: String(e && e.message || e), code: e && e.code });
} finally {
  if (fd !== undefined) fs.closeSync(fd);
}
`;

export interface FileHash {
  digest: Digest;
  bytes: number;
}

export function hashFileInWorker(path: string): Promise<FileHash> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { path } });
    w.once('message', (m: { hex?: string; bytes?: number; error?: string; code?: string }) => {
      if (m.hex !== undefined) resolve({ digest: digestFromHex(m.hex), bytes: m.bytes! });
      else reject(Object.assign(new Error(m.error ?? 'hashing failed'), { code: m.code }));
    });
    w.once('error', reject);
    w.once('exit', (code) => {
      if (code !== 0) reject(new Error(`the hashing thread exited with code ${code}`));
    });
  });
}
