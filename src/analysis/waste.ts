import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import type { ImageInfo } from './load-images.js';
import { imageFilesystem, type LayerChanges, type OverlayResult } from './overlay.js';
import { refLayer } from './stack-entries.js';
import { forEachContentGroup } from './content-groups.js';

/**
 * Wasted bytes of one image: regular-file bytes its layers carry that its final file system
 * does not need. Three classes, each copy counted once:
 *
 * - deleted: a lower-layer regular file that an upper whiteout (`.wh.<name>`, including a
 *   whole directory) or opaque marker removes;
 * - replaced: a lower-layer regular file hidden by an upper entry at the same path, or by a
 *   non-directory that replaces one of its parent directories. The surviving top copy is
 *   never waste; every hidden lower copy is;
 * - duplicate: a regular file of the FINAL file system whose content sha256 already appears
 *   at another path of the final file system. Per content, the copy written by the lowest
 *   layer survives (the first in path order among several in that layer); every copy an
 *   upper layer added again is waste, so the blame lands on the layer that duplicated. Hardlinks are not copies (they are 0-byte
 *   entries), so files hardlinked together are never duplicates. A file counts once, by
 *   its own name, or, when only hardlinks still name it, by the first of them in path order
 *   (its layer: the one that wrote the file; final-links.ts).
 *
 * A hidden copy whose file a hardlink of the final file system still names is not waste:
 * overlayfs and the layer appliers remove names, and the file is still there under another.
 *
 * wastedBytes = deletedBytes + replacedBytes + duplicateBytes.
 *
 * Efficiency, ours:
 *
 *     efficiency = 1 - wastedBytes / totalFileBytes
 *
 * where totalFileBytes is the sum of the regular-file sizes of every entry of every layer
 * (whiteout markers excluded); 1 when there are no file bytes. Uncompressed content bytes
 * throughout: compression is the blob level's business (see ledger.ts).
 *
 * dive's, for comparison (wagoodman/dive, dive/filetree/efficiency.go and image.go). For
 * every path that is a LEAF of some layer's tree (files, symlinks, empty directories,
 * whiteouts), over the layers where it is a leaf:
 *
 *     size(path, layer)  = the entry's size; for a whiteout, the size of the subtree it removes
 *                          if that was a directory, else 0
 *     cumulative(path)   = sum of size(path, layer)
 *     efficiency(dive)   = sum(min over layers of size(path, layer)) / sum(cumulative(path))
 *     wastedBytes(dive)  = sum of cumulative(path) over paths that are leaves in 2+ layers
 *
 * The usual summary, "1 - wasted / total bytes of all files in all layers", is close but not
 * exact. dive counts the surviving copy of a path written twice as waste, counts a file
 * deleted by a directory whiteout only when its own path repeats, ignores a path written
 * once and whited out by a directory whiteout, and knows nothing of equal contents at
 * different paths. Ours counts exactly the hidden copies plus content duplicates.
 */
export type WasteClass = 'deleted' | 'replaced' | 'duplicate';

/** One wasted copy of a file. */
export interface WastedCopy {
  path: string;
  bytes: number;
  class: WasteClass;
  /** Blob digest of the layer the wasted copy sits in. */
  layer: Digest;
  /** Position of that layer in the image, bottom = 0. */
  layerIndex: number;
  /** Blob digest of the layer whose whiteout or entry hid it (deleted, replaced). */
  hiddenBy?: Digest;
  /** The whiteout, opaque marker or replacing path, when it is not `path`. */
  cause?: string;
  /** duplicate: the surviving path with the same content. */
  duplicateOf?: string;
  sha256?: string;
}

export interface DuplicateGroup {
  sha256: string;
  /** Bytes of one copy. */
  size: number;
  /** The copy from the lowest layer (then the first path): not waste. */
  survivor: { path: string; layer: Digest };
  /** Every other path with this content: waste. */
  copies: Array<{ path: string; layer: Digest }>;
  wastedBytes: number;
}

export interface WasteReport {
  /** Regular-file bytes of all entries of all layers (whiteout markers excluded). */
  totalFileBytes: number;
  /** Regular-file bytes of the final file system. */
  finalFileBytes: number;
  deletedBytes: number;
  replacedBytes: number;
  duplicateBytes: number;
  wastedBytes: number;
  /** 1 - wastedBytes / totalFileBytes, rounded to 6 decimals (1 when totalFileBytes is 0). */
  efficiency: number;
  /** Every wasted copy with bytes > 0, largest first (then path, then layer). */
  copies: WastedCopy[];
  /** Content duplicated in the final file system (copies > 0 bytes), most wasted bytes first. */
  duplicates: DuplicateGroup[];
}

