import { createHash } from 'node:crypto';
import { LayerstoreError } from '../errors.js';
import { ChunkedBytes, ChunkedColumn } from './chunked.js';
import { DigestSet } from './digest-set.js';
import type { FileEntry, FileType } from './file-index.js';

/**
 * A layer's entries, column by column: no JS object per entry. What one entry costs:
 * 4 bytes of (type, mode, uid, gid) tuple number (a layer has a few dozen distinct tuples),
 * 8 of size, 4 of content slot, 4 of path end, the path's UTF-8 bytes, and 32 per DISTINCT
 * content (files with equal contents share a slot; a million empty files hold one). About
 * 20 bytes plus the path, against ~1 KB as objects with hex strings. The columns are also
 * the cache file's sections (file-index-cache.ts), read straight into these arrays.
 *
 * Entry i's path is pathBytes[pathStart(i) .. pathEnd[i]); links (symlink and hardlink
 * targets) are kept for the few entries that have one, by ascending entry number.
 */
export interface EntryColumns {
  count: number;
  /** Per entry: its tuple number. */
  meta: Uint32Array;
  sizes: Float64Array;
  /** Per entry: its content slot in `shas`, or -1 (not a file, or a hardlink to nothing hashed). */
  shaSlot: Int32Array;
  pathEnd: Uint32Array;
  pathBytes: Buffer;
  /** Per tuple: type code (TYPES), mode, uid, gid. */
  metaType: Uint8Array;
  metaMode: Uint16Array;
  metaUid: Float64Array;
  metaGid: Float64Array;
  /** 32 bytes per content slot. */
  shas: Buffer;
  /** Entry numbers with a link target (ascending), and the targets' UTF-8 bytes. */
  linkAt: Uint32Array;
  linkEnd: Uint32Array;
  linkBytes: Buffer;
}

const HEX64 = /^[0-9a-f]{64}$/;

/** Type codes of the `metaType` column. */
export const TYPES: readonly FileType[] = ['file', 'dir', 'symlink', 'hardlink', 'other'];
export const T_FILE = 0;
export const T_DIR = 1;
export const T_SYMLINK = 2;
export const T_HARDLINK = 3;
const CODE: Record<FileType, number> = { file: 0, dir: 1, symlink: 2, hardlink: 3, other: 4 };

/** Most bytes of entry names (and of link targets) one layer may hold: a layer of hostile multi-MB pax names is refused, not held. */
export const MAX_NAME_BYTES = 512 * 1024 * 1024;

export class EntryTable implements EntryColumns {
  readonly count: number;
  readonly meta: Uint32Array;
  readonly sizes: Float64Array;
  readonly shaSlot: Int32Array;
  readonly pathEnd: Uint32Array;
  readonly pathBytes: Buffer;
  readonly metaType: Uint8Array;
  readonly metaMode: Uint16Array;
  readonly metaUid: Float64Array;
  readonly metaGid: Float64Array;
  readonly shas: Buffer;
  readonly linkAt: Uint32Array;
  readonly linkEnd: Uint32Array;
  readonly linkBytes: Buffer;

  constructor(c: EntryColumns) {
    this.count = c.count;
    this.meta = c.meta;
    this.sizes = c.sizes;
    this.shaSlot = c.shaSlot;
    this.pathEnd = c.pathEnd;
    this.pathBytes = c.pathBytes;
    this.metaType = c.metaType;
    this.metaMode = c.metaMode;
    this.metaUid = c.metaUid;
    this.metaGid = c.metaGid;
    this.shas = c.shas;
    this.linkAt = c.linkAt;
    this.linkEnd = c.linkEnd;
    this.linkBytes = c.linkBytes;
  }

  /** Distinct contents (slots of `shas`). */
  get slots(): number {
    return this.shas.length / 32;
  }

  pathStart(i: number): number {
    return i === 0 ? 0 : this.pathEnd[i - 1]!;
  }

  path(i: number): string {
    return this.pathBytes.toString('utf8', this.pathStart(i), this.pathEnd[i]!);
  }

  typeCode(i: number): number {
    return this.metaType[this.meta[i]!]!;
  }

