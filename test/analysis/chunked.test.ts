/**
 * The index builder's storage grows in chunks (src/analysis/chunked.ts) and DigestSet keeps
 * its keys in chunks and its buckets in 256 tables: every read must give what a plain array
 * or Map of the same appends gives, across chunk boundaries, with a first chunk that grew,
 * strings longer than a chunk, and digests that all land in one bucket table.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ChunkedBytes, ChunkedColumn } from '../../src/analysis/chunked.js';
import { DigestSet } from '../../src/analysis/digest-set.js';
import { EntryTable, EntryTableBuilder } from '../../src/analysis/entry-table.js';
import type { FileEntry } from '../../src/analysis/file-index.js';

let seed = 11;
const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;

describe('ChunkedColumn', () => {
  it('reads back 200k appended numbers and rewrites, and take(n) is exactly them', () => {
    const col = new ChunkedColumn(Float64Array);
    const ref: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      const v = Math.floor(rand() * 2 ** 40);
      col.set(i, v);
      ref.push(v);
      if (i % 7 === 3) {
        const j = Math.floor(rand() * (i + 1));
        col.set(j, -j);
        ref[j] = -j;
      }
    }
    for (let i = 0; i < ref.length; i += 1) if (col.get(i) !== ref[i]) expect(col.get(i), `entry ${i}`).toBe(ref[i]);
    const out = col.take(ref.length);
    expect(out).toBeInstanceOf(Float64Array);
    expect(Array.from(out)).toEqual(ref);
    const part = new ChunkedColumn(Uint32Array);
    for (let i = 0; i < 70_000; i++) part.set(i, i * 3);
    expect(Array.from(part.take(65_537))).toEqual(Array.from({ length: 65_537 }, (_, i) => i * 3));
    expect(new ChunkedColumn(Int32Array).take(0).length).toBe(0);
  });
});

describe('ChunkedBytes', () => {
  it('gives back every string by the offsets of one buffer, and take() is that buffer', () => {
    const bytes = new ChunkedBytes(16);
    const strings: string[] = [];
    const ends: number[] = [];
    const alphabet = ['a', 'é', '😀', '/', '', 'xyz'];
    for (let k = 0; k < 40_000; k++) {
      let s = '';
      const n = Math.floor(rand() * 60);
      for (let i = 0; i < n; i++) s += alphabet[Math.floor(rand() * alphabet.length)]!;
      if (k % 50 === 7) s += 'x'.repeat(3000);
      if (k % 10_000 === 5) s = 'y'.repeat(1_500_000); // longer than a chunk
      strings.push(s);
      ends.push(bytes.append(s));
    }
    const whole = Buffer.concat(strings.map((s) => Buffer.from(s, 'utf8')));
    expect(bytes.length).toBe(whole.length);
    expect(ends.at(-1)).toBe(whole.length);
    for (let k = 0; k < strings.length; k++) {
      const start = k === 0 ? 0 : ends[k - 1]!;
      const got = bytes.text(start, ends[k]!);
      if (got !== strings[k]) expect(got, `string ${k}`).toBe(strings[k]);
    }
    expect(bytes.take().equals(whole)).toBe(true);
    expect(bytes.length).toBe(0);
  });
});

describe('DigestSet over chunks and bucket tables', () => {
  it('numbers 100k distinct digests (and repeats) as a Map would, and toBuffer lists them in slot order', () => {
    const set = new DigestSet(4);
    const ref = new Map<string, number>();
    const order: Buffer[] = [];
    for (let i = 0; i < 130_000; i++) {
      const d = createHash('sha256')
        .update(String(i % 100_000))
        .digest();
      const hex = d.toString('hex');
      let want = ref.get(hex);
      if (want === undefined) {
        want = ref.size;
        ref.set(hex, want);
        order.push(d);
      }
      const got = set.intern(d, 0);
      if (got !== want) expect(got, `digest ${i}`).toBe(want);
    }
    expect(set.size).toBe(100_000);
    expect(set.hexAt(99_999)).toBe(order[99_999]!.toString('hex'));
    expect(set.digestAt(40_000).equals(order[40_000]!)).toBe(true);
    expect(set.find(order[77_777]!, 0)).toBe(77_777);
    expect(set.find(createHash('sha256').update('absent').digest(), 0)).toBe(-1);
    expect(set.toBuffer().equals(Buffer.concat(order))).toBe(true);
  });

  it('digests that share their first five bytes all go to one table and still number right', () => {
    const set = new DigestSet();
    const keys = Array.from({ length: 2000 }, (_, i) => {
      const b = Buffer.alloc(40); // at offset 8, as in a table's shas
      b.fill(0xab, 8, 13);
      b.writeUInt32BE(i, 36);
      return b;
    });
    expect(keys.map((k) => set.intern(k, 8))).toEqual(keys.map((_, i) => i));
    expect(keys.map((k) => set.intern(k, 8))).toEqual(keys.map((_, i) => i));
    expect(keys.map((k) => set.find(k, 8))).toEqual(keys.map((_, i) => i));
    expect(set.size).toBe(2000);
  });
});

describe('EntryTableBuilder across chunks', () => {
  it('a 150k-entry table reads back every field, during the build and after', () => {
    const entries: FileEntry[] = [];
    for (let i = 0; i < 150_000; i++) {
      const kind = i % 5;
      const path = `d${i % 97}/${'n'.repeat(i % 13)}${i}${i % 11 === 0 ? 'é' : ''}`;
      if (kind === 0) entries.push({ path, type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 });
      else if (kind === 1) entries.push({ path, type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkTarget: `../t${i}` });
      else {
        const sha256 = createHash('sha256')
          .update(String(i % 40_000))
          .digest('hex');
        entries.push({ path, type: 'file', mode: 0o644, uid: i % 3, gid: 7, size: i * 13, sha256 });
      }
    }
    const b = new EntryTableBuilder();
    for (const e of entries) {
      const i = b.add(e.path, e.type, e.mode, e.uid, e.gid, e.size, e.linkTarget);
      if (e.sha256 !== undefined) b.setShaHex(i, e.sha256);
    }
    for (const i of [0, 1, 65_535, 65_536, 100_001, 149_999]) {
      expect(b.pathOf(i)).toBe(entries[i]!.path);
      expect(b.pathBytesLength(i)).toBe(Buffer.byteLength(entries[i]!.path));
      expect(b.linkTargetOf(i)).toBe(entries[i]!.linkTarget);
    }
    const t = b.finish();
    expect(t.count).toBe(entries.length);
    expect(t.toEntries()).toEqual(entries);
    expect(t.slots).toBe(new Set(entries.filter((e) => e.sha256).map((e) => e.sha256)).size);
    expect(EntryTable.fromEntries(entries).toEntries()).toEqual(entries);
  });
});
