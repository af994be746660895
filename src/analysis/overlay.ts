import type { Digest } from '../digest/digest.js';
import { LayerstoreError, toLayerstoreError } from '../errors.js';
import type { Store } from '../store/store.js';
import type { ImageInfo } from './load-images.js';
import { entryTable, getFileIndex, type FileEntry, type FileIndex } from './file-index.js';
import { T_DIR, T_FILE, T_HARDLINK, type EntryTable } from './entry-table.js';
import { baseOf, joinPath, parentOf } from './layer-path.js';
import { PathTree } from './path-tree.js';
import { sortRefs } from './sort-refs.js';
import { refLayer, StackEntries } from './stack-entries.js';
import { HiddenCopies, type Change } from './hidden-copies.js';
import { FinalLinks } from './final-links.js';

export type { Change } from './hidden-copies.js';

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
 * - A hardlink is another name of the regular file its target path names when it is applied
 *   (final-links.ts). A whiteout or an upper entry hides a name: a file one of whose names is
 *   final is in the final file system, once, even when its first name was deleted or replaced.
 *
 * Every regular-file copy of every layer ends up in exactly one place: the final file
 * system, a `replaced` change, or a `deleted` change (a hidden name whose file a final
 * hardlink still names stays listed as a change, but its bytes are final ones). So
 *   totalFileBytes = finalFileBytes + replacedBytes + deletedBytes.
 *
 * Memory: entries are never objects here. The tree (path-tree.ts, typed arrays) holds, per
 * path, a packed reference to a layer's entry (stack-entries.ts), its name being bytes of
 * that layer's path column, and the results are arrays of references (hidden copies: two
 * refs each, hidden-copies.ts); `files`, `added`, `replaced` and `deleted` build objects only
 * when read. The tree is dropped before the final list is sorted. The next step toward images
 * of millions of files is to merge path-sorted runs of each layer read from the cache instead
 * of holding the tree (~40 bytes a node of every layer's entries).
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

export interface LayerChanges {
  layer: number;
  digest: Digest;
  /** Additions, built from `addedRefs` on each read. */
  added: Change[];
  /** The entries this layer adds at paths new to the image (refs into the stack, archive order). */
  addedRefs: Float64Array;
  /** Built from `hidden` on each read. */
  replaced: Change[];
  deleted: Change[];
  /** The lower copies this layer replaces and deletes (hidden-copies.ts): what the analysis reads. */
  hidden: { replaced: HiddenCopies; deleted: HiddenCopies };
  /** Regular-file bytes the layer writes at paths new to the image. */
  addedBytes: number;
  /** Regular-file bytes of lower copies this layer overwrites or removes by replacement (a file a final hardlink still names excepted). */
  replacedBytes: number;
  /** Regular-file bytes of lower copies this layer's whiteouts and opaque markers remove (a file a final hardlink still names excepted). */
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
  /** The hardlinks of the final file system, resolved to the files they name. */
  links: FinalLinks;
  /** Regular-file bytes over all layers (whiteout markers excluded). */
  totalFileBytes: number;
  /** Regular-file bytes in the final file system, each file once (a file only hardlinks still name counts). */
  finalFileBytes: number;
  /** Entries with unsafe names over all layers (never merged). */
  unsafeEntries: number;
}

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

const SLASH = 0x2f;
const WH = Buffer.from(WHITEOUT_PREFIX);
const ROOT = 0;

/**
 * Most entries stackLayers takes over all the layers of one image (README, "report
 * --files"): the tree and the layers' columns of 8M entries take about 800 MB. Beyond it the
 * image is refused (E_TOO_LARGE) rather than stacked at any memory cost.
 */
export const MAX_IMAGE_ENTRIES = 8_000_000;

/**
 * Stack layers (bottom → top) into the final file system and per-layer change lists.
 * E_TOO_LARGE when the layers hold more than `maxEntries` (MAX_IMAGE_ENTRIES) entries.
 */
export function stackLayers(layers: StackLayer[], opts: { maxEntries?: number; scratch?: StackScratch } = {}): OverlayResult {
  const S = new StackEntries(layers.map((l) => entryTable(l.index)));
  const entries = S.tables.reduce((n, t) => n + t.count, 0);
  const max = opts.maxEntries ?? MAX_IMAGE_ENTRIES;
  if (entries > max)
    throw new LayerstoreError(
      'E_TOO_LARGE',
      `the image's layers hold ${entries} entries, more than ${max} (the most report --files and diff stack for one image)`,
    );
  const { result, totalFileBytes, unsafeEntries, refs, finalFileBytes, links } = stackTree(layers, S, entries, opts.scratch);
  // The tree is garbage from here; the sort takes one more array of refs, off the heap.
  const final = sortRefs(refs, (a, b) => S.compare(a, b));
  const finalLinks = new FinalLinks(S, links, final);
  keptByLinks(result, S, finalLinks);
  return overlayOf(result, final, S, finalLinks, { totalFileBytes, finalFileBytes: finalFileBytes + finalLinks.standInBytes, unsafeEntries });
}

/**
 * A hidden copy whose file a final hardlink still names lost a name, not its bytes: those are
 * final now, so they leave the layer's replaced or deleted bytes (the copy stays listed).
 */
function keptByLinks(layers: LayerChanges[], S: StackEntries, links: FinalLinks): void {
  if (links.kept.size === 0) return;
  for (const ch of layers)
    for (const cls of ['replaced', 'deleted'] as const) {
      const list = ch.hidden[cls];
      for (let k = 0; k < list.length; k++) {
        const ref = list.hidden(k);
        if (links.kept.has(ref)) ch[cls === 'replaced' ? 'replacedBytes' : 'deletedBytes'] -= S.fileBytes(ref);
      }
    }
}

/** The layers stacked in a path tree: their changes, and the final file system's refs (unsorted). */
function stackTree(layers: StackLayer[], S: StackEntries, entries: number, scratch?: StackScratch) {
  const tree = scratch ? scratch.tree(S.tables, entries) : new PathTree(S.tables, entries);
  const result: LayerChanges[] = [];
  let totalFileBytes = 0;
  let unsafeEntries = 0;
  // Hardlink ref -> ref of the regular file it names (final-links.ts): one entry a hardlink.
  const links = new Map<number, number>();

  /** The node at path `p` (non-empty), or -1; every parent on the way must be a directory. */
  const lookup = (p: string): number => {
    const bytes = Buffer.from(p);
    let cur = ROOT;
    for (let s = 0; ; ) {
      const slash = bytes.indexOf(SLASH, s);
      const e = slash < 0 ? bytes.length : slash;
      const node = tree.child(cur, bytes, s, e);
      if (node < 0 || slash < 0) return node;
      if (!tree.isDir(node)) return -1;
      cur = node;
      s = e + 1;
    }
  };

  /** Every entry in the subtree at `node` (itself included), as copies hidden by the entry `cause`. */
  const collect = (node: number, out: HiddenCopies, cause: number, into: { bytes: number }): void => {
    const stack: number[] = [node];
    while (stack.length) {
      const n = stack.pop()!;
      const ref = tree.ref[n]!;
      if (ref >= 0) {
        out.push(ref, cause, false);
        into.bytes += S.fileBytes(ref);
      }
      if (tree.isDir(n)) for (let c = tree.firstChild(n); c >= 0; c = tree.nextSibling(c)) stack.push(c);
    }
  };
  const collectChildren = (node: number, out: HiddenCopies, cause: number, into: { bytes: number }): void => {
    for (let c = tree.firstChild(node); c >= 0; c = tree.nextSibling(c)) collect(c, out, cause, into);
  };

  layers.forEach((layer, li) => {
    const T = S.tables[li]!;
    const names = T.pathBytes;
    const base = S.refOf(li, 0);
    // The refs this layer adds, in archive order (at most one per entry).
    const added = new Float64Array(T.count);
    let nAdded = 0;
    const ch = layerChanges(li, layer.digest, S);
    unsafeEntries += layer.index.unsafeCount;
    // Where each entry's last name segment starts; whiteouts are the entries whose segment starts ".wh.".
    const baseAt = new Uint32Array(T.count);
    const opaque = new Map<string, number>(); // dir -> its (first) marker's ref
    // Entry numbers, not {target, marker} objects: a layer may hold tens of thousands of
    // whiteouts, and objects kept that long survive young-generation GCs, which then grows
    // V8's young generation (RSS) for the whole run. Targets are spelled again when used.
    const whiteouts: number[] = [];
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
        if (!opaque.has(parentOf(p))) opaque.set(parentOf(p), base + i);
        continue;
      }
      const target = name.slice(WHITEOUT_PREFIX.length);
      if (target === '' || target === '.' || target === '..' || name.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) {
        ch.ignoredWhiteouts++;
        continue;
      }
      whiteouts.push(i);
    }
    // A hardlink that comes before a whiteout or opaque marker removing its target names the
    // lower file (umoci and containerd apply a layer's entries in order: the link is made, then
    // the name deleted; the file lives on under the link). Deletions are applied first below, so
    // such links are resolved here, against the tree before them.
    const linkedBefore =
      whiteouts.length || opaque.size
        ? linksBeforeDeletions(T, base, whiteouts, opaque, (target) => {
            const node = lookup(target);
            const at = node < 0 ? -1 : tree.ref[node]!;
            return at < 0 ? undefined : S.typeCode(at) === T_FILE ? at : links.get(at);
          })
        : undefined;
    const deleted = { bytes: 0 };
    // 1. Deletions, against lower layers only.
    for (const [dir, marker] of opaque) {
      ch.opaqueDirs.push(dir);
      const node = dir === '' ? ROOT : lookup(dir);
      if (node < 0 || !tree.isDir(node)) continue;
      collectChildren(node, ch.hidden.deleted, marker, deleted);
      tree.clearChildren(node);
    }
    for (const i of whiteouts) {
      const p = T.path(i);
      const found = lookup(joinPath(parentOf(p), baseOf(p).slice(WHITEOUT_PREFIX.length)));
      if (found < 0) continue;
      tree.remove(found);
      collect(found, ch.hidden.deleted, base + i, deleted);
    }
    ch.deletedBytes = deleted.bytes;

    // 2. Additions and replacements, in archive order. Entries of one directory come
    // together in a tar: the last parent found is kept (by its name bytes) and reused.
    const replaced = { bytes: 0 };
    let cached = -1;
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
      let cur = ROOT;
      if (b > start) {
        const pEnd = b - 1; // the parent's name, without the slash
        if (cached >= 0 && pEnd - start === cachedEnd - cachedStart && names.compare(names, cachedStart, cachedEnd, start, pEnd) === 0) cur = cached;
        else {
          for (let s = start; s < pEnd; ) {
            let e = s;
            while (e < pEnd && names[e] !== SLASH) e++;
            let next = tree.child(cur, names, s, e);
            if (next < 0) next = tree.add(cur, li, s, e, -1, true);
            else if (!tree.isDir(next)) {
              // A lower non-directory stands where this entry needs a directory.
              collect(next, ch.hidden.replaced, ref, replaced);
              tree.set(next, -1, true);
            }
            cur = next;
            s = e + 1;
          }
          cached = cur;
          cachedStart = start;
          cachedEnd = pEnd;
        }
      }
      if (T.typeCode(i) === T_HARDLINK) {
        // The file its target names now: an earlier entry of this layer, or a lower layer's
        // (deletions of this layer already applied). A link to a link names that one's file.
        const target = T.linkTarget(i);
        const node = target ? lookup(target) : -1;
        const at = node < 0 ? -1 : tree.ref[node]!;
        const file = (at < 0 ? undefined : S.typeCode(at) === T_FILE ? at : links.get(at)) ?? linkedBefore?.get(i);
        if (file !== undefined) links.set(ref, file);
      }
      const existing = tree.child(cur, names, b, end);
      const isDir = T.typeCode(i) === T_DIR;
      if (existing < 0) {
        tree.add(cur, li, b, end, ref, isDir);
        added[nAdded++] = ref;
        ch.addedBytes += bytes;
        continue;
      }
      const lower = tree.ref[existing]!;
      if (tree.isDir(existing) && isDir) {
        // Directory over directory: metadata only, children stay.
        if (lower < 0) added[nAdded++] = ref;
        tree.ref[existing] = ref;
        continue;
      }
      if (tree.isDir(existing)) {
        // A non-directory over a directory: the whole lower subtree goes (and with it,
        // perhaps, the directory kept above).
        collectChildren(existing, ch.hidden.replaced, ref, replaced);
        cached = -1;
      }
      if (lower >= 0) {
        ch.hidden.replaced.push(lower, ref, true);
        replaced.bytes += S.fileBytes(lower);
      } else {
        added[nAdded++] = ref;
        ch.addedBytes += bytes;
      }
      tree.set(existing, ref, isDir);
    }
    ch.addedRefs = added.slice(0, nAdded);
    ch.replacedBytes = replaced.bytes;
    totalFileBytes += ch.fileBytes;
    result.push(ch);
  });

  return { result, totalFileBytes, unsafeEntries, links, ...finalRefs(tree, S) };
}

