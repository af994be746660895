import type { Digest } from '../digest/digest.js';
import { isLayerstoreError, type LayerstoreError } from '../errors.js';
import type { Store } from '../store/store.js';
import { entryTable, getFileIndex, type FileIndex } from './file-index.js';
import { T_FILE } from './entry-table.js';
import { forEachContentGroup } from './content-groups.js';
import { ledgerFrom, marginalCosts, wellKnownLayer, type Ledger } from './ledger.js';
import type { ImageInfo } from './load-images.js';
import { StackScratch, stackImage } from './overlay.js';
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
  /**
   * dive's highestUserWastedPercent input: wastedBytes / file bytes of the layers above the
   * first. null when there is waste but those layers hold no file bytes (only whiteouts, say):
   * the ratio is infinite, and JSON has no number for that. 0 when there is no waste.
   */
  userWastedRatio: number | null;
}

/** One image's file-level figures. */
export interface ImageFiles {
  waste: ImageWaste;
  topWasted: WastedFile[];
  marginalBytes: number;
  /** File bytes of the layers above the first (userWastedRatio's denominator), for exact comparisons. */
  userFileBytes: number;
}

export interface DuplicateFile {
  /** "sha256:<hex>" of the content, spelled as every other digest. */
  digest: Digest;
  /** The same, bare hex (the field of the first schema; kept for its readers). */
  sha256: string;
  sizeBytes: number;
  /**
   * The (layer, path)s holding this content, over the distinct layers of the set, by path:
   * every one; or, when there are more than MAX_OCCURRENCES, the first MAX_OCCURRENCES and the
   * first of each other layer holding it (every such layer is named; occurrencesOmitted counts the rest).
   */
  occurrences: Array<{ layer: Digest; path: string }>;
  /** Occurrences left out of `occurrences` (set only when some are): the copies are occurrences.length + this. */
  occurrencesOmitted?: number;
  /** How many distinct layers hold it (all its occurrences, listed or not): 1 when every copy sits in one layer. */
  layers: number;
  /** sizeBytes x (occurrences - 1): what a file-level store would save on it. */
  savedBytes: number;
}

export interface FilesReport {
  ledger: Ledger;
  /** The images analysed (every layer read); one with an unreadable layer has no entry. */
  images: Map<Digest, ImageFiles>;
  duplicateFiles: DuplicateFile[];
  /** Layers whose tar could not be read, and the images left out of the file figures for it. */
  unreadableLayers: UnreadableLayer[];
}

/** A stored layer whose blob is intact (its digest checks) but whose bytes are not a tar a runtime could unpack. */
export interface UnreadableLayer {
  digest: Digest;
  diffId: Digest;
  /** The error's code and one line saying what is wrong where (E_TRUNCATED, E_NOT_TAR, ...). */
  code: string;
  message: string;
  /** Manifest digests of the images that use it. */
  images: Digest[];
}

/**
 * What a layer's bytes may be, once its digest checked, that the file index cannot read: such a
 * layer leaves its images out of the file figures rather than failing the whole report (a
 * registry stores what clients push; an input's layers are not unpacked at ingest). A damaged
 * store (E_STORE_INVALID) and read errors still fail.
 */
const UNREADABLE_CODES = new Set(['E_TRUNCATED', 'E_TAR_CORRUPT', 'E_NOT_TAR', 'E_EMPTY', 'E_DECOMPRESS', 'E_UNSUPPORTED', 'E_TOO_LARGE']);

