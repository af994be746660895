/**
 * The store's record of blobs a registry push delivered into a repository that no manifest
 * names yet (src/store/received.ts): gc keeps such a blob while its record lasts (a week),
 * then drops the record and sweeps the blob; the records are capped per client and in all; a
 * damaged record file stops gc rather than letting it guess.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest/digest.js';
import { RECEIVED_RETENTION_MS } from '../../src/store/received.js';
import { Store } from '../../src/store/store.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-received-store-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const DAY = 24 * 60 * 60 * 1000;
const blobFile = (store: Store, d: Digest) => path.join(store.root, 'blobs', 'sha256', d.slice('sha256:'.length));

/** Commit `text` as a blob and record it as received by `repo` at `at`; returns its digest. */
async function received(store: Store, repo: string, text: string, at: number, client = '127.0.0.1'): Promise<Digest> {
  const blob = await store.writer.stageBytes(Buffer.from(text));
  await store.transaction(async (tx) => {
    await tx.commit(blob);
    expect(await tx.receive({ repository: repo, digest: blob.digest, received: at, client }, { perClient: 100, total: 100 })).toBe('recorded');
  });
  return blob.digest;
}

describe('received blobs and gc', () => {
  it('gc keeps a blob received less than a week ago, and drops the record and the blob once older', async () => {
    const store = await Store.open(path.join(tmp, 'retention'), { create: true });
    const now = Date.now();
    const fresh = await received(store, 'rr/art', 'fresh', now - DAY);
    const old = await received(store, 'rr/art', 'old', now - RECEIVED_RETENTION_MS - DAY);

    const dry = await store.gc({ dryRun: true, now });
    expect(dry.blobsRemoved.map((b) => b.digest)).toEqual([old]);
    expect((await store.received()).length).toBe(2); // a dry run changes nothing

    const r = await store.gc({ now });
    expect(r.blobsRemoved.map((b) => b.digest)).toEqual([old]);
    expect(r.receivedKept).toBe(1);
    expect(r.receivedExpired).toBe(1);
    expect(existsSync(blobFile(store, fresh))).toBe(true);
    expect(existsSync(blobFile(store, old))).toBe(false);
    expect((await store.received()).map((x) => x.digest)).toEqual([fresh]);

    // A week after its upload, the fresh one goes too.
    const later = await store.gc({ now: now + RECEIVED_RETENTION_MS });
    expect(later.blobsRemoved.map((b) => b.digest)).toEqual([fresh]);
    expect(await store.received()).toEqual([]);
  });

  it('a record ends when its repository forgets it; another repository that received the same blob keeps it', async () => {
    const store = await Store.open(path.join(tmp, 'forget'), { create: true });
    const d = await received(store, 'rr/a', 'shared', Date.now());
    await received(store, 'rr/b', 'shared', Date.now());
    expect(await store.transaction((tx) => tx.forgetReceived('rr/a', [d]))).toBe(1);
    expect((await store.gc()).blobsRemoved).toEqual([]);
    expect(await store.transaction((tx) => tx.forgetReceived('rr/b', [d]))).toBe(1);
    expect((await store.gc()).blobsRemoved.map((b) => b.digest)).toEqual([d]);
  });

  it('refuses records beyond the per-client and total caps (a renewal is not a new record) and a blob not stored', async () => {
    const store = await Store.open(path.join(tmp, 'caps'), { create: true });
    const limits = { perClient: 2, total: 3 };
    const put = async (text: string, client: string, repo = 'rr/art') => {
      const blob = await store.writer.stageBytes(Buffer.from(text));
      return store.transaction(async (tx) => {
        await tx.commit(blob);
        return tx.receive({ repository: repo, digest: blob.digest, received: Date.now(), client }, limits);
      });
    };
    expect(await put('a1', 'A')).toBe('recorded');
    expect(await put('a2', 'A')).toBe('recorded');
    expect(await put('a3', 'A')).toBe('client-full');
    expect(await put('a1', 'A')).toBe('recorded'); // renewed
    expect(await put('b1', 'B')).toBe('recorded');
    expect(await put('c1', 'C')).toBe('full');
    expect((await store.received()).length).toBe(3);
    const missing = `sha256:${'0'.repeat(64)}` as Digest;
    expect(await store.transaction((tx) => tx.receive({ repository: 'rr/art', digest: missing, received: Date.now(), client: 'D' }, limits))).toBe('missing');
  });

  it('a damaged record file stops gc (E_STORE_INVALID): it would not know what to keep', async () => {
    const store = await Store.open(path.join(tmp, 'damaged'), { create: true });
    const d = await received(store, 'rr/art', 'kept', Date.now());
    writeFileSync(path.join(store.root, '.layerstore', 'received.json'), '{"version":1,"blobs":[{"repository":');
    await expect(store.gc()).rejects.toMatchObject({ code: 'E_STORE_INVALID' });
    expect(existsSync(blobFile(store, d))).toBe(true);
  });
});
