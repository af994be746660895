import path from 'node:path';
import { hexOf, isDigest, type Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import type { StagedFile } from './staged-file.js';
import { diffIdOfRange, type DiffIdResult } from './diffid.js';
import { sniffCompression, SNIFF_BYTES, type Compression } from '../archive/compression.js';

/**
 * A stored blob seen as a StagedFile (pinned by a hard link in staging), with its
 * compression sniffed and, for gzip/zstd, its diffID recomputed from the bytes. Used when
 * a manifest arrives for blobs that came earlier (a registry push), so it is verified by
 * the same IngestPlan checks as an archive. Recomputed diffIDs are cached under
 * derived/diffids/<hex> (keyed by the blob digest, so never stale), as are those computed
 * when a compressed layer was ingested or pulled (rememberDiffIds).
 */
export async function storedBlobAsStaged(store: Store, d: Digest): Promise<StagedFile | undefined> {
  const size = await store.blobs.size(d);
  if (size === undefined) return undefined;
  // Pinned: a gc between now and the commit cannot take the bytes (the caller discards the pin).
  const blob = await store.writer.pin(d, size);
  if (!blob) return undefined;
  const fh = await store.writer.openStaged(blob);
  let compression: Compression;
  try {
    const head = Buffer.alloc(SNIFF_BYTES);
    const { bytesRead } = await fh.read(head, 0, SNIFF_BYTES, 0);
    compression = sniffCompression(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
  const f: StagedFile = { name: `blobs/sha256/${hexOf(d)}`, offset: 0, blob, compression };
  if (compression === 'none') {
    f.diffId = d;
    return f;
  }
  const cacheRel = diffIdRel(d);
  const cached = ((await store.derived.read(cacheRel, 128))?.toString('utf8') ?? '').trim();
  if (isDigest(cached)) {
    f.diffId = cached;
    return f;
  }
  const bytes = await store.writer.openStaged(blob);
  let r: DiffIdResult;
  try {
    r = await diffIdOfRange({ fd: bytes.fd, start: 0, size, whole: true }, compression);
  } finally {
    await bytes.close();
  }
  if (r.error !== undefined || !r.diffId) {
    f.decompressError = r.error ?? 'unknown error';
    return f;
  }
  f.diffId = r.diffId;
  await store.derived.write(cacheRel, Buffer.from(r.diffId + '\n'));
  return f;
}

function diffIdRel(d: Digest): string {
  return path.join('diffids', hexOf(d));
}

/**
 * Cache the diffIDs an ingest or pull computed for the compressed layers it committed, so the
 * next input naming one of them (an image of the same family, a pull of another tag) takes the
 * stored blob without inflating it again (a 44 MB gzip layer: ~0.5 s). Written without fsync:
 * a cache lost in a crash costs time only, and a torn file is not a digest, so is not believed.
 */
export async function rememberDiffIds(store: Store, files: Iterable<StagedFile>): Promise<void> {
  const writes: Array<Promise<boolean>> = [];
  for (const f of files) {
    if (f.fromStore || f.compression === 'none' || !f.diffId) continue;
    writes.push(store.derived.write(diffIdRel(f.blob.digest), Buffer.from(f.diffId + '\n'), { durable: false }));
  }
  await Promise.all(writes);
}
