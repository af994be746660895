/**
 * normalizeLayerPath takes a name that is normal already as it is (no split and join): on any
 * name, it must say what the segment rules say ("." and empty segments dropped, ".." or a
 * NUL unsafe). The reference is those rules written with split and join.
 */
import { describe, expect, it } from 'vitest';
import { normalizeLayerPath, type LayerPath } from '../../src/analysis/layer-path.js';

function reference(raw: string): LayerPath {
  if (raw.includes('\0')) return { ok: false, reason: 'nul' };
  const parts: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') return { ok: false, reason: 'dotdot' };
    parts.push(seg);
  }
  return { ok: true, path: parts.join('/') };
}

const PIECES = ['a', 'bc', '.', '..', '...', '.a', 'a.', '/', '//', 'é', '😀', '\0', ' ', '.wh.x', '\\'];

describe('normalizeLayerPath', () => {
  it('agrees with the segment rules on 100k names made of odd pieces, and on the usual shapes', () => {
    let seed = 7;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    const names = ['', '/', './', 'a', 'a/', '/a', './a', 'a//b', 'a/./b', 'a/../b', 'usr/bin/x', 'usr/bin/', '..', '.', 'a/..', '../a', 'a/b/', 'a\0b'];
    for (let k = 0; k < 100_000; k++) {
      let n = '';
      const len = Math.floor(rand() * 7);
      for (let i = 0; i < len; i++) n += PIECES[Math.floor(rand() * PIECES.length)]!;
      names.push(n);
    }
    for (const n of names) expect(normalizeLayerPath(n), JSON.stringify(n)).toEqual(reference(n));
  });
});
