import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import type { ImageInfo, LayerInfo } from './load-images.js';
import type { FileEntry, FileType } from './file-index.js';
import { imageFilesystem, type FsFile } from './overlay.js';

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

const brief = (e: FileEntry, p: string): FileDiffEntry => {
  const v: FileDiffEntry = { path: p, type: e.type, bytes: e.type === 'file' ? e.size : 0 };
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

/** Compare two final file systems (each sorted by path, as stackLayers returns them). */
export function diffFilesystems(a: FsFile[], b: FsFile[]): FileDiff {
  const out: FileDiff = { added: [], removed: [], changed: [], unchanged: 0, addedBytes: 0, removedBytes: 0, changedBytesBefore: 0, changedBytesAfter: 0 };
  const inB = new Map(b.map((f) => [f.path, f.entry]));
  const inA = new Set<string>();
  for (const f of a) {
    inA.add(f.path);
    const other = inB.get(f.path);
    if (!other) {
      const v = brief(f.entry, f.path);
      out.removed.push(v);
      out.removedBytes += v.bytes;
      continue;
    }
    const reasons = changeReasons(f.entry, other);
    if (reasons.length === 0) {
      out.unchanged++;
      continue;
    }
    const c: ChangedFile = { path: f.path, reasons, before: view(f.entry, f.path), after: view(other, f.path) };
    out.changed.push(c);
    out.changedBytesBefore += c.before.bytes;
    out.changedBytesAfter += c.after.bytes;
  }
  for (const f of b) {
    if (inA.has(f.path)) continue;
    const v = brief(f.entry, f.path);
    out.added.push(v);
    out.addedBytes += v.bytes;
  }
  const byPath = (x: { path: string }, y: { path: string }) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0);
  out.added.sort(byPath);
  out.removed.sort(byPath);
  out.changed.sort(byPath);
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
  const fa = await imageFilesystem(store, a);
  const fb = await imageFilesystem(store, b);
  return {
    a: { manifestDigest: a.manifestDigest, refs: a.refs },
    b: { manifestDigest: b.manifestDigest, refs: b.refs },
    layers: diffLayers(a, b),
    files: diffFilesystems(fa.files, fb.files),
  };
}
