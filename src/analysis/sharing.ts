import type { Digest } from '../digest/digest.js';
import type { Compression } from '../archive/compression.js';
import type { ImageInfo } from './load-images.js';
import { platformString } from '../formats/types.js';
import { wellKnownLayer } from './ledger.js';

/**
 * Cross-image sharing and savings over a set of images. Definitions (README, "JSON report"):
 * - an image's sizeBytes: its config blob + its distinct layer blobs (manifest excluded);
 * - logicalBytes: the sum of sizeBytes, as if each image were stored alone;
 * - storedBytes: the distinct config and layer blobs the images reference, stored once;
 * - savedBytes = logical - stored; dedupRatio = logical / stored;
 * - uniqueBytes of an image: its blobs no other image in the set references (what
 *   removing it would free); sharedBytes: the rest.
 */
export interface SharingReport {
  schemaVersion: 1;
  totals: {
    images: number;
    layers: number;
    logicalBytes: number;
    storedBytes: number;
    savedBytes: number;
    dedupRatio: number;
  };
  images: ImageSharing[];
  layers: LayerSharing[];
}

export interface ImageSharing {
  refs: string[];
  manifestDigest: Digest;
  configDigest: Digest;
  layers: Digest[];
  sizeBytes: number;
  sharedBytes: number;
  uniqueBytes: number;
  platform?: string;
  /** Stored by a push although its config disagrees with its layers: why (see store/unverified.ts). */
  unverified?: string;
  /** For an image read from a container engine: the containers (running or not) that use it. */
  containers?: number;
}

export interface LayerSharing {
  digest: Digest;
  diffId: Digest;
  mediaType: string;
  compression: Compression;
  sizeBytes: number;
  images: Digest[];
  /** Bytes that sharing this layer saves: sizeBytes x (images - 1). */
  savedBytes: number;
}

/**
 * `universe` is every image of the store when `images` is a selection: an image's unique
 * (and shared) bytes answer what removing it from the store frees, whichever images were
 * picked; the totals and the layer table stay within the selection.
 */
export function computeSharing(images: ImageInfo[], compressionOf: (d: Digest) => Compression, universe: ImageInfo[] = images): SharingReport {
  // Each image's blobs (config and layers), each once: an image may list a layer twice.
  const blobsOf = images.map((img) => {
    const ds: Digest[] = [img.configDigest];
    const sizes: number[] = [img.configSize];
    for (const l of img.layers) {
      if (ds.includes(l.digest)) continue; // a handful of layers: cheaper than a Set
      ds.push(l.digest);
      sizes.push(l.size);
    }
    return { ds, sizes };
  });
  // How many images reference each blob; an image counts once per blob.
  const users = new Map<Digest, number>();
  const sizeOf = new Map<Digest, number>();
  for (const { ds, sizes } of blobsOf) {
    for (let i = 0; i < ds.length; i++) {
      users.set(ds[i]!, (users.get(ds[i]!) ?? 0) + 1);
      sizeOf.set(ds[i]!, sizes[i]!);
    }
  }
  // Users of each blob across the store (the universe), for what removing an image frees.
  let storeUsers = users;
  if (universe !== images) {
    storeUsers = new Map();
    for (const img of universe)
      for (const d of new Set([img.configDigest, ...img.layers.map((l) => l.digest)])) storeUsers.set(d, (storeUsers.get(d) ?? 0) + 1);
  }
  const imageRows: ImageSharing[] = images.map((img, k) => {
    const { ds, sizes } = blobsOf[k]!;
    let size = 0;
    let unique = 0;
    for (let i = 0; i < ds.length; i++) {
      size += sizes[i]!;
      if ((storeUsers.get(ds[i]!) ?? 1) === 1) unique += sizes[i]!;
    }
    const row: ImageSharing = {
      refs: img.refs,
      manifestDigest: img.manifestDigest,
      configDigest: img.configDigest,
      layers: img.layers.map((l) => l.digest),
      sizeBytes: size,
      sharedBytes: size - unique,
      uniqueBytes: unique,
    };
    if (img.platform) row.platform = platformString(img.platform);
    if (img.unverified) row.unverified = img.unverified;
    return row;
  });

  const layerRows = new Map<Digest, LayerSharing>();
  const usersOf = new Map<Digest, Set<Digest>>(); // a Set: a layer can be shared by 10k images
  for (const img of images) {
    for (const l of img.layers) {
      let row = layerRows.get(l.digest);
      if (!row) {
        row = {
          digest: l.digest,
          diffId: l.diffId,
          mediaType: l.mediaType,
          compression: compressionOf(l.digest),
          sizeBytes: l.size,
          images: [],
          savedBytes: 0,
        };
        layerRows.set(l.digest, row);
        usersOf.set(l.digest, new Set());
      }
      usersOf.get(l.digest)!.add(img.manifestDigest);
    }
  }
  for (const row of layerRows.values()) {
    row.images = [...usersOf.get(row.digest)!].sort();
    row.savedBytes = row.sizeBytes * (row.images.length - 1);
  }
  const layers = [...layerRows.values()].sort((a, b) => b.savedBytes - a.savedBytes || b.sizeBytes - a.sizeBytes || (a.digest < b.digest ? -1 : 1));

  // A well-known empty layer (the empty tar every builder makes) shared by many images is no
  // real saving: it counts once in the logical bytes, so the headline's saving leaves it out.
  let wellKnownRepeats = 0;
  for (const row of layerRows.values()) if (wellKnownLayer(row)) wellKnownRepeats += row.savedBytes;
  const logical = imageRows.reduce((n, r) => n + r.sizeBytes, 0) - wellKnownRepeats;
  const stored = [...sizeOf.values()].reduce((n, s) => n + s, 0);
  return {
    schemaVersion: 1,
    totals: {
      images: images.length,
      layers: layerRows.size,
      logicalBytes: logical,
      storedBytes: stored,
      savedBytes: logical - stored,
      dedupRatio: stored === 0 ? 1 : Math.round((logical / stored) * 10000) / 10000,
    },
    images: imageRows,
    layers,
  };
}
