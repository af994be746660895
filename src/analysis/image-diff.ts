import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import type { ImageInfo, LayerInfo } from './load-images.js';
import type { FileEntry, FileType } from './file-index.js';
import { getFileIndex } from './file-index.js';
import { imageLayerIndexes, StackScratch, stackImage, type OverlayResult, type StackLayer } from './overlay.js';
import { compareRefs, type StackEntries } from './stack-entries.js';

/**
 * What changed from image A to image B: layers (by blob digest) and files of the two final
 * file systems. Byte totals are regular-file content bytes (uncompressed) for files and
 * stored blob bytes (compressed) for layers.
 */

export type ChangeReason = 'type' | 'content' | 'link' | 'mode' | 'owner';

export interface FileDiffEntry {
  path: string;
  type: FileType;
  /** Regular-file bytes (0 for other types). */
  bytes: number;
  sha256?: string;
}

export interface ChangedFile {
  path: string;
  reasons: ChangeReason[];
  before: FileDiffEntry & { mode: number; linkTarget?: string };
  after: FileDiffEntry & { mode: number; linkTarget?: string };
}

export interface FileDiff {
  added: FileDiffEntry[];
  removed: FileDiffEntry[];
  changed: ChangedFile[];
  unchanged: number;
  addedBytes: number;
  removedBytes: number;
  /** Regular-file bytes of the changed paths in A, and in B. */
  changedBytesBefore: number;
  changedBytesAfter: number;
}

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

export interface ImageDiff {
  a: { manifestDigest: Digest; refs: string[] };
  b: { manifestDigest: Digest; refs: string[] };
  layers: LayerDiff;
  files: FileDiff;
}

const view = (e: FileEntry, p: string) => {
  const v: FileDiffEntry & { mode: number; linkTarget?: string } = { path: p, type: e.type, bytes: e.type === 'file' ? e.size : 0, mode: e.mode };
  if (e.sha256 && e.type === 'file') v.sha256 = e.sha256;
  if (e.linkTarget !== undefined) v.linkTarget = e.linkTarget;
  return v;
};

const brief = (e: FileEntry): FileDiffEntry => {
  const v: FileDiffEntry = { path: e.path, type: e.type, bytes: e.type === 'file' ? e.size : 0 };
  if (e.sha256 && e.type === 'file') v.sha256 = e.sha256;
  return v;
};

/** Why entry `a` and entry `b` at one path differ (empty: they do not). */
export function changeReasons(a: FileEntry, b: FileEntry): ChangeReason[] {
  const r: ChangeReason[] = [];
  if (a.type !== b.type) r.push('type');
  else if (a.type === 'file' && (a.sha256 !== b.sha256 || a.size !== b.size)) r.push('content');
  else if (a.type === 'other' && a.size !== b.size) r.push('content');
  if ((a.type === 'symlink' || a.type === 'hardlink') && a.type === b.type && a.linkTarget !== b.linkTarget) r.push('link');
  if (a.mode !== b.mode) r.push('mode');
  if (a.uid !== b.uid || a.gid !== b.gid) r.push('owner');
  return r;
}

/** Why entry `a` of stack A and entry `b` of stack B at one path differ (empty: they do not), from the columns. */
function reasonsAt(A: StackEntries, a: number, B: StackEntries, b: number): ChangeReason[] {
  const r: ChangeReason[] = [];
  const ta = A.type(a);
  const tb = B.type(b);
  if (ta !== tb) r.push('type');
  else if (ta === 'file' && (A.size(a) !== B.size(b) || A.sha(a) !== B.sha(b))) r.push('content');
  else if (ta === 'other' && A.size(a) !== B.size(b)) r.push('content');
  if ((ta === 'symlink' || ta === 'hardlink') && ta === tb && A.linkTarget(a) !== B.linkTarget(b)) r.push('link');
  if (A.mode(a) !== B.mode(b)) r.push('mode');
  if (A.uid(a) !== B.uid(b) || A.gid(a) !== B.gid(b)) r.push('owner');
  return r;
}

/**
 * Compare two final file systems: one walk over both path-sorted lists (as stackLayers
 * returns them), so nothing the size of an image is built besides the changes themselves.
 */
export function diffStacks(a: OverlayResult, b: OverlayResult): FileDiff {
  const out: FileDiff = { added: [], removed: [], changed: [], unchanged: 0, addedBytes: 0, removedBytes: 0, changedBytesBefore: 0, changedBytesAfter: 0 };
  const A = a.stack;
  const B = b.stack;
  const fa = a.final;
  const fb = b.final;
  let i = 0;
  let j = 0;
  while (i < fa.length || j < fb.length) {
    const order = i >= fa.length ? 1 : j >= fb.length ? -1 : compareRefs(A, fa[i]!, B, fb[j]!);
    if (order < 0) {
      const v = brief(A.entry(fa[i++]!));
      out.removed.push(v);
      out.removedBytes += v.bytes;
    } else if (order > 0) {
      const v = brief(B.entry(fb[j++]!));
      out.added.push(v);
      out.addedBytes += v.bytes;
    } else {
      const ra = fa[i++]!;
      const rb = fb[j++]!;
      const reasons = reasonsAt(A, ra, B, rb);
      if (reasons.length === 0) {
        out.unchanged++;
        continue;
      }
      const before = A.entry(ra);
      const c: ChangedFile = { path: before.path, reasons, before: view(before, before.path), after: view(B.entry(rb), before.path) };
      out.changed.push(c);
      out.changedBytesBefore += c.before.bytes;
      out.changedBytesAfter += c.after.bytes;
    }
  }
  return out;
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
    files: diffStacks(fa, fb),
  };
}
