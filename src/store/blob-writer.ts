import { constants as C, promises as fsp, readdirSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { LayerstoreError } from '../errors.js';
import type { Digest } from '../digest/digest.js';
import { createHasher, defaultHasherName, sha256Of, type Hasher, type HasherName } from '../digest/hasher.js';
import type { RangeWorkers } from '../digest/range-workers.js';
import type { StoreLayout } from './layout.js';
import { ownStagingPrefix, stagingFileName } from './staging-names.js';
import { lstatOrUndefined, openRegularFile, readFileNoFollow } from '../util/fs-safe.js';
import { readBuffers } from '../util/buffer-pool.js';

/**
 * The write side of a blob's life:
 *
 *   begin() -> write()* -> finish() -> StagedBlob -> commit() | discard()
 *
 * Bytes go to a private file in the store's staging folder and are hashed as they are
 * written; finish() starts the fsync. Nothing is visible in blobs/ until commit() renames
 * the staging file to the path named by the digest the bytes actually hashed to, so a
 * crash at any point leaves at worst a stale staging file (verify --fix and gc remove
 * them), never a partial blob. The caller owns the StagedBlob and must commit or discard it.
 *
 * When the input names a digest the store already has (an OCI "blobs/sha256/<hex>"
 * entry), begin({ existing }) pins that blob with a hard link in staging instead of
 * writing the bytes again: the input is only hashed (a warm ingest reads, never writes),
 * and a concurrent gc that unlinks the blob cannot take the bytes away before commit.
 */
export interface StagedBlob {
  /** sha256 of the bytes as stored (compressed, for a compressed layer). */
  digest: Digest;
  size: number;
  /**
   * The staging file (or pinning hard link); undefined when the bytes were not kept.
   * Store-internal: other folders read staged bytes through BlobWriter.readStaged/openStaged.
   */
  stagingPath?: string;
  /** Settles when the staging file is closed (and fsync'd, unless syncLater); commit() waits for it. */
  durable?: Promise<void>;
  /**
   * A small staging file not fsync'd yet: commit() (or makeDurable) does it, and only when
   * the blob is new. Most small files (manifest.json, a config the store has) are discarded,
   * and an fsync is a disk round trip whatever the size.
   */
  syncLater?: boolean;
}

/**
 * Staging files below this size are fsync'd when committed rather than when written (see
 * StagedBlob.syncLater); larger ones start their fsync at once, to overlap the next entry.
 */
export const SYNC_LATER_BELOW = 1024 * 1024;

/**
 * Start the disk writes of a staging file every this many bytes (an fdatasync in the
 * thread pool, not awaited), so the final fsync finds little left to do. Without it the
 * kernel keeps every byte dirty until the end, and the whole blob's disk write happens
 * after the last byte is hashed instead of alongside: bench/ measured 1.24 s -> 0.82 s
 * for 512 MB read + hash + write + fsync.
 */
export const WRITEBACK_EVERY = 32 * 1024 * 1024;

/** A range at least this big is hashed and copied on two threads when two are free (RangeWorkers.spare). */
export const SPLIT_AT_BYTES = 16 * 1024 * 1024;

/** Chunks below this size are gathered into 1 MiB writes (StagingWriter.write). */
const GATHER_BELOW = 256 * 1024;

export class StagingWriter {
  private readonly hasher: Hasher;
  private size = 0;
  private pending: Promise<void> = Promise.resolve();
  private written = 0;
  private flushedTo = 0;
  /** The early writeback in flight, if any; awaited before the file is closed. */
  private flushing: Promise<void> | undefined;
  /** Closed between writes by suspend(); resume() reopens the same file for appending. */
  private suspended = false;
  /** Small chunks gathered here (a buffer of the process's pool) and written 1 MiB at a time. */
  private gather: Buffer | undefined;
  private gathered = 0;

  constructor(
    private fh: FileHandle | undefined,
    private readonly file: string | undefined,
    /** For a pinned existing blob: the digest the hard link holds. */
    private readonly pinned: Digest | undefined,
    hasherName?: HasherName,
  ) {
    this.hasher = createHasher(hasherName);
  }

  /**
   * Hash `chunk` and queue its write. Resolves once the previous chunk is written, so
   * hashing chunk N+1 overlaps the write of chunk N. The caller must not reuse the chunk.
   */
  async write(chunk: Buffer): Promise<void> {
    if (this.suspended) throw new Error('StagingWriter.write while suspended: resume() first');
    this.hasher.update(chunk);
    this.size += chunk.length;
    if (!this.fh) return;
    if (chunk.length >= GATHER_BELOW) {
      if (this.gathered > 0) await this.writeGathered();
      await this.queueWrite(chunk);
      return;
    }
    // A small chunk (a pipe's or a socket's 16-64 KiB) is copied into a pooled buffer and
    // written with others: one write() per chunk, each waiting for the one before, made a
    // stream's ingest half its time waiting for the thread pool. The caller's chunk is free
    // once copied.
    for (let off = 0; off < chunk.length; ) {
      this.gather ??= readBuffers.take();
      const n = chunk.copy(this.gather, this.gathered, off);
      this.gathered += n;
      off += n;
      if (this.gathered === this.gather.length) await this.writeGathered();
    }
  }

  /** Queue the write of `buf` after the ones before; resolves once the one before is written. */
  private async queueWrite(buf: Buffer, then?: () => void): Promise<void> {
    const prev = this.pending;
    const fh = this.fh!;
    this.pending = prev.then(async () => {
      await writeAll(fh, buf);
      this.written += buf.length;
      this.startWriteback(fh);
      then?.();
    });
    this.pending.catch(() => {}); // observed by the next write() or by finish()
    await prev;
  }

  /** Queue what was gathered; its buffer goes back to the pool once written. */
  private async writeGathered(): Promise<void> {
    const whole = this.gather!;
    const part = whole.subarray(0, this.gathered);
    this.gather = undefined;
    this.gathered = 0;
    await this.queueWrite(part, () => readBuffers.give([whole]));
  }

  /** Every byte given to write() handed to the file (gathered ones too), and written. */
  private async drain(): Promise<void> {
    if (this.gathered > 0) await this.writeGathered();
    await this.pending;
  }

  private startWriteback(fh: FileHandle): void {
    if (this.flushing || this.written - this.flushedTo < WRITEBACK_EVERY) return;
    const upTo = this.written;
    this.flushing = fh.datasync().then(
      () => {
        this.flushedTo = upTo;
        this.flushing = undefined;
      },
      // A failed early writeback is not the verdict: finish()'s fsync reports the error.
      () => {
        this.flushing = undefined;
      },
    );
  }

  /** Wait for an early writeback before closing the file it runs on. */
  private async settled(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  /**
   * Close the staging file until resume(): a registry upload session spans requests and
   * must hold no descriptor while it waits for the next one. The hash state stays here.
   */
  async suspend(): Promise<void> {
    if (!this.fh || this.suspended) return;
    await this.drain();
    await this.settled();
    await this.fh.close();
    this.suspended = true;
  }

  /** Reopen a suspended staging file for appending; its size must be what was written. */
  async resume(): Promise<void> {
    if (!this.suspended) return;
    const fh = await fsp.open(this.file!, C.O_WRONLY | C.O_APPEND | C.O_NOFOLLOW);
    const st = await fh.stat();
    if (!st.isFile() || st.size !== this.written) {
      await fh.close();
      throw new LayerstoreError('E_STORE_INVALID', `staging file ${path.basename(this.file!)} changed while its upload waited`);
    }
    this.fh = fh;
    this.suspended = false;
  }

  /**
   * All bytes are in; returns the digest. `alreadyStored(digest)` lets the caller skip the
   * fsync of bytes the store already has (they will be discarded, not committed). The
   * fsync is not awaited here, so it overlaps reading the next entry; commit() waits.
   */
  async finish(alreadyStored?: (d: Digest) => Promise<boolean>): Promise<StagedBlob> {
    const digest = this.hasher.digest();
    if (this.pinned !== undefined) return settlePin(this.file!, this.pinned, digest, this.size);
    if (!this.fh) return { digest, size: this.size };
    await this.resume();
    const fh = this.fh;
    try {
      await this.drain();
    } catch (e) {
      await this.settled();
      await fh.close().catch(() => {});
      throw e;
    }
    return stagedFromFile(fh, this.file!, digest, this.size, alreadyStored, this.settled());
  }

  /** Close and remove the staging file; safe after a failed write. */
  async abort(): Promise<void> {
    if (this.fh && !this.suspended) {
      await this.pending.catch(() => {});
      await this.settled();
      await this.fh.close().catch(() => {});
    }
    if (this.file) await fsp.rm(this.file, { force: true });
  }
}

/**
 * A pinned blob's link, once the input's bytes hashed to `digest`: kept when they are the
 * pinned blob; otherwise removed, and the StagedBlob keeps no bytes (the digest tells the truth).
 */
async function settlePin(link: string, pinned: Digest, digest: Digest, size: number): Promise<StagedBlob> {
  if (digest === pinned) return { digest, size, stagingPath: link };
  await fsp.rm(link, { force: true });
  return { digest, size };
}

/**
 * A staging file whose bytes are all written, as a StagedBlob: its fsync (skipped when
 * `alreadyStored` says the store has the digest, so the file will be discarded) and close
 * run after `before` settles, and are not awaited here, so they overlap the next entry.
 */
async function stagedFromFile(
  fh: FileHandle,
  file: string,
  digest: Digest,
  size: number,
  alreadyStored: ((d: Digest) => Promise<boolean>) | undefined,
  before: Promise<void> = Promise.resolve(),
): Promise<StagedBlob> {
  const skipSync = alreadyStored ? await alreadyStored(digest).catch(() => false) : false;
  const syncLater = !skipSync && size < SYNC_LATER_BELOW;
  const durable = before.then(() => (skipSync || syncLater ? undefined : fh.sync())).finally(() => fh.close().catch(() => {}));
  durable.catch(() => {}); // observed by commit() or discard()
  return syncLater ? { digest, size, stagingPath: file, durable, syncLater } : { digest, size, stagingPath: file, durable };
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

/**
 * The Ingester: blobs enter the store only through here (see the lifecycle above). Commits
 * that must be atomic with index.json go through Store.transaction, which also rolls back
 * the blobs a failed transaction added.
 */
export class BlobWriter {
  constructor(
    private readonly layout: StoreLayout,
    private readonly hasherName?: HasherName,
  ) {}

  private stagingName(): string {
    // "<pid>-<where>-" lets verify/gc tell a live ingest's files from a dead one's (staging-names.ts).
    return path.join(this.layout.stagingDir, stagingFileName());
  }

  /**
   * A hard link to stored blob `d` in staging (see pin()); undefined when the blob is gone
   * (gc since the caller looked): the caller then writes the bytes after all.
   */
  private async linkPin(d: Digest): Promise<string | undefined> {
    const link = this.stagingName();
    try {
      await fsp.link(this.layout.blobPath(d), link);
      return link;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw e;
    }
  }

  /** A new, private staging file, open for writing. */
  private async openStaging(): Promise<{ file: string; fh: FileHandle }> {
    const file = this.stagingName();
    return { file, fh: await fsp.open(file, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600) };
  }

  /** Start a staging file; with `existing`, pin that stored blob instead (see above). */
  async begin(opts: { existing?: Digest } = {}): Promise<StagingWriter> {
    const link = opts.existing ? await this.linkPin(opts.existing) : undefined;
    if (link) return new StagingWriter(undefined, link, opts.existing, this.hasherName);
    const { file, fh } = await this.openStaging();
    return new StagingWriter(fh, file, undefined, this.hasherName);
  }

  /** Whether stageRange can hash (it runs node:crypto on worker threads). */
  get canStageRanges(): boolean {
    return (this.hasherName ?? defaultHasherName()) === 'node';
  }

  /**
   * Stage bytes `start .. start + size` of the open file `src` on a worker thread: hashed
   * and copied into a staging file there, with the same early writeback as write(). With
   * `existing`, the stored blob is pinned and the range only hashed (see begin()).
   */
  async stageRange(
    workers: RangeWorkers,
    src: { fd: number; start: number; size: number },
    opts: { existing?: Digest; alreadyStored?: (d: Digest) => Promise<boolean> } = {},
  ): Promise<StagedBlob> {
    const range = { src: src.fd, start: src.start, size: src.size };
    const link = opts.existing ? await this.linkPin(opts.existing) : undefined;
    if (link) {
      let digest: Digest;
      try {
        digest = await workers.hash(range);
      } catch (e) {
        await fsp.rm(link, { force: true });
        throw e;
      }
      return settlePin(link, opts.existing!, digest, src.size);
    }
    const { file, fh } = await this.openStaging();
    let digest: Digest;
    try {
      const copy = { ...range, dst: fh.fd, writebackEvery: WRITEBACK_EVERY };
      if (src.size >= SPLIT_AT_BYTES && workers.spare()) {
        // Hashed on one thread and copied on another (both must end before fh is closed).
        const [hashed, copied] = await Promise.allSettled([workers.hash(range), workers.copy(copy)]);
        if (hashed.status === 'rejected') throw hashed.reason;
        if (copied.status === 'rejected') throw copied.reason;
        digest = hashed.value;
      } else {
        digest = await workers.hash(copy);
      }
    } catch (e) {
      await fh.close().catch(() => {});
      await fsp.rm(file, { force: true });
      throw e;
    }
    return stagedFromFile(fh, file, digest, src.size, opts.alreadyStored);
  }

  /**
   * Pin a stored blob with a hard link in staging, so a concurrent gc cannot take its bytes
   * before a commit that references it; undefined when the blob is not stored. The pin
   * lives until discard() (a transaction's restore() puts the blob back if gc took it).
   */
  async pin(d: Digest, size?: number): Promise<StagedBlob | undefined> {
    const link = await this.linkPin(d);
    if (!link) return undefined;
    return { digest: d, size: size ?? (await fsp.lstat(link)).size, stagingPath: link };
  }

  /** Whether blob `d` is stored as a regular file (the cheap check before staging bytes again). */
  async isStored(d: Digest): Promise<boolean> {
    return (await lstatOrUndefined(this.layout.blobPath(d)))?.isFile() === true;
  }

  /** A staged blob's bytes (at most `maxBytes`, else E_TOO_LARGE); undefined when they were not kept. */
  async readStaged(blob: StagedBlob, maxBytes: number): Promise<Buffer | undefined> {
    return blob.stagingPath ? readFileNoFollow(blob.stagingPath, maxBytes) : undefined;
  }

  /** A staged blob's bytes open for reading (the caller closes it); E_BLOB_MISSING when they were not kept. */
  async openStaged(blob: StagedBlob): Promise<FileHandle> {
    if (!blob.stagingPath) throw new LayerstoreError('E_BLOB_MISSING', `the bytes of ${blob.digest} were not kept`);
    return (await openRegularFile(blob.stagingPath)).fh;
  }

  /**
   * Stage a small in-memory blob (a synthesized manifest); one the store has already is
   * pinned instead of written (named by the sha256 of these bytes, never by the caller).
   */
  async stageBytes(bytes: Uint8Array): Promise<StagedBlob> {
    const pinned = await this.pin(sha256Of(bytes), bytes.byteLength);
    if (pinned) return pinned;
    const w = await this.begin();
    try {
      await w.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return await w.finish();
    } catch (e) {
      await w.abort();
      throw e;
    }
  }

  /**
   * Make a staged blob visible under its digest. `expected`, when given, must equal the
   * digest the bytes hashed to. An existing blob is kept (same name, same bytes) and the
   * staging file dropped. Returns true when this call added the blob. Callers fsync the
   * blobs directory after their last commit.
   */
  async commit(blob: StagedBlob, expected?: Digest): Promise<boolean> {
    if (expected && expected !== blob.digest) {
      throw new LayerstoreError('E_DIGEST_MISMATCH', `blob hashed to ${blob.digest}, expected ${expected}`, { expected, actual: blob.digest });
    }
    if (blob.durable) await blob.durable;
    const final = this.layout.blobPath(blob.digest);
    const existing = await lstatOrUndefined(final);
    if (existing) {
      if (!existing.isFile())
        throw new LayerstoreError('E_STORE_INVALID', `${final} is not a regular file; the store never follows links`, { hint: 'run layerstore verify' });
      if (blob.stagingPath) await fsp.rm(blob.stagingPath, { force: true });
      return false;
    }
    if (!blob.stagingPath) {
      throw new LayerstoreError('E_BLOB_MISSING', `the bytes of ${blob.digest} were not kept during ingest`, { hint: 'run the ingest again' });
    }
    await this.syncStaged(blob);
    await fsp.chmod(blob.stagingPath, 0o444);
    await fsp.rename(blob.stagingPath, final);
    return true;
  }

  /**
   * Wait until a staged blob's bytes are durable, fsyncing a small one now (see syncLater)
   * unless the store has the blob already: so that commit(), under the store lock, finds
   * nothing left to sync.
   */
  async makeDurable(blob: StagedBlob): Promise<void> {
    if (blob.durable) await blob.durable;
    if (blob.syncLater && !(await this.isStored(blob.digest))) await this.syncStaged(blob);
  }

  private async syncStaged(blob: StagedBlob): Promise<void> {
    if (!blob.syncLater || !blob.stagingPath) return;
    const fh = await fsp.open(blob.stagingPath, C.O_RDONLY | C.O_NOFOLLOW);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    blob.syncLater = false;
  }

  async discard(blob: StagedBlob): Promise<void> {
    await blob.durable?.catch(() => {});
    if (blob.stagingPath) await fsp.rm(blob.stagingPath, { force: true });
  }

  /**
   * Remove this process's staging files, synchronously: for a signal handler, so an
   * interrupted ingest leaves nothing behind. A kill -9 still can; verify --fix and gc
   * remove such leftovers.
   */
  removeOwnStagingSync(): void {
    removeOwnStagingSync(this.layout);
  }
}

function removeOwnStagingSync(layout: StoreLayout): void {
  let names: string[] = [];
  try {
    names = readdirSync(layout.stagingDir);
  } catch {
    return;
  }
  const own = ownStagingPrefix();
  for (const n of names) if (n.startsWith(own)) rmSync(path.join(layout.stagingDir, n), { force: true });
}
