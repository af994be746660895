/**
 * The columns a layer's file index is held in: entries go in as objects and come out the
 * same, equal contents share one 32-byte slot, and paths order as JavaScript orders the
 * decoded strings (so sorted output is what sorting the strings gave).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compareUtf8, EntryTable } from '../../src/analysis/entry-table.js';
import { DigestSet } from '../../src/analysis/digest-set.js';
import type { FileEntry } from '../../src/analysis/file-index.js';

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

describe('EntryTable', () => {
  it('gives back every field of every entry; equal contents share a slot', () => {
    const entries: FileEntry[] = [
      { path: 'etc', type: 'dir', mode: 0o755, uid: 0, gid: 0, size: 0 },
      { path: 'etc/a', type: 'file', mode: 0o644, uid: 1000, gid: 1000, size: 3, sha256: sha('abc') },
      { path: 'etc/b', type: 'file', mode: 0o4755, uid: 4_000_000_000, gid: 2 ** 40, size: 2 ** 40, sha256: sha('abc') },
      { path: 'etc/l', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkTarget: '' },
      { path: 'etc/h', type: 'hardlink', mode: 0o644, uid: 0, gid: 0, size: 0, linkTarget: 'etc/a', sha256: sha('abc') },
      { path: 'dev/null', type: 'other', mode: 0o666, uid: 0, gid: 0, size: 0 },
      { path: 'ünï/😀/\uffff', type: 'file', mode: 0o600, uid: 7, gid: 8, size: 0, sha256: sha('') },
      { path: 'x', type: 'symlink', mode: 0o777, uid: 0, gid: 0, size: 0, linkTarget: '../😀' },
    ];
    const t = EntryTable.fromEntries(entries);
    expect(t.toEntries()).toEqual(entries);
    expect(t.slots).toBe(2);
    expect(t.shaSlot[1]).toBe(t.shaSlot[2]);
    expect(t.metaType.length).toBeLessThan(entries.length);
  });

  it('orders UTF-8 paths exactly as JavaScript orders the strings (surrogate pairs below U+E000..U+FFFF)', () => {
    const alphabet = ['a', 'b', '/', '-', '.', 'é', '\u00ff', '\u0800', '\ud7ff', '\ue000', '\uffff', '😀', '\u{10ffff}', '\u{10000}'];
    let seed = 1;
    const rnd = (n: number) => (seed = (seed * 1103515245 + 12345) >>> 0) % n;
    const words = Array.from({ length: 400 }, () => Array.from({ length: 1 + rnd(5) }, () => alphabet[rnd(alphabet.length)]).join(''));
    const bytes = words.map((w) => Buffer.from(w, 'utf8'));
    for (let i = 0; i < words.length; i++) {
      for (let j = 0; j < words.length; j += 7) {
        const js = words[i]! < words[j]! ? -1 : words[i]! > words[j]! ? 1 : 0;
        const ours = Math.sign(compareUtf8(bytes[i]!, 0, bytes[i]!.length, bytes[j]!, 0, bytes[j]!.length));
        expect(ours, `${JSON.stringify(words[i])} vs ${JSON.stringify(words[j])}`).toBe(js);
      }
    }
  });
});

describe('DigestSet', () => {
  it('numbers distinct digests densely in first-seen order, through growth', () => {
    const set = new DigestSet(2);
    const digests = Array.from({ length: 5000 }, (_, i) =>
      createHash('sha256')
        .update(String(i % 3000))
        .digest(),
    );
    const slots = digests.map((d) => set.intern(d, 0));
    expect(set.size).toBe(3000);
    expect(slots.slice(0, 3000)).toEqual(Array.from({ length: 3000 }, (_, i) => i));
    expect(slots.slice(3000)).toEqual(Array.from({ length: 2000 }, (_, i) => i));
    expect(set.hexAt(42)).toBe(digests[42]!.toString('hex'));
    expect(set.find(createHash('sha256').update('nope').digest(), 0)).toBe(-1);
  });
});
