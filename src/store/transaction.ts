import { promises as fsp } from 'node:fs';
import type { Digest } from '../digest/digest.js';
import type { Descriptor, Index } from '../formats/types.js';
import { fsyncDir, lstatOrUndefined } from '../util/fs-safe.js';
import type { BlobWriter, StagedBlob } from './blob-writer.js';
import type { StoreLayout } from './layout.js';
import { readIndex, withIndexLock, writeRootRemovals, writeRootUpdates, type RefChange, type RootUpdate } from './refs.js';
import { markUnverified } from './unverified.js';
import { addReceived, readReceived, writeReceived, type ReceiveVerdict, type ReceivedBlob, type ReceivedLimits } from './received.js';

/**
 * What may happen while the store lock is held: the commits that must be atomic with
 * index.json. gc marks and sweeps under the same lock, so it sees all of a transaction or
 * none of it. Blobs committed here are made durable (blobs/ fsync'd) before index.json or
 * an unverified mark may name them, and again when the transaction ends. When the function
 * given to Store.transaction throws, the blobs this transaction added are removed (nothing
 * names them; a blob that was already stored is never touched), then the error goes on.
 */
export class StoreTransaction {
  private readonly added: StagedBlob[] = [];
  private unsynced = false;
  /** index.json as this transaction last read or wrote it: under the lock nothing else writes it. */
  private index: Index | undefined;

  constructor(
    private readonly layout: StoreLayout,
    private readonly writer: BlobWriter,
  ) {}

  /** index.json as it is now (under the lock: nothing else changes it meanwhile, so it is read once). */
  async readIndex(): Promise<Index> {
    this.index ??= await readIndex(this.layout);
    return this.index;
  }

  /** BlobWriter.commit, remembered for rollback. Returns true when this call added the blob. */
  async commit(blob: StagedBlob, expected?: Digest): Promise<boolean> {
    const added = await this.writer.commit(blob, expected);
    if (added) {
      this.added.push(blob);
      this.unsynced = true;
    }
    return added;
  }

  /** Put a pinned blob (BlobWriter.pin) back into the store if gc removed it since. */
  async restore(pinned: StagedBlob): Promise<void> {
    const final = this.layout.blobPath(pinned.digest);
    if (!pinned.stagingPath || (await lstatOrUndefined(final))) return;
    await fsp.link(pinned.stagingPath, final);
    this.unsynced = true;
  }

  /** Record manifests stored although their config disagrees with their layers (see unverified.ts). */
  async markUnverified(entries: Map<Digest, string>): Promise<void> {
    await this.sync();
    await markUnverified(this.layout, entries);
  }

  /**
   * Record that `entry.repository` received stored blob `entry.digest` (see received.ts), or
   * renew the record. 'missing' when the blob is not stored (a gc took it since the caller
   * looked); a cap reached refuses the record. Durable when this returns.
   */
  async receive(entry: ReceivedBlob, limits: ReceivedLimits): Promise<ReceiveVerdict | 'missing'> {
    if (!(await lstatOrUndefined(this.layout.blobPath(entry.digest)))?.isFile()) return 'missing';
    await this.sync(); // the blob is durable before a record names it
    const next = addReceived(await readReceived(this.layout), entry, limits);
    if (typeof next === 'string') return next;
    await writeReceived(this.layout, next);
    return 'recorded';
  }

  /** Drop the records of `repository` for these blobs (a manifest there names them, or a blob DELETE); how many were dropped. */
  async forgetReceived(repository: string, digests: Iterable<Digest>): Promise<number> {
    const drop = new Set(digests);
    const records = await readReceived(this.layout);
    const kept = records.filter((r) => !(r.repository === repository && drop.has(r.digest)));
    if (kept.length !== records.length) await writeReceived(this.layout, kept);
    return records.length - kept.length;
  }

  /** Add roots to index.json (refs move as docker load moves them: see applyRootUpdates). */
  async updateRefs(updates: RootUpdate[]): Promise<RefChange[]> {
    await this.sync();
    const { index, changes } = await writeRootUpdates(this.layout, await this.readIndex(), updates);
    this.index = index;
    return changes;
  }

  /** Remove the roots `pick` selects from index.json; their blobs stay until gc. */
  async removeRoots(pick: (d: Descriptor) => boolean): Promise<Descriptor[]> {
    const { index, removed } = await writeRootRemovals(this.layout, await this.readIndex(), pick);
    this.index = index;
    return removed;
  }

  /** Make the renames into blobs/ durable. */
  async sync(): Promise<void> {
    if (!this.unsynced) return;
    await fsyncDir(this.layout.sha256Dir);
    this.unsynced = false;
  }

  /** Take back the blobs this transaction added. */
  async rollback(): Promise<void> {
    const added = this.added.splice(0);
    for (const b of added) await fsp.rm(this.layout.blobPath(b.digest), { force: true });
    if (added.length) await fsyncDir(this.layout.sha256Dir).catch(() => {});
    this.unsynced = false;
  }
}

/** Run `fn` as one transaction under the store lock (see StoreTransaction). */
export async function runTransaction<T>(layout: StoreLayout, writer: BlobWriter, fn: (tx: StoreTransaction) => Promise<T>): Promise<T> {
  return withIndexLock(layout, async () => {
    const tx = new StoreTransaction(layout, writer);
    let result: T;
    try {
      result = await fn(tx);
      await tx.sync();
    } catch (e) {
      await tx.rollback();
      throw e;
    }
    return result;
  });
}
