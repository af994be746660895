import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import type { ImageInfo, LayerInfo } from './load-images.js';
import type { FileType } from './file-index.js';
import { getFileIndex } from './file-index.js';
import { imageLayerIndexes, StackScratch, stackImage, type OverlayResult, type StackLayer } from './overlay.js';
import { compareRefs } from './stack-entries.js';
import { ChunkedColumn } from './chunked.js';
import { sortRefs } from './sort-refs.js';
import { LazyList } from '../util/lazy-list.js';

/**
 * What changed from image A to image B: layers (by blob digest) and files of the two final
 * file systems. Byte totals are regular-file content bytes (uncompressed) for files and
 * stored blob bytes (compressed) for layers. A hardlink is another name of a file: it shows,
 * and is compared by, the bytes and content of the file it names (final-links.ts); a total
 * counts each file once however many of its names the list holds (as du does), so a binary
 * with a hundred links adds its bytes once.
 */

export type ChangeReason = 'type' | 'content' | 'link' | 'mode' | 'owner';

export interface FileDiffEntry {
  path: string;
  type: FileType;
  /** Regular-file bytes; a hardlink's are those of the file it names (0 for other types, and for a link naming no file). */
  bytes: number;
  /** Content sha256 of a regular file, or of the file a hardlink names. */
  sha256?: string;
}

export interface ChangedFile {
  path: string;
  reasons: ChangeReason[];
  before: FileDiffEntry & { mode: number; linkTarget?: string };
  after: FileDiffEntry & { mode: number; linkTarget?: string };
}

export interface FileDiffOf<Entries, Changes> {
  added: Entries;
  removed: Entries;
  changed: Changes;
  unchanged: number;
  /** Regular-file bytes of the added paths (in B), and of the removed ones (in A): each file once, however many of its names are listed. */
  addedBytes: number;
  removedBytes: number;
  /** Regular-file bytes of the changed paths in A, and in B (each file once). */
  changedBytesBefore: number;
  changedBytesAfter: number;
}

export type FileDiff = FileDiffOf<FileDiffEntry[], ChangedFile[]>;

export interface LayerDiff {
  /** Layers of B that A does not have, bottom to top. */
  added: LayerInfo[];
  /** Layers of A that B does not have, bottom to top. */
  removed: LayerInfo[];
  /** Layers both have. */
  common: LayerInfo[];
  addedBytes: number;
  removedBytes: number;
  commonBytes: number;
}

export interface ImageDiffOf<Files> {
  a: { manifestDigest: Digest; refs: string[] };
  b: { manifestDigest: Digest; refs: string[] };
  layers: LayerDiff;
  files: Files;
}

export type ImageDiff = ImageDiffOf<FileDiff>;
/** A diff whose file changes are refs (FileChanges), made into objects when read. */
export type ImageChanges = ImageDiffOf<FileChanges>;

/** Final name `ref` of `o` as diff lists it: a regular file's bytes and content, or those of the file a hardlink names. */
const brief = (o: OverlayResult, ref: number): FileDiffEntry => {
  const S = o.stack;
  const file = o.links.fileOf(ref);
  const v: FileDiffEntry = { path: S.path(ref), type: S.type(ref), bytes: file < 0 ? 0 : S.size(file) };
  const sha = file < 0 ? undefined : S.sha(file);
  if (sha) v.sha256 = sha;
  return v;
};

const view = (o: OverlayResult, ref: number) => {
  const v: FileDiffEntry & { mode: number; linkTarget?: string } = { ...brief(o, ref), mode: o.stack.mode(ref) };
  const link = o.stack.linkTarget(ref);
  if (link !== undefined) v.linkTarget = link;
  return v;
};

/**
 * Why final name `a` of image A and `b` of image B at one path differ (empty: they do not),
 * from the columns. Regular files and hardlinks are compared by the content of the file they
 * are or name (a link naming no file has none).
 */
