import type { EntryTable } from './entry-table.js';

/**
 * The directory tree that overlay stacking builds, in typed arrays: no JS object, Map or
 * string per path. A node is a number; its name is a byte range of some layer's path
 * bytes (the entry that created it), its children a doubly linked list in insertion order
 * (the order a Map would keep), and one open-addressing table finds the child of a node by
 * name. About 40 bytes a node (and ~8 of lookup table), against ~85 for a Map entry, its
 * key string and a node object.
 *
 * A node's `ref` is the stack entry it holds (stack-entries.ts), or -1: an implicit
 * directory, a parent no layer listed. Node 0 is the root.
 */
export class PathTree {
  private cap: number;
  private n = 1;
  ref: Float64Array;
  private dir: Uint8Array;
  private parent: Int32Array;
  private first: Int32Array;
  private last: Int32Array;
  private nextSib: Int32Array;
  private nameTable: Uint32Array;
  private nameStart: Uint32Array;
  private nameEnd: Uint32Array;
  private inHash: Uint8Array;
  // Child lookup: bucket -> node, EMPTY or GONE (a removed node; probing goes on past it).
  private buckets: Int32Array;
  private used = 0;

  /** `expected`: about how many nodes there will be (the entries of all layers), to size the arrays once. */
  constructor(
    private readonly tables: readonly EntryTable[],
    expected = 1024,
  ) {
    const cap = (this.cap = Math.max(1024, expected + 1));
    this.ref = new Float64Array(cap);
    this.dir = new Uint8Array(cap);
    this.parent = new Int32Array(cap);
    this.first = new Int32Array(cap);
    this.last = new Int32Array(cap);
    this.nextSib = new Int32Array(cap);
    this.nameTable = new Uint32Array(cap);
    this.nameStart = new Uint32Array(cap);
    this.nameEnd = new Uint32Array(cap);
    this.inHash = new Uint8Array(cap);
    // Sized for `expected` nodes at most 3/8 full: no rehash (and no garbage of smaller tables) on the way.
    let size = 4096;
    while ((cap + 1) * 8 > size * 3) size *= 2;
    this.buckets = new Int32Array(size).fill(EMPTY);
    this.ref[0] = -1;
    this.dir[0] = 1;
    this.parent[0] = -1;
    this.first[0] = this.last[0] = -1;
  }

  /** Nodes so far, the root included. */
  get size(): number {
    return this.n;
  }

  isDir(node: number): boolean {
    return this.dir[node] === 1;
  }

  firstChild(node: number): number {
    return this.first[node]!;
  }

  nextSibling(node: number): number {
    return this.nextSib[node]!;
  }

  /** The child of `parent` named by bytes[start .. end), or -1. */
  child(parent: number, bytes: Uint8Array, start: number, end: number): number {
    const mask = this.buckets.length - 1;
    for (let b = hashOf(parent, bytes, start, end) & mask; ; b = (b + 1) & mask) {
      const node = this.buckets[b]!;
      if (node === EMPTY) return -1;
      if (node !== GONE && this.parent[node] === parent && this.nameIs(node, bytes, start, end)) return node;
    }
  }

  /**
   * A new last child of `parent` holding `ref` (a directory when `isDir`), named by bytes
   * [start .. end) of layer `table`'s path bytes. The name must not be taken.
   */
  add(parent: number, table: number, start: number, end: number, ref: number, isDir: boolean): number {
    if (this.n === this.cap) this.grow();
    const node = this.n++;
    this.ref[node] = ref;
    this.dir[node] = isDir ? 1 : 0;
    this.parent[node] = parent;
    this.first[node] = this.last[node] = -1;
    this.nameTable[node] = table;
    this.nameStart[node] = start;
    this.nameEnd[node] = end;
    const tail = this.last[parent]!;
    this.nextSib[node] = -1;
    if (tail < 0) this.first[parent] = node;
    else this.nextSib[tail] = node;
    this.last[parent] = node;
    if ((this.used + 1) * 10 > this.buckets.length * 7) this.rehash();
    this.insert(node);
    return node;
  }

