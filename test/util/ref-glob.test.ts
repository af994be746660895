/**
 * Ref globs: `*` matches any characters in a ref, '/' and ':' included. Property tests
 * compare the matcher with an independent one (a plain recursive matcher over `*`, `?` and
 * literals) on random refs and patterns; examples cover classes and alternatives.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { matchesRefGlob, refGlobToRegExp } from '../../src/util/ref-glob.js';

/** The oracle: `*` any run (possibly empty), `?` exactly one character, anything else itself. */
function oracle(s: string, p: string): boolean {
  if (p === '') return s === '';
  if (p[0] === '*') return oracle(s, p.slice(1)) || (s !== '' && oracle(s.slice(1), p));
  if (s === '') return false;
  return (p[0] === '?' || p[0] === s[0]) && oracle(s.slice(1), p.slice(1));
}

const refChars = fc.constantFrom(...'ab/:.-_0'.split(''));
const patChars = fc.constantFrom(...'ab/:.-_0*?'.split(''));

describe('ref globs', () => {
  it('agree with a plain recursive matcher on random refs and patterns of *, ? and literals', () => {
    fc.assert(
      fc.property(fc.string({ unit: refChars, maxLength: 12 }), fc.string({ unit: patChars, maxLength: 8 }), (ref, pattern) => {
        expect(refGlobToRegExp(pattern).test(ref)).toBe(oracle(ref, pattern));
      }),
      { numRuns: 3000 },
    );
  });

  it('a pattern built from a ref by replacing any substring with * matches that ref', () => {
    fc.assert(
      fc.property(fc.string({ unit: refChars, minLength: 1, maxLength: 16 }), fc.nat(), fc.nat(), (ref, a, b) => {
        const [i, j] = [a % (ref.length + 1), b % (ref.length + 1)].sort((x, y) => x - y);
        expect(matchesRefGlob(ref, [`${ref.slice(0, i)}*${ref.slice(j)}`])).toBe(true);
      }),
    );
  });

  it.each([
    ['*slim-tools*', 'corp/slim-tools:1.0', true],
    ['**slim-tools*', 'corp/slim-tools:1.0', true],
    ['*', 'corp/team/api:1', true],
    ['acme/*', 'acme/team/api:1', true],
    ['acme/*', 'acmeX/api:1', false],
    ['corp/api:1.?', 'corp/api:1.2', true],
    ['corp/api:1.?', 'corp/api:1.23', false],
    ['corp/{api,worker}:*', 'corp/worker:2', true],
    ['corp/{api,worker}:*', 'corp/web:2', false],
    ['corp/api:[0-9]*', 'corp/api:7.1', true],
    ['corp/api:[!0-9]*', 'corp/api:7.1', false],
    ['corp/api:1.0', 'corp/api:1x0', false], // '.' is a literal dot
    ['a+b(c)', 'a+b(c)', true],
  ])('%s against %s: %s', (glob, ref, expected) => {
    expect(matchesRefGlob(ref, [glob])).toBe(expected);
  });
});
