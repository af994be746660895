import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import type { ImageInfo } from './load-images.js';
import { getFileIndex, type FileEntry, type FileIndex, type FileType } from './file-index.js';
import { baseOf, joinPath, parentOf } from './layer-path.js';

/**
 * Stacking an image's layers into its final file system, the way overlayfs and the
 * docker/containerd layer appliers do:
 *
 * - `<dir>/.wh.<name>` deletes `<dir>/<name>` (a file, or a directory with its subtree)
 *   coming from LOWER layers. The whiteout itself is not a file of the image.
 * - `<dir>/.wh..wh..opq` hides everything lower layers put in `<dir>`, but not what the
 *   same layer adds there (deletions of a layer apply before its additions, whatever the
 *   order of entries in the tar). The directory itself stays.
 * - Other `.wh..wh.*` names (aufs bookkeeping such as `.wh..wh.plnk`) are ignored.
 * - An entry replaces a lower entry at the same path (a file replaced by a symlink is
 *   replaced); a directory over a directory only updates its metadata and keeps its
 *   children (not listed as a change); a non-directory over a directory removes the whole
 *   subtree (those lower files are listed as replaced, caused by the new entry); a path
 *   under a lower non-directory replaces that non-directory by an implicit directory.
 * - The same path twice in one layer: the later entry wins; the earlier one is hidden
 *   (listed as replaced, from the same layer).
 * - Hardlinks and symlinks are entries like any other. A hardlink's size is 0, so its
 *   bytes are never counted twice. Paths are literal: a symlinked parent directory is not
 *   followed (runtimes resolve it inside the root; like dive, we do not).
 *
 * Every regular-file copy of every layer ends up in exactly one place: the final file
 * system, a `replaced` change, or a `deleted` change. So
 *   totalFileBytes = finalFileBytes + replacedBytes + deletedBytes.
 */

export interface StackLayer {
  /** Blob digest of the layer. */
  digest: Digest;
  index: FileIndex;
}

/** A path of the final file system and the layer (index in the stack, bottom = 0) it came from. */
export interface FsFile {
  path: string;
  entry: FileEntry;
  layer: number;
}

export interface Change {
  path: string;
  /** Type of the entry this layer writes (added, replaced) or hides (deleted, subtree). */
  type: FileType;
  /** Regular-file bytes this layer writes at `path` (0 for deletions and removed subtrees). */
  bytes: number;
  /** Regular-file bytes of the lower copy this change hides (0 for additions). */
  hiddenBytes: number;
  /** Stack index of the layer the hidden copy came from. */
  hiddenLayer?: number;
  /** The path in this layer that caused the change when it is not `path`: a whiteout, an opaque marker, or the entry that replaced a directory or parent. */
  cause?: string;
  /** Content sha256 of the hidden copy (regular files). */
  hiddenSha256?: string;
}

export interface LayerChanges {
  layer: number;
  digest: Digest;
  added: Change[];
  replaced: Change[];
  deleted: Change[];
  /** Regular-file bytes the layer writes at paths new to the image. */
  addedBytes: number;
  /** Regular-file bytes of lower copies this layer overwrites or removes by replacement. */
  replacedBytes: number;
  /** Regular-file bytes of lower copies this layer's whiteouts and opaque markers remove. */
  deletedBytes: number;
  /** Whiteout entries (`.wh.<name>`) and opaque markers in the layer. */
  whiteouts: number;
  opaqueDirs: string[];
  /** Whiteout names that cannot name anything (".wh.", ".wh..", aufs `.wh..wh.*`). */
  ignoredWhiteouts: number;
  /** Regular-file bytes of all the layer's entries (whiteout markers excluded). */
  fileBytes: number;
}

