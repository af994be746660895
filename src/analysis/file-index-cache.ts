import path from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { hexOf, type Digest } from '../digest/digest.js';
import type { DerivedData } from '../store/derived.js';
import { EntryTable, MAX_NAME_BYTES, TYPES, T_FILE, type EntryColumns } from './entry-table.js';

/**
 * The on-disk cache of a layer's file index: `derived/files/<hex>.idx`, the EntryTable's
 * columns one after another behind a small JSON header. Written part by part and read
 * straight into the typed arrays (no JSON of a million entries, no copy of the whole file
 * in memory); the header's counts give every section's size, so a file of any other length,
 * or whose columns do not hold together, is ignored and the index rebuilt.
 *
 *   "LSFI" | u32 version | u32 header length | header JSON | sections (little-endian):
 *   meta u32[n] | sizes f64[n] | shaSlot i32[n] | pathEnd u32[n] | pathBytes |
 *   metaType u8[m] | metaMode u16[m] | metaUid f64[m] | metaGid f64[m] | shas 32·s bytes |
 *   linkAt u32[k] | linkEnd u32[k] | linkBytes
 *
 * About 20 bytes per entry plus its path (and 32 per distinct content), against ~170 as
 * JSON. A later reader can page through entries by range with positional reads.
 */

const MAGIC = 'LSFI';

/** What the header carries besides the columns' counts. */
export interface CachedHeader {
  digest: Digest;
  [k: string]: unknown;
}

interface Counts {
  n: number;
  m: number;
  s: number;
  k: number;
  pathBytes: number;
  linkBytes: number;
}

export function cacheRel(layerDigest: Digest): string {
  return path.join('files', `${hexOf(layerDigest)}.idx`);
}

type Kind = 'u8' | 'u16' | 'u32' | 'i32' | 'f64' | 'bytes';
const WIDTH: Record<Kind, number> = { u8: 1, u16: 2, u32: 4, i32: 4, f64: 8, bytes: 1 };

function alloc(kind: Kind, n: number): ArrayBufferView {
  switch (kind) {
    case 'u8':
      return new Uint8Array(n);
    case 'u16':
      return new Uint16Array(n);
    case 'u32':
      return new Uint32Array(n);
    case 'i32':
      return new Int32Array(n);
    case 'f64':
      return new Float64Array(n);
    case 'bytes':
      return Buffer.alloc(n);
  }
}

/** The sections in file order: column, element kind, element count. */
const SECTIONS = (c: Counts): Array<[Exclude<keyof EntryColumns, 'count'>, Kind, number]> => [
  ['meta', 'u32', c.n],
  ['sizes', 'f64', c.n],
  ['shaSlot', 'i32', c.n],
  ['pathEnd', 'u32', c.n],
  ['pathBytes', 'bytes', c.pathBytes],
  ['metaType', 'u8', c.m],
  ['metaMode', 'u16', c.m],
  ['metaUid', 'f64', c.m],
  ['metaGid', 'f64', c.m],
  ['shas', 'bytes', c.s * 32],
  ['linkAt', 'u32', c.k],
  ['linkEnd', 'u32', c.k],
  ['linkBytes', 'bytes', c.linkBytes],
];

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

/** Write the cache file (atomically; false when it could not be written). */
export async function writeIndexCache(derived: DerivedData, version: number, header: CachedHeader, t: EntryTable): Promise<boolean> {
  const counts: Counts = { n: t.count, m: t.metaType.length, s: t.slots, k: t.linkAt.length, pathBytes: t.pathBytes.length, linkBytes: t.linkBytes.length };
  const json = Buffer.from(JSON.stringify({ ...header, counts }));
  const head = Buffer.alloc(12);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(version, 4);
  head.writeUInt32LE(json.length, 8);
  const parts: Uint8Array[] = [head, json];
  for (const [name] of SECTIONS(counts)) parts.push(bytesOf(t[name]));
  return derived.write(cacheRel(header.digest), parts);
}

/** Largest header we read (it holds up to MAX_UNSAFE_KEPT unsafe names). */
const MAX_HEADER = 16 * 1024 * 1024;

