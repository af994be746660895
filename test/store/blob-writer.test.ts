import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fsp, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LayerstoreError } from '../../src/errors.js';
import type { Digest } from '../../src/digest/digest.js';
import { Store } from '../../src/store/store.js';
import { storePaths } from '../helpers/store-paths.js';

let dir: string;
let store: Store;

beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-bw-'));
  store = await Store.open(path.join(dir, 'store'), { create: true });
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

const ls = (d: string) => fsp.readdir(d).then((n) => n.sort());
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;

async function stage(bytes: Buffer, chunk = 1000) {
  const w = await store.writer.begin();
  for (let i = 0; i < bytes.length; i += chunk) await w.write(Buffer.from(bytes.subarray(i, i + chunk)));
  return w.finish();
}

describe('BlobWriter', () => {
  const data = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7919) % 251));

  it('a committed blob is named by the sha256 of its bytes (checked with sha256sum) and is read-only 0444', async () => {
    const staged = await stage(data);
    expect(staged.digest).toBe(sha(data));
    expect(staged.size).toBe(data.length);
    expect(path.dirname(staged.stagingPath!)).toBe(storePaths(store).stagingDir);
    expect((await fsp.stat(staged.stagingPath!)).mode & 0o777).toBe(0o600);
    expect(await ls(storePaths(store).sha256Dir)).toEqual([]); // nothing visible before commit

    expect(await store.writer.commit(staged, staged.digest)).toBe(true);
    const hex = staged.digest.slice(7);
    expect(await ls(storePaths(store).sha256Dir)).toEqual([hex]);
    const file = path.join(storePaths(store).sha256Dir, hex);
    const out = execFileSync('sha256sum', [file], { encoding: 'utf8' });
    expect(out.split(/\s+/)[0]).toBe(hex);
    const st = await fsp.lstat(file);
    expect(st.isFile()).toBe(true);
    expect(st.mode & 0o777).toBe(0o444);
    expect(st.size).toBe(data.length);
    expect(await ls(storePaths(store).stagingDir)).toEqual([]);
  });

  it('chunking does not change the digest', async () => {
    const a = await stage(data, 1);
    const b = await stage(data, 65_536);
    expect(a.digest).toBe(b.digest);
    await store.writer.discard(a);
    await store.writer.discard(b);
  });

  it('an expected-digest mismatch throws E_DIGEST_MISMATCH and leaves nothing in blobs/', async () => {
    const staged = await stage(data);
    const wrong = sha(Buffer.from('something else'));
    let err: unknown;
    try {
      await store.writer.commit(staged, wrong);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LayerstoreError);
    expect((err as LayerstoreError).code).toBe('E_DIGEST_MISMATCH');
    expect((err as LayerstoreError).expected).toBe(wrong);
    expect((err as LayerstoreError).actual).toBe(sha(data));
    expect(await ls(storePaths(store).sha256Dir)).toEqual([]);
    expect(await ls(storePaths(store).blobsDir)).toEqual(['sha256']);
    // the caller still owns the staged file and discards it
    await store.writer.discard(staged);
    expect(await ls(storePaths(store).stagingDir)).toEqual([]);
  });

  it('committing content that is already stored returns false and keeps the one blob', async () => {
    const first = await stage(data);
    expect(await store.writer.commit(first)).toBe(true);
    const second = await stage(data, 333);
    expect(await store.writer.commit(second, sha(data))).toBe(false);
    expect(await ls(storePaths(store).sha256Dir)).toEqual([sha(data).slice(7)]);
    expect(await ls(storePaths(store).stagingDir)).toEqual([]);
    expect((await fsp.readFile(path.join(storePaths(store).sha256Dir, sha(data).slice(7)))).equals(data)).toBe(true);
  });

  it('stageBytes + commit stores exactly the bytes; the empty blob is the well-known digest', async () => {
    const empty = await store.writer.stageBytes(new Uint8Array(0));
    expect(empty.digest).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
    expect(await store.writer.commit(empty)).toBe(true);
    const small = await store.writer.stageBytes(Buffer.from('{"a":1}'));
    await store.writer.commit(small);
    expect((await fsp.readFile(storePaths(store).blobPath(small.digest))).toString()).toBe('{"a":1}');
  });

  it('begin({ existing }) pins a stored blob: same bytes commit as "already stored", nothing left in staging', async () => {
    await store.writer.commit(await stage(data));
    const w = await store.writer.begin({ existing: sha(data) });
    expect((await ls(storePaths(store).stagingDir)).length).toBe(1); // the pinning hard link
    for (let i = 0; i < data.length; i += 4096) await w.write(Buffer.from(data.subarray(i, i + 4096)));
    const staged = await w.finish();
    expect(staged.digest).toBe(sha(data));
    expect(await store.writer.commit(staged, sha(data))).toBe(false);
    expect(await ls(storePaths(store).stagingDir)).toEqual([]);
    expect(await ls(storePaths(store).sha256Dir)).toEqual([sha(data).slice(7)]);
    expect((await fsp.stat(storePaths(store).blobPath(sha(data)))).nlink).toBe(1);
  });

  it('begin({ existing }) with different bytes keeps nothing; committing them fails and blobs/ is unchanged', async () => {
    await store.writer.commit(await stage(data));
    const other = Buffer.from('not the pinned blob');
    const w = await store.writer.begin({ existing: sha(data) });
    await w.write(Buffer.from(other));
    const staged = await w.finish();
    expect(staged.digest).toBe(sha(other));
    expect(staged.stagingPath).toBeUndefined();
    expect(await ls(storePaths(store).stagingDir)).toEqual([]);
    await expect(store.writer.commit(staged, sha(data))).rejects.toMatchObject({ code: 'E_DIGEST_MISMATCH' });
    await expect(store.writer.commit(staged)).rejects.toMatchObject({ code: 'E_BLOB_MISSING' });
    expect(await ls(storePaths(store).sha256Dir)).toEqual([sha(data).slice(7)]);
  });

  it('begin({ existing }) for a digest the store lacks writes the bytes after all', async () => {
    const w = await store.writer.begin({ existing: sha(data) });
    await w.write(Buffer.from(data));
    const staged = await w.finish();
    expect(staged.stagingPath).toBeDefined();
    expect(await store.writer.commit(staged, sha(data))).toBe(true);
    expect((await fsp.readFile(storePaths(store).blobPath(sha(data)))).equals(data)).toBe(true);
  });

  it('abort removes the staging file', async () => {
    const w = await store.writer.begin();
    await w.write(Buffer.from('partial'));
    expect((await ls(storePaths(store).stagingDir)).length).toBe(1);
    await w.abort();
    expect(await ls(storePaths(store).stagingDir)).toEqual([]);
  });

  it('a symlink planted at the final path is never followed: E_STORE_INVALID', async () => {
    const staged = await stage(data);
    const target = path.join(dir, 'outside');
    await fsp.writeFile(target, 'outside');
    await fsp.symlink(target, storePaths(store).blobPath(staged.digest));
    let err: unknown;
    try {
      await store.writer.commit(staged);
    } catch (e) {
      err = e;
    }
    expect((err as LayerstoreError).code).toBe('E_STORE_INVALID');
    expect(await fsp.readFile(target, 'utf8')).toBe('outside');
    await store.writer.discard(staged);
  });
});

