/**
 * RangeWorkers (sha256 of file ranges on worker threads, optionally copying them) and
 * BlobWriter.stageRange built on it. Digests are checked against sha256sum over the same
 * bytes cut out by dd, copies byte for byte against the source.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { promises as fsp, writeFileSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RangeWorkers } from '../../src/digest/range-workers.js';
import { hashFileInWorker } from '../../src/digest/hash-file.js';
import { Store } from '../../src/store/store.js';
import type { Digest } from '../../src/digest/digest.js';
import { storePaths } from '../helpers/store-paths.js';
import { ensureBuilt, REPO_ROOT } from '../helpers/cli.js';

let dir: string;
let src: string;
let fh: FileHandle;
const SIZE = 9 * 1024 * 1024 + 12345; // more than several of the workers' 1 MiB buffers

/** sha256sum of `size` bytes of `file` at `start`, cut out by dd (an independent path). */
function sha256sumOf(file: string, start: number, size: number): Digest {
  const out = execFileSync('sh', [
    '-c',
    `dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip=${start} count=${size} status=none | sha256sum`,
    'sh',
    file,
  ]).toString();
  return `sha256:${out.split(/\s+/)[0]}` as Digest;
}

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-rw-'));
  src = path.join(dir, 'src.bin');
  execFileSync('sh', ['-c', `head -c ${SIZE} /dev/urandom > "$1"`, 'sh', src]);
  fh = await fsp.open(src, 'r');
});
afterAll(async () => {
  await fh.close();
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('RangeWorkers', () => {
  it('hashes ranges (empty, inside one buffer, across buffers, to the end) as sha256sum does, several at once', async () => {
    const w = new RangeWorkers(2);
    try {
      const ranges = [
        [0, 0],
        [0, 1],
        [513, 4096],
        [1000, 4 * 1024 * 1024 + 7],
        [0, SIZE],
        [SIZE - 100, 100],
      ] as const;
      const got = await Promise.all(ranges.map(([start, size]) => w.hash({ src: fh.fd, start, size })));
      expect(got).toEqual(ranges.map(([start, size]) => sha256sumOf(src, start, size)));
      expect(w.bytesDone()).toBe(ranges.reduce((n, [, size]) => n + size, 0));
    } finally {
      await w.close();
    }
  });

  it('copies the range into the destination while hashing it (with early writeback on)', async () => {
    const w = new RangeWorkers(1);
    const out = await fsp.open(path.join(dir, 'copy.bin'), 'w');
    try {
      const d = await w.hash({ src: fh.fd, start: 777, size: SIZE - 1000, dst: out.fd, writebackEvery: 1024 * 1024 });
      await out.close();
      const copy = await fsp.readFile(path.join(dir, 'copy.bin'));
      const orig = (await fsp.readFile(src)).subarray(777, SIZE - 223);
      expect(copy.equals(orig)).toBe(true);
      expect(d).toBe(sha256sumOf(src, 777, SIZE - 1000));
    } finally {
      await w.close();
    }
  });

  it('a range past the end of the file -> E_IO (the input changed while it was read); the pool keeps working', async () => {
    const w = new RangeWorkers(1);
    try {
      await expect(w.hash({ src: fh.fd, start: SIZE - 10, size: 20 })).rejects.toMatchObject({ code: 'E_IO' });
      expect(await w.hash({ src: fh.fd, start: 0, size: 10 })).toBe(sha256sumOf(src, 0, 10));
    } finally {
      await w.close();
    }
  });

  it('a closed descriptor is an error, not a hang', async () => {
    const w = new RangeWorkers(1);
    try {
      await expect(w.hash({ src: 987654, start: 0, size: 10 })).rejects.toMatchObject({ code: 'EBADF' });
    } finally {
      await w.close();
    }
  });

  it('an idle pool never keeps the process alive, and a job in flight always does (no close() called)', () => {
    ensureBuilt();
    // A child process whose only pending work is the job: before, the pool either kept an
    // exited-from-work process alive forever (idle threads were not really unref'd), or, with
    // them unref'd, the process ended mid-job (exit 13, an unsettled top-level await).
    const script = `
      import fs from 'node:fs';
      import { RangeWorkers } from ${JSON.stringify(pathToFileURL(path.join(REPO_ROOT, 'dist/src/digest/range-workers.js')).href)};
      const fd = fs.openSync(process.argv[2], 'r');
      const w = new RangeWorkers(1);
      process.stdout.write(await w.hash({ src: fd, start: 0, size: fs.fstatSync(fd).size }));`;
    const file = path.join(dir, 'one-job.mjs');
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, [file, src], { encoding: 'utf8', timeout: 30_000 });
    expect({ status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }).toEqual({
      status: 0,
      signal: null,
      stdout: sha256sumOf(src, 0, SIZE),
      stderr: '',
    });
  });

  it('hashFileInWorker hashes a whole file and refuses a symlink', async () => {
    expect((await hashFileInWorker(src)).digest).toBe(sha256sumOf(src, 0, SIZE));
    await fsp.symlink(src, path.join(dir, 'link'));
    await expect(hashFileInWorker(path.join(dir, 'link'))).rejects.toMatchObject({ code: 'ELOOP' });
  });
});

describe('BlobWriter.stageRange', () => {
  it('stages a range as a blob named by its sha256, pins an existing one, and keeps nothing for other bytes', async () => {
    const store = await Store.open(path.join(dir, 'store'), { create: true });
    const w = new RangeWorkers(2);
    try {
      const staged = await store.writer.stageRange(w, { fd: fh.fd, start: 4096, size: 5 * 1024 * 1024 });
      const want = sha256sumOf(src, 4096, 5 * 1024 * 1024);
      expect(staged.digest).toBe(want);
      expect((await fsp.stat(staged.stagingPath!)).mode & 0o777).toBe(0o600);
      expect(await store.writer.commit(staged, want)).toBe(true);
      expect(sha256sumOf(storePaths(store).blobPath(want), 0, 5 * 1024 * 1024)).toBe(want);

      // Pinned: the same bytes are only hashed; committing finds the blob already there.
      const again = await store.writer.stageRange(w, { fd: fh.fd, start: 4096, size: 5 * 1024 * 1024 }, { existing: want });
      expect(again.digest).toBe(want);
      expect(await store.writer.commit(again, want)).toBe(false);

      // Pinned, other bytes: nothing kept, and the digest tells the truth.
      const wrong = await store.writer.stageRange(w, { fd: fh.fd, start: 0, size: 1000 }, { existing: want });
      expect(wrong.digest).toBe(sha256sumOf(src, 0, 1000));
      expect(wrong.stagingPath).toBeUndefined();
      expect(await fsp.readdir(storePaths(store).stagingDir)).toEqual([]);
    } finally {
      await w.close();
    }
  });

  it('a failed copy leaves no staging file', async () => {
    const store = await Store.open(path.join(dir, 'store2'), { create: true });
    const w = new RangeWorkers(1);
    try {
      await expect(store.writer.stageRange(w, { fd: fh.fd, start: SIZE - 5, size: 100 })).rejects.toMatchObject({ code: 'E_IO' });
      expect(await fsp.readdir(storePaths(store).stagingDir)).toEqual([]);
    } finally {
      await w.close();
    }
  });
});

describe('RangeWorkers.takeOnMainThread', () => {
  it('lends the caller bytes up to its budget while no thread runs, gives them back on release, and none once a thread started', async () => {
    const w = new RangeWorkers(1, 10);
    try {
      const a = w.takeOnMainThread(6);
      expect(a).toBeTypeOf('function');
      expect(w.takeOnMainThread(5), '6 + 5 is over the budget of 10').toBeUndefined();
      const b = w.takeOnMainThread(4);
      expect(b).toBeTypeOf('function');
      a!();
      a!(); // a second release gives nothing back twice
      expect(w.takeOnMainThread(7), '4 + 7 is over the budget').toBeUndefined();
      expect(w.takeOnMainThread(6)).toBeTypeOf('function');
      expect(new RangeWorkers(1).takeOnMainThread(1), 'no budget by default').toBeUndefined();
      await w.hash({ src: fh.fd, start: 0, size: 10 });
      b!();
      expect(w.threadsStarted).toBe(1);
      expect(w.takeOnMainThread(1), 'a thread runs: jobs go to it').toBeUndefined();
    } finally {
      await w.close();
    }
  });
});