const byPath = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
const CLASSES: readonly WasteClass[] = ['deleted', 'replaced'];

type WasteTotals = Omit<WasteReport, 'copies' | 'duplicates'>;

/** The figures both computeWaste and wasteSummary report, from the three kinds of wasted bytes. */
function wasteTotals(overlay: OverlayResult, deletedBytes: number, replacedBytes: number, duplicateBytes: number): WasteTotals {
  const wastedBytes = deletedBytes + replacedBytes + duplicateBytes;
  const total = overlay.totalFileBytes;
  return {
    totalFileBytes: total,
    finalFileBytes: overlay.finalFileBytes,
    deletedBytes,
    replacedBytes,
    duplicateBytes,
    wastedBytes,
    efficiency: total === 0 ? 1 : Math.round((1 - wastedBytes / total) * 1e6) / 1e6,
  };
}

/** Compute the waste of an image from its stacked layers. */
export function computeWaste(overlay: OverlayResult): WasteReport {
  const digestOf = (i: number | undefined): Digest => overlay.layers[i ?? -1]?.digest ?? ('' as Digest);
  const copies: WastedCopy[] = [];
  let deletedBytes = 0;
  let replacedBytes = 0;
  const S = overlay.stack;
  const kept = overlay.links.kept;
  for (const l of overlay.layers) {
    for (const [list, cls] of [
      [l.hidden.deleted, 'deleted'],
      [l.hidden.replaced, 'replaced'],
    ] as const) {
      for (let k = 0; k < list.length; k++) {
        if (kept.has(list.hidden(k))) continue;
        const c = list.change(S, k);
        if (c.hiddenBytes <= 0) continue;
        const w: WastedCopy = {
          path: c.path,
          bytes: c.hiddenBytes,
          class: cls,
          layer: digestOf(c.hiddenLayer),
          layerIndex: c.hiddenLayer ?? -1,
          hiddenBy: l.digest,
        };
        if (c.cause) w.cause = c.cause;
        if (c.hiddenSha256) w.sha256 = c.hiddenSha256;
        copies.push(w);
        if (cls === 'deleted') deletedBytes += c.hiddenBytes;
        else replacedBytes += c.hiddenBytes;
      }
    }
  }

  const duplicates: DuplicateGroup[] = [];
  let duplicateBytes = 0;
  const layerOf = (r: number) => refLayer(overlay.links.fileOf(r));
  forEachDuplicateGroup(overlay, (size, first, rest, sha) => {
    duplicateBytes += size * rest.length;
    if (size === 0) return; // a million empty files waste nothing: no list of them
    const survivor = S.path(first);
    duplicates.push({
      sha256: sha,
      size,
      survivor: { path: survivor, layer: digestOf(layerOf(first)) },
      copies: rest.map((r) => ({ path: S.path(r), layer: digestOf(layerOf(r)) })),
      wastedBytes: size * rest.length,
    });
    for (const r of rest)
      copies.push({
        path: S.path(r),
        bytes: size,
        class: 'duplicate',
        layer: digestOf(layerOf(r)),
        layerIndex: layerOf(r),
        duplicateOf: survivor,
        sha256: sha,
      });
  });
  duplicates.sort((a, b) => b.wastedBytes - a.wastedBytes || byPath(a.survivor.path, b.survivor.path));
  copies.sort((a, b) => b.bytes - a.bytes || byPath(a.path, b.path) || byPath(a.layer, b.layer) || byPath(a.class, b.class));

  return { ...wasteTotals(overlay, deletedBytes, replacedBytes, duplicateBytes), copies, duplicates };
}

/** The wasted bytes of one path in one class, over all its wasted copies. */
export interface WastedFile {
  path: string;
  class: WasteClass;
  bytes: number;
  /** Number of wasted copies. */
  copies: number;
  /** Blob digests of the layers the wasted copies sit in, bottom to top. */
  layers: Digest[];
  /** Blob digests of the layers that hid them (deleted, replaced). */
  hiddenBy: Digest[];
  /** duplicate: the surviving path with the same content. */
  duplicateOf?: string;
}

