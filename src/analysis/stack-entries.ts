import { DigestSet } from './digest-set.js';
import { compareUtf8, type EntryTable, T_FILE } from './entry-table.js';
import type { FileEntry, FileType } from './file-index.js';

/**
 * The entries of an image's layers (bottom = 0), named by one number each: a "ref" packs
 * the layer and the entry's number in it (layer * 2^22 + entry), so lists of entries are
 * Float64Arrays rather than arrays of objects. 2^22 (4,194,304) is above MAX_LAYER_ENTRIES;
 * refs of the first 512 layers are small integers, which V8 stores unboxed in a Map.
 */
const SPAN = 2 ** 22;

export const refLayer = (ref: number): number => Math.floor(ref / SPAN);
export const refEntry = (ref: number): number => ref % SPAN;

export class StackEntries {
  constructor(readonly tables: readonly EntryTable[]) {}

  refOf(layer: number, entry: number): number {
    return layer * SPAN + entry;
  }

  table(ref: number): EntryTable {
    return this.tables[refLayer(ref)]!;
  }

  path(ref: number): string {
    return this.table(ref).path(refEntry(ref));
  }

  typeCode(ref: number): number {
    return this.table(ref).typeCode(refEntry(ref));
  }

  type(ref: number): FileType {
    return this.table(ref).type(refEntry(ref));
  }

  /** Regular-file content bytes (0 for other types). */
  fileBytes(ref: number): number {
    return this.table(ref).fileBytes(refEntry(ref));
  }

  size(ref: number): number {
    return this.table(ref).size(refEntry(ref));
  }

  mode(ref: number): number {
    return this.table(ref).mode(refEntry(ref));
  }

  uid(ref: number): number {
    return this.table(ref).uid(refEntry(ref));
  }

  gid(ref: number): number {
    return this.table(ref).gid(refEntry(ref));
  }

  sha(ref: number): string | undefined {
    return this.table(ref).sha(refEntry(ref));
  }

  /** The content slot in its layer's table (-1: none). */
  slot(ref: number): number {
    return this.table(ref).shaSlot[refEntry(ref)]!;
  }

  linkTarget(ref: number): string | undefined {
    return this.table(ref).linkTarget(refEntry(ref));
  }

  entry(ref: number): FileEntry {
    return this.table(ref).entry(refEntry(ref));
  }

  isFile(ref: number): boolean {
    return this.typeCode(ref) === T_FILE;
  }

  /** Path order (as JavaScript orders the decoded strings). */
  compare(a: number, b: number): number {
    return compareRefs(this, a, this, b);
  }
}

/** Path order of entries of two stacks. */
export function compareRefs(A: StackEntries, a: number, B: StackEntries, b: number): number {
  const ta = A.table(a);
  const tb = B.table(b);
  const i = refEntry(a);
  const j = refEntry(b);
  return compareUtf8(ta.pathBytes, ta.pathStart(i), ta.pathEnd[i]!, tb.pathBytes, tb.pathStart(j), tb.pathEnd[j]!);
}

/**
 * Content ids across layers: entries with the same sha256 get the same dense id (first seen,
 * first numbered), through one DigestSet and, per layer, a slot-to-id memo.
 */
export class ContentIds {
  private readonly memo: Int32Array[];

  constructor(
    private readonly tables: readonly EntryTable[],
    readonly set = new DigestSet(1024),
  ) {
    this.memo = tables.map((t) => new Int32Array(t.slots).fill(-1));
  }

  /** The id of slot `slot` of layer `layer`. */
  of(layer: number, slot: number): number {
    const m = this.memo[layer]!;
    let id = m[slot]!;
    if (id < 0) m[slot] = id = this.set.intern(this.tables[layer]!.shas, slot * 32);
    return id;
  }
}