function reasonsAt(x: OverlayResult, a: number, y: OverlayResult, b: number): ChangeReason[] {
  const A = x.stack;
  const B = y.stack;
  const r: ChangeReason[] = [];
  const ta = A.type(a);
  const tb = B.type(b);
  if (ta !== tb) r.push('type');
  // A file that became a hard link (or the reverse) is still a file on disk: its content counts too.
  const regular = (t: FileType) => t === 'file' || t === 'hardlink';
  if (regular(ta) && regular(tb)) {
    const fa = x.links.fileOf(a);
    const fb = y.links.fileOf(b);
    if (fa < 0 !== fb < 0 || (fa >= 0 && (A.size(fa) !== B.size(fb) || A.sha(fa) !== B.sha(fb)))) r.push('content');
  } else if (ta === 'other' && tb === 'other' && A.size(a) !== B.size(b)) r.push('content');
  if ((ta === 'symlink' || ta === 'hardlink') && ta === tb && A.linkTarget(a) !== B.linkTarget(b)) r.push('link');
  if (A.mode(a) !== B.mode(b)) r.push('mode');
  if (A.uid(a) !== B.uid(b) || A.gid(a) !== B.gid(b)) r.push('owner');
  return r;
}

/** Whether the two final names differ at all (the walk keeps only refs; reasons are found again when read). */
const differs = (x: OverlayResult, a: number, y: OverlayResult, b: number): boolean => reasonsAt(x, a, y, b).length > 0;

/** Regular-file bytes of final name `ref` of `o` as diff counts them (brief's bytes, without the object). */
const bytesOf = (o: OverlayResult, ref: number): number => {
  const file = o.links.fileOf(ref);
  return file < 0 ? 0 : o.stack.size(file);
};

/** Regular-file bytes of some final names of one image, each file once: only files that hard links name can have several names, so only those are remembered. */
class DistinctFileBytes {
  total = 0;
  private seen: Set<number> | undefined;

  constructor(private readonly o: OverlayResult) {}

  add(ref: number): void {
    const file = this.o.links.fileOf(ref);
    if (file < 0) return;
    if (this.o.links.kept.has(file)) {
      this.seen ??= new Set();
      if (this.seen.has(file)) return;
      this.seen.add(file);
    }
    this.total += this.o.stack.size(file);
  }
}

/**
 * The changes between two final file systems, held as refs (8 bytes a removed or added path,
 * 16 a changed one) and turned into objects only when read: a diff of two unrelated
 * million-file images holds ~16 MB of refs beside the two stacks, where objects with paths
 * and digests took ~1 GB. Each list is in path order.
 */
export class FileChanges {
  constructor(
    readonly a: OverlayResult,
    readonly b: OverlayResult,
    /** Refs into A of the paths only A has. */
    readonly removedRefs: Float64Array,
    /** Refs into B of the paths only B has. */
    readonly addedRefs: Float64Array,
    /** Refs into A, and into B, of the paths both have with a difference. */
    readonly changedA: Float64Array,
    readonly changedB: Float64Array,
    readonly unchanged: number,
    readonly addedBytes: number,
    readonly removedBytes: number,
    readonly changedBytesBefore: number,
    readonly changedBytesAfter: number,
  ) {}

  removedAt(i: number): FileDiffEntry {
    return brief(this.a, this.removedRefs[i]!);
  }

  addedAt(i: number): FileDiffEntry {
    return brief(this.b, this.addedRefs[i]!);
  }

  changedAt(i: number): ChangedFile {
    const ra = this.changedA[i]!;
    const rb = this.changedB[i]!;
    return { path: this.a.stack.path(ra), reasons: reasonsAt(this.a, ra, this.b, rb), before: view(this.a, ra), after: view(this.b, rb) };
  }

  /** Number of changes. Rows are numbered: added, then removed, then changed (each in path order). */
  get count(): number {
    return this.addedRefs.length + this.removedRefs.length + this.changedA.length;
  }

  kindOf(row: number): 'added' | 'removed' | 'changed' {
    const r = row - this.addedRefs.length;
    return r < 0 ? 'added' : r < this.removedRefs.length ? 'removed' : 'changed';
  }

