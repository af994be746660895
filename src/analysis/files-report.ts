import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import { entryTable, getFileIndex, type FileIndex } from './file-index.js';
import { T_FILE } from './entry-table.js';
import { ContentIds } from './stack-entries.js';
import { ledgerFrom, marginalCosts, wellKnownLayer, type Ledger } from './ledger.js';
import type { ImageInfo } from './load-images.js';
import { stackImage } from './overlay.js';
import { wasteSummary, type WastedFile } from './waste.js';

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
  /** "sha256:<hex>" of the content, spelled as every other digest. */
  digest: Digest;
  /** The same, bare hex (the field of the first schema; kept for its readers). */
  sha256: string;
  sizeBytes: number;
  /** Every (layer, path) holding this content, over the distinct layers of the set. */
  occurrences: Array<{ layer: Digest; path: string }>;
  /** How many distinct layers hold it: 1 when every copy sits in one layer. */
  layers: number;
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
  opts: { top?: number; onProgress?: (done: number, total: number) => void; universe?: ImageInfo[] } = {},
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

  // What removing each image frees from the store: counted over every image (the universe) when a selection was asked for.
  const universe = opts.universe ?? images;
  const costOf = new Map(marginalCosts(universe).map((c) => [c.manifestDigest, c]));
  const costs = images.map((img) => costOf.get(img.manifestDigest) ?? marginalCosts([...universe, img]).at(-1)!);
  const perImage = new Map<Digest, { waste: ImageWaste; topWasted: WastedFile[]; marginalBytes: number }>();
  images.forEach((img, i) => {
    const overlay = stackImage(
      img,
      img.layers.map((l) => ({ digest: l.digest, index: byDiffId.get(l.diffId)! })),
    );
    // Totals and the top N only: no object per wasted copy (waste.ts).
    const w = wasteSummary(overlay, top);
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
      topWasted: w.top,
      marginalBytes: costs[i]!.bytes,
    });
  });
  return { ledger, images: perImage, duplicateFiles: duplicateFiles([...new Map([...byDiffId.values()].map((x) => [x.diffId, x])).values()], top) };
}

/**
 * Contents stored more than once, in one layer or across the distinct layers, most bytes
 * saved by a file-level store first. Counted by content id over the layers' columns; occurrences (paths) are
 * listed only for the `top` contents shown.
 */
function duplicateFiles(layers: FileIndex[], top: number): DuplicateFile[] {
  const tables = layers.map(entryTable);
  const ids = new ContentIds(tables);
  let count = new Int32Array(1024);
  let size = new Float64Array(1024);
  tables.forEach((t, li) => {
    for (let i = 0; i < t.count; i++) {
      const slot = t.shaSlot[i]!;
      if (slot < 0 || t.typeCode(i) !== T_FILE || t.sizes[i] === 0) continue;
      const id = ids.of(li, slot);
      if (id >= count.length) {
        count = grown(count, new Int32Array(count.length * 2));
        size = grown(size, new Float64Array(size.length * 2));
      }
      const seen = count[id]!;
      count[id] = seen + 1;
      if (seen === 0) size[id] = t.sizes[i]!;
    }
  });
  const saved = (id: number) => size[id]! * (count[id]! - 1);
  const hex = (id: number) => ids.set.hexAt(id);
  const chosen: number[] = [];
  for (let id = 0; id < ids.set.size; id++) if (count[id]! > 1) chosen.push(id);
  chosen.sort((a, b) => saved(b) - saved(a) || (hex(a) < hex(b) ? -1 : 1));
  chosen.length = Math.min(chosen.length, Math.max(0, top));
  const groups = new Map<number, DuplicateFile>(
    chosen.map((id) => [
      id,
      { digest: `sha256:${hex(id)}` as Digest, sha256: hex(id), sizeBytes: size[id]!, occurrences: [], layers: 0, savedBytes: saved(id) },
    ]),
  );
  if (groups.size > 0) {
    tables.forEach((t, li) => {
      for (let i = 0; i < t.count; i++) {
        const slot = t.shaSlot[i]!;
        if (slot < 0 || t.typeCode(i) !== T_FILE || t.sizes[i] === 0) continue;
        const g = groups.get(ids.of(li, slot));
        if (g) g.occurrences.push({ layer: layers[li]!.digest, path: t.path(i) });
      }
    });
  }
  for (const g of groups.values()) {
    g.occurrences.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.layer < b.layer ? -1 : 1));
    g.layers = new Set(g.occurrences.map((o) => o.layer)).size;
  }
  return [...groups.values()];
}

function grown<T extends Int32Array | Float64Array>(old: T, into: T): T {
  into.set(old as never);
  return into;
}
