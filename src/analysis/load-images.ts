import { LayerstoreError } from '../errors.js';
import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import { refOf } from '../store/refs.js';
import {
  IMAGE_CONFIG_TYPES,
  INDEX_TYPES,
  MANIFEST_TYPES,
  MAX_JSON_BYTES,
  isLayerMediaType,
  kindOfDocument,
  parseImageConfig,
  parseIndex,
  parseManifest,
  type Descriptor,
  type Platform,
} from '../formats/types.js';

export interface LayerInfo {
  /** Blob digest: sha256 of the stored (possibly compressed) bytes. */
  digest: Digest;
  /** sha256 of the uncompressed tar; verified against the bytes when the layer was ingested. */
  diffId: Digest;
  /** As the manifest declares it. */
  mediaType: string;
  /** Bytes of the stored blob (compressed size for a compressed layer). */
  size: number;
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
}

/**
 * Every image reachable from index.json (through nested indexes), with its refs. An image
 * reachable from several roots (a tag and a multi-platform index) appears once with all refs.
 */
export async function loadImages(store: Store): Promise<ImageInfo[]> {
  const index = await store.readIndex();
  const under = new Map<Digest, ImageInfo[]>(); // images reachable from each digest walked
  const inProgress = new Set<Digest>();

  const walk = async (d: Descriptor, isRoot: boolean): Promise<ImageInfo[]> => {
    const memo = under.get(d.digest);
    if (memo) return memo;
    if (inProgress.has(d.digest)) return []; // an index that contains itself
    if (!(await store.blobs.has(d.digest))) {
      // Index children absent from the input were skipped at ingest (Docker saves one platform).
      if (isRoot) throw new LayerstoreError('E_STORE_INVALID', `index.json names ${d.digest}, which is not in the store`, { hint: 'run layerstore verify' });
      return [];
    }
    inProgress.add(d.digest);
    const doc = await store.blobs.readJson(d.digest, MAX_JSON_BYTES);
    const kind = INDEX_TYPES.has(d.mediaType) ? 'index' : MANIFEST_TYPES.has(d.mediaType) ? 'manifest' : kindOfDocument(doc);
    let found: ImageInfo[] = [];
    if (kind === 'index') {
      const idx = parseIndex(doc, `index ${d.digest}`);
      const seen = new Set<ImageInfo>();
      for (const child of idx.manifests) for (const img of await walk(child, false)) seen.add(img);
      found = [...seen];
    } else if (kind === 'manifest') {
      const img = await loadImage(store, d, doc);
      if (img) found = [img];
    }
    inProgress.delete(d.digest);
    under.set(d.digest, found);
    return found;
  };

  const all = new Set<ImageInfo>();
  for (const root of index.manifests) {
    const ref = refOf(root);
    for (const img of await walk(root, true)) {
      all.add(img);
      if (ref && !img.refs.includes(ref)) img.refs.push(ref);
    }
  }
  for (const img of all) img.refs.sort();
  return [...all].sort(compareImages);
}

async function loadImage(store: Store, d: Descriptor, doc: unknown): Promise<ImageInfo | undefined> {
  const m = parseManifest(doc, `manifest ${d.digest}`);
  if (!IMAGE_CONFIG_TYPES.has(m.config.mediaType) || !m.layers.every((l) => isLayerMediaType(l.mediaType))) return undefined; // an artifact
  const config = parseImageConfig(await store.blobs.readJson(m.config.digest, MAX_JSON_BYTES), `config ${m.config.digest}`);
  const img: ImageInfo = {
    manifestDigest: d.digest,
    manifestSize: d.size,
    configDigest: m.config.digest,
    configSize: m.config.size,
    layers: m.layers.map((l, i) => ({ digest: l.digest, diffId: config.rootfs.diff_ids[i] ?? l.digest, mediaType: l.mediaType, size: l.size })),
    refs: [],
  };
  const platform = d.platform ?? (config.architecture && config.os ? { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) } : undefined);
  if (platform) img.platform = platform;
  if (config.created) img.created = config.created;
  return img;
}

export function compareImages(a: ImageInfo, b: ImageInfo): number {
  const ra = a.refs[0] ?? '\uffff';
  const rb = b.refs[0] ?? '\uffff';
  if (ra !== rb) return ra < rb ? -1 : 1;
  return a.manifestDigest < b.manifestDigest ? -1 : a.manifestDigest > b.manifestDigest ? 1 : 0;
}