/** Whether reading a layer's file index failed because its bytes are no tar (the layer is reported, not fatal), as opposed to a damaged store. */
export function isUnreadableLayerError(e: unknown): e is LayerstoreError {
  return isLayerstoreError(e) && UNREADABLE_CODES.has(e.code);
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
  const unreadable = new Map<Digest, UnreadableLayer>();
  const todo = [...new Map(images.flatMap((i) => i.layers).map((l) => [l.diffId, l])).values()];
  let done = 0;
  for (const l of todo) {
    try {
      byDiffId.set(l.diffId, await getFileIndex(store, l.digest));
    } catch (e) {
      if (!isUnreadableLayerError(e)) throw e;
      unreadable.set(l.diffId, { digest: l.digest, diffId: l.diffId, code: e.code, message: e.message, images: [] });
    }
    opts.onProgress?.(++done, todo.length);
  }
  const analysed = images.filter((img) => {
    const bad = img.layers.filter((l) => unreadable.has(l.diffId));
    for (const l of bad) unreadable.get(l.diffId)!.images.push(img.manifestDigest);
    return bad.length === 0;
  });
  const indexes = new Map<Digest, FileIndex>();
  for (const img of analysed) for (const l of img.layers) if (!wellKnownLayer(l)) indexes.set(l.digest, byDiffId.get(l.diffId)!);
  // The blob and diffID levels count every image; the file level the images analysed.
  const ledger: Ledger = { ...ledgerFrom(images), file: ledgerFrom(analysed, indexes).file };

  // What removing each image frees from the store: counted over every image (the universe) when a selection was asked for.
  const universe = opts.universe ?? images;
  const costOf = new Map(marginalCosts(universe).map((c) => [c.manifestDigest, c]));
  const costs = analysed.map((img) => costOf.get(img.manifestDigest) ?? marginalCosts([...universe, img]).at(-1)!);
  const perImage = imageWastes(analysed, byDiffId, costs, top);
  const used = new Set(analysed.flatMap((i) => i.layers.map((l) => l.diffId)));
  const layerIndexes = [...byDiffId].filter(([d]) => used.has(d)).map(([, x]) => x);
  return { ledger, images: perImage, duplicateFiles: duplicateFiles(layerIndexes, top), unreadableLayers: [...unreadable.values()] };
}

/** Each image stacked in turn (one path tree reused: StackScratch) for its waste; the tree goes when this returns. */
function imageWastes(images: ImageInfo[], byDiffId: Map<Digest, FileIndex>, costs: Array<{ bytes: number }>, top: number): Map<Digest, ImageFiles> {
  const perImage = new Map<Digest, ImageFiles>();
  const stacks = images.map((img) => img.layers.map((l) => ({ digest: l.digest, index: byDiffId.get(l.diffId)! })));
  const scratch = StackScratch.forStacks(stacks);
  images.forEach((img, i) => {
    const overlay = stackImage(img, stacks[i]!, scratch);
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
        userWastedRatio: userBytes > 0 ? Math.round((w.wastedBytes / userBytes) * 1e6) / 1e6 : w.wastedBytes > 0 ? null : 0,
      },
      topWasted: w.top,
      marginalBytes: costs[i]!.bytes,
      userFileBytes: userBytes,
    });
  });
  return perImage;
}

/**
 * Paths listed per content. One layer may hold a content 200,000 times (an empty-ish file
 * copied into every package): every path would make the report, the HTML report and the
 * web UI grow with them, for a list no one reads to the end.
 */
export const MAX_OCCURRENCES = 100;

/**
 * `list` sorted by path (then layer) and cut to its first `n`, and the first of each layer not
 * among them: every layer stays named (the page finds a content's images by its layers). Cut
 * again over what it kept and more, it keeps what one cut over everything would.
 */
function keepFirst(list: DuplicateFile['occurrences'], n: number): void {
  list.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : a.layer < b.layer ? -1 : a.layer > b.layer ? 1 : 0));
  if (list.length <= n) return;
  const named = new Set<Digest>();
  let kept = 0;
  for (let i = 0; i < list.length; i++) {
    const o = list[i]!;
    if (i >= n && named.has(o.layer)) continue;
    named.add(o.layer);
    list[kept++] = o;
  }
  list.length = kept;
}

/**
 * Contents stored more than once, in one layer or across the distinct layers, most bytes
 * saved by a file-level store first. Counted per layer and content slot, grouped across
 * layers by sorting (content-groups.ts); occurrences (paths) are listed only for the `top` contents shown.
 */
