import { LayerstoreError, isLayerstoreError } from '../errors.js';
import { shortDigest, type Digest } from '../digest/digest.js';
import { MAX_JSON_BYTES, MT, documentKind, parseIndex, parseManifest, type Descriptor } from '../formats/types.js';
import type { Store } from '../store/store.js';
import type { RegistryClient } from './client.js';
import type { RemoteRef } from './reference.js';
import { pool } from '../util/pool.js';
import { BlobLocations } from './blob-locations.js';
import { RegistryStatusError } from './client-errors.js';

export interface PushResult {
  manifests: number;
  blobsSent: number;
  bytesSent: number;
  /** Blobs the registry already had (HEAD said so): dedup on the wire. */
  blobsSkipped: number;
  bytesSkipped: number;
  /** Blobs mounted from another repository of the same registry, without sending bytes. */
  blobsMounted: number;
  bytesMounted: number;
  /** bytesSkipped + bytesMounted: what dedup on the wire saved. */
  bytesNotSent: number;
  /** Blobs mounted, by the repository they were mounted from. */
  mountedFrom: Record<string, number>;
  notes: string[];
}

interface Doc {
  descriptor: Descriptor;
  bytes: Buffer;
  mediaType: string;
}

/** Blob uploads in flight at once. */
const BLOB_CONCURRENCY = 4;

/**
 * Push a root of the store (an image manifest or a multi-platform index) to `dest`. Blobs
 * go first, each only when the registry lacks it (HEAD), mounted from `mountFrom`
 * repositories of the same registry, or else from the repository this store last pushed it
 * to or pulled it from (BlobLocations), when one has it; then child manifests by digest,
 * then the root by tag. An index whose platforms are not all stored is refused, as a registry
 * would refuse it; push one of its images instead.
 */
export async function pushRoot(
  store: Store,
  client: RegistryClient,
  root: Descriptor,
  dest: RemoteRef,
  opts: { mountFrom?: string[] } = {},
): Promise<PushResult> {
  // A push by digest puts the manifest under its own digest: another digest would be a
  // success claimed for a reference the registry will never hold (skopeo refuses it too).
  if (dest.digest !== undefined && dest.digest !== root.digest) {
    throw new LayerstoreError('E_USAGE', `the destination names ${dest.digest}, but the source's manifest is ${root.digest}`, {
      hint: `push to a tag (REGISTRY/NAME:TAG), or by the source's own digest (REGISTRY/NAME@${root.digest})`,
    });
  }
  const r: PushResult = {
    manifests: 0,
    blobsSent: 0,
    bytesSent: 0,
    blobsSkipped: 0,
    bytesSkipped: 0,
    blobsMounted: 0,
    bytesMounted: 0,
    bytesNotSent: 0,
    mountedFrom: {},
    notes: [],
  };
  const docs: Doc[] = []; // children before parents
  const blobs = new Map<Digest, number>();
  const load = async (d: Descriptor): Promise<void> => {
    if (docs.some((x) => x.descriptor.digest === d.digest)) return;
    if (!(await store.blobs.has(d.digest))) {
      throw new LayerstoreError(
        'E_BLOB_MISSING',
        `${shortDigest(root.digest)} lists ${d.digest}${d.platform ? ` (${d.platform.os}/${d.platform.architecture})` : ''}, which is not in the store`,
        {
          hint: 'a save of some platforms only cannot be pushed as an index; push one image by its manifest digest (layerstore ls)',
        },
      );
    }
    const bytes = await store.blobs.read(d.digest, MAX_JSON_BYTES);
    const doc = JSON.parse(bytes.toString('utf8')) as unknown;
    const declared = (doc as { mediaType?: unknown }).mediaType;
    const kind = documentKind(d.mediaType, doc);
    if (kind === 'index') {
      for (const c of parseIndex(doc, d.digest).manifests) await load(c);
    } else if (kind === 'manifest') {
      const m = parseManifest(doc, d.digest);
      for (const b of [m.config, ...m.layers]) {
        if (!(await store.blobs.has(b.digest)))
          throw new LayerstoreError('E_STORE_INVALID', `blob ${b.digest} is missing from the store`, { hint: 'run layerstore verify' });
        blobs.set(b.digest, b.size);
      }
    } else throw new LayerstoreError('E_UNSUPPORTED', `${d.digest} is neither a manifest nor an index`);
    const mediaType = typeof declared === 'string' ? declared : kind === 'index' ? MT.ociIndex : d.mediaType || MT.ociManifest;
    docs.push({ descriptor: d, bytes, mediaType });
  };
  await load(root);

  const repo = dest.repository;
  const seen = await BlobLocations.load(store, dest.registry);
  /** Repositories the registry refused a mount from: not asked again in this push. */
  const refused = new Set<string>();
  const mount = async (d: Digest, size: number, from: string, remembered: boolean): Promise<boolean> => {
    if (refused.has(from)) return false;
    let mounted: boolean;
    try {
      mounted = await client.mountBlob(repo, d, from);
    } catch (e) {
      // A mount is an optimisation: a repository that is gone or not readable with these
      // credentials costs an upload, never the push (docker and skopeo fall back the same way).
      if (!(e instanceof RegistryStatusError || (isLayerstoreError(e) && e.code === 'E_AUTH'))) throw e;
      // Blobs in flight at once may each have asked before the first refusal: note it once.
      if (!remembered && !refused.has(from))
        r.notes.push(`could not mount blobs from ${from} (${e instanceof Error ? e.message : String(e)}); uploaded them instead`);
      refused.add(from);
      return false;
    }
    if (!mounted) return false;
    r.blobsMounted++;
    r.bytesMounted += size;
    r.mountedFrom[from] = (r.mountedFrom[from] ?? 0) + 1;
    return true;
  };
  /** Repositories named by --mount-from first, then the one this store last saw `d` in. */
  const mountFromAny = async (d: Digest, size: number): Promise<boolean> => {
    const told = (opts.mountFrom ?? []).filter((f) => f !== repo);
    for (const from of told) if (await mount(d, size, from, false)) return true;
    const last = seen.repoOf(d);
    return !!last && last !== repo && !told.includes(last) && (await mount(d, size, last, true));
  };
  // Blobs go BLOB_CONCURRENCY at a time, as skopeo and docker push do: one upload at a time
  // left the link idle between blobs (push took ~2x skopeo's time, bench:registry).
  try {
    await pool([...blobs], BLOB_CONCURRENCY, async ([d, size]) => {
      if (await client.hasBlob(repo, d)) {
        r.blobsSkipped++;
        r.bytesSkipped += size;
      } else if (!(await mountFromAny(d, size))) {
        await client.uploadBlob(repo, d, size, () => store.blobs.chunks(d, size));
        r.blobsSent++;
        r.bytesSent += size;
      }
      seen.note(d, repo);
    });
  } finally {
    r.bytesNotSent = r.bytesSkipped + r.bytesMounted;
    await seen.save(); // what was pushed before a failure is in the registry all the same
  }
  for (const doc of docs) {
    const isRoot = doc.descriptor.digest === root.digest;
    await client.putManifest(repo, isRoot && dest.tag ? dest.tag : doc.descriptor.digest, doc.bytes, doc.mediaType);
    r.manifests++;
  }
  return r;
}
