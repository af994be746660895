import { constants as C, promises as fsp, readdirSync, rmSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { LayerstoreError } from '../errors.js';
import type { Digest } from '../digest/digest.js';
import { createHasher, type Hasher, type HasherName } from '../digest/hasher.js';
import type { StoreLayout } from './layout.js';
import { lstatOrUndefined } from './fs-safe.js';

/**
 * The write side of a blob's life:
 *
 *   begin() -> write()* -> finish() -> StagedBlob -> commitBlob() | discardStaged()
 *
 * Bytes go to a private file in the store's staging folder and are hashed as they are
 * written; finish() fsyncs and closes it. Nothing is visible in blobs/ until commitBlob()
 * renames the staging file to the path named by the digest the bytes actually hashed to,
 * so a crash at any point leaves at worst a stale staging file (removed by verify --fix/gc),
 * never a partial blob. The caller owns the StagedBlob and must commit or discard it.
 */
export interface StagedBlob {
  /** sha256 of the bytes as stored (compressed, for a compressed layer). */
  digest: Digest;
  size: number;
  /** The staging file; undefined when the bytes were only hashed because the blob was already stored. */
  stagingPath?: string;
  /**
   * Settles when the staging file is fsync'd and closed. finish() does not wait for it, so
   * the fsync of one layer overlaps reading and hashing the next; commit() waits.
   */
  durable?: Promise<void>;
}

export class StagingWriter {
  private readonly hasher: Hasher;
  private size = 0;
  private pending: Promise<void> = Promise.resolve();
  private failed: unknown;

  constructor(
    private readonly fh: FileHandle | undefined,
    private readonly file: string | undefined,
    hasherName?: HasherName,
  ) {
    this.hasher = createHasher(hasherName);
  }

  /**
   * Hash `chunk` and queue its write. Resolves once the previous chunk is on its way, so
   * hashing chunk N+1 overlaps the write of chunk N. The chunk must not be reused by the caller.
   */
  async write(chunk: Buffer): Promise<void> {
    this.hasher.update(chunk);
    this.size += chunk.length;
    if (!this.fh) return;
    const prev = this.pending;
    const fh = this.fh;
    this.pending = prev.then(() => writeAll(fh, chunk));
    this.pending.catch((e) => {
      this.failed ??= e;
    });
    await prev;
  }

  /**
   * All bytes written; returns the digest. `alreadyStored(digest)` lets the caller skip the
   * fsync of bytes the store already has (they will be discarded, not committed).
   */
  async finish(alreadyStored?: (d: Digest) => Promise<boolean>): Promise<StagedBlob> {
    const digest = this.hasher.digest();
    if (!this.fh) return { digest, size: this.size };
    const fh = this.fh;
    try {
      await this.pending;
    } catch (e) {
      await fh.close().catch(() => {});
      throw e;
    }
    const skipSync = alreadyStored ? await alreadyStored(digest).catch(() => false) : false;
    const durable = (skipSync ? Promise.resolve() : fh.sync()).finally(() => fh.close().catch(() => {}));
    durable.catch(() => {}); // observed by commit() or discard()
    return { digest, size: this.size, stagingPath: this.file, durable };
  }

  /** Close and remove the staging file; safe to call after finish() or a failed write. */
  async abort(): Promise<void> {
    if (this.fh) {
      await this.pending.catch(() => {});
      await this.fh.close().catch(() => {});
    }
    if (this.file) await fsp.rm(this.file, { force: true });
  }
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

export class BlobWriter {
  constructor(
    readonly layout: StoreLayout,
    private readonly hasherName?: HasherName,
  ) {}

  /**
   * Start a staging file. With `hashOnly` the bytes are hashed but not written: used when
   * the input names a digest that is already stored, so a warm ingest only reads and hashes.
   */
  async begin(opts: { hashOnly?: boolean } = {}): Promise<StagingWriter> {
    if (opts.hashOnly) return new StagingWriter(undefined, undefined, this.hasherName);
    const file = path.join(this.layout.stagingDir, `${process.pid}-${randomBytes(8).toString('hex')}.partial`);
    const fh = await fsp.open(file, C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    return new StagingWriter(fh, file, this.hasherName);
  }

  /** Stage a small in-memory blob (a synthesized manifest). */
  async stageBytes(bytes: Uint8Array): Promise<StagedBlob> {
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
   * staging file dropped. Returns true when this call added the blob.
   */
  async commit(blob: StagedBlob, expected?: Digest): Promise<boolean> {
    if (expected && expected !== blob.digest) {
      throw new LayerstoreError('E_DIGEST_MISMATCH', `blob hashed to ${blob.digest}, expected ${expected}`, { expected, actual: blob.digest });
    }
    const final = this.layout.blobPath(blob.digest);
    const existing = await lstatOrUndefined(final);
    if (existing) {
      if (!existing.isFile()) throw new LayerstoreError('E_STORE_INVALID', `${final} is not a regular file; the store never follows links`, { hint: 'run layerstore verify' });
      if (blob.stagingPath) await fsp.rm(blob.stagingPath, { force: true });
      return false;
    }
    if (blob.durable) await blob.durable;
    if (!blob.stagingPath) {
      // Hash-only blobs were stored when we began; if one vanished since (gc), say so.
      throw new LayerstoreError('E_BLOB_MISSING', `blob ${blob.digest} disappeared from the store during ingest`, { hint: 'run the ingest again' });
    }
    await fsp.chmod(blob.stagingPath, 0o444);
    await fsp.rename(blob.stagingPath, final);
    return true;
  }

  async discard(blob: StagedBlob): Promise<void> {
    await blob.durable?.catch(() => {});
    if (blob.stagingPath) await fsp.rm(blob.stagingPath, { force: true });
  }
}

/**
 * Remove this process's staging files (named "<pid>-..."), synchronously: for a signal
 * handler, so an interrupted ingest leaves nothing behind. A kill -9 still can; verify
 * and gc remove such leftovers.
 */
export function removeOwnStagingSync(layout: StoreLayout): void {
  let names: string[] = [];
  try {
    names = readdirSync(layout.stagingDir);
  } catch {
    return;
  }
  for (const n of names) if (n.startsWith(`${process.pid}-`)) rmSync(path.join(layout.stagingDir, n), { force: true });
}