describe('createFileExclusive (how a new store gets its index.json)', () => {
  it('creates a missing file, and never replaces one another process created first', async () => {
    const { createFileExclusive } = await import('../../src/util/fs-safe.js');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'ls-excl-'));
    try {
      const f = path.join(dir, 'index.json');
      expect(await createFileExclusive(f, Buffer.from('first'))).toBe(true);
      expect(await createFileExclusive(f, Buffer.from('second'))).toBe(false);
      expect(readFileSync(f, 'utf8')).toBe('first');
      // Many at once: exactly one wins, and no temp file is left behind.
      const wins = await Promise.all(Array.from({ length: 20 }, (_, i) => createFileExclusive(path.join(dir, 'race.json'), Buffer.from(String(i)))));
      expect(wins.filter(Boolean)).toHaveLength(1);
      expect(readdirSync(dir).sort()).toEqual(['index.json', 'race.json']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('stageRange: one big range hashed on one thread and copied on another when two are free', () => {
  // 20 MiB at an odd offset of a file, so that the split (SPLIT_AT_BYTES = 16 MiB) is taken.
  const size = 20 * 1024 * 1024 + 4099;
  const start = 777;

  async function source(): Promise<{ file: string; bytes: Buffer }> {
    const bytes = Buffer.alloc(start + size + 5000);
    for (let i = 0; i < bytes.length; i += 4) bytes.writeUInt32LE(((Math.imul(i, 2654435761) >>> 0) ^ 0x5bd1e995) >>> 0, Math.min(i, bytes.length - 4));
    const file = path.join(dir, 'src.bin');
    await fsp.writeFile(file, bytes);
    return { file, bytes };
  }

  for (const busy of [false, true]) {
    it(`${busy ? 'every thread busy (one thread does both)' : 'two threads free (split)'}: the staged bytes and digest are the range's, checked with sha256sum; progress counts the bytes once`, async () => {
      const { RangeWorkers } = await import('../../src/digest/range-workers.js');
      const { file, bytes } = await source();
      const workers = new RangeWorkers(2);
      const fh = await fsp.open(file, 'r');
      try {
        // A queued job of the other kind keeps the pool from having two threads spare.
        const other = busy ? workers.hash({ src: fh.fd, start: 0, size: bytes.length }) : undefined;
        expect(workers.spare()).toBe(!busy);
        const before = workers.bytesDone();
        const staged = await store.writer.stageRange(workers, { fd: fh.fd, start, size });
        await other;
        const range = bytes.subarray(start, start + size);
        expect(staged.digest).toBe(sha(range));
        const copied = readFileSync(staged.stagingPath!);
        expect(copied.equals(range)).toBe(true);
        const hex = execFileSync('sha256sum', [staged.stagingPath!], { encoding: 'utf8' }).split(' ')[0];
        expect(`sha256:${hex}`).toBe(staged.digest);
        expect(workers.bytesDone() - before).toBe(size + (busy ? bytes.length : 0));
        expect(await store.writer.commit(staged)).toBe(true);
      } finally {
        await fh.close();
        await workers.close();
      }
    });
  }

  it('a copy that fails (the source is shorter than the range) fails the staging and leaves no staging file', async () => {
    const { RangeWorkers } = await import('../../src/digest/range-workers.js');
    const { file, bytes } = await source();
    const workers = new RangeWorkers(2);
    const fh = await fsp.open(file, 'r');
    try {
      await expect(store.writer.stageRange(workers, { fd: fh.fd, start: bytes.length - size + 10, size })).rejects.toThrow(/ended .* bytes early/);
      expect(readdirSync(storePaths(store).stagingDir)).toEqual([]);
    } finally {
      await fh.close();
      await workers.close();
    }
  });
});

describe('StagingWriter: small chunks are gathered into 1 MiB writes', () => {
  /** The single staging file being written. */
  const stagingFile = () => {
    const names = readdirSync(storePaths(store).stagingDir);
    expect(names).toHaveLength(1);
    return path.join(storePaths(store).stagingDir, names[0]!);
  };
  const bytes = Buffer.from(Array.from({ length: 3 * 1024 * 1024 + 4321 }, (_, i) => (i * 31 + (i >> 13)) % 256));

  it('64 KiB chunks: nothing is written until 1 MiB is gathered; the file and digest are the bytes (sha256sum), also when the caller refills its chunk', async () => {
    const w = await store.writer.begin();
    const chunk = Buffer.alloc(64 * 1024);
    let off = 0;
    const give = async (n: number) => {
      bytes.copy(chunk, 0, off, off + n);
      await w.write(chunk.subarray(0, n)); // the same buffer each time, refilled
      off += n;
    };
    for (let i = 0; i < 15; i++) await give(64 * 1024);
    expect((await fsp.stat(stagingFile())).size).toBe(0); // 960 KiB gathered, none written
    while (off < bytes.length) await give(Math.min(64 * 1024, bytes.length - off));
    const staged = await w.finish();
    expect(staged.size).toBe(bytes.length);
    expect(readFileSync(staged.stagingPath!).equals(bytes)).toBe(true);
    const out = execFileSync('sha256sum', [staged.stagingPath!], { encoding: 'utf8' });
    expect(staged.digest).toBe(`sha256:${out.split(/\s+/)[0]}`);
    await store.writer.discard(staged);
  });

  it('suspend() writes what was gathered (the file holds every byte given), and resume() goes on from there', async () => {
    const w = await store.writer.begin();
    await w.write(Buffer.from(bytes.subarray(0, 100_000)));
    await w.write(Buffer.from(bytes.subarray(100_000, 150_000)));
    await w.suspend();
    expect((await fsp.stat(stagingFile())).size).toBe(150_000);
    await w.resume();
    await w.write(Buffer.from(bytes.subarray(150_000, 2 * 1024 * 1024))); // big: written as it is
    await w.write(Buffer.from(bytes.subarray(2 * 1024 * 1024)));
    const staged = await w.finish();
    expect(staged.digest).toBe(sha(bytes));
    expect(readFileSync(staged.stagingPath!).equals(bytes)).toBe(true);
    await store.writer.discard(staged);
  });
});
