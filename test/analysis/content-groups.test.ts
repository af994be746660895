/**
 * Grouping by digest through a sort of digest prefixes: digests that share their first bytes
 * (the prefix the sort keys on) but differ later are told apart, and sortRefs orders like a
 * plain stable sort.
 */
import { describe, expect, it } from 'vitest';
import { forEachContentGroup } from '../../src/analysis/content-groups.js';
import { sortRefs } from '../../src/analysis/sort-refs.js';

/** Digest of item i: the same first 8 bytes for all, then `kinds[i]` in the last byte. */
function digests(kinds: number[]): Buffer {
  const b = Buffer.alloc(kinds.length * 32, 0xab);
  kinds.forEach((k, i) => {
    b[i * 32 + 31] = k;
  });
  return b;
}

const groupsOf = (kinds: number[], opts: { minSize?: number; byFirstItem?: boolean } = {}, take = (_: number) => true) => {
  const buf = digests(kinds);
  const out: number[][] = [];
  forEachContentGroup(
    kinds.length,
    take,
    (i) => ({ buf, off: i * 32 }),
    (g) => out.push(Array.from(g)),
    opts,
  );
  return out;
};

describe('forEachContentGroup', () => {
  it('digests equal in their first bytes but not after are different groups, members ascending, in order of first member', () => {
    expect(groupsOf([3, 1, 3, 2, 1, 3, 9], { byFirstItem: true })).toEqual([
      [0, 2, 5],
      [1, 4],
    ]);
  });
  it('minSize 1 gives every content once; items not taken are left out', () => {
    const all = groupsOf([3, 1, 3, 2], { minSize: 1 }, (i) => i !== 2).sort((a, b) => a[0]! - b[0]!);
    expect(all).toEqual([[0], [1], [3]]);
  });
});

describe('sortRefs', () => {
  it('sorts like Array#sort, stably, runs and reversed runs alike', () => {
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31) * 50;
    for (const n of [0, 1, 2, 3, 17, 1000]) {
      const xs = Array.from({ length: n }, (_, i) => (i % 7 === 0 ? 1000 - i : Math.floor(rand()) * 1000 + i));
      const byHigh = (a: number, b: number) => Math.floor(a / 1000) - Math.floor(b / 1000);
      expect(Array.from(sortRefs(Float64Array.from(xs), byHigh))).toEqual([...xs].sort(byHigh));
    }
  });
});