  /** Index of `row` in its kind's list. */
  indexOf(row: number): number {
    const r = row - this.addedRefs.length;
    return r < 0 ? row : r < this.removedRefs.length ? r : r - this.removedRefs.length;
  }

  /** What `diff` ranks a change by: its bytes, the larger of before and after for a changed path. */
  rankBytes(row: number): number {
    const i = this.indexOf(row);
    switch (this.kindOf(row)) {
      case 'added':
        return bytesOf(this.b, this.addedRefs[i]!);
      case 'removed':
        return bytesOf(this.a, this.removedRefs[i]!);
      default:
        return Math.max(bytesOf(this.a, this.changedA[i]!), bytesOf(this.b, this.changedB[i]!));
    }
  }

  /** `diff`'s order of changes: largest first, then by path. */
  compareRows = (x: number, y: number): number => {
    const d = this.rankBytes(y) - this.rankBytes(x);
    if (d !== 0) return d;
    const [X, rx] = this.pathRef(x);
    const [Y, ry] = this.pathRef(y);
    return compareRefs(X.stack, rx, Y.stack, ry);
  };

  private pathRef(row: number): [OverlayResult, number] {
    const i = this.indexOf(row);
    const kind = this.kindOf(row);
    return kind === 'added' ? [this.b, this.addedRefs[i]!] : [this.a, kind === 'removed' ? this.removedRefs[i]! : this.changedA[i]!];
  }

  /** The first n rows in compareRows order (every row when n >= count), kept as they come: n rows at most are held. */
  firstRows(n: number): Float64Array {
    const count = this.count;
    if (n >= count) {
      const all = new Float64Array(count);
      for (let r = 0; r < count; r++) all[r] = r;
      return sortRefs(all, this.compareRows);
    }
    const best: number[] = [];
    for (let r = 0; r < count && n > 0; r++) {
      if (best.length === n && this.compareRows(r, best[n - 1]!) >= 0) continue;
      let lo = 0;
      let hi = best.length;
      while (lo < hi) {
        const m = (lo + hi) >>> 1;
        if (this.compareRows(best[m]!, r) <= 0) lo = m + 1;
        else hi = m;
      }
      best.splice(lo, 0, r);
      if (best.length > n) best.pop();
    }
    return Float64Array.from(best);
  }

  /** The change in row `row`, as an object. */
  rowAt(row: number): { kind: 'added' | 'removed'; entry: FileDiffEntry } | { kind: 'changed'; change: ChangedFile } {
    const i = this.indexOf(row);
    const kind = this.kindOf(row);
    return kind === 'changed' ? { kind, change: this.changedAt(i) } : { kind, entry: kind === 'added' ? this.addedAt(i) : this.removedAt(i) };
  }

  /** The changes as FileDiff's shape, the lists made element by element when read (report/json.ts writes them so). */
  lists(): FileDiffOf<LazyList<FileDiffEntry>, LazyList<ChangedFile>> {
    return {
      added: new LazyList(this.addedRefs.length, (i) => this.addedAt(i)),
      removed: new LazyList(this.removedRefs.length, (i) => this.removedAt(i)),
      changed: new LazyList(this.changedA.length, (i) => this.changedAt(i)),
      unchanged: this.unchanged,
      addedBytes: this.addedBytes,
      removedBytes: this.removedBytes,
      changedBytesBefore: this.changedBytesBefore,
      changedBytesAfter: this.changedBytesAfter,
    };
  }

  /** Every change as an object (what the library's diffImages returns). */
  toFileDiff(): FileDiff {
    const l = this.lists();
    return { ...l, added: l.added.toArray(), removed: l.removed.toArray(), changed: l.changed.toArray() };
  }
}

/**
 * Compare two final file systems: one walk over both path-sorted lists (as stackLayers
 * returns them), keeping refs of what differs.
 */
