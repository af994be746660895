import { LayerstoreError } from '../errors.js';
import type { Digest } from '../digest/digest.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, MT, parseIndex, parseJson, type Descriptor, type Index } from '../formats/types.js';
import { withIndexLock } from './index-lock.js';
import type { StoreLayout } from './layout.js';
import { lstatOrUndefined, readFileNoFollow, writeFileAtomic } from '../util/fs-safe.js';

/**
 * index.json holds the store's roots: one descriptor per ref (annotated with
 * org.opencontainers.image.ref.name, and io.containerd.image.name when the ref is a
 * Docker-style name), plus ref-less descriptors for images that are kept untagged.
 * It is rewritten only under the store lock, as temp + rename, and only after every
 * blob it names has been committed.
 */
export interface RootUpdate {
  descriptor: Descriptor;
  ref?: string;
  fullName?: string;
}

export interface RefChange {
  ref: string;
  from?: Digest;
  to: Digest;
}

export { withIndexLock };

export function refOf(d: Descriptor): string | undefined {
  return d.annotations?.[ANNOTATION_REF_NAME];
}

/**
 * The store's own index.json grows ~290 bytes per ref (100k refs: 29 MB), so it gets a far
 * larger limit than the documents inputs bring (MAX_JSON_BYTES in formats/types.ts): it is this tool's own file,
 * and the limit only guards against reading something absurd into memory.
 */
export const MAX_STORE_INDEX_BYTES = 512 * 1024 * 1024;

/**
 * A store without index.json lost its list of images: it is damaged, never empty. A new
 * store gets index.json before oci-layout, and index.json is only ever replaced by a
 * rename, so no process ever sees a store without one. Reading it as empty would let gc
 * sweep every blob and verify call the store consistent.
 */
export function missingIndexError(layout: StoreLayout): LayerstoreError {
  return new LayerstoreError('E_STORE_INVALID', `the store at ${layout.root} has no index.json (its list of images): it is damaged, not empty`, {
    hint: 'restore index.json from a backup, or ingest the images again into a new store; nothing was changed',
  });
}

export async function readIndex(layout: StoreLayout): Promise<Index> {
  let bytes: Buffer;
  try {
    bytes = await readFileNoFollow(layout.indexFile, MAX_STORE_INDEX_BYTES);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw missingIndexError(layout);
    throw e;
  }
  try {
    return parseIndex(parseJson(bytes, 'index.json', MAX_STORE_INDEX_BYTES), 'store index.json');
  } catch (e) {
    throw new LayerstoreError('E_STORE_INVALID', `the store's index.json is damaged: ${(e as Error).message}`, { hint: 'run layerstore verify' });
  }
}

export function serializeIndex(idx: Index): Buffer {
  const out = { schemaVersion: 2, mediaType: MT.ociIndex, manifests: idx.manifests.map(cleanDescriptor) };
  return Buffer.from(JSON.stringify(out, null, 2) + '\n');
}

function cleanDescriptor(d: Descriptor): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.platform) out.platform = d.platform;
  if (d.annotations && Object.keys(d.annotations).length) out.annotations = d.annotations;
  return out;
}

/**
 * Add roots to index.json. A ref that already names another digest moves to the new one
 * (as docker load does); the image it named stays as an untagged root unless another ref
 * still names it. A ref-less root is added only when no root names its digest yet.
 */
export function applyRootUpdates(idx: Index, updates: RootUpdate[]): { index: Index; changes: RefChange[] } {
  const manifests = [...idx.manifests];
  const changes: RefChange[] = [];
  const namesDigest = (d: Digest) => manifests.some((m) => m.digest === d);
  for (const u of updates) {
    if (!u.ref) {
      if (!namesDigest(u.descriptor.digest)) manifests.push(withAnnotations(u.descriptor, {}));
      continue;
    }
    const at = manifests.findIndex((m) => refOf(m) === u.ref);
    const annotations: Record<string, string> = { [ANNOTATION_REF_NAME]: u.ref };
    if (u.fullName) annotations[ANNOTATION_IMAGE_NAME] = u.fullName;
    const entry = withAnnotations(u.descriptor, annotations);
    if (at >= 0) {
      const old = manifests[at]!;
      if (old.digest === u.descriptor.digest) {
        manifests[at] = entry;
        continue;
      }
      manifests.splice(at, 1);
      changes.push({ ref: u.ref, from: old.digest, to: u.descriptor.digest });
      if (!namesDigest(old.digest)) manifests.push(withAnnotations(old, {}));
    } else {
      changes.push({ ref: u.ref, to: u.descriptor.digest });
    }
    // A named root replaces any untagged root for the same digest.
    for (let i = manifests.length - 1; i >= 0; i--) {
      if (manifests[i]!.digest === u.descriptor.digest && !refOf(manifests[i]!)) manifests.splice(i, 1);
    }
    manifests.push(entry);
  }
  return { index: { schemaVersion: 2, mediaType: MT.ociIndex, manifests }, changes };
}

