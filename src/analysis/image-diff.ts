import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import type { ImageInfo, LayerInfo } from './load-images.js';
import type { FileType } from './file-index.js';
import { getFileIndex } from './file-index.js';
import { imageLayerIndexes, StackScratch, stackImage, type OverlayResult, type StackLayer } from './overlay.js';
import { compareRefs } from './stack-entries.js';

/**
 * What changed from image A to image B: layers (by blob digest) and files of the two final
 * file systems. Byte totals are regular-file content bytes (uncompressed) for files and
 * stored blob bytes (compressed) for layers. A hardlink is another name of a file: it shows,
 * and is compared by, the bytes and content of the file it names (final-links.ts), so the
 * totals count a file once per name listed.
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
  else if (ta === 'file' || ta === 'hardlink') {
    const fa = x.links.fileOf(a);
    const fb = y.links.fileOf(b);
    if (fa < 0 !== fb < 0 || (fa >= 0 && (A.size(fa) !== B.size(fb) || A.sha(fa) !== B.sha(fb)))) r.push('content');
  } else if (ta === 'other' && A.size(a) !== B.size(b)) r.push('content');
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
      const v = brief(a, fa[i++]!);
      out.removed.push(v);
      out.removedBytes += v.bytes;
    } else if (order > 0) {
      const v = brief(b, fb[j++]!);
      out.added.push(v);
      out.addedBytes += v.bytes;
    } else {
      const ra = fa[i++]!;
      const rb = fb[j++]!;
      const reasons = reasonsAt(a, ra, b, rb);
      if (reasons.length === 0) {
        out.unchanged++;
        continue;
      }
      const c: ChangedFile = { path: A.path(ra), reasons, before: view(a, ra), after: view(b, rb) };
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
