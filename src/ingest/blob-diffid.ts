import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { hexOf, isDigest, type Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import { ensureRealDir, writeFileAtomic } from '../store/fs-safe.js';
import type { StagedFile } from './staged-file.js';
import { DiffIdComputer } from './diffid.js';

/**
 * A stored blob seen as a StagedFile (already committed, nothing to write), with its
 * compression sniffed and, for gzip/zstd, its diffID recomputed from the bytes. Used when
 * a manifest arrives for blobs that came earlier (a registry push), so it is verified by
 * the same IngestPlan checks as an archive. Recomputed diffIDs are cached under
 * derived/diffids/<hex> (keyed by the blob digest, so never stale).
 */
export async function storedBlobAsStaged(store: Store, d: Digest): Promise<StagedFile | undefined> {
  const size = await store.blobs.size(d);
  if (size === undefined) return undefined;
  const compression = await store.blobs.compression(d);
  const f: StagedFile = { name: `blobs/sha256/${hexOf(d)}`, offset: 0, blob: { digest: d, size }, compression };
  if (compression === 'none') {
    f.diffId = d;
    return f;
  }
  const cacheDir = path.join(store.layout.derivedDir, 'diffids');
  const cacheFile = path.join(cacheDir, hexOf(d));
  const cached = (await fsp.readFile(cacheFile, 'utf8').catch(() => '')).trim();
  if (isDigest(cached)) {
    f.diffId = cached;
    return f;
  }
  const dec = new DiffIdComputer(compression);
  for await (const chunk of await store.blobs.open(d)) await dec.write(chunk as Buffer);
  const r = await dec.finish();
  if (r.error !== undefined || !r.diffId) {
    f.decompressError = r.error ?? 'unknown error';
    return f;
  }
  f.diffId = r.diffId;
  await ensureRealDir(store.layout.derivedDir);
  await ensureRealDir(cacheDir);
  await writeFileAtomic(cacheFile, Buffer.from(r.diffId + '\n')).catch(() => {
    // a cache that cannot be written is only slower next time
  });
  return f;
}