  /** Take `node` (and so its subtree) out of its parent (whiteouts: rare, so a scan of the siblings). */
  remove(node: number): void {
    const parent = this.parent[node]!;
    let prev = -1;
    for (let c = this.first[parent]!; c !== node; c = this.nextSib[c]!) prev = c;
    const next = this.nextSib[node]!;
    if (prev < 0) this.first[parent] = next;
    else this.nextSib[prev] = next;
    if (next < 0) this.last[parent] = prev;
    this.unhash(node);
  }

  /** Take every child (and so every subtree) out of `node`. */
  clearChildren(node: number): void {
    for (let c = this.first[node]!; c >= 0; c = this.nextSib[c]!) this.unhash(c);
    this.first[node] = this.last[node] = -1;
  }

  /** Make `node` hold `ref`, a directory or not (a non-directory has no children). */
  set(node: number, ref: number, isDir: boolean): void {
    if (!isDir) this.clearChildren(node);
    this.ref[node] = ref;
    this.dir[node] = isDir ? 1 : 0;
  }

  private nameIs(node: number, bytes: Uint8Array, start: number, end: number): boolean {
    const s = this.nameStart[node]!;
    const len = this.nameEnd[node]! - s;
    if (len !== end - start) return false;
    const own = this.tables[this.nameTable[node]!]!.pathBytes;
    for (let k = 0; k < len; k++) if (own[s + k] !== bytes[start + k]) return false;
    return true;
  }

  private hashOfNode(node: number): number {
    return hashOf(this.parent[node]!, this.tables[this.nameTable[node]!]!.pathBytes, this.nameStart[node]!, this.nameEnd[node]!);
  }

  private insert(node: number): void {
    const mask = this.buckets.length - 1;
    let b = this.hashOfNode(node) & mask;
    while (this.buckets[b]! >= 0) b = (b + 1) & mask;
    if (this.buckets[b] === EMPTY) this.used++;
    this.buckets[b] = node;
    this.inHash[node] = 1;
  }

  private unhash(node: number): void {
    if (!this.inHash[node]) return;
    const mask = this.buckets.length - 1;
    let b = this.hashOfNode(node) & mask;
    while (this.buckets[b] !== node) b = (b + 1) & mask;
    this.buckets[b] = GONE; // still counted in `used` until the next rehash
    this.inHash[node] = 0;
  }

  /** Rebuild the lookup table from the nodes in it, at most 3/8 full (GONE marks go). */
  private rehash(): void {
    let live = 0;
    for (let node = 1; node < this.n; node++) live += this.inHash[node]!;
    let size = 4096;
    while ((live + 1) * 8 > size * 3) size *= 2;
    this.buckets = new Int32Array(size).fill(EMPTY);
    this.used = 0;
    for (let node = 1; node < this.n; node++) {
      if (!this.inHash[node]) continue;
      this.inHash[node] = 0;
      this.insert(node);
    }
  }

  private grow(): void {
    const cap = Math.ceil(this.cap * 1.5);
    this.ref = copy(new Float64Array(cap), this.ref);
    this.dir = copy(new Uint8Array(cap), this.dir);
    this.parent = copy(new Int32Array(cap), this.parent);
    this.first = copy(new Int32Array(cap), this.first);
    this.last = copy(new Int32Array(cap), this.last);
    this.nextSib = copy(new Int32Array(cap), this.nextSib);
    this.nameTable = copy(new Uint32Array(cap), this.nameTable);
    this.nameStart = copy(new Uint32Array(cap), this.nameStart);
    this.nameEnd = copy(new Uint32Array(cap), this.nameEnd);
    this.inHash = copy(new Uint8Array(cap), this.inHash);
    this.cap = cap;
  }
}

const EMPTY = -1;
const GONE = -2;

function copy<T extends Float64Array | Int32Array | Uint32Array | Uint8Array>(into: T, from: T): T {
  into.set(from as never);
  return into;
}

/** FNV-1a over the name, mixed with the parent's number. */
function hashOf(parent: number, bytes: Uint8Array, start: number, end: number): number {
  let h = Math.imul(parent + 1, 0x9e3779b1) ^ 0x811c9dc5;
  for (let k = start; k < end; k++) h = Math.imul(h ^ bytes[k]!, 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}