export function compareStacks(a: OverlayResult, b: OverlayResult): FileChanges {
  const A = a.stack;
  const B = b.stack;
  const fa = a.final;
  const fb = b.final;
  const removed = new ChunkedColumn(Float64Array);
  const added = new ChunkedColumn(Float64Array);
  const changedA = new ChunkedColumn(Float64Array);
  const changedB = new ChunkedColumn(Float64Array);
  let nRemoved = 0;
  let nAdded = 0;
  let nChanged = 0;
  let unchanged = 0;
  const addedBytes = new DistinctFileBytes(b);
  const removedBytes = new DistinctFileBytes(a);
  const changedBytesBefore = new DistinctFileBytes(a);
  const changedBytesAfter = new DistinctFileBytes(b);
  let i = 0;
  let j = 0;
  while (i < fa.length || j < fb.length) {
    const order = i >= fa.length ? 1 : j >= fb.length ? -1 : compareRefs(A, fa[i]!, B, fb[j]!);
    if (order < 0) {
      const r = fa[i++]!;
      removed.set(nRemoved++, r);
      removedBytes.add(r);
    } else if (order > 0) {
      const r = fb[j++]!;
      added.set(nAdded++, r);
      addedBytes.add(r);
    } else {
      const ra = fa[i++]!;
      const rb = fb[j++]!;
      if (!differs(a, ra, b, rb)) {
        unchanged++;
        continue;
      }
      changedA.set(nChanged, ra);
      changedB.set(nChanged++, rb);
      changedBytesBefore.add(ra);
      changedBytesAfter.add(rb);
    }
  }
  return new FileChanges(
    a,
    b,
    removed.take(nRemoved),
    added.take(nAdded),
    changedA.take(nChanged),
    changedB.take(nChanged),
    unchanged,
    addedBytes.total,
    removedBytes.total,
    changedBytesBefore.total,
    changedBytesAfter.total,
  );
}

/** Compare the layer lists of two images by blob digest. */
export function diffLayers(a: ImageInfo, b: ImageInfo): LayerDiff {
  const inA = new Set(a.layers.map((l) => l.digest));
  const inB = new Set(b.layers.map((l) => l.digest));
  const uniq = (ls: LayerInfo[]) => [...new Map(ls.map((l) => [l.digest, l])).values()];
  const added = uniq(b.layers.filter((l) => !inA.has(l.digest)));
  const removed = uniq(a.layers.filter((l) => !inB.has(l.digest)));
  const common = uniq(a.layers.filter((l) => inB.has(l.digest)));
  const total = (ls: LayerInfo[]) => ls.reduce((n, l) => n + l.size, 0);
  return { added, removed, common, addedBytes: total(added), removedBytes: total(removed), commonBytes: total(common) };
}

/** Diff image A (before) against image B (after). Layer indexes are built and cached as needed. */
export async function diffImages(store: Store, a: ImageInfo, b: ImageInfo): Promise<ImageDiff> {
  const d = await compareImages(store, a, b);
  return { ...d, files: d.files.toFileDiff() };
}

/** diffImages with the file changes kept as refs: what `diff` uses, so a million changes stay small. */
export async function compareImages(store: Store, a: ImageInfo, b: ImageInfo): Promise<ImageChanges> {
  const la = await imageLayerIndexes(store, a);
  // Layers both images have are read once and shared by the two stacks.
  const known = new Map(la.map((l) => [l.digest, l.index]));
  const lb: StackLayer[] = [];
  for (const l of b.layers) lb.push({ digest: l.digest, index: known.get(l.digest) ?? (await getFileIndex(store, l.digest)) });
  const scratch = StackScratch.forStacks([la, lb]);
  const fa = stackImage(a, la, scratch);
  const fb = stackImage(b, lb, scratch);
  return {
    a: { manifestDigest: a.manifestDigest, refs: a.refs },
    b: { manifestDigest: b.manifestDigest, refs: b.refs },
    layers: diffLayers(a, b),
    files: compareStacks(fa, fb),
  };
}
