import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/** Store internals that only src/store/ may name: paths, the lock, the raw derived/unverified helpers. */
const INTERNALS = /\bStoreLayout\b|\.layout\.|\bblobPath\b|\bderivedDir\b|\bsha256Dir\b|\bstagingDir\b|\bstagingPath\b|\bwithIndexLock\b|Locked\(|(?<![.\w])(readDerived|writeDerived|openDerived|readUnverified|markUnverified)\b|store\/(layout|leftovers|unverified|reachability|transaction)\.js/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

describe('the store is sealed', () => {
  it('no file outside src/store/ builds a store path or reaches past the Store methods', () => {
    const src = path.resolve(__dirname, '../../src');
    const leaks = files(src)
      .filter((f) => !f.startsWith(path.join(src, 'store') + path.sep))
      .flatMap((f) => readFileSync(f, 'utf8').split('\n').map((line, i) => ({ at: `${path.relative(src, f)}:${i + 1}`, line })))
      .filter(({ line }) => INTERNALS.test(line))
      .map(({ at, line }) => `${at}: ${line.trim()}`);
    expect(leaks).toEqual([]);
  });
});
