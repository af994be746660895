import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import type { ImageInfo, LayerInfo } from './load-images.js';
import { entryTable, getFileIndex, type FileIndex } from './file-index.js';
import { forEachContentGroup } from './content-groups.js';
import { T_FILE, type EntryTable } from './entry-table.js';
import { isWhiteoutEntry } from './overlay.js';

/**
 * The storage ledger of a set of images, at three levels of deduplication. Each level has
 * logicalBytes (as if every image were stored alone), storedBytes (stored once at that
 * level) and savedBytes = logical - stored.
 *
 * - blob: distinct layer blobs, stored once. This is what the store PAYS TODAY, and what
 *   registries share today. Bytes are stored (compressed) blob bytes.
 * - diffId: layers with the same diffID (same uncompressed tar, e.g. the same layer gzip'd
 *   by two tools, or stored once compressed and once not) stored once, keeping the SMALLEST
 *   blob of each diffID. A POTENTIAL saving (a store that recompressed or picked one blob
 *   per diffID); logical is the blob level's logical, so the two savings compare directly.
 * - file: distinct regular-file contents (by sha256) over every layer of every image,
 *   stored once. A POTENTIAL saving (a file-level content store, as in eStargz/nydus-like
 *   designs). Bytes are UNCOMPRESSED content bytes: logical = the regular-file bytes of every
 *   layer of every image (an image counts each of its distinct layers once; a layer shared
 *   by two images counts twice), stored = the sizes of the distinct contents. They are not
 *   comparable with the compressed bytes of the two levels above.
 *
 * Only layers are counted; config and manifest blobs are left out (see sharing.ts for them).
 * Well-known blobs (empty layers) are reported apart in `wellKnown` and left out of all three
 * levels, so that a thousand images sharing one 32-byte empty layer do not inflate the
 * sharing headline.
 */

export const WELL_KNOWN_BLOBS: ReadonlyMap<string, string> = new Map([
  // sha256 of 1024 zero bytes: the end-of-archive marker alone, as Go's archive/tar (docker, containerd, buildkit) writes an empty layer.
  ['sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef', 'empty tar (1024 zero bytes)'],
  // `tar -cf x.tar -T /dev/null` with GNU tar 1.34: 10240 zero bytes (one 10 KiB record). Checked by hashing one.
  ['sha256:84ff92691f909a05b224e1c56abb4864f01b4f8e3c854e4bb4c7baf1d3f6d652', 'empty tar, GNU tar record (10240 zero bytes)'],
  // docker/distribution's gzippedEmptyTar (32 bytes), the gzip of the 1024-byte empty tar; checked by hashing the bytes and gunzipping them.
  ['sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4', 'empty gzip layer (32 bytes)'],
]);

/** A label for a well-known blob digest (or diffID), or undefined. */
export function wellKnownBlob(digest: string): string | undefined {
  return WELL_KNOWN_BLOBS.get(digest);
}

/** A layer is well-known when its blob digest is, or when its diffID is (an empty tar compressed some other way). */
export function wellKnownLayer(layer: Pick<LayerInfo, 'digest' | 'diffId'>): string | undefined {
  const own = wellKnownBlob(layer.digest);
  if (own) return own;
  const inner = wellKnownBlob(layer.diffId);
  return inner ? `${inner}, compressed` : undefined;
}

export interface LedgerLevel {
  logicalBytes: number;
  storedBytes: number;
  savedBytes: number;
}

export interface WellKnownUse {
  digest: Digest;
  diffId: Digest;
  label: string;
  /** Stored bytes of the blob. */
  sizeBytes: number;
  /** Images of the set that use it. */
  images: number;
  /** sizeBytes x images. */
  logicalBytes: number;
}

export interface Ledger {
  images: number;
  /** Distinct layer blobs: what the store pays today (compressed bytes). */
  blob: LedgerLevel & { blobs: number };
  /** One (the smallest) blob per diffID: potential saving (compressed bytes). */
  diffId: LedgerLevel & { diffIds: number };
  /**
   * Distinct regular-file contents: potential saving (uncompressed bytes). Absent when the
   * ledger was computed without file indexes. `distinctLayerBytes`: regular-file bytes of
   * the distinct diffIDs (what a diffID-deduplicated store holds, uncompressed).
   */
  file?: LedgerLevel & { contents: number; files: number; distinctLayerBytes: number };
  /** Well-known (empty) layers, left out of the levels above. */
  wellKnown: WellKnownUse[];
  wellKnownBytes: { logicalBytes: number; storedBytes: number };
}

