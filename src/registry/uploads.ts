import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Digest } from '../digest/digest.js';
import type { StagedBlob, StagingWriter } from '../store/blob-writer.js';
import type { Store } from '../store/store.js';
import { RegistryError } from './errors.js';

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
 * A pushed blob is referenced by no ref until its manifest arrives, so gc could sweep it in
 * between. Each committed upload is therefore pinned by a hard link in staging (named with
 * this process's pid, which gc leaves alone while the server runs) until a manifest that
 * uses it is committed; restore() puts a swept blob back from its pin.
 */
export class Uploads {
  private readonly sessions = new Map<string, Session>();
  /** Pinned blobs per repository: uploaded there, not yet named by a manifest. */
  private readonly pins = new Map<Digest, { blob: StagedBlob; repos: Set<string> }>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
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

  /** Finish: the bytes must hash to `digest`; then commit and pin. */
  async complete(s: Session, digest: Digest): Promise<void> {
    if (s.busy) throw new RegistryError(416, 'BLOB_UPLOAD_INVALID', `another request is writing to upload ${s.id}`);
    this.sessions.delete(s.id);
    const blob = await s.writer.finish();
    if (blob.digest !== digest) {
      await this.store.writer.discard(blob);
      throw new RegistryError(400, 'DIGEST_INVALID', `the uploaded bytes hash to ${blob.digest}, not ${digest}`);
    }
    await this.store.transaction(async (tx) => {
      await tx.commit(blob, digest);
      await tx.sync();
      await this.pin(digest, s.repo);
    });
  }

  async cancel(s: Session): Promise<void> {
    this.sessions.delete(s.id);
    await s.writer.abort();
  }

  /** Whether `repo` received `d` by upload (or mount) and no manifest used it yet. */
  pinnedIn(repo: string, d: Digest): boolean {
    return this.pins.get(d)?.repos.has(repo) ?? false;
  }

  /** Pin an existing blob for `repo` (an upload, or a cross-repository mount). */
  async pin(d: Digest, repo: string): Promise<void> {
    const existing = this.pins.get(d);
    if (existing) {
      existing.repos.add(repo);
      return;
    }
    const blob = await this.store.writer.pin(d);
    if (!blob) throw new RegistryError(404, 'BLOB_UNKNOWN', `blob ${d} is not stored`);
    this.pins.set(d, { blob, repos: new Set([repo]) });
  }

  /**
   * `repo` no longer needs its pin on these blobs (a manifest there names them, or a blob
   * DELETE): each pin goes when no repository holds it. Another repository that received the
   * same blob keeps it until a manifest of its own names it: a push to several repositories at
   * once (docker push of one image to three names) must not lose a blob one of them was told
   * it has.
   */
  async unpin(digests: Iterable<Digest>, repo: string): Promise<void> {
    for (const d of digests) {
      const pin = this.pins.get(d);
      if (!pin) continue;
      pin.repos.delete(repo);
      if (pin.repos.size === 0) await this.release([d]);
    }
  }

  /** Put a pinned blob back into blobs/ if gc removed it. */
  async restore(d: Digest): Promise<void> {
    const pin = this.pins.get(d);
    if (!pin) return;
    await this.store.transaction((tx) => tx.restore(pin.blob));
  }

  /** Drop these pins, whichever repositories hold them. */
  private async release(digests: Iterable<Digest>): Promise<void> {
    for (const d of digests) {
      const pin = this.pins.get(d);
      if (!pin) continue;
      this.pins.delete(d);
      await this.store.writer.discard(pin.blob);
    }
  }

  private async expire(): Promise<void> {
    const now = Date.now();
    for (const s of [...this.sessions.values()]) if (!s.busy && now - s.touched > this.limits.idleMs) await this.cancel(s);
  }

  /** Drop every session and pin (server shutdown). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const s of [...this.sessions.values()]) await this.cancel(s);
    await this.release([...this.pins.keys()]);
  }
}
