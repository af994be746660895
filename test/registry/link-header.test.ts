/** The Link header parser (RFC 8288 §3, plus the bracketless form quay.io sends). */
import { describe, expect, it } from 'vitest';
import { nextLink, parseLinks } from '../../src/registry/link-header.js';

const page = 'http://r.test/v2/_catalog?n=2';
const next = (h: string) => nextLink(h, page)?.href;

describe('Link: rel="next"', () => {
  it('in every form RFC 8288 allows: any parameter order, quoted or not, any case, among other types, several links', () => {
    const want = 'http://r.test/v2/_catalog?last=b&n=2';
    expect(next('</v2/_catalog?last=b&n=2>; rel="next"')).toBe(want);
    expect(next('</v2/_catalog?last=b&n=2>; type="application/json"; rel="next"')).toBe(want);
    expect(next('</v2/_catalog?last=b&n=2> ;rel=Next')).toBe(want);
    expect(next('</v2/_catalog?last=b&n=2>; rel="prefetch next"')).toBe(want);
    expect(next('</v2/_catalog?n=2>; rel="prev", </v2/_catalog?last=b&n=2>; title="x, y; z"; rel="next"')).toBe(want);
    expect(nextLink('http://r.test/v2/_catalog?last=b&n=2>; rel="next"', page)).toBeUndefined(); // half a bracket: unreadable
    expect(next('/v2/_catalog?last=b&n=2; rel="next"')).toBe(want); // quay.io: no brackets
  });

  it('resolved against the page URL: relative without a slash stays under /v2/', () => {
    expect(next('<_catalog?last=b&n=2>; rel="next"')).toBe('http://r.test/v2/_catalog?last=b&n=2');
    expect(next('<http://r.test/v2/_catalog?last=b>; rel="next"')).toBe('http://r.test/v2/_catalog?last=b');
  });

  it('only the first rel counts; no next is null; what cannot be read is undefined, never null', () => {
    expect(nextLink('</a>; rel="prev"; rel="next"', page)).toBeNull();
    expect(nextLink('</a>; rel="prev"', page)).toBeNull();
    expect(nextLink('', page)).toBeNull();
    for (const bad of ['</a; rel="next"', '</a>; rel="next', 'garbage', '</a> rel="next"', '</a>; ="x"']) expect(nextLink(bad, page), bad).toBeUndefined();
  });

  it('parseLinks keeps every link with its relation types', () => {
    expect(parseLinks('</1>; rel="first", </3>; rel="last next"')).toEqual([
      { target: '/1', rels: ['first'] },
      { target: '/3', rels: ['last', 'next'] },
    ]);
  });
});