  type(i: number): FileType {
    return TYPES[this.typeCode(i)]!;
  }

  mode(i: number): number {
    return this.metaMode[this.meta[i]!]!;
  }

  uid(i: number): number {
    return this.metaUid[this.meta[i]!]!;
  }

  gid(i: number): number {
    return this.metaGid[this.meta[i]!]!;
  }

  size(i: number): number {
    return this.sizes[i]!;
  }

  /** Regular-file content bytes of entry i (0 for every other type). */
  fileBytes(i: number): number {
    return this.typeCode(i) === T_FILE ? this.sizes[i]! : 0;
  }

  sha(i: number): string | undefined {
    const s = this.shaSlot[i]!;
    return s < 0 ? undefined : this.shas.toString('hex', s * 32, s * 32 + 32);
  }

  linkTarget(i: number): string | undefined {
    const k = this.linkIndex(i);
    return k < 0 ? undefined : this.linkBytes.toString('utf8', k === 0 ? 0 : this.linkEnd[k - 1]!, this.linkEnd[k]!);
  }

  private linkIndex(i: number): number {
    let lo = 0;
    let hi = this.linkAt.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.linkAt[mid]!;
      if (v === i) return mid;
      if (v < i) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /** Entry i as an object (for output and small callers; the analysis reads the columns). */
  entry(i: number): FileEntry {
    const e: FileEntry = { path: this.path(i), type: this.type(i), mode: this.mode(i), uid: this.uid(i), gid: this.gid(i), size: this.sizes[i]! };
    const link = this.linkTarget(i);
    if (link !== undefined) e.linkTarget = link;
    const sha = this.sha(i);
    if (sha !== undefined) e.sha256 = sha;
    return e;
  }

  toEntries(): FileEntry[] {
    const out: FileEntry[] = new Array(this.count);
    for (let i = 0; i < this.count; i++) out[i] = this.entry(i);
    return out;
  }

  /** A table of entry objects (indexes built by hand, or read from an older API user). */
  static fromEntries(entries: readonly FileEntry[]): EntryTable {
    const b = new EntryTableBuilder();
    for (const e of entries) {
      const i = b.add(e.path, e.type, e.mode, e.uid, e.gid, e.size, e.linkTarget);
      if (e.sha256 !== undefined) b.setShaHex(i, e.sha256);
    }
    return b.finish();
  }
}

/** Growable columns, appended in archive order. */
export class EntryTableBuilder {
  private n = 0;
  // In chunks, not doubled arrays: chunked.ts says why (memory given back after a big layer).
  private readonly meta = new ChunkedColumn(Uint32Array);
  private readonly sizes = new ChunkedColumn(Float64Array);
  private readonly shaSlot = new ChunkedColumn(Int32Array);
  private readonly pathEnd = new ChunkedColumn(Uint32Array);
  private readonly paths = new ChunkedBytes(64 * 1024);
  private readonly tuples = new Map<string, number>();
  private readonly tupleCols: number[][] = [[], [], [], []];
  private lastTuple = { type: -1, mode: -1, uid: -1, gid: -1, id: -1 };
  private readonly contents = new DigestSet(1024);
  private readonly scratch = Buffer.alloc(32);
  private linkAt: number[] = [];
  private linkEnd: number[] = [];
  private readonly links = new ChunkedBytes(1024);

  get count(): number {
    return this.n;
  }

  /** Append an entry; returns its number. */
  add(path: string, type: FileType, mode: number, uid: number, gid: number, size: number, linkTarget?: string): number {
    const i = this.n;
    this.meta.set(i, this.tuple(CODE[type], mode, uid, gid));
    this.sizes.set(i, size);
    this.shaSlot.set(i, -1);
    this.pathEnd.set(i, this.paths.append(path));
    if (linkTarget !== undefined) {
      this.linkAt.push(i);
      this.linkEnd.push(this.links.append(linkTarget));
    }
    if (this.paths.length > MAX_NAME_BYTES || this.links.length > MAX_NAME_BYTES)
      throw new LayerstoreError('E_TOO_LARGE', `the layer's entry names add up to more than ${MAX_NAME_BYTES} bytes`);
    this.n++;
    return i;
  }