const distinctLayers = (img: ImageInfo): LayerInfo[] => {
  const seen = new Map<Digest, LayerInfo>();
  for (const l of img.layers) if (!seen.has(l.digest)) seen.set(l.digest, l);
  return [...seen.values()];
};

/**
 * The ledger from image records and, for the file level, each layer's file index (keyed by
 * blob digest). Pass no indexes to get the blob and diffID levels only.
 */
export function ledgerFrom(images: ImageInfo[], indexes?: ReadonlyMap<Digest, FileIndex>): Ledger {
  // Blobs with one diffID hold the same tar, so any one index serves them all.
  const byDiffId = new Map<Digest, FileIndex>();
  if (indexes) for (const idx of indexes.values()) byDiffId.set(idx.diffId, idx);
  const indexOf = (l: LayerInfo): FileIndex | undefined => indexes?.get(l.digest) ?? byDiffId.get(l.diffId);
  const blobSize = new Map<Digest, number>();
  const minByDiffId = new Map<Digest, LayerInfo>();
  const wk = new Map<Digest, WellKnownUse>();
  let logical = 0;
  let fileLogical = 0;
  let fileCount = 0;
  /** Layer uses per diffID with an index: each use counts that layer's files (and whiteouts) once. */
  const uses = new Map<Digest, number>();
  for (const img of images) {
    for (const l of distinctLayers(img)) {
      const label = wellKnownLayer(l);
      if (label) {
        let w = wk.get(l.digest);
        if (!w) wk.set(l.digest, (w = { digest: l.digest, diffId: l.diffId, label, sizeBytes: l.size, images: 0, logicalBytes: 0 }));
        w.images++;
        w.logicalBytes += l.size;
        continue;
      }
      logical += l.size;
      blobSize.set(l.digest, l.size);
      const best = minByDiffId.get(l.diffId);
      if (!best || l.size < best.size || (l.size === best.size && l.digest < best.digest)) minByDiffId.set(l.diffId, l);
      const idx = indexOf(l);
      if (idx) {
        fileLogical += idx.totals.fileBytes;
        fileCount += idx.totals.files;
        uses.set(l.diffId, (uses.get(l.diffId) ?? 0) + 1);
      }
    }
  }
  const stored = sum(blobSize.values());
  const diffStored = sum([...minByDiffId.values()].map((l) => l.size));
  const ledger: Ledger = {
    images: images.length,
    blob: { logicalBytes: logical, storedBytes: stored, savedBytes: logical - stored, blobs: blobSize.size },
    diffId: { logicalBytes: logical, storedBytes: diffStored, savedBytes: logical - diffStored, diffIds: minByDiffId.size },
    wellKnown: [...wk.values()].sort((a, b) => b.logicalBytes - a.logicalBytes || (a.digest < b.digest ? -1 : 1)),
    wellKnownBytes: { logicalBytes: sum([...wk.values()].map((w) => w.logicalBytes)), storedBytes: sum([...wk.values()].map((w) => w.sizeBytes)) },
  };
  if (indexes) {
    // Distinct contents by sha256, with their size: grouped by sorting digest prefixes
    // (content-groups.ts), not interned in a set of every content and its growth.
    const tables: EntryTable[] = [];
    let distinctLayerBytes = 0;
    for (const l of minByDiffId.values()) {
      const idx = indexOf(l);
      if (!idx) continue;
      distinctLayerBytes += idx.totals.fileBytes;
      const t = entryTable(idx);
      tables.push(t);
      // Whiteout and opaque markers are regular files in the tar but deletions, not files:
      // they are neither counted as files nor as a content (the empty one) below.
      let whiteouts = 0;
      for (let i = 0; i < t.count; i++) if (t.typeCode(i) === T_FILE && isWhiteoutEntry(t, i)) whiteouts++;
      fileCount -= whiteouts * (uses.get(l.diffId) ?? 0);
    }
    // Per layer and content slot: the size of a regular file holding it, or -1 (none does).
    const slotSize = tables.map((t) => {
      const size = new Float64Array(t.slots).fill(-1);
      for (let i = 0; i < t.count; i++) {
        const slot = t.shaSlot[i]!;
        if (slot >= 0 && t.typeCode(i) === T_FILE && !isWhiteoutEntry(t, i)) size[slot] = t.sizes[i]!;
      }
      return size;
    });
    const base: number[] = [];
    let n = 0;
    for (const t of tables) {
      base.push(n);
      n += t.slots;
    }
    const where = (item: number): [number, number] => {
      let lo = 0;
      let hi = base.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >>> 1;
        if (base[mid]! <= item) lo = mid;
        else hi = mid - 1;
      }
      return [lo, item - base[lo]!];
    };
    let fileStored = 0;
    let contents = 0;
    forEachContentGroup(
      n,
      (item) => {
        const [li, slot] = where(item);
        return slotSize[li]![slot]! >= 0;
      },
      (item) => {
        const [li, slot] = where(item);
        return { buf: tables[li]!.shas, off: slot * 32 };
      },
      (items) => {
        const [li, slot] = where(items[0]!);
        fileStored += slotSize[li]![slot]!;
        contents++;
      },
      { minSize: 1 },
    );
    ledger.file = {
      logicalBytes: fileLogical,
      storedBytes: fileStored,
      savedBytes: fileLogical - fileStored,
      contents,
      files: fileCount,
      distinctLayerBytes,
    };
  }
  return ledger;
}

