/**
 * The store contract, as tests any backend runs (like containerd's content/testsuite): a
 * backend's test file calls storeConformance() with a factory of fresh stores. Everything
 * here goes through Store's methods only; `snapshot` is the backend's way to say "byte for
 * byte what it holds" (for the local store: every file under its root).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest/digest.js';
import { MT, type Descriptor } from '../../src/formats/types.js';
import type { StagedBlob } from '../../src/store/blob-writer.js';
import { refOf } from '../../src/store/refs.js';
import type { Store } from '../../src/store/store.js';

export interface StoreUnderTest {
  store: Store;
  /** Everything the store holds, comparable with toEqual. */
  snapshot(): Promise<unknown>;
  cleanup(): Promise<void>;
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
/** Distinct real bytes per seed (not all one value: a backend that stores a prefix would pass). */
const bytesOf = (seed: number, n = 70_000) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 7919 + seed * 131) % 251));

async function stage(store: Store, bytes: Buffer): Promise<StagedBlob> {
  const w = await store.writer.begin();
  try {
    for (let i = 0; i < bytes.length; i += 16_384) await w.write(Buffer.from(bytes.subarray(i, i + 16_384)));
    return await w.finish();
  } catch (e) {
    await w.abort();
    throw e;
  }
}

async function put(store: Store, bytes: Buffer): Promise<Digest> {
  const blob = await stage(store, bytes);
  await store.transaction((tx) => tx.commit(blob, sha(bytes)));
  return blob.digest;
}

async function readAll(store: Store, d: Digest): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of await store.blobs.open(d)) parts.push(c as Buffer);
  return Buffer.concat(parts);
}

/** A real image manifest (config + one layer) stored with its blobs, as a root descriptor. */
async function storeImage(store: Store, seed: number): Promise<Descriptor> {
  const layer = bytesOf(seed, 4096);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
  const layerD = await put(store, layer);
  const configD = await put(store, config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: configD, size: config.length },
      layers: [{ mediaType: MT.ociLayer, digest: layerD, size: layer.length }],
    }),
  );
  return { mediaType: MT.ociManifest, digest: await put(store, manifest), size: manifest.length };
}

