import { availableParallelism } from 'node:os';
import { startThread } from '../util/young-generation.js';
import type { Worker } from 'node:worker_threads';
import { LayerstoreError } from '../errors.js';
import { digestFromHex, type Digest } from './digest.js';

/**
 * SHA-256 of byte ranges of open files on worker threads, optionally copying the bytes to a
 * second file as they are hashed. Ingest gives each entry of an uncompressed archive to a
 * worker (the entry is a range of the archive file, the copy its staging file), so the
 * entries of a save hash on every core at once instead of one after another on the main
 * thread (bench/README.md); the file index hashes a layer's files here in batches, and the
 * whole blob against its name, while the main thread walks the headers.
 *
 * Workers read with plain positional reads into reused 1 MiB buffers (4 MiB measured no
 * faster and cost 12 MB of RSS): no bytes cross threads and memory stays flat. File
 * descriptors are shared by all threads of a process, so the caller opens (and closes) the
 * files; a job only borrows the descriptors. The worker source is a string so the same code
 * runs from src/ (tests) and dist/.
 */
const WORKER = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const { createHash, hash } = require('node:crypto');
const BUF = 1 << 20;
const buf = Buffer.allocUnsafe(BUF); // streaming reads
const win = Buffer.allocUnsafe(BUF); // a batch's window of small files
let progress;
const short = (left) => Object.assign(new Error('the file ended ' + left + ' bytes early'), { code: 'ESHORT' });

// Hash size bytes at pos into h (none: a copy only, not counted as progress), reading
// through buf; each chunk is also given to onChunk.
function stream(src, pos, size, h, onChunk) {
  for (let left = size; left > 0; ) {
    const n = fs.readSync(src, buf, 0, Math.min(BUF, left), pos);
    if (n === 0) throw short(left);
    const c = n === BUF ? buf : buf.subarray(0, n);
    if (h) h.update(c);
    if (onChunk) onChunk(c);
    pos += n;
    left -= n;
    if (progress && h) Atomics.add(progress, 0, BigInt(n));
  }
}

// A batch: many small ranges in file order (the files of a layer), read a window at a time.
function batch(job) {
  const r = job.ranges;
  const out = [];
  const end = r[r.length - 2] + r[r.length - 1];
  let winAt = 0, winLen = 0;
  for (let k = 0; k < r.length; k += 2) {
    const off = r[k], size = r[k + 1];
    if (size > BUF) {
      const h = createHash('sha256');
      stream(job.src, off, size, h);
      out.push(h.digest('hex'));
    } else {
      if (off < winAt || off + size > winAt + winLen) {
        const want = Math.min(BUF, end - off);
        for (winLen = 0; winLen < want; ) {
          const n = fs.readSync(job.src, win, winLen, want - winLen, off + winLen);
          if (n === 0) break;
          winLen += n;
        }
        winAt = off;
        if (winLen < size) throw short(size - winLen);
      }
      // One-shot: no Hash object per file (its native state waits for a GC); measured 0.96x
      // the time of report --files on the 20 GB bench image, and no more memory.
      out.push(hash('sha256', win.subarray(off - winAt, off - winAt + size), 'hex'));
      if (progress) Atomics.add(progress, 0, BigInt(size));
    }
  }
  return out.join('');
}