/** The ledger of `images`, indexing (and caching) every layer's files unless `files: false`. */
export async function computeLedger(store: Store, images: ImageInfo[], opts: { files?: boolean } = {}): Promise<Ledger> {
  if (opts.files === false) return ledgerFrom(images);
  const indexes = new Map<Digest, FileIndex>();
  const diffIds = new Set<Digest>();
  for (const img of images) {
    for (const l of img.layers) {
      // One index per diffID is enough: the same uncompressed tar has the same files.
      if (diffIds.has(l.diffId) || wellKnownLayer(l)) continue;
      diffIds.add(l.diffId);
      indexes.set(l.digest, await getFileIndex(store, l.digest));
    }
  }
  return ledgerFrom(images, indexes);
}

/** What removing one image from the set would free at the blob level. */
export interface MarginalCost {
  manifestDigest: Digest;
  refs: string[];
  /** layerBytes + configBytes + manifestBytes. */
  bytes: number;
  /** Its layer blobs no other image of the set uses. */
  layerBytes: number;
  /** Its config blob, when no other image uses it. */
  configBytes: number;
  /** Its manifest blob (no other image has the same manifest). */
  manifestBytes: number;
  /** Of layerBytes, the part in well-known (empty) blobs. */
  wellKnownBytes: number;
  /** The blobs that would be freed. */
  blobs: Digest[];
}

/**
 * For every image, the blobs no other image of the set uses and their bytes: what removing
 * it frees. (sharing.ts's uniqueBytes is the same minus the manifest blob.)
 */
export function marginalCosts(images: ImageInfo[]): MarginalCost[] {
  const blobsOf = (img: ImageInfo): Map<Digest, number> => {
    const m = new Map<Digest, number>([[img.manifestDigest, img.manifestSize]]);
    m.set(img.configDigest, img.configSize);
    for (const l of img.layers) m.set(l.digest, l.size);
    return m;
  };
  const users = new Map<Digest, number>();
  const perImage = images.map(blobsOf);
  for (const m of perImage) for (const d of m.keys()) users.set(d, (users.get(d) ?? 0) + 1);
  return images.map((img, i) => {
    const cost: MarginalCost = {
      manifestDigest: img.manifestDigest,
      refs: img.refs,
      bytes: 0,
      layerBytes: 0,
      configBytes: 0,
      manifestBytes: 0,
      wellKnownBytes: 0,
      blobs: [],
    };
    for (const [d, size] of perImage[i]!) {
      if (users.get(d) !== 1) continue;
      cost.blobs.push(d);
      cost.bytes += size;
      if (d === img.manifestDigest) cost.manifestBytes += size;
      else if (d === img.configDigest) cost.configBytes += size;
      else {
        cost.layerBytes += size;
        const l = img.layers.find((x) => x.digest === d)!;
        if (wellKnownLayer(l)) cost.wellKnownBytes += size;
      }
    }
    cost.blobs.sort();
    return cost;
  });
}

/** What removing `image` from `images` would free at the blob level. */
export function marginalCost(images: ImageInfo[], image: ImageInfo): MarginalCost {
  let i = images.findIndex((x) => x.manifestDigest === image.manifestDigest);
  const set = i < 0 ? [...images, image] : images;
  if (i < 0) i = set.length - 1;
  return marginalCosts(set)[i]!;
}

function sum(xs: Iterable<number>): number {
  let n = 0;
  for (const x of xs) n += x;
  return n;
}
