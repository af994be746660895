import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import { getFileIndex, type FileIndex } from './file-index.js';
import { ledgerFrom, marginalCosts, wellKnownLayer, type Ledger } from './ledger.js';
import type { ImageInfo } from './load-images.js';
import { stackLayers } from './overlay.js';
import { computeWaste, topWasted, type WastedFile } from './waste.js';

/** Per-image waste, as `report --files --json` prints it (images[].waste). */
export interface ImageWaste {
  deletedBytes: number;
  replacedBytes: number;
  duplicateBytes: number;
  wastedBytes: number;
  /** 1 - wastedBytes / totalFileBytes (README, "Efficiency"). */
  efficiency: number;
  /** Regular-file bytes over all layers, and in the final file system. */
  totalFileBytes: number;
  finalFileBytes: number;
  /** dive's highestUserWastedPercent input: wastedBytes / file bytes of the layers above the first. */
  userWastedRatio: number;
}

export interface DuplicateFile {
  sha256: string;
  sizeBytes: number;
  /** Every (layer, path) holding this content, over the distinct layers of the set. */
  occurrences: Array<{ layer: Digest; path: string }>;
  /** sizeBytes x (occurrences - 1): what a file-level store would save on it. */
  savedBytes: number;
}

export interface FilesReport {
  ledger: Ledger;
  images: Map<Digest, { waste: ImageWaste; topWasted: WastedFile[]; marginalBytes: number }>;
  duplicateFiles: DuplicateFile[];
}

/**
 * Everything `report --files` shows: the three-level savings ledger, each image's waste
 * (from its stacked layers) and the largest wasted files, the marginal cost of each image,
 * and the contents stored most often across the set. Layer file indexes are built once per
 * diffID (and cached in the store's derived data).
 */
export async function computeFilesReport(
  store: Store,
  images: ImageInfo[],
  opts: { top?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<FilesReport> {
  const top = opts.top ?? 10;
  const byDiffId = new Map<Digest, FileIndex>();
  const todo = [...new Map(images.flatMap((i) => i.layers).map((l) => [l.diffId, l])).values()];
  let done = 0;
  for (const l of todo) {
    byDiffId.set(l.diffId, await getFileIndex(store, l.digest));
    opts.onProgress?.(++done, todo.length);
  }
  const indexes = new Map<Digest, FileIndex>();
  for (const img of images) for (const l of img.layers) if (!wellKnownLayer(l)) indexes.set(l.digest, byDiffId.get(l.diffId)!);
  const ledger = ledgerFrom(images, indexes);

  const costs = marginalCosts(images);
  const perImage = new Map<Digest, { waste: ImageWaste; topWasted: WastedFile[]; marginalBytes: number }>();
  images.forEach((img, i) => {
    const overlay = stackLayers(img.layers.map((l) => ({ digest: l.digest, index: byDiffId.get(l.diffId)! })));
    const w = computeWaste(overlay);
    const userBytes = overlay.layers.slice(1).reduce((n, l) => n + l.fileBytes, 0);
    perImage.set(img.manifestDigest, {
      waste: {
        deletedBytes: w.deletedBytes,
        replacedBytes: w.replacedBytes,
        duplicateBytes: w.duplicateBytes,
        wastedBytes: w.wastedBytes,
        efficiency: w.efficiency,
        totalFileBytes: w.totalFileBytes,
        finalFileBytes: w.finalFileBytes,
        userWastedRatio: userBytes === 0 ? 0 : Math.round((w.wastedBytes / userBytes) * 1e6) / 1e6,
      },
      topWasted: topWasted(w, top),
      marginalBytes: costs[i]!.bytes,
    });
  });
  return { ledger, images: perImage, duplicateFiles: duplicateFiles([...new Map([...byDiffId.values()].map((x) => [x.diffId, x])).values()], top) };
}

/** Contents stored more than once across distinct layers, most bytes saved by a file-level store first. */
function duplicateFiles(layers: FileIndex[], top: number): DuplicateFile[] {
  const groups = new Map<string, DuplicateFile>();
  for (const idx of layers) {
    for (const e of idx.entries) {
      if (e.type !== 'file' || !e.sha256 || e.size === 0) continue;
      let g = groups.get(e.sha256);
      if (!g) groups.set(e.sha256, (g = { sha256: e.sha256, sizeBytes: e.size, occurrences: [], savedBytes: 0 }));
      g.occurrences.push({ layer: idx.digest, path: e.path });
    }
  }
  const dups = [...groups.values()].filter((g) => g.occurrences.length > 1);
  for (const g of dups) {
    g.savedBytes = g.sizeBytes * (g.occurrences.length - 1);
    g.occurrences.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.layer < b.layer ? -1 : 1));
  }
  return dups.sort((a, b) => b.savedBytes - a.savedBytes || (a.sha256 < b.sha256 ? -1 : 1)).slice(0, top);
}
