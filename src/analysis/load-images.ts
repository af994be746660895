import { LayerstoreError } from '../errors.js';
import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import { refOf } from '../store/refs.js';
import type { Compression } from '../archive/compression.js';
import type { Descriptor, Platform } from '../formats/types.js';
import { ImageRecords, type DocRecord } from './image-records.js';
import { bySubject, type Referrer } from './referrers.js';

export interface LayerInfo {
  /** Blob digest: sha256 of the stored (possibly compressed) bytes. */
  digest: Digest;
  /** sha256 of the uncompressed tar; verified against the bytes when the layer was ingested. */
  diffId: Digest;
  /** As the manifest declares it. */
  mediaType: string;
  /** Bytes of the stored blob (compressed size for a compressed layer). */
  size: number;
  /** Sniffed from the blob's first bytes; set when loadImages was asked for it. */
  compression?: Compression;
}

/** One image in the store, as analysis sees it. */
export interface ImageInfo {
  manifestDigest: Digest;
  manifestSize: number;
  configDigest: Digest;
  configSize: number;
  /** Bottom to top. */
  layers: LayerInfo[];
  refs: string[];
  platform?: Platform;
  created?: string;
  /** Set when the store holds the image although its config disagrees with its layers (a push): why. */
  unverified?: string;
}

export interface LoadOptions {
  /** Also sniff each layer blob's compression (cached; see ImageRecords). */
  compression?: boolean;
}

/**
 * Every image reachable from index.json (through nested indexes), with its refs. An image
 * reachable from several roots (a tag and a multi-platform index) appears once with all refs.
 * Documents come from the record cache (image-records.ts).
 */
export async function loadImages(store: Store, opts: LoadOptions = {}): Promise<ImageInfo[]> {
  return (await loadStore(store, opts)).images;
}

/** What the store's roots hold: its images, and what is attached to them (referrers, by the digest they refer to). */
export interface StoreContents {
  images: ImageInfo[];
  referrers: Map<Digest, Descriptor[]>;
  /** Roots that lead to no image and are not attached to one: artifacts (a Helm chart), or documents verify calls damaged. */
  notImages: NotImage[];
  /** Each root of index.json with the images it leads to (an index: its platforms), in index order. */
  roots: Array<{ descriptor: Descriptor; images: ImageInfo[] }>;
}

/** A root of index.json that names no image. */
export interface NotImage {
  ref?: string;
  descriptor: Descriptor;
  /** An artifact's artifactType (else its config's media type). */
  artifactType?: string;
  /** Why the document is not what its descriptor says (verify reports it as damage). */
  damaged?: string;
  /** A referrer whose subject the store does not hold. */
  subject?: Digest;
}

