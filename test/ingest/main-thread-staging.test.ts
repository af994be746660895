/**
 * An ingest with little to read hashes it on the main thread and starts no hashing thread
 * (RangeWorkers.takeOnMainThread, stagingWorkers): a thread costs ~50 ms to start, more than
 * hashing tens of MB. The bytes staged that way are checked with sha256sum over the same range
 * cut out by dd, and with the copy itself; an input that shrinks while read fails as on a thread.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, promises as fsp, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stageFileRange, stagingWorkers } from '../../src/ingest/staged-file.js';
import { ingestPath } from '../../src/ingest/ingest.js';
import { Store } from '../../src/store/store.js';
import type { StagedBlob } from '../../src/store/blob-writer.js';
import { digestOf, fill } from '../helpers/hand-bytes.js';
import { legacySave, type RawEntry } from '../helpers/make-tar.js';
import { storePaths } from '../helpers/store-paths.js';
import { readBuffers } from '../../src/util/buffer-pool.js';

let dir = '';
let store: Store;
const SRC_SIZE = 3 * 1024 * 1024 + 999;

/** sha256sum of `size` bytes of `file` at `start`, cut out by dd (an independent path). */
function sha256sumOf(file: string, start: number, size: number): string {
  const out = execFileSync('sh', ['-c', `dd if="$1" bs=1M iflag=skip_bytes,count_bytes skip=${start} count=${size} status=none | sha256sum`, 'sh', file]);
  return `sha256:${out.toString().split(/\s+/)[0]}`;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'ls-main-thread-'));
  store = await Store.open(path.join(dir, 'store'), { create: true });
  execFileSync('sh', ['-c', `head -c ${SRC_SIZE} /dev/urandom > "$1"`, 'sh', path.join(dir, 'src.bin')]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('staging on the main thread', () => {
  for (const [start, size] of [
    [0, 0],
    [511, 1000],
    [777, 2 * 1024 * 1024 + 4099], // across the three reused 1 MiB buffers, at an odd offset
    [0, SRC_SIZE],
  ] as const) {
    it(`a range of ${size} bytes at ${start}: no thread starts; digest and copy are the range's (sha256sum); progress counts it`, async () => {
      const file = path.join(dir, 'src.bin');
      const workers = stagingWorkers();
      const fh = await fsp.open(file, 'r');
      let staged: StagedBlob | undefined;
      try {
        const f = await stageFileRange(store.writer, workers, { path: file, fd: fh.fd, start, size, whole: false }, { name: 'layer.tar', offset: start });
        staged = f.blob;
        expect(workers.threadsStarted).toBe(0);
        expect(f.blob.digest).toBe(sha256sumOf(file, start, size));
        expect(f.diffId).toBe(f.blob.digest);
        expect(f.compression).toBe('none');
        expect(readFileSync(f.blob.stagingPath!).equals(readFileSync(file).subarray(start, start + size))).toBe(true);
        expect(workers.bytesDone()).toBe(size);
      } finally {
        if (staged) await store.writer.discard(staged);
        await fh.close();
        await workers.close();
      }
    });
  }

  for (const [what, mb, threads] of [
    ['a small gzip range', 1, 0],
    ['a gzip range above 16 MiB', 17, 1],
  ] as const) {
    it(`${what}: digest (sha256sum) and diffID (gzip -dc | sha256sum) on ${threads ? 'a thread' : 'the main thread'}`, async () => {
      const gz = path.join(dir, `layer-${mb}.gz`);
      // Incompressible bytes: the file is about as big as its content.
      execFileSync('sh', ['-c', `head -c ${mb * 1024 * 1024} /dev/urandom | gzip -1 > "$1"`, 'sh', gz]);
      const size = statSync(gz).size;
      const workers = stagingWorkers();
      const fh = await fsp.open(gz, 'r');
      let staged: StagedBlob | undefined;
      try {
        const f = await stageFileRange(store.writer, workers, { path: gz, fd: fh.fd, start: 0, size, whole: true }, { name: 'layer.tar.gz', offset: 0 });
        staged = f.blob;
        expect(f.compression).toBe('gzip');
        expect(f.blob.digest).toBe(sha256sumOf(gz, 0, size));
        const inflated = execFileSync('sh', ['-c', 'gzip -dc "$1" | sha256sum', 'sh', gz], { encoding: 'utf8' }).split(/\s+/)[0];
        expect(f.diffId).toBe(`sha256:${inflated}`);
        expect(Math.min(workers.threadsStarted, 1)).toBe(threads);
      } finally {
        if (staged) await store.writer.discard(staged);
        await fh.close();
        await workers.close();
      }
    });
  }

  it("ranges staged at once and one after another take the process's reused buffers, and each is still its own bytes", async () => {
    const file = path.join(dir, 'src.bin');
    const workers = stagingWorkers();
    const fh = await fsp.open(file, 'r');
    const staged: StagedBlob[] = [];
    const ranges = [
      [0, 1024 * 1024 + 1],
      [333, 2 * 1024 * 1024],
      [SRC_SIZE - 1500 * 1024, 1500 * 1024],
    ] as const;
    const stage = async ([start, size]: readonly [number, number]) => {
      const f = await stageFileRange(store.writer, workers, { path: file, fd: fh.fd, start, size, whole: false }, { name: 'l', offset: start });
      staged.push(f.blob);
      expect(f.blob.digest).toBe(sha256sumOf(file, start, size));
      expect(readFileSync(f.blob.stagingPath!).equals(readFileSync(file).subarray(start, start + size))).toBe(true);
    };
    try {
      await Promise.all(ranges.map(stage));
      // Nine buffers were in use at once; they are back, within the pool's bound.
      expect(readBuffers.held).toBeGreaterThanOrEqual(9);
      expect(readBuffers.held).toBeLessThanOrEqual(12);
      const held = readBuffers.held;
      for (const r of ranges) await stage(r);
      expect(readBuffers.held).toBe(held); // taken and given back: none allocated anew
      expect(workers.threadsStarted).toBe(0);
    } finally {
      for (const b of staged) await store.writer.discard(b);
      await fh.close();
      await workers.close();
    }
  });

  it('a file shorter than its range fails with E_IO and leaves no staging file', async () => {
    const file = path.join(dir, 'src.bin');
    const workers = stagingWorkers();
    const fh = await fsp.open(file, 'r');
    try {
      const staging = stageFileRange(
        store.writer,
        workers,
        { path: file, fd: fh.fd, start: SRC_SIZE - 2 * 1024 * 1024, size: 3 * 1024 * 1024, whole: false },
        { name: 'l', offset: 0 },
      );
      await expect(staging).rejects.toMatchObject({ code: 'E_IO' });
      expect(readdirSync(storePaths(store).stagingDir)).toEqual([]);
    } finally {
      await fh.close();
      await workers.close();
    }
  });

  it('a cold family of legacy saves (layers above the 64 KiB read inline) ingests with no thread, every blob its name', async () => {
    const base = fill(5 * 1024 * 1024, 'main-base');
    const archives = [0, 1, 2].map((i) => {
      const layers = [base, fill(300 * 1024 + i, `main-app-${i}`)];
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => digestOf(l)) } }));
      const configName = `${digestOf(config).slice(7)}.json`;
      const files: RawEntry[] = [{ name: configName, body: config }, ...layers.map((body, j) => ({ name: `l${j}/layer.tar`, body }))];
      const f = path.join(dir, `family-${i}.tar`);
      writeFileSync(f, legacySave({ manifest: [{ Config: configName, RepoTags: [`acme/main${i}:1`], Layers: ['l0/layer.tar', 'l1/layer.tar'] }], files }));
      return f;
    });
    const cold = await Store.open(path.join(dir, 'cold'), { create: true });
    const workers = stagingWorkers();
    try {
      for (const a of archives) await ingestPath(cold, a, { workers });
      expect(workers.threadsStarted).toBe(0);
    } finally {
      await workers.close();
    }
    const blobs = path.join(cold.root, 'blobs', 'sha256');
    const sums = execFileSync('sh', ['-c', 'cd "$1" && sha256sum *', 'sh', blobs], { encoding: 'utf8' }).trim().split('\n');
    expect(sums.length).toBe(1 + 3 * 3); // the base, and each image's layer, config and manifest
    for (const line of sums) {
      const [sum, name] = line.split(/\s+/);
      expect(sum).toBe(name);
    }
    const v = await cold.verify();
    expect([v.badBlobs, v.missing, v.unreadable, v.orphans]).toEqual([[], [], [], []]);
    expect(v.blobsChecked).toBe(10);
  });
});