parentPort.on('message', async (job) => {
  if (job.progress) { progress = job.progress; return; }
  let flushing = null;
  try {
    let hex;
    if (job.ranges) hex = batch(job);
    else {
      const h = job.copyOnly ? null : createHash('sha256');
      let sinceFlush = 0;
      stream(job.src, job.start, job.size, h, job.dst === undefined ? undefined : (c) => {
        for (let off = 0; off < c.length; ) off += fs.writeSync(job.dst, c, off, c.length - off);
        sinceFlush += c.length;
        // Start the disk writes early (see WRITEBACK_EVERY in store/blob-writer.ts).
        if (sinceFlush >= job.writebackEvery && flushing === null) {
          sinceFlush = 0;
          flushing = new Promise((r) => fs.fdatasync(job.dst, () => { flushing = null; r(); }));
        }
      });
      hex = h ? h.digest('hex') : '';
    }
    if (flushing) await flushing;
    parentPort.postMessage({ id: job.id, hex });
  } catch (e) {
    if (flushing) await flushing;
    parentPort.postMessage({ id: job.id, error: String((e && e.message) || e), code: e && e.code });
  }
});
`;

export interface RangeJob {
  /** Descriptor to read from (positional reads, so it may be shared). */
  src: number;
  start: number;
  size: number;
  /** Descriptor to write the same bytes to, at its current position. */
  dst?: number;
  /** Start an fdatasync of `dst` every this many bytes (not awaited by the copy). */
  writebackEvery?: number;
  /** Copy to `dst` without hashing (copy()). */
  copyOnly?: boolean;
}

/** Many ranges of one descriptor, hashed separately; offsets ascending, as in a tar. */
export interface BatchJob {
  src: number;
  /** [offset, size, offset, size, …] */
  ranges: Float64Array;
}

interface Pending {
  job: RangeJob | BatchJob;
  resolve: (hex: string) => void;
  reject: (e: Error) => void;
}

export class RangeWorkers {
  private readonly idle: Worker[] = [];
  private readonly busy = new Map<Worker, Pending>();
  private readonly queue: Pending[] = [];
  private started = 0;
  private nextId = 1;
  private readonly progress = new BigInt64Array(new SharedArrayBuffer(8));
  private closed = false;

  /** Bytes this thread is hashing itself (takeOnMainThread), not yet released. */
  private onMainThread = 0;

  /**
   * `size` threads at most, started as jobs arrive; default one per core. With
   * `mainThreadBytes`, the caller may hash ranges on its own thread while no thread has
   * started, up to that many bytes at once (takeOnMainThread).
   */
  constructor(
    readonly size = defaultWorkers(),
    private readonly mainThreadBytes = 0,
  ) {}

  /** Threads started so far (none until a job needs one). */
  get threadsStarted(): number {
    return this.started;
  }

  /**
   * Whether the caller should hash a range of `bytes` on its own thread instead: only while
   * no thread has started and the bytes it already hashes itself, with these, stay within
   * `mainThreadBytes` (ingest's choice: see stagingWorkers). When it says yes, the caller
   * counts its progress with countDone and calls the release it returns once done.
   */
  takeOnMainThread(bytes: number): (() => void) | undefined {
    if (this.closed || this.started > 0 || this.onMainThread + bytes > this.mainThreadBytes) return undefined;
    this.onMainThread += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.onMainThread -= bytes;
    };
  }

  /** Count `n` bytes hashed outside the threads (takeOnMainThread) in bytesDone. */
  countDone(n: number): void {
    Atomics.add(this.progress, 0, BigInt(n));
  }

  /** Bytes hashed by all jobs so far (for progress bars); grows while jobs run. */
  bytesDone(): number {
    return Number(Atomics.load(this.progress, 0));
  }

  /** The sha256 of the range (and, with `dst`, the bytes copied there). */
  async hash(job: RangeJob): Promise<Digest> {
    return digestFromHex(await this.submit(job));
  }

  /** Copy the range to `job.dst` without hashing it (the other half of a split hash(): see spare()). */
  async copy(job: RangeJob & { dst: number }): Promise<void> {
    await this.submit({ ...job, copyOnly: true });
  }

  /**
   * Whether two threads are free now (nothing queued): one range can then be hashed on one
   * and copied on the other, which for one big layer is ~1.6x faster than both on one thread
   * (80 MB: hash 55 ms, copy and fsync 73 ms, both 119 ms). When every thread has work
   * already, a split would only read the bytes twice.
   */
  spare(): boolean {
    return this.queue.length === 0 && this.idle.length + (this.size - this.started) >= 2;
  }

  /** The lowercase hex sha256 of each range of the batch, in order. */
  async hashBatch(job: BatchJob): Promise<string[]> {
    if (job.ranges.length === 0) return [];
    const hex = await this.submit(job);
    return Array.from({ length: job.ranges.length / 2 }, (_, i) => hex.slice(i * 64, i * 64 + 64));
  }

  private submit(job: RangeJob | BatchJob): Promise<string> {
    if (this.closed) return Promise.reject(new Error('RangeWorkers is closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.queue.length > 0) {
      let w = this.idle.pop();
      if (!w && this.started < this.size) w = this.spawn();
      if (!w) return;
      const p = this.queue.shift()!;
      this.busy.set(w, p);
      w.ref(); // a job in flight keeps the process alive (nothing else may be pending meanwhile)
      const { job } = p;
      if ('ranges' in job) w.postMessage({ id: this.nextId++, src: job.src, ranges: job.ranges });
      else
        w.postMessage({
          id: this.nextId++,
          src: job.src,
          start: job.start,
          size: job.size,
          dst: job.dst,
          writebackEvery: job.writebackEvery ?? Infinity,
          copyOnly: job.copyOnly === true,
        });
    }
  }

  private spawn(): Worker {
    this.started++;
    const w = startThread(WORKER, { eval: true });
    w.postMessage({ progress: this.progress });
    w.on('message', (m: { hex?: string; error?: string; code?: string }) => {
      const p = this.busy.get(w);
      this.busy.delete(w);
      this.idle.push(w);
      w.unref();
      if (p) {
        if (m.hex !== undefined) p.resolve(m.hex);
        else p.reject(workerError(m.error ?? 'hashing failed', m.code));
      }
      this.pump();
    });
    const fail = (e: Error) => {
      const p = this.busy.get(w);
      this.busy.delete(w);
      this.started--;
      p?.reject(e);
      this.pump();
    };
    w.on('error', fail);
    w.on('exit', (code) => {
      if (this.busy.has(w)) fail(new Error(`a hashing thread exited with code ${code}`));
    });
    // An idle thread never keeps the process alive (a busy one does: pump). After the
    // listeners, which ref the worker again when added.
    w.unref();
    return w;
  }

  /** Stop the threads; jobs still queued are refused. */
  async close(): Promise<void> {
    this.closed = true;
    for (const p of this.queue.splice(0)) p.reject(new Error('RangeWorkers closed'));
    await Promise.all([...this.idle, ...this.busy.keys()].map((w) => w.terminate()));
    this.idle.length = 0;
  }
}

function workerError(message: string, code: string | undefined): Error {
  if (code === 'ESHORT') return new LayerstoreError('E_IO', `the input changed while it was read: ${message}`);
  return Object.assign(new Error(message), { code });
}

function defaultWorkers(): number {
  return Math.max(1, Math.min(availableParallelism(), 4));
}

/**
 * Workers for a job whose main thread is busy too (the file index walks and indexes while
 * the workers hash): one core fewer than the machine has, at least one. On 2 cores, one
 * worker measured 1.51–1.53 s for report --files against 1.54–1.91 s with two.
 */
export function workersBesideMainThread(): number {
  return Math.max(1, defaultWorkers() - (availableParallelism() > 1 ? 1 : 0));
}