/**
 * Read a cache file: its header and the table, or undefined when it is absent, of another
 * version or digest, or does not hold together (the caller rebuilds).
 */
export async function readIndexCache(
  derived: DerivedData,
  version: number,
  d: Digest,
): Promise<{ header: Record<string, unknown>; table: EntryTable } | undefined> {
  const fh = await derived.open(cacheRel(d));
  if (!fh) return undefined;
  try {
    const size = (await fh.stat()).size;
    const head = Buffer.alloc(12);
    if (size < 12 || !(await readExactly(fh, head, 0))) return undefined;
    if (head.toString('latin1', 0, 4) !== MAGIC || head.readUInt32LE(4) !== version) return undefined;
    const hlen = head.readUInt32LE(8);
    if (hlen > MAX_HEADER || 12 + hlen > size) return undefined;
    const hbuf = Buffer.alloc(hlen);
    if (!(await readExactly(fh, hbuf, 12))) return undefined;
    const header = JSON.parse(hbuf.toString('utf8')) as Record<string, unknown>;
    if (!header || typeof header !== 'object' || header.digest !== d) return undefined;
    const counts = countsOf(header.counts);
    if (!counts) return undefined;
    const sections = SECTIONS(counts);
    let at = 12 + hlen;
    const total = sections.reduce((n, [, kind, len]) => n + len * WIDTH[kind], at);
    if (total !== size) return undefined;
    const cols: Record<string, ArrayBufferView> = {};
    for (const [name, kind, len] of sections) {
      const a = alloc(kind, len);
      if (a.byteLength > 0 && !(await readExactly(fh, bytesOf(a), at))) return undefined;
      at += a.byteLength;
      cols[name] = a;
    }
    const table = new EntryTable({ count: counts.n, ...(cols as unknown as Omit<EntryColumns, 'count'>) });
    return consistent(table) ? { header, table } : undefined;
  } catch {
    return undefined;
  } finally {
    await fh.close().catch(() => {});
  }
}

async function readExactly(fh: FileHandle, buf: Uint8Array, pos: number): Promise<boolean> {
  let got = 0;
  while (got < buf.length) {
    const { bytesRead } = await fh.read(buf, got, buf.length - got, pos + got);
    if (bytesRead === 0) return false;
    got += bytesRead;
  }
  return true;
}

function countsOf(v: unknown): Counts | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const c = v as Record<string, unknown>;
  for (const k of ['n', 'm', 's', 'k', 'pathBytes', 'linkBytes']) if (!Number.isSafeInteger(c[k]) || (c[k] as number) < 0) return undefined;
  const counts = c as unknown as Counts;
  if (counts.pathBytes > MAX_NAME_BYTES || counts.linkBytes > MAX_NAME_BYTES) return undefined;
  return counts;
}

/** The columns point inside each other: every lookup the analysis makes stays in bounds. */
function consistent(t: EntryTable): boolean {
  const m = t.metaType.length;
  const slots = t.slots;
  for (let j = 0; j < m; j++) if (t.metaType[j]! >= TYPES.length) return false;
  let prev = 0;
  for (let i = 0; i < t.count; i++) {
    const end = t.pathEnd[i]!;
    if (end <= prev || end > t.pathBytes.length) return false; // every path non-empty
    prev = end;
    const meta = t.meta[i]!;
    if (meta >= m) return false;
    const size = t.sizes[i]!;
    if (!Number.isSafeInteger(size) || size < 0) return false;
    const slot = t.shaSlot[i]!;
    if (slot < -1 || slot >= slots) return false;
    if (t.metaType[meta] === T_FILE && slot < 0) return false;
  }
  if (prev !== t.pathBytes.length) return false;
  let lprev = 0;
  for (let j = 0; j < t.linkAt.length; j++) {
    if (t.linkAt[j]! >= t.count || (j > 0 && t.linkAt[j]! <= t.linkAt[j - 1]!)) return false;
    if (t.linkEnd[j]! < lprev || t.linkEnd[j]! > t.linkBytes.length) return false;
    lprev = t.linkEnd[j]!;
  }
  return lprev === t.linkBytes.length;
}