/**
 * The lower files that this layer's hardlinks name when the link entry comes before the
 * whiteout or opaque marker that deletes its target (or an ancestor of it): entry -> file ref.
 * `resolve` looks a path up in the tree before this layer's deletions.
 */
function linksBeforeDeletions(
  T: EntryTable,
  base: number,
  whiteouts: number[],
  opaque: Map<string, number>,
  resolve: (target: string) => number | undefined,
): Map<number, number> | undefined {
  let out: Map<number, number> | undefined;
  let deletedAt: Map<string, number> | undefined; // path a whiteout deletes -> its first entry
  for (let i = 0; i < T.count; i++) {
    if (T.typeCode(i) !== T_HARDLINK) continue;
    const target = T.linkTarget(i);
    if (!target) continue;
    if (!deletedAt) {
      deletedAt = new Map();
      for (const w of whiteouts) {
        const p = T.path(w);
        const gone = joinPath(parentOf(p), baseOf(p).slice(WHITEOUT_PREFIX.length));
        if (!deletedAt.has(gone)) deletedAt.set(gone, w);
      }
    }
    // Deleted after the link: by a whiteout of the target or an ancestor, or an ancestor's opaque marker.
    let later = false;
    for (let p = target; ; p = parentOf(p)) {
      const w = deletedAt.get(p);
      const o = p === target ? undefined : opaque.get(p);
      if ((w !== undefined && w > i) || (o !== undefined && o - base > i)) later = true;
      if (p === '') break;
    }
    if (!later) continue;
    const file = resolve(target);
    if (file !== undefined) (out ??= new Map()).set(i, file);
  }
  return out;
}