export interface OverlayResult {
  /** Bottom to top. */
  layers: LayerChanges[];
  /** The final file system, sorted by path. Implicit parent directories are not listed. */
  files: FsFile[];
  /** Regular-file bytes over all layers (whiteout markers excluded). */
  totalFileBytes: number;
  /** Regular-file bytes in the final file system. */
  finalFileBytes: number;
  /** Entries with unsafe names over all layers (never merged). */
  unsafeEntries: number;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

interface Node {
  /** undefined: an implicit directory (a parent no layer listed). */
  entry?: FileEntry;
  layer: number;
  /** Present for directories (explicit or implicit). */
  children?: Map<string, Node>;
}

const fileBytes = (e: FileEntry | undefined): number => (e && e.type === 'file' ? e.size : 0);

/** Stack layers (bottom → top) into the final file system and per-layer change lists. */
export function stackLayers(layers: StackLayer[]): OverlayResult {
  const root: Node = { layer: -1, children: new Map() };
  const result: LayerChanges[] = [];
  let totalFileBytes = 0;
  let unsafeEntries = 0;

  const lookup = (p: string): { parent: Node; name: string; node: Node } | undefined => {
    let cur = root;
    const segs = p.split('/');
    for (let i = 0; i < segs.length - 1; i++) {
      const next = cur.children!.get(segs[i]!);
      if (!next?.children) return undefined;
      cur = next;
    }
    const name = segs[segs.length - 1]!;
    const node = cur.children!.get(name);
    return node ? { parent: cur, name, node } : undefined;
  };

  /**
   * Every entry in the subtree at `node` (itself included), as hidden-copy changes. A node's
   * entry carries its own path, so no path strings are built while walking.
   */
  const collect = (node: Node, out: Change[], cause: string | undefined, into: { bytes: number }): void => {
    const stack: Node[] = [node];
    while (stack.length) {
      const n = stack.pop()!;
      if (n.entry) {
        const np = n.entry.path;
        const c: Change = { path: np, type: n.entry.type, bytes: 0, hiddenBytes: fileBytes(n.entry), hiddenLayer: n.layer };
        if (cause !== undefined && cause !== np) c.cause = cause;
        if (n.entry.type === 'file' && n.entry.sha256) c.hiddenSha256 = n.entry.sha256;
        out.push(c);
        into.bytes += c.hiddenBytes;
      }
      if (n.children) for (const child of n.children.values()) stack.push(child);
    }
  };

  layers.forEach((layer, li) => {
    const ch: LayerChanges = {
      layer: li,
      digest: layer.digest,
      added: [],
      replaced: [],
      deleted: [],
      addedBytes: 0,
      replacedBytes: 0,
      deletedBytes: 0,
      whiteouts: 0,
      opaqueDirs: [],
      ignoredWhiteouts: 0,
      fileBytes: 0,
    };
    unsafeEntries += layer.index.unsafeCount;
    const opaque: string[] = [];
    const whiteouts: Array<{ target: string; marker: string }> = [];
    const regular: FileEntry[] = [];
    for (const e of layer.index.entries) {
      const base = baseOf(e.path);
      if (!base.startsWith(WHITEOUT_PREFIX)) {
        regular.push(e);
        continue;
      }
      ch.whiteouts++;
      if (base === OPAQUE_MARKER) {
        opaque.push(parentOf(e.path));
        continue;
      }
      const name = base.slice(WHITEOUT_PREFIX.length);
      if (name === '' || name === '.' || name === '..' || base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
        ch.ignoredWhiteouts++;
        continue;
      }
      whiteouts.push({ target: joinPath(parentOf(e.path), name), marker: e.path });
    }
    const deleted = { bytes: 0 };
    // 1. Deletions, against lower layers only.
    for (const dir of [...new Set(opaque)]) {
      ch.opaqueDirs.push(dir);
      const node = dir === '' ? root : lookup(dir)?.node;
      if (!node?.children) continue;
      const marker = joinPath(dir, OPAQUE_MARKER);
      for (const child of node.children.values()) collect(child, ch.deleted, marker, deleted);
      node.children.clear();
    }
    for (const w of whiteouts) {
      const found = lookup(w.target);
      if (!found) continue;
      found.parent.children!.delete(found.name);
      collect(found.node, ch.deleted, w.marker, deleted);
    }
    ch.deletedBytes = deleted.bytes;

    // 2. Additions and replacements, in archive order.
    const replaced = { bytes: 0 };
    for (const e of regular) {
      ch.fileBytes += fileBytes(e);
      const segs = e.path.split('/');
      let cur = root;
      for (let i = 0; i < segs.length - 1; i++) {
        let next = cur.children!.get(segs[i]!);
        if (!next) {
          next = { layer: li, children: new Map() };
          cur.children!.set(segs[i]!, next);
        } else if (!next.children) {
          // A lower non-directory stands where this entry needs a directory.
          collect(next, ch.replaced, e.path, replaced);
          next.entry = undefined;
          next.layer = li;
          next.children = new Map();
        }
        cur = next;
      }
      const name = segs[segs.length - 1]!;
      const existing = cur.children!.get(name);
      const isDir = e.type === 'dir';
      if (!existing) {
        cur.children!.set(name, { entry: e, layer: li, children: isDir ? new Map() : undefined });
        ch.added.push({ path: e.path, type: e.type, bytes: fileBytes(e), hiddenBytes: 0 });
        ch.addedBytes += fileBytes(e);
        continue;
      }
      if (existing.children && isDir) {
        // Directory over directory: metadata only, children stay.
        if (!existing.entry) {
          ch.added.push({ path: e.path, type: e.type, bytes: 0, hiddenBytes: 0 });
        }
        existing.entry = e;
        existing.layer = li;
        continue;
      }
      if (existing.children) {
        // A non-directory over a directory: the whole lower subtree goes.
        for (const child of existing.children.values()) collect(child, ch.replaced, e.path, replaced);
        existing.children = undefined;
      }
      if (existing.entry) {
        const c: Change = { path: e.path, type: e.type, bytes: fileBytes(e), hiddenBytes: fileBytes(existing.entry), hiddenLayer: existing.layer };
        if (existing.entry.type === 'file' && existing.entry.sha256) c.hiddenSha256 = existing.entry.sha256;
        ch.replaced.push(c);
        replaced.bytes += c.hiddenBytes;
      } else {
        ch.added.push({ path: e.path, type: e.type, bytes: fileBytes(e), hiddenBytes: 0 });
        ch.addedBytes += fileBytes(e);
      }
      existing.entry = e;
      existing.layer = li;
      existing.children = isDir ? new Map() : undefined;
    }
    ch.replacedBytes = replaced.bytes;
    totalFileBytes += ch.fileBytes;
    result.push(ch);
  });

  const files: FsFile[] = [];
  let finalFileBytes = 0;
  const stack: Node[] = [root];
  while (stack.length) {
    const n = stack.pop()!;
    if (n.entry) {
      files.push({ path: n.entry.path, entry: n.entry, layer: n.layer });
      finalFileBytes += fileBytes(n.entry);
    }
    if (n.children) for (const child of n.children.values()) stack.push(child);
  }
  files.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { layers: result, files, totalFileBytes, finalFileBytes, unsafeEntries };
}

/** The file indexes of an image's layers, bottom to top (built and cached as needed). */
export async function imageLayerIndexes(store: Store, image: ImageInfo): Promise<StackLayer[]> {
  const out: StackLayer[] = [];
  for (const l of image.layers) out.push({ digest: l.digest, index: await getFileIndex(store, l.digest) });
  return out;
}

/** An image's final file system and per-layer changes. */
export async function imageFilesystem(store: Store, image: ImageInfo): Promise<OverlayResult> {
  return stackLayers(await imageLayerIndexes(store, image));
}