/** loadImages, plus the referrers among the roots, from the same one read of each document. */
export async function loadStore(store: Store, opts: LoadOptions = {}): Promise<StoreContents> {
  const [index, records, unverified] = await Promise.all([store.readIndex(), ImageRecords.open(store), store.unverified()]);
  // Images reachable from each descriptor walked, by "<mediaType> <digest>": the type decides
  // how a blob is read, so a blob named under a wrong type elsewhere does not hide its image.
  const under = new Map<string, ImageInfo[]>();
  const inProgress = new Set<string>();
  const byManifest = new Map<Digest, ImageInfo>(); // one ImageInfo per manifest, whatever type named it

  const walk = async (d: Descriptor, isRoot: boolean): Promise<ImageInfo[]> => {
    const key = `${d.mediaType} ${d.digest}`;
    const memo = under.get(key);
    if (memo) return memo;
    if (inProgress.has(key)) return []; // an index that contains itself
    if (!records.has(d.digest)) {
      // Index children absent from the input were skipped at ingest (Docker saves one platform).
      if (isRoot) throw new LayerstoreError('E_STORE_INVALID', `index.json names ${d.digest}, which is not in the store`, { hint: 'run layerstore verify' });
      return [];
    }
    inProgress.add(key);
    const rec = await records.doc(d);
    let found: ImageInfo[] = [];
    if (rec.kind === 'index') {
      const seen = new Set<ImageInfo>();
      for (const child of rec.children) for (const img of await walk(child, false)) seen.add(img);
      found = [...seen];
    } else if (rec.kind === 'image') {
      let img = byManifest.get(d.digest);
      if (!img) byManifest.set(d.digest, (img = imageOf(d, rec, unverified.get(d.digest))));
      found = [img];
    }
    inProgress.delete(key);
    under.set(key, found);
    return found;
  };

  const roots = index.manifests;
  const all = new Set<ImageInfo>();
  const referrers: Referrer[] = [];
  const noImage: Array<{ root: Descriptor; rec: DocRecord }> = [];
  const rootImages: StoreContents['roots'] = [];
  for (const root of roots) {
    const ref = refOf(root);
    const found = await walk(root, true);
    rootImages.push({ descriptor: root, images: found });
    for (const img of found) {
      all.add(img);
      if (ref && !img.refs.includes(ref)) img.refs.push(ref);
    }
    const rec = await records.doc(root);
    if (rec.referrer) referrers.push(rec.referrer);
    if (found.length === 0) noImage.push({ root, rec });
  }
  if (opts.compression) {
    const misses = new Map<Digest, LayerInfo[]>();
    for (const img of all) {
      for (const l of img.layers) {
        const known = records.knownCompression(l);
        if (known) {
          l.compression = known;
          continue;
        }
        const same = misses.get(l.digest);
        if (same) same.push(l);
        else misses.set(l.digest, [l]);
      }
    }
    await Promise.all(
      [...misses].map(async ([, ls]) => {
        const c = await records.compression(ls[0]!);
        for (const l of ls) l.compression = c;
      }),
    );
  }
  await records.save();
  for (const img of all) img.refs.sort();
  const manifests = new Set([...all].map((i) => i.manifestDigest));
  const notImages: NotImage[] = [];
  for (const { root, rec } of noImage) {
    // Attached to an image the store holds: ls and report show it with that image.
    if (rec.referrer && manifests.has(rec.referrer.subject)) continue;
    const n: NotImage = { descriptor: root };
    const ref = refOf(root);
    if (ref) n.ref = ref;
    const artifactType = root.artifactType ?? (rec.kind === 'other' ? rec.artifactType : undefined);
    if (artifactType) n.artifactType = artifactType;
    if (rec.kind === 'other' && rec.damaged) n.damaged = rec.damaged;
    if (rec.referrer) n.subject = rec.referrer.subject;
    notImages.push(n);
  }
  return { images: [...all].sort(compareImages), referrers: bySubject(referrers), notImages, roots: rootImages };
}

function imageOf(d: Descriptor, rec: Extract<DocRecord, { kind: 'image' }>, unverified: string | undefined): ImageInfo {
  const img: ImageInfo = {
    manifestDigest: d.digest,
    manifestSize: d.size,
    configDigest: rec.configDigest,
    configSize: rec.configSize,
    // Shared with the record (and with other images that use the same layer): layer facts are
    // facts about the blob, the same for every image, so annotating one (compression) is right for all.
    layers: rec.layers,
    refs: [],
  };
  const platform = d.platform ?? rec.platform;
  if (platform) img.platform = platform;
  if (rec.created) img.created = rec.created;
  if (unverified) img.unverified = unverified;
  return img;
}

export function compareImages(a: ImageInfo, b: ImageInfo): number {
  const ra = a.refs[0] ?? '\uffff';
  const rb = b.refs[0] ?? '\uffff';
  if (ra !== rb) return ra < rb ? -1 : 1;
  return a.manifestDigest < b.manifestDigest ? -1 : a.manifestDigest > b.manifestDigest ? 1 : 0;
}
