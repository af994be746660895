import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import type { ImageInfo } from './load-images.js';
import { entryTable, getFileIndex, type FileEntry, type FileIndex, type FileType } from './file-index.js';
import { T_DIR, T_FILE } from './entry-table.js';
import { baseOf, joinPath, parentOf } from './layer-path.js';
import { refLayer, StackEntries } from './stack-entries.js';

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
 *
 * Memory: entries are never objects here. The tree holds, per path, a packed reference to
 * a layer's entry (stack-entries.ts) keyed by its last name segment, and the results are
 * arrays of references; `files` and `added` build objects only when read. The next step
 * toward images of millions of files is to merge path-sorted runs of each layer instead of
 * holding the tree.
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
  /** Additions, built from `addedRefs` on each read. */
  added: Change[];
  /** The entries this layer adds at paths new to the image (refs into the stack, archive order). */
  addedRefs: Float64Array;
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
  /** The final file system, sorted by path, built from `final` on each read. Implicit parent directories are not listed. */
  files: FsFile[];
  /** The final file system as refs into `stack`, sorted by path. */
  final: Float64Array;
  /** The layers' entries, read through refs. */
  stack: StackEntries;
  /** Regular-file bytes over all layers (whiteout markers excluded). */
  totalFileBytes: number;
  /** Regular-file bytes in the final file system. */
  finalFileBytes: number;
  /** Entries with unsafe names over all layers (never merged). */
  unsafeEntries: number;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

/** A directory of the tree: its entry (-1: implicit, a parent no layer listed) and children by name. */
interface Dir {
  ref: number;
  children: Map<string, Child>;
}
/** A non-directory is its entry's ref alone. */
type Child = number | Dir;

const SLASH = 0x2f;
const WH = Buffer.from(WHITEOUT_PREFIX);