  /**
   * Entry i's content, as 64 lowercase hex digits. Anything else (an index put together by
   * hand) is stood in for by the sha256 of the string, so equal strings still share a slot.
   */
  setShaHex(i: number, hex: string): void {
    if (HEX64.test(hex)) this.scratch.write(hex, 0, 32, 'hex');
    else createHash('sha256').update(hex).digest().copy(this.scratch);
    this.shaSlot.set(i, this.contents.intern(this.scratch, 0));
  }

  setShaBytes(i: number, digest: Uint8Array, off = 0): void {
    this.shaSlot.set(i, this.contents.intern(digest, off));
  }

  /** Give entry i the content slot another entry has (a hardlink, the file it links to). */
  setSlot(i: number, slot: number): void {
    this.shaSlot.set(i, slot);
  }

  slotOf(i: number): number {
    return this.shaSlot.get(i);
  }

  typeCodeOf(i: number): number {
    return this.tupleCols[0]![this.meta.get(i)]!;
  }

  pathOf(i: number): string {
    return this.paths.text(i === 0 ? 0 : this.pathEnd.get(i - 1), this.pathEnd.get(i));
  }

  linkTargetOf(i: number): string | undefined {
    let lo = 0;
    let hi = this.linkAt.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const v = this.linkAt[mid]!;
      if (v < i) lo = mid + 1;
      else if (v > i) hi = mid - 1;
      else return this.links.text(mid === 0 ? 0 : this.linkEnd[mid - 1]!, this.linkEnd[mid]!);
    }
    return undefined;
  }

  pathBytesLength(i: number): number {
    return this.pathEnd.get(i) - (i === 0 ? 0 : this.pathEnd.get(i - 1));
  }

  finish(): EntryTable {
    const n = this.n;
    const [t, m, u, g] = this.tupleCols as [number[], number[], number[], number[]];
    return new EntryTable({
      count: n,
      meta: this.meta.take(n),
      sizes: this.sizes.take(n),
      shaSlot: this.shaSlot.take(n),
      pathEnd: this.pathEnd.take(n),
      pathBytes: this.paths.take(),
      metaType: Uint8Array.from(t),
      metaMode: Uint16Array.from(m),
      metaUid: Float64Array.from(u),
      metaGid: Float64Array.from(g),
      shas: this.contents.toBuffer(),
      linkAt: Uint32Array.from(this.linkAt),
      linkEnd: Uint32Array.from(this.linkEnd),
      linkBytes: this.links.take(),
    });
  }

  private tuple(type: number, mode: number, uid: number, gid: number): number {
    const l = this.lastTuple;
    if (l.type === type && l.mode === mode && l.uid === uid && l.gid === gid) return l.id;
    const key = `${type},${mode},${uid},${gid}`;
    let id = this.tuples.get(key);
    if (id === undefined) {
      id = this.tuples.size;
      this.tuples.set(key, id);
      const [t, m, u, g] = this.tupleCols as [number[], number[], number[], number[]];
      t.push(type);
      m.push(mode);
      u.push(uid);
      g.push(gid);
    }
    this.lastTuple = { type, mode, uid, gid, id };
    return id;
  }
}

/**
 * Order two UTF-8 paths as JavaScript orders the strings (UTF-16 code units), so sorted
 * output is the same as sorting decoded paths. Bytes order like code points, which differs
 * from UTF-16 only between a 4-byte sequence (a surrogate pair, 0xD800..) and a 3-byte one
 * at U+E000..U+FFFF (lead byte 0xEE or 0xEF).
 */
export function compareUtf8(a: Uint8Array, as: number, ae: number, b: Uint8Array, bs: number, be: number): number {
  const n = Math.min(ae - as, be - bs);
  for (let k = 0; k < n; k++) {
    const x = a[as + k]!;
    const y = b[bs + k]!;
    if (x === y) continue;
    if (x >= 0xf0 && (y === 0xee || y === 0xef)) return -1;
    if (y >= 0xf0 && (x === 0xee || x === 0xef)) return 1;
    return x - y;
  }
  return ae - as - (be - bs);
}