/**
 * The final file system, depth first in each directory's insertion order: archive order,
 * which most builders write sorted, so the sort of stackLayers (a natural merge sort) mostly
 * finds runs that are in order already. Counted first, then walked into one typed array of
 * exactly that length (no second copy while the tree is alive).
 */
function finalRefs(tree: PathTree, S: StackEntries): { refs: Float64Array; finalFileBytes: number } {
  let count = 0;
  walkTree(tree, () => count++);
  const refs = new Float64Array(count);
  let k = 0;
  let finalFileBytes = 0;
  walkTree(tree, (ref) => {
    refs[k++] = ref;
    finalFileBytes += S.fileBytes(ref);
  });
  return { refs, finalFileBytes };
}

/** Every ref the tree holds, depth first in each directory's insertion order. */
function walkTree(tree: PathTree, visit: (ref: number) => void): void {
  const cursor: number[] = [tree.firstChild(ROOT)];
  while (cursor.length) {
    const c = cursor[cursor.length - 1]!;
    if (c < 0) {
      cursor.pop();
      continue;
    }
    cursor[cursor.length - 1] = tree.nextSibling(c);
    const ref = tree.ref[c]!;
    if (ref >= 0) visit(ref);
    if (tree.isDir(c)) cursor.push(tree.firstChild(c));
  }
}

