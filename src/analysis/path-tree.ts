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
  private tables: readonly EntryTable[];
  private cap: number;
  private n = 1;
  /** 32 bits while every ref fits (fewer than REF32_LAYERS layers), else 64. */
  ref: Float64Array | Int32Array;
  /** DIR and IN_HASH bits. */
  private flags: Uint8Array;
  private parent: Int32Array;
  private first: Int32Array;
  private last: Int32Array;
  private nextSib: Int32Array;
  /** The layer whose path bytes hold the name: 16 bits up to 65,536 layers. */
  private nameTable: Uint16Array | Uint32Array;
  private nameStart: Uint32Array;
  private nameEnd: Uint32Array;
  // Child lookup: bucket -> node, EMPTY or GONE (a removed node; probing goes on past it).
  private buckets: Int32Array;
  private used = 0;

  /** `expected`: about how many nodes there will be (the entries of all layers), to size the arrays once. */
  constructor(tables: readonly EntryTable[], expected = 1024) {
    this.tables = tables;
    this.cap = 0;
    this.ref = new Int32Array(0);
    this.flags = new Uint8Array(0);
    this.parent = this.first = this.last = this.nextSib = new Int32Array(0);
    this.nameTable = new Uint16Array(0);
    this.nameStart = this.nameEnd = new Uint32Array(0);
    this.buckets = new Int32Array(0);
    this.reset(tables, expected);
  }

  /**
   * Empty again, for another image's `tables`: images stacked one after the other reuse one
   * tree's arrays (StackScratch, overlay.ts) rather than leave the last tree as garbage while
   * the next one is built. Arrays are allocated only when they are too small or too narrow.
   */
  reset(tables: readonly EntryTable[], expected = 1024): this {
    this.tables = tables;
    const cap = Math.max(1024, expected + 1);
    const wideRefs = tables.length >= REF32_LAYERS;
    const wideNames = tables.length > 0x10000;
    if (cap > this.cap || (wideRefs && this.ref instanceof Int32Array) || (wideNames && this.nameTable instanceof Uint16Array)) {
      this.cap = cap;
      this.ref = wideRefs ? new Float64Array(cap) : new Int32Array(cap);
      this.flags = new Uint8Array(cap);
      this.parent = new Int32Array(cap);
      this.first = new Int32Array(cap);
      this.last = new Int32Array(cap);
      this.nextSib = new Int32Array(cap);
      this.nameTable = wideNames ? new Uint32Array(cap) : new Uint16Array(cap);
      this.nameStart = new Uint32Array(cap);
      this.nameEnd = new Uint32Array(cap);
    }
    // Sized for `expected` nodes at most 5/8 full (so below the 7/10 that rehashes, GONE marks
    // included, on the usual few whiteouts): no rehash, and no garbage of smaller tables, on the way.
    let size = 4096;
    while ((cap + 1) * 8 > size * 5) size *= 2;
    if (this.buckets.length < size) this.buckets = new Int32Array(size);
    this.buckets.fill(EMPTY);
    this.n = 1;
    this.used = 0;
    this.ref[0] = -1;
    this.flags[0] = DIR;
    this.parent[0] = -1;
    this.first[0] = this.last[0] = -1;
    return this;
  }

  /** Nodes so far, the root included. */
  get size(): number {
    return this.n;
  }

  isDir(node: number): boolean {
    return (this.flags[node]! & DIR) !== 0;
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
    this.flags[node] = isDir ? DIR : 0;
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
    this.flags[node] = (this.flags[node]! & IN_HASH) | (isDir ? DIR : 0);
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
    this.flags[node]! |= IN_HASH;
  }

  private unhash(node: number): void {
    if (!(this.flags[node]! & IN_HASH)) return;
    const mask = this.buckets.length - 1;
    let b = this.hashOfNode(node) & mask;
    while (this.buckets[b] !== node) b = (b + 1) & mask;
    this.buckets[b] = GONE; // still counted in `used` until the next rehash
    this.flags[node]! &= ~IN_HASH;
  }

  /** Rebuild the lookup table from the nodes in it, at most 3/8 full (GONE marks go). */
  private rehash(): void {
    let live = 0;
    for (let node = 1; node < this.n; node++) if (this.flags[node]! & IN_HASH) live++;
    let size = 4096;
    while ((live + 1) * 8 > size * 3) size *= 2;
    this.buckets = new Int32Array(size).fill(EMPTY);
    this.used = 0;
    for (let node = 1; node < this.n; node++) {
      if (!(this.flags[node]! & IN_HASH)) continue;
      this.flags[node]! &= ~IN_HASH;
      this.insert(node);
    }
  }

  private grow(): void {
    const cap = Math.ceil(this.cap * 1.5);
    this.ref = copy(this.ref instanceof Int32Array ? new Int32Array(cap) : new Float64Array(cap), this.ref);
    this.flags = copy(new Uint8Array(cap), this.flags);
    this.parent = copy(new Int32Array(cap), this.parent);
    this.first = copy(new Int32Array(cap), this.first);
    this.last = copy(new Int32Array(cap), this.last);
    this.nextSib = copy(new Int32Array(cap), this.nextSib);
    this.nameTable = copy(this.nameTable instanceof Uint16Array ? new Uint16Array(cap) : new Uint32Array(cap), this.nameTable);
    this.nameStart = copy(new Uint32Array(cap), this.nameStart);
    this.nameEnd = copy(new Uint32Array(cap), this.nameEnd);
    this.cap = cap;
  }
}

const EMPTY = -1;
const GONE = -2;
const DIR = 1;
const IN_HASH = 2;
/** Refs (stack-entries.ts: layer * 2^22 + entry) of the first 511 layers fit in an Int32 with -1 free. */
const REF32_LAYERS = 512;

function copy<T extends Float64Array | Int32Array | Uint32Array | Uint16Array | Uint8Array>(into: T, from: T): T {
  into.set(from as never);
  return into;
}

/** FNV-1a over the name, mixed with the parent's number. */
function hashOf(parent: number, bytes: Uint8Array, start: number, end: number): number {
  let h = Math.imul(parent + 1, 0x9e3779b1) ^ 0x811c9dc5;
  for (let k = start; k < end; k++) h = Math.imul(h ^ bytes[k]!, 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}
