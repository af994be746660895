import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.js';
import type { StagingWriter } from '../store/blob-writer.js';
import type { Store } from '../store/store.js';
import { RegistryError } from './errors.js';
import type { ReceivedBlobs } from './received.js';

interface Session {
  id: string;
  repo: string;
  /** Who opened it (the peer address), for the per-client cap. */
  client: string;
  writer: StagingWriter;
  offset: number;
  touched: number;
  /** A request is writing to it now; a second one at the same time is refused. */
  busy: boolean;
}

/** Limits on upload sessions, so no client can exhaust the server's disk entries or memory. */
export interface UploadLimits {
  /** Open sessions per client address. */
  perClient: number;
  /** Open sessions in all. */
  total: number;
  /** A session nobody wrote to for this long is cancelled. */
  idleMs: number;
}

export const DEFAULT_UPLOAD_LIMITS: UploadLimits = { perClient: 64, total: 1024, idleMs: 15 * 60 * 1000 };

/**
 * Blob uploads (POST, PATCH chunks, PUT ?digest=): bytes go to a staging file through the
 * same BlobWriter as ingest, hashed as they arrive; nothing is visible until the final PUT
 * names a digest the bytes match, and then the blob is committed under the store lock.
 * A client that disconnects mid-chunk loses its session and leaves nothing behind.
 * A session holds no file descriptor between requests (its staging file is closed and
 * reopened for appending), sessions are capped per client and in all, and idle ones expire.
 *
 * A pushed blob is referenced by no ref until its manifest arrives (if ever), yet the client
 * was told the repository has it. So the commit also records, in the same transaction,
 * "this repository received this blob" in the store (ReceivedBlobs): gc keeps the blob while
 * the record lasts, and the record outlives this process (a restart, a CLI gc meanwhile).
 */
export class Uploads {
  private readonly sessions = new Map<string, Session>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly received: ReceivedBlobs,
    private readonly limits: UploadLimits = DEFAULT_UPLOAD_LIMITS,
  ) {
    this.timer = setInterval(() => void this.expire(), Math.min(limits.idleMs, 60_000));
    this.timer.unref();
  }

  async start(repo: string, client: string): Promise<Session> {
    await this.expire();
    if (this.sessions.size >= this.limits.total) {
      throw new RegistryError(429, 'TOOMANYREQUESTS', `the server has ${this.limits.total} open upload sessions; finish or cancel some first`);
    }
    let mine = 0;
    for (const s of this.sessions.values()) if (s.client === client) mine++;
    if (mine >= this.limits.perClient) {
      throw new RegistryError(429, 'TOOMANYREQUESTS', `this client has ${this.limits.perClient} open upload sessions; finish or cancel some first`);
    }
    // A client at its cap of blobs no manifest names yet would be refused at the end anyway.
    await this.received.checkRoom(client);
    const writer = await this.store.writer.begin();
    const s: Session = { id: randomUUID(), repo, client, writer, offset: 0, touched: Date.now(), busy: false };
    this.sessions.set(s.id, s);
    await writer.suspend();
    return s;
  }

  get(repo: string, id: string): Session {
    const s = this.sessions.get(id);
    if (!s || s.repo !== repo) throw new RegistryError(404, 'BLOB_UPLOAD_UNKNOWN', `upload ${id} is not known`);
    return s;
  }

  /**
   * Append a request body; `start` (from Content-Range) must be where the upload is. One
   * request at a time: two PATCHes racing on a session would interleave their bytes.
   */
  async append(s: Session, body: Readable, start?: number): Promise<void> {
    if (s.busy) throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `another request is writing to upload ${s.id}`);
    if (start !== undefined && start !== s.offset) {
      throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `chunk starts at ${start}, but the upload is at ${s.offset}`);
    }
    s.busy = true;
    try {
      await s.writer.resume();
      for await (const chunk of body) {
        await s.writer.write(chunk as Buffer);
        s.offset += (chunk as Buffer).length;
      }
      await s.writer.suspend();
    } catch (e) {
      await this.cancel(s);
      throw e;
    } finally {
      s.busy = false;
    }
    s.touched = Date.now();
  }

  /** Finish: the bytes must hash to `digest`; then commit and record it as received in the session's repository. */
  async complete(s: Session, digest: Digest): Promise<void> {
    if (s.busy) throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `another request is writing to upload ${s.id}`);
    this.sessions.delete(s.id);
    const blob = await s.writer.finish();
    if (blob.digest !== digest) {
      await this.store.writer.discard(blob);
      throw new RegistryError(400, 'DIGEST_INVALID', `the uploaded bytes hash to ${blob.digest}, not ${digest}`);
    }
    // One transaction: gc sees the blob with its record or neither (a refused record takes back a new blob).
    await this.store.transaction(async (tx) => {
      await tx.commit(blob, digest);
      await tx.sync();
      await this.received.record(tx, s.repo, digest, s.client);
    });
  }

  async cancel(s: Session): Promise<void> {
    this.sessions.delete(s.id);
    await s.writer.abort();
  }

  /** A cross-repository mount: record stored blob `d` as received in `repo`; false when it is no longer stored. */
  async mount(d: Digest, repo: string, client: string): Promise<boolean> {
    return this.store.transaction((tx) => this.received.record(tx, repo, d, client));
  }

  private async expire(): Promise<void> {
    const now = Date.now();
    for (const s of [...this.sessions.values()]) if (!s.busy && now - s.touched > this.limits.idleMs) await this.cancel(s);
  }

  /** Drop every session (server shutdown). Received blobs stay recorded in the store. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const s of [...this.sessions.values()]) await this.cancel(s);
  }
}