/** The N largest wasted files, grouped by path and class, largest first. */
export function topWasted(report: WasteReport, n: number): WastedFile[] {
  const groups = new Map<string, WastedFile>();
  const at = new Map<Digest, number>();
  for (const c of report.copies) {
    if (!at.has(c.layer)) at.set(c.layer, c.layerIndex);
    const key = `${c.class}\0${c.path}`;
    let g = groups.get(key);
    if (!g) {
      g = { path: c.path, class: c.class, bytes: 0, copies: 0, layers: [], hiddenBy: [] };
      if (c.duplicateOf) g.duplicateOf = c.duplicateOf;
      groups.set(key, g);
    }
    g.bytes += c.bytes;
    g.copies++;
    if (!g.layers.includes(c.layer)) g.layers.push(c.layer);
    if (c.hiddenBy && !g.hiddenBy.includes(c.hiddenBy)) g.hiddenBy.push(c.hiddenBy);
  }
  for (const g of groups.values()) g.layers.sort((a, b) => (at.get(a) ?? 0) - (at.get(b) ?? 0));
  return [...groups.values()].sort((a, b) => b.bytes - a.bytes || byPath(a.path, b.path) || byPath(a.class, b.class)).slice(0, Math.max(0, n));
}

/** The N content groups that waste the most bytes as duplicates. */
export function topDuplicates(report: WasteReport, n: number): DuplicateGroup[] {
  return report.duplicates.slice(0, Math.max(0, n));
}

/** Stack an image's layers and compute its waste (layer indexes are built and cached as needed). */
export async function imageWaste(store: Store, image: ImageInfo): Promise<{ overlay: OverlayResult; waste: WasteReport }> {
  const overlay = await imageFilesystem(store, image);
  return { overlay, waste: computeWaste(overlay) };
}

/** What `report --files` shows of an image's waste: the totals and the top N wasted files. */
export interface WasteSummary extends WasteTotals {
  top: WastedFile[];
}

interface Candidate {
  bytes: number;
  path: string;
  class: WasteClass;
  /** deleted / replaced: the group's copies, order[from .. to); duplicate: the copy's ref and its survivor's. */
  from?: number;
  to?: number;
  ref?: number;
  survivor?: number;
}

/**
 * computeWaste + topWasted(n), the same numbers and the same top N, without a WastedCopy
 * object per wasted copy or a sort of all of them: the copies are counted as they are met,
 * deleted and replaced ones grouped by path, duplicates (one copy per path) kept only while
 * they rank in the top N, and the lists of the N chosen read again at the end. On an image
 * of a million files with a tenth of them wasted, that is the difference between a few MB
 * and a few hundred.
 */
