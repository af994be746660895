import { promises as fsp } from 'node:fs';
import { LayerstoreError, isLayerstoreError } from '../errors.js';
import { isDigest, type Digest } from '../digest/digest.js';
import type { StoreLayout } from './layout.js';
import { lstatOrUndefined, readFileNoFollow, writeFileAtomic } from '../util/fs-safe.js';

/**
 * Blobs a registry push delivered into a repository that no manifest names yet:
 * "repository R received blob D at time T" (`.layerstore/received.json`). Between a blob
 * upload's 201 and the manifest that names it (or for ever, when the client never sends one)
 * no ref reaches the blob, yet the client was told the repository has it, and distribution
 * keeps such blobs in the repository across restarts. So this is state, not a cache: written
 * only under the store lock (read, change, replace atomically; serve and a CLI gc may run at
 * once), and a root for gc while it lasts.
 *
 * A record ends when a manifest in R names the blob, when a blob DELETE in R removes it, or
 * at the first gc once it is older than RECEIVED_RETENTION_MS (then the blob goes too, unless
 * something else reaches it). A record of a blob no longer stored is dropped by gc as well.
 *
 * One file, replaced whole: its inode changes with every write, so a reader's cache keyed by
 * receivedStamp() is exact. Entries are capped (ReceivedLimits) so that one client cannot grow
 * it, and the rewrite, without bound.
 */
export interface ReceivedBlob {
  repository: string;
  digest: Digest;
  /** When it was received (ms since the epoch); a later upload of the same blob renews it. */
  received: number;
  /** Who sent it (the peer address), for the per-client cap. */
  client: string;
}

/**
 * How long a blob no manifest names stays in its repository: a week, as distribution's
 * upload purging keeps abandoned uploads 168 hours by default. A push sends its manifest
 * seconds after its blobs; a week covers pushes paused over a weekend, and bounds what an
 * abandoned push keeps on disk.
 */
export const RECEIVED_RETENTION_MS = 7 * 24 * 60 * 60 * 1000;

export interface ReceivedLimits {
  /** Records per client address. */
  perClient: number;
  /** Records in all (at ~150 bytes each, the file stays under 3 MB). */
  total: number;
}

export const DEFAULT_RECEIVED_LIMITS: ReceivedLimits = { perClient: 4096, total: 16384 };

/** Far above what the caps allow; only guards against reading something absurd. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;

/** Every record; none when there is no file. A damaged file is E_STORE_INVALID: gc must not guess what it kept. */
export async function readReceived(layout: StoreLayout): Promise<ReceivedBlob[]> {
  if (!(await lstatOrUndefined(layout.receivedFile))) return [];
  let doc: unknown;
  try {
    doc = JSON.parse((await readFileNoFollow(layout.receivedFile, MAX_FILE_BYTES)).toString('utf8'));
  } catch (e) {
    if (isLayerstoreError(e)) throw e;
    throw damaged(layout, 'it is not JSON');
  }
  const blobs = (doc as { version?: unknown; blobs?: unknown })?.blobs;
  if ((doc as { version?: unknown })?.version !== 1 || !Array.isArray(blobs)) throw damaged(layout, 'it is not version 1 with a blobs list');
  return blobs.map((b: unknown) => {
    const r = b as Partial<Record<keyof ReceivedBlob, unknown>>;
    if (typeof r?.repository !== 'string' || typeof r.digest !== 'string' || !isDigest(r.digest) || typeof r.client !== 'string') {
      throw damaged(layout, 'an entry lacks its repository, digest or client');
    }
    const at = typeof r.received === 'string' ? Date.parse(r.received) : NaN;
    if (!Number.isFinite(at)) throw damaged(layout, 'an entry has no valid received time');
    return { repository: r.repository, digest: r.digest, received: at, client: r.client };
  });
}

/** Replace the file with `records` (sorted, so the same records give the same bytes). Call under the store lock. */
export async function writeReceived(layout: StoreLayout, records: ReceivedBlob[]): Promise<void> {
  if (records.length === 0 && !(await lstatOrUndefined(layout.receivedFile))) return;
  const sorted = [...records].sort((a, b) => (a.repository === b.repository ? cmp(a.digest, b.digest) : cmp(a.repository, b.repository)));
  const blobs = sorted.map((r) => ({ repository: r.repository, digest: r.digest, received: new Date(r.received).toISOString(), client: r.client }));
  await writeFileAtomic(layout.receivedFile, Buffer.from(JSON.stringify({ version: 1, blobs }, null, 1) + '\n'));
}

/** What `receive` did: recorded, or refused because a cap is reached. */
export type ReceiveVerdict = 'recorded' | 'client-full' | 'full';

/**
 * Add (or renew) the record of `entry` among `records`; the caps count records other than
 * the one renewed. Returns the new list, or the cap that refused it.
 */
export function addReceived(records: ReceivedBlob[], entry: ReceivedBlob, limits: ReceivedLimits): ReceivedBlob[] | Exclude<ReceiveVerdict, 'recorded'> {
  const others = records.filter((r) => !(r.repository === entry.repository && r.digest === entry.digest));
  if (others.length === records.length) {
    if (others.filter((r) => r.client === entry.client).length >= limits.perClient) return 'client-full';
    if (others.length >= limits.total) return 'full';
  }
  return [...others, entry];
}

/** A stamp that changes whenever the file is replaced ('none' without one). */
export async function receivedStamp(layout: StoreLayout): Promise<string> {
  const st = await fsp.stat(layout.receivedFile).catch(() => undefined);
  return st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'none';
}

function damaged(layout: StoreLayout, why: string): LayerstoreError {
  return new LayerstoreError('E_STORE_INVALID', `${layout.receivedFile} is damaged (${why})`, {
    hint: 'it lists blobs pushed to serve that no manifest names yet; remove it to forget them (gc then frees their blobs)',
  });
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
