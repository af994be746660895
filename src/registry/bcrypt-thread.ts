import { createRequire } from 'node:module';
import type { Worker } from 'node:worker_threads';
import { startThread } from '../util/young-generation.js';

/**
 * bcrypt on one worker thread, so a flood of password checks (each costs milliseconds of
 * pure-JS hashing) never stalls the event loop that serves blobs and manifests. Checks run
 * one after another, in arrival order. The worker source is a string and bcryptjs is
 * required by its resolved path, so this works from dist/ and from any working directory.
 */
const SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const bcrypt = require(workerData.bcryptjs);
parentPort.on('message', (m) => {
  let ok = false;
  try { ok = bcrypt.compareSync(m.password, m.hash); } catch { ok = false; }
  parentPort.postMessage({ id: m.id, ok });
});
`;

export class BcryptThread {
  private worker: Worker | undefined;
  private nextId = 0;
  private readonly waiting = new Map<number, (ok: boolean) => void>();

  compare(password: string, hash: string): Promise<boolean> {
    const w = this.worker ?? this.spawn();
    const id = this.nextId++;
    return new Promise((resolve) => {
      this.waiting.set(id, resolve);
      w.ref(); // a check in flight keeps the process alive until it answers
      w.postMessage({ id, password, hash });
    });
  }

  private spawn(): Worker {
    const bcryptjs = createRequire(import.meta.url).resolve('bcryptjs');
    const w = startThread(SOURCE, { eval: true, workerData: { bcryptjs } });
    w.unref();
    w.on('message', (m: { id: number; ok: boolean }) => {
      this.waiting.get(m.id)?.(m.ok);
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) w.unref();
    });
    const fail = () => {
      // A dead thread denies what it was asked (never a pass by accident); the next check starts another.
      for (const done of this.waiting.values()) done(false);
      this.waiting.clear();
      this.worker = undefined;
    };
    w.on('error', fail);
    w.on('exit', fail);
    this.worker = w;
    return w;
  }

  async close(): Promise<void> {
    await this.worker?.terminate();
  }
}