/**
 * One path tree for images stacked one after the other (report's images, diff's two): each
 * stack resets it instead of building a new one while the last is still garbage (~30 bytes a
 * node). Sized once for the largest image (`forStacks`); let it go after the last stack.
 */
export class StackScratch {
  private kept: PathTree | undefined;

  /** `expected`: the most entries of one image; `stacks`: how many images will be stacked (the last lets the tree go). */
  constructor(
    private readonly expected = 1024,
    private stacks = Number.POSITIVE_INFINITY,
  ) {}

  /** A scratch sized for the largest of these images (their layers' entries), for stacking each once. */
  static forStacks(stacks: StackLayer[][]): StackScratch {
    let most = 0;
    for (const layers of stacks)
      most = Math.max(
        most,
        layers.reduce((n, l) => n + entryTable(l.index).count, 0),
      );
    return new StackScratch(most, stacks.length);
  }

  tree(tables: readonly EntryTable[], entries: number): PathTree {
    const expected = Math.max(entries, this.expected);
    const tree = this.kept ? this.kept.reset(tables, expected) : new PathTree(tables, expected);
    // The last stack's tree is garbage once its final list is walked, as without a scratch.
    this.kept = --this.stacks > 0 ? tree : undefined;
    return tree;
  }
}

/** A layer's changes, empty: made outside stackLayers so that the `added` getter does not keep the tree alive. */
function layerChanges(layer: number, digest: Digest, stack: StackEntries): LayerChanges {
  return {
    layer,
    digest,
    get added() {
      return refsToAdded(stack, this.addedRefs);
    },
    addedRefs: new Float64Array(0),
    get replaced() {
      return this.hidden.replaced.toChanges(stack);
    },
    get deleted() {
      return this.hidden.deleted.toChanges(stack);
    },
    hidden: { replaced: new HiddenCopies(), deleted: new HiddenCopies() },
    addedBytes: 0,
    replacedBytes: 0,
    deletedBytes: 0,
    whiteouts: 0,
    opaqueDirs: [],
    ignoredWhiteouts: 0,
    fileBytes: 0,
  };
}