export function wasteSummary(overlay: OverlayResult, n: number): WasteSummary {
  const S = overlay.stack;
  const digestOf = (i: number | undefined): Digest => overlay.layers[i ?? -1]?.digest ?? ('' as Digest);
  const kept = overlay.links.kept;
  const layerOf = (r: number) => refLayer(overlay.links.fileOf(r));
  const keep = Math.max(0, n);
  const best: Candidate[] = []; // the top `keep` candidates, in output order
  const before = (a: Candidate, b: Candidate) => b.bytes - a.bytes || byPath(a.path, b.path) || byPath(a.class, b.class);
  const offer = (c: Candidate) => {
    if (keep === 0) return;
    let k = best.length;
    while (k > 0 && before(c, best[k - 1]!) < 0) k--;
    if (k >= keep) return;
    best.splice(k, 0, c);
    if (best.length > keep) best.pop();
  };
  /** The candidate at rank keep-1, whose bytes a new one must reach. */
  const floor = () => (keep === 0 ? Infinity : best.length < keep ? -1 : best[keep - 1]!.bytes);
  // Where each layer's first copy (in topWasted's order of copies) sits: it orders `layers`.
  const firstCopy = new Map<Digest, { bytes: number; path: string; class: WasteClass; index: number }>();
  const noteLayer = (layer: Digest, index: number, bytes: number, path: () => string, cls: WasteClass) => {
    const f = firstCopy.get(layer);
    if (f && f.bytes > bytes) return;
    if (f && f.bytes === bytes) {
      const p = path();
      if (byPath(p, f.path) > 0 || (p === f.path && byPath(cls, f.class) >= 0)) return;
    }
    firstCopy.set(layer, { bytes, path: path(), class: cls, index });
  };

  // Every wasted hidden copy, in topWasted's order of copies (layer, deleted then replaced,
  // list order), as (layer, class, k) in three typed columns; grouped by (class, path) with a
  // sort of their numbers rather than a Map of path strings.
  let deletedBytes = 0;
  let replacedBytes = 0;
  const lists = (l: LayerChanges) => [l.hidden.deleted, l.hidden.replaced] as const;
  let count = 0;
  for (const l of overlay.layers) for (const list of lists(l)) count += list.length;
  const atLayer = new Uint16Array(count);
  const atClass = new Uint8Array(count); // 0 deleted, 1 replaced
  const atK = new Uint32Array(count);
  let m = 0;
  overlay.layers.forEach((l, li) => {
    lists(l).forEach((list, cls) => {
      for (let k = 0; k < list.length; k++) {
        const ref = list.hidden(k);
        const bytes = S.fileBytes(ref);
        if (bytes <= 0) continue;
        if (kept.size > 0 && kept.has(ref)) continue;
        if (cls === 0) deletedBytes += bytes;
        else replacedBytes += bytes;
        noteLayer(digestOf(refLayer(ref)), refLayer(ref), bytes, () => S.path(ref), CLASSES[cls]!);
        atLayer[m] = li;
        atClass[m] = cls;
        atK[m++] = k;
      }
    });
  });
  const refAt = (x: number) => lists(overlay.layers[atLayer[x]!]!)[atClass[x]!]!.hidden(atK[x]!);
  const order = new Uint32Array(m);
  for (let x = 0; x < m; x++) order[x] = x;
  // Class, then path; copies of one group stay in the order above (the sort is stable).
  order.sort((x, y) => atClass[x]! - atClass[y]! || S.compare(refAt(x), refAt(y)));
  const sameGroup = (x: number, y: number) => atClass[x] === atClass[y] && S.compare(refAt(x), refAt(y)) === 0;
  for (let g = 0; g < m; ) {
    let end = g + 1;
    let bytes = S.fileBytes(refAt(order[g]!));
    while (end < m && sameGroup(order[g]!, order[end]!)) bytes += S.fileBytes(refAt(order[end++]!));
    if (bytes >= floor()) offer({ bytes, path: S.path(refAt(order[g]!)), class: CLASSES[atClass[order[g]!]!]!, from: g, to: end });
    g = end;
  }

  let duplicateBytes = 0;
  forEachDuplicateGroup(overlay, (size, survivor, rest) => {
    duplicateBytes += size * rest.length;
    if (size === 0) return;
    for (const r of rest) {
      noteLayer(digestOf(layerOf(r)), layerOf(r), size, () => S.path(r), 'duplicate');
      if (size >= floor()) offer({ bytes: size, path: S.path(r), class: 'duplicate', ref: r, survivor });
    }
  });

  // The chosen groups' layer lists, from their copies in topWasted's order.
  const at = (d: Digest) => firstCopy.get(d)?.index ?? 0;
  const top = best.map((c): WastedFile => {
    if (c.from === undefined) {
      return { path: c.path, class: c.class, bytes: c.bytes, copies: 1, layers: [digestOf(layerOf(c.ref!))], hiddenBy: [], duplicateOf: S.path(c.survivor!) };
    }
    const copies = Array.from(order.subarray(c.from, c.to!), (x) => {
      const ref = refAt(x);
      return { bytes: S.fileBytes(ref), layer: digestOf(refLayer(ref)), hiddenBy: overlay.layers[atLayer[x]!]!.digest };
    }).sort((a, b) => b.bytes - a.bytes || byPath(a.layer, b.layer));
    const layers = [...new Set(copies.map((x) => x.layer))].sort((a, b) => at(a) - at(b));
    return { path: c.path, class: c.class, bytes: c.bytes, copies: copies.length, layers, hiddenBy: [...new Set(copies.map((x) => x.hiddenBy))] };
  });

  return { ...wasteTotals(overlay, deletedBytes, replacedBytes, duplicateBytes), top };
}

/**
 * Each content held by 2+ files of the final file system (regular files, and hardlinks
 * standing in for a file no longer final by its own name), in order of first appearance:
 * its size, the surviving copy (the lowest layer's, the first in path order among several
 * there), the other copies (by layer, path order within a layer) and its hex. Copies are
 * final names (refs); a stand-in's layer and content are its file's. Grouped by sorting
 * (content-groups.ts), as positions in `final` (which is in path order).
 */
function forEachDuplicateGroup(overlay: OverlayResult, visit: (size: number, survivor: number, rest: number[], sha: string) => void): void {
  const S = overlay.stack;
  const final = overlay.final;
  const links = overlay.links;
  const fileAt = (k: number) => links.fileOf(final[k]!);
  forEachContentGroup(
    final.length,
    (k) => links.counts(final[k]!) && S.slot(fileAt(k)) >= 0,
    (k) => ({ buf: S.table(fileAt(k)).shas, off: S.slot(fileAt(k)) * 32 }),
    (group) => {
      // Path order within the group; a stable sort by layer puts the survivor first.
      const layerOf = (r: number) => refLayer(links.fileOf(r));
      const [first, ...rest] = Array.from(group, (k) => final[k]!).sort((a, b) => layerOf(a) - layerOf(b));
      const file = links.fileOf(first!);
      visit(S.size(file), first!, rest, S.sha(file)!);
    },
    { byFirstItem: true },
  );
}