export function storeConformance(name: string, factory: () => Promise<StoreUnderTest>): void {
  const withStore = (fn: (t: StoreUnderTest) => Promise<void>) => async () => {
    const t = await factory();
    try {
      await fn(t);
    } finally {
      await t.cleanup();
    }
  };

  describe(`store conformance: ${name}`, () => {
    it(
      'a written and committed blob is named by the sha256 of its bytes and reads back byte for byte',
      withStore(async ({ store }) => {
        const bytes = bytesOf(1);
        const blob = await stage(store, bytes);
        expect(blob.digest).toBe(sha(bytes));
        expect(await store.blobs.has(blob.digest)).toBe(false); // nothing visible before commit
        expect(await store.transaction((tx) => tx.commit(blob, sha(bytes)))).toBe(true);
        expect(await store.blobs.size(blob.digest)).toBe(bytes.length);
        expect((await readAll(store, blob.digest)).equals(bytes)).toBe(true);
        expect((await store.blobs.read(blob.digest, bytes.length)).equals(bytes)).toBe(true);
        expect(await store.blobs.rehash(blob.digest)).toBe(blob.digest);
      }),
    );

    it(
      'a commit under a digest the bytes do not hash to is refused (E_DIGEST_MISMATCH) and leaves the store byte-identical',
      withStore(async ({ store, snapshot }) => {
        await put(store, bytesOf(2));
        const before = await snapshot();
        const blob = await stage(store, bytesOf(3));
        await expect(store.transaction((tx) => tx.commit(blob, sha(bytesOf(4))))).rejects.toMatchObject({ code: 'E_DIGEST_MISMATCH' });
        await store.writer.discard(blob);
        expect(await store.blobs.has(sha(bytesOf(3)))).toBe(false);
        expect(await snapshot()).toEqual(before);
      }),
    );

    it(
      'a failed transaction removes only the blobs it added: one stored before stays, the new one goes, the index is untouched',
      withStore(async ({ store, snapshot }) => {
        const old = bytesOf(5);
        await put(store, old);
        const before = await snapshot();
        const fresh = bytesOf(6);
        const [a, b] = [await stage(store, old), await stage(store, fresh)];
        await expect(
          store.transaction(async (tx) => {
            expect(await tx.commit(a, sha(old))).toBe(false); // already stored: not this transaction's
            expect(await tx.commit(b, sha(fresh))).toBe(true);
            throw new Error('fail after the commits');
          }),
        ).rejects.toThrow('fail after the commits');
        expect(await store.blobs.has(sha(old))).toBe(true);
        expect(await store.blobs.has(sha(fresh))).toBe(false);
        expect(await snapshot()).toEqual(before);
      }),
    );

    it(
      'a pinned blob survives gc: gc sweeps the orphan, restore() puts the same bytes back',
      withStore(async ({ store }) => {
        const bytes = bytesOf(7);
        const d = await put(store, bytes); // no root names it: an orphan
        const pin = await store.writer.pin(d);
        expect(pin?.size).toBe(bytes.length);
        const gc = await store.gc();
        expect(gc.blobsRemoved.map((b) => b.digest)).toContain(d);
        expect(await store.blobs.has(d)).toBe(false);
        await store.transaction((tx) => tx.restore(pin!));
        expect((await readAll(store, d)).equals(bytes)).toBe(true);
        await store.writer.discard(pin!);
        expect(await store.writer.pin(sha(bytesOf(8)))).toBeUndefined(); // nothing to pin
      }),
    );

    it(
      'concurrent commits of the same bytes store one blob; exactly one commit adds it',
      withStore(async ({ store }) => {
        const bytes = bytesOf(9);
        const staged = await Promise.all(Array.from({ length: 6 }, () => stage(store, bytes)));
        const added = await Promise.all(staged.map((b) => store.transaction((tx) => tx.commit(b, sha(bytes)))));
        expect(added.filter(Boolean)).toHaveLength(1);
        expect((await readAll(store, sha(bytes))).equals(bytes)).toBe(true);
        expect((await store.verify()).damaged).toBe(false);
        expect((await store.verify()).leftovers).toEqual([]); // every losing staging file was dropped
      }),
    );

    it(
      'ref updates run under the lock: 12 concurrent updates all land, and gc keeps what they name',
      withStore(async ({ store }) => {
        const image = await storeImage(store, 10);
        const stampBefore = await store.indexStamp();
        await Promise.all(Array.from({ length: 12 }, (_, i) => store.updateRefs([{ descriptor: image, ref: `r${i}:latest` }])));
        const refs = (await store.readIndex()).manifests.map(refOf).sort();
        expect(refs).toEqual(Array.from({ length: 12 }, (_, i) => `r${i}:latest`).sort());
        expect(await store.indexStamp()).not.toBe(stampBefore);
        expect((await store.gc()).blobsRemoved).toEqual([]);
        const removed = await store.removeRoots((d) => refOf(d) !== 'r0:latest');
        expect(removed).toHaveLength(11);
        expect((await store.readIndex()).manifests.map(refOf)).toEqual(['r0:latest']);
      }),
    );

    it(
      'unverified marks and refs written in one transaction are both seen after it',
      withStore(async ({ store, snapshot }) => {
        const image = await storeImage(store, 11);
        const before = await snapshot();
        await expect(
          store.transaction(async (tx) => {
            await tx.markUnverified(new Map([[image.digest, 'config disagrees']]));
            await tx.updateRefs([{ descriptor: image, ref: 'x:1' }]);
            return 'ok';
          }),
        ).resolves.toBe('ok');
        expect((await store.unverified()).get(image.digest)).toBe('config disagrees');
        expect((await store.readIndex()).manifests.map(refOf)).toEqual(['x:1']);
        expect(await snapshot()).not.toEqual(before);
      }),
    );

    it(
      'derived data is never a verdict: garbage there changes no blob, no ref and no verify result, and a miss is undefined',
      withStore(async ({ store }) => {
        const image = await storeImage(store, 12);
        await store.updateRefs([{ descriptor: image, ref: 'd:1' }]);
        expect(await store.derived.read('files/absent.idx', 100)).toBeUndefined();
        expect(await store.derived.write('files/x.idx', Buffer.from('not what it claims'))).toBe(true);
        expect((await store.derived.read('files/x.idx', 100))?.toString()).toBe('not what it claims');
        expect(await store.derived.read('files/x.idx', 3)).toBeUndefined(); // too big: a miss, not an error
        const v = await store.verify();
        expect(v.damaged).toBe(false);
        expect(v.badCaches).toEqual([]);
        expect((await store.readIndex()).manifests.map((m) => m.digest)).toEqual([image.digest]);
      }),
    );

    it(
      "staged bytes read back before commit, and a pinned blob's bytes through its pin",
      withStore(async ({ store }) => {
        const bytes = bytesOf(13, 300);
        const blob = await stage(store, bytes);
        expect((await store.writer.readStaged(blob, 300))?.equals(bytes)).toBe(true);
        await expect(store.writer.readStaged(blob, 299)).rejects.toMatchObject({ code: 'E_TOO_LARGE' });
        await store.transaction((tx) => tx.commit(blob));
        const pin = (await store.writer.pin(blob.digest))!;
        const fh = await store.writer.openStaged(pin);
        try {
          expect((await fh.readFile()).equals(bytes)).toBe(true);
        } finally {
          await fh.close();
        }
        await store.writer.discard(pin);
        expect(await store.blobs.has(blob.digest)).toBe(true); // discarding a pin never touches the blob
      }),
    );
  });
}