/** Stack layers (bottom → top) into the final file system and per-layer change lists. */
export function stackLayers(layers: StackLayer[]): OverlayResult {
  const S = new StackEntries(layers.map((l) => entryTable(l.index)));
  const root: Dir = { ref: -1, children: new Map() };
  const result: LayerChanges[] = [];
  let totalFileBytes = 0;
  let unsafeEntries = 0;

  const lookup = (p: string): { parent: Dir; name: string; node: Child } | undefined => {
    let cur = root;
    const segs = p.split('/');
    for (let i = 0; i < segs.length - 1; i++) {
      const next = cur.children.get(segs[i]!);
      if (next === undefined || typeof next === 'number') return undefined;
      cur = next;
    }
    const name = segs[segs.length - 1]!;
    const node = cur.children.get(name);
    return node === undefined ? undefined : { parent: cur, name, node };
  };

  /** A change that hides the entry `ref` (its path, type, bytes, layer, content). */
  const hiding = (ref: number, path: string, type: FileType, bytes: number): Change => {
    const c: Change = { path, type, bytes, hiddenBytes: S.fileBytes(ref), hiddenLayer: refLayer(ref) };
    if (S.typeCode(ref) === T_FILE) {
      const sha = S.sha(ref);
      if (sha) c.hiddenSha256 = sha;
    }
    return c;
  };

  /** Every entry in the subtree at `node` (itself included), as hidden-copy changes. */
  const collect = (node: Child, out: Change[], cause: string | undefined, into: { bytes: number }): void => {
    const stack: Child[] = [node];
    while (stack.length) {
      const n = stack.pop()!;
      const ref = typeof n === 'number' ? n : n.ref;
      if (ref >= 0) {
        const np = S.path(ref);
        const c = hiding(ref, np, S.type(ref), 0);
        if (cause !== undefined && cause !== np) c.cause = cause;
        out.push(c);
        into.bytes += c.hiddenBytes;
      }
      if (typeof n !== 'number') for (const child of n.children.values()) stack.push(child);
    }
  };

  layers.forEach((layer, li) => {
    const T = S.tables[li]!;
    const names = T.pathBytes;
    const base = S.refOf(li, 0);
    const added: number[] = [];
    const ch: LayerChanges = {
      layer: li,
      digest: layer.digest,
      get added() {
        return refsToAdded(S, this.addedRefs);
      },
      addedRefs: new Float64Array(0),
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
    // Where each entry's last name segment starts; whiteouts are the entries whose segment starts ".wh.".
    const baseAt = new Uint32Array(T.count);
    const opaque: string[] = [];
    const whiteouts: Array<{ target: string; marker: string }> = [];
    for (let i = 0; i < T.count; i++) {
      const start = T.pathStart(i);
      let b = T.pathEnd[i]!;
      while (b > start && names[b - 1] !== SLASH) b--;
      baseAt[i] = b;
      if (!isWhiteout(names, b, T.pathEnd[i]!)) continue;
      ch.whiteouts++;
      const p = T.path(i);
      const name = baseOf(p);
      if (name === OPAQUE_MARKER) {
        opaque.push(parentOf(p));
        continue;
      }
      const target = name.slice(WHITEOUT_PREFIX.length);
      if (target === '' || target === '.' || target === '..' || name.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
        ch.ignoredWhiteouts++;
        continue;
      }
      whiteouts.push({ target: joinPath(parentOf(p), target), marker: p });
    }
    const deleted = { bytes: 0 };
    // 1. Deletions, against lower layers only.
    for (const dir of [...new Set(opaque)]) {
      ch.opaqueDirs.push(dir);
      const node = dir === '' ? root : lookup(dir)?.node;
      if (node === undefined || typeof node === 'number') continue;
      const marker = joinPath(dir, OPAQUE_MARKER);
      for (const child of node.children.values()) collect(child, ch.deleted, marker, deleted);
      node.children.clear();
    }
    for (const w of whiteouts) {
      const found = lookup(w.target);
      if (!found) continue;
      found.parent.children.delete(found.name);
      collect(found.node, ch.deleted, w.marker, deleted);
    }
    ch.deletedBytes = deleted.bytes;

    // 2. Additions and replacements, in archive order. Entries of one directory come
    // together in a tar: the last parent found is kept (by its name bytes) and reused.
    const replaced = { bytes: 0 };
    let cached: Dir | undefined;
    let cachedStart = 0;
    let cachedEnd = 0;
    for (let i = 0; i < T.count; i++) {
      const start = T.pathStart(i);
      const end = T.pathEnd[i]!;
      const b = baseAt[i]!;
      if (isWhiteout(names, b, end)) continue;
      const ref = base + i;
      const bytes = T.fileBytes(i);
      ch.fileBytes += bytes;
      let cur = root;
      if (b > start) {
        const pEnd = b - 1; // the parent's name, without the slash
        if (cached && pEnd - start === cachedEnd - cachedStart && names.compare(names, cachedStart, cachedEnd, start, pEnd) === 0) cur = cached;
        else {
          let s = start;
          while (s < pEnd) {
            let e = s;
            while (e < pEnd && names[e] !== SLASH) e++;
            const seg = names.toString('utf8', s, e);
            let next = cur.children.get(seg);
            if (next === undefined) {
              next = { ref: -1, children: new Map() };
              cur.children.set(seg, next);
            } else if (typeof next === 'number') {
              // A lower non-directory stands where this entry needs a directory.
              collect(next, ch.replaced, T.path(i), replaced);
              const dir: Dir = { ref: -1, children: new Map() };
              cur.children.set(seg, dir);
              next = dir;
            }
            cur = next;
            s = e + 1;
          }
          cached = cur;
          cachedStart = start;
          cachedEnd = pEnd;
        }
      }
      const name = names.toString('utf8', b, end);
      const existing = cur.children.get(name);
      const isDir = T.typeCode(i) === T_DIR;
      if (existing === undefined) {
        cur.children.set(name, isDir ? { ref, children: new Map() } : ref);
        added.push(ref);
        ch.addedBytes += bytes;
        continue;
      }
      if (typeof existing !== 'number' && isDir) {
        // Directory over directory: metadata only, children stay.
        if (existing.ref < 0) added.push(ref);
        existing.ref = ref;
        continue;
      }
      if (typeof existing !== 'number') {
        // A non-directory over a directory: the whole lower subtree goes (and with it,
        // perhaps, the directory kept above).
        const p = T.path(i);
        for (const child of existing.children.values()) collect(child, ch.replaced, p, replaced);
        cached = undefined;
      }
      const lower = typeof existing === 'number' ? existing : existing.ref;
      if (lower >= 0) {
        const c = hiding(lower, T.path(i), T.type(i), bytes);
        ch.replaced.push(c);
        replaced.bytes += c.hiddenBytes;
      } else {
        added.push(ref);
        ch.addedBytes += bytes;
      }
      cur.children.set(name, isDir ? { ref, children: new Map() } : ref);
    }
    ch.addedRefs = Float64Array.from(added);
    ch.replacedBytes = replaced.bytes;
    totalFileBytes += ch.fileBytes;
    result.push(ch);
  });

  // The final file system, depth first in each directory's insertion order: archive order,
  // which most builders write sorted, so the sort below (TimSort, on a plain array) mostly
  // finds runs that are in order already.
  const refs: number[] = [];
  let finalFileBytes = 0;
  const walk: Array<Iterator<Child>> = [root.children.values()];
  while (walk.length) {
    const next = walk[walk.length - 1]!.next();
    if (next.done) {
      walk.pop();
      continue;
    }
    const n = next.value;
    const ref = typeof n === 'number' ? n : n.ref;
    if (ref >= 0) {
      refs.push(ref);
      finalFileBytes += S.fileBytes(ref);
    }
    if (typeof n !== 'number') walk.push(n.children.values());
  }
  root.children.clear(); // the closures below share this scope: let the tree go
  const final = Float64Array.from(refs.sort((a, b) => S.compare(a, b)));
  return {
    layers: result,
    get files() {
      return refsToFiles(S, final);
    },
    final,
    stack: S,
    totalFileBytes,
    finalFileBytes,
    unsafeEntries,
  };
}

function isWhiteout(names: Buffer, b: number, end: number): boolean {
  return end - b >= 4 && names[b] === WH[0] && names[b + 1] === WH[1] && names[b + 2] === WH[2] && names[b + 3] === WH[3];
}

function refsToAdded(S: StackEntries, refs: Float64Array): Change[] {
  return Array.from(refs, (r) => ({ path: S.path(r), type: S.type(r), bytes: S.fileBytes(r), hiddenBytes: 0 }));
}

function refsToFiles(S: StackEntries, refs: Float64Array): FsFile[] {
  return Array.from(refs, (r) => ({ path: S.path(r), entry: S.entry(r), layer: refLayer(r) }));
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