/** The result, built outside stackLayers so that its getter does not keep the tree alive. */
function overlayOf(
  layers: LayerChanges[],
  final: Float64Array,
  stack: StackEntries,
  links: FinalLinks,
  sums: Pick<OverlayResult, 'totalFileBytes' | 'finalFileBytes' | 'unsafeEntries'>,
): OverlayResult {
  return {
    layers,
    get files() {
      return refsToFiles(stack, final);
    },
    final,
    stack,
    links,
    ...sums,
  };
}

function isWhiteout(names: Buffer, b: number, end: number): boolean {
  return end - b >= 4 && names[b] === WH[0] && names[b + 1] === WH[1] && names[b + 2] === WH[2] && names[b + 3] === WH[3];
}

/** Whether entry `i` is a whiteout or opaque marker (its last name segment starts ".wh."): a deletion, not a file. */
export function isWhiteoutEntry(T: EntryTable, i: number): boolean {
  const names = T.pathBytes;
  const start = T.pathStart(i);
  const end = T.pathEnd[i]!;
  let b = end;
  while (b > start && names[b - 1] !== SLASH) b--;
  return isWhiteout(names, b, end);
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
  return stackImage(image, await imageLayerIndexes(store, image));
}

/** stackLayers for `image`, whose name an error carries. */
export function stackImage(image: ImageInfo, layers: StackLayer[], scratch?: StackScratch): OverlayResult {
  try {
    return stackLayers(layers, { scratch });
  } catch (e) {
    const err = toLayerstoreError(e);
    err.source ??= `image ${image.refs[0] ?? image.manifestDigest}`;
    throw err;
  }
}