function duplicateFiles(layers: FileIndex[], top: number): DuplicateFile[] {
  const tables = layers.map(entryTable);
  // Per layer and content slot: how many non-empty files hold it, and the first one's size.
  const count = tables.map((t) => new Int32Array(t.slots));
  const firstSize = tables.map((t) => new Float64Array(t.slots));
  tables.forEach((t, li) => {
    const c = count[li]!;
    for (let i = 0; i < t.count; i++) {
      const slot = t.shaSlot[i]!;
      if (slot < 0 || t.typeCode(i) !== T_FILE || t.sizes[i] === 0) continue;
      if (c[slot]!++ === 0) firstSize[li]![slot] = t.sizes[i]!;
    }
  });
  // Items: every (layer, slot), numbered layer after layer; grouped by content across layers.
  const base: number[] = [];
  let n = 0;
  for (const t of tables) {
    base.push(n);
    n += t.slots;
  }
  const layerOf = (item: number) => {
    let lo = 0;
    let hi = base.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (base[mid]! <= item) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  };
  const where = (item: number) => {
    const li = layerOf(item);
    return { li, slot: item - base[li]! };
  };
  type Chosen = { items: Int32Array; size: number; count: number; hex: string };
  const saved = (g: { size: number; count: number }) => g.size * (g.count - 1);
  const before = (a: Chosen, b: Chosen) => saved(a) > saved(b) || (saved(a) === saved(b) && a.hex < b.hex);
  // The best `top` groups only, best first: a layer of many duplicated files has tens of
  // thousands of groups, and keeping an object for each (held until the end) grows V8's young
  // generation for the rest of the run.
  const chosen: Chosen[] = [];
  const single = (item: number) => {
    const { li, slot } = where(item);
    return count[li]![slot]!;
  };
  const offer = (items: Int32Array) => {
    if (top <= 0) return;
    let total = 0;
    for (const item of items) total += single(item);
    if (total < 2) return;
    const { li, slot } = where(items[0]!);
    const size = firstSize[li]![slot]!;
    const worst = chosen.length === top ? chosen[top - 1]! : undefined;
    if (worst && size * (total - 1) < saved(worst)) return;
    const g: Chosen = { items, size, count: total, hex: tables[li]!.shas.toString('hex', slot * 32, slot * 32 + 32) };
    if (worst && !before(g, worst)) return;
    g.items = items.slice();
    let at = chosen.length;
    while (at > 0 && before(g, chosen[at - 1]!)) at--;
    chosen.splice(at, 0, g);
    if (chosen.length > top) chosen.pop();
  };
  forEachContentGroup(
    n,
    (item) => single(item) > 0,
    (item) => {
      const { li, slot } = where(item);
      return { buf: tables[li]!.shas, off: slot * 32 };
    },
    offer,
    { minSize: 1 }, // a content held twice in one layer only is a group of one item
  );
  // Occurrences of the chosen contents only: mark their (layer, slot)s, read the layers again.
  const mark = tables.map((t) => new Int32Array(t.slots).fill(-1));
  const groups = chosen.map((g, gi): DuplicateFile => {
    for (const item of g.items) {
      const { li, slot } = where(item);
      mark[li]![slot] = gi;
    }
    return { digest: `sha256:${g.hex}` as Digest, sha256: g.hex, sizeBytes: g.size, occurrences: [], layers: 0, savedBytes: saved(g) };
  });
  // Counted in full; listed up to MAX_OCCURRENCES each, cut as they come (memory stays bounded too).
  const total = groups.map(() => 0);
  const held = groups.map(() => new Set<Digest>());
  const cutAt = groups.map(() => 2 * MAX_OCCURRENCES);
  if (groups.length > 0) {
    tables.forEach((t, li) => {
      for (let i = 0; i < t.count; i++) {
        const slot = t.shaSlot[i]!;
        if (slot < 0 || t.typeCode(i) !== T_FILE || t.sizes[i] === 0) continue;
        const g = mark[li]![slot]!;
        if (g < 0) continue;
        const list = groups[g]!.occurrences;
        list.push({ layer: layers[li]!.digest, path: t.path(i) });
        total[g]!++;
        held[g]!.add(layers[li]!.digest);
        if (list.length >= cutAt[g]!) {
          keepFirst(list, MAX_OCCURRENCES);
          cutAt[g] = list.length + MAX_OCCURRENCES;
        }
      }
    });
  }
  groups.forEach((g, gi) => {
    keepFirst(g.occurrences, MAX_OCCURRENCES);
    g.layers = held[gi]!.size;
    if (total[gi]! > g.occurrences.length) g.occurrencesOmitted = total[gi]! - g.occurrences.length;
  });
  return groups;
}