function withAnnotations(d: Descriptor, annotations: Record<string, string>): Descriptor {
  const out: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  if (d.platform) out.platform = d.platform;
  if (Object.keys(annotations).length) out.annotations = annotations;
  return out;
}

/**
 * Apply root updates to `current`, index.json as the caller (holding the index lock) last
 * read or wrote it, and write the result when it differs. Returns index.json as it now is.
 */
export async function writeRootUpdates(layout: StoreLayout, current: Index, updates: RootUpdate[]): Promise<{ index: Index; changes: RefChange[] }> {
  for (const u of updates) await requireStoredAsDescribed(layout, u);
  const { index, changes } = applyRootUpdates(current, updates);
  const next = serializeIndex(index);
  if (next.equals(serializeIndex(current))) return { index: current, changes };
  await writeFileAtomic(layout.indexFile, next);
  return { index, changes };
}

/**
 * The store's promise (docs/STORE.md): index.json never names a blob it lacks. Every caller
 * commits its blobs first, so this fails only when the store lost one (`tag SRC NEW` where
 * SRC's manifest is gone) or a descriptor copied from a hand-edited index.json disagrees
 * with its blob: damage, E_STORE_INVALID, and index.json stays as it was.
 */
async function requireStoredAsDescribed(layout: StoreLayout, u: RootUpdate): Promise<void> {
  const d = u.descriptor;
  const st = await lstatOrUndefined(layout.blobPath(d.digest));
  const what = `${u.ref ? `cannot point ${u.ref} at ${d.digest}: ` : ''}blob ${d.digest}`;
  const hint = 'run layerstore verify; ingest the image again to restore it';
  if (!st?.isFile()) throw new LayerstoreError('E_STORE_INVALID', `${what} is missing from the store; index.json will not name it`, { hint });
  if (st.size !== d.size)
    throw new LayerstoreError('E_STORE_INVALID', `${what} is ${st.size} bytes, not the ${d.size} its index.json entry says; index.json will not name it`, {
      hint,
    });
}

/**
 * Whether index.json, read as it is now (no lock), already says what `updates` would make
 * it say: applying them would move no ref and write nothing.
 */
export async function rootsInPlace(layout: StoreLayout, updates: RootUpdate[]): Promise<boolean> {
  const current = await readIndex(layout);
  return serializeIndex(applyRootUpdates(current, updates).index).equals(serializeIndex(current));
}

export async function updateIndex(layout: StoreLayout, updates: RootUpdate[]): Promise<RefChange[]> {
  return withIndexLock(layout, async () => (await writeRootUpdates(layout, await readIndex(layout), updates)).changes);
}

/**
 * Remove the roots `pick` selects, under the lock. An image whose last root goes is no
 * longer listed; its blobs stay until gc. Returns the removed roots.
 */
export async function removeRoots(layout: StoreLayout, pick: (d: Descriptor) => boolean): Promise<Descriptor[]> {
  return withIndexLock(layout, async () => (await writeRootRemovals(layout, await readIndex(layout), pick)).removed);
}

/** Remove the roots `pick` selects from `current`, as writeRootUpdates; returns index.json as it now is. */
export async function writeRootRemovals(
  layout: StoreLayout,
  current: Index,
  pick: (d: Descriptor) => boolean,
): Promise<{ index: Index; removed: Descriptor[] }> {
  const removed = current.manifests.filter(pick);
  if (removed.length === 0) return { index: current, removed };
  const index = { ...current, manifests: current.manifests.filter((d) => !pick(d)) };
  await writeFileAtomic(layout.indexFile, serializeIndex(index));
  return { index, removed };
}
