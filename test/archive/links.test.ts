import { describe, expect, it } from 'vitest';
import { LayerstoreError } from '../../src/errors.js';
import { resolveLinks, type LinkEntry } from '../../src/archive/links.js';

const sym = (target: string): LinkEntry => ({ type: 'symlink', target });
const hard = (target: string): LinkEntry => ({ type: 'link', target });
const links = (o: Record<string, LinkEntry>) => new Map(Object.entries(o));

function linkError(name: string, m: Map<string, LinkEntry>): LayerstoreError {
  try {
    const got = resolveLinks(name, m);
    throw new Error(`resolved to ${JSON.stringify(got)}`);
  } catch (e) {
    expect(e).toBeInstanceOf(LayerstoreError);
    expect((e as LayerstoreError).code).toBe('E_LINK');
    return e as LayerstoreError;
  }
}

describe('resolveLinks', () => {
  it('a name without links is itself', () => {
    expect(resolveLinks('a/b/layer.tar', new Map())).toBe('a/b/layer.tar');
    expect(resolveLinks('', new Map())).toBe('');
  });

  it("docker save's shared layer: <id2>/layer.tar -> ../<id1>/layer.tar", () => {
    expect(resolveLinks('id2/layer.tar', links({ 'id2/layer.tar': sym('../id1/layer.tar') }))).toBe('id1/layer.tar');
  });

  it('a relative symlink in the same directory, with "." and empty segments', () => {
    expect(resolveLinks('d/l', links({ 'd/l': sym('./x//y/./f') }))).toBe('d/x/y/f');
  });

  it('".." that stays inside the archive', () => {
    expect(resolveLinks('x/y/z', links({ 'x/y/z': sym('../../a/f') }))).toBe('a/f');
    expect(resolveLinks('x/y/z', links({ 'x/y/z': sym('../z2/../z3') }))).toBe('x/z3');
  });

  it('a symlink to the archive root used as a directory', () => {
    expect(resolveLinks('a/root/f', links({ 'a/root': sym('..') }))).toBe('f');
  });

  it('an intermediate directory that is a symlink', () => {
    expect(resolveLinks('d/sub/layer.tar', links({ d: sym('real/dir') }))).toBe('real/dir/sub/layer.tar');
  });

  it('an intermediate directory symlink whose target holds another symlink', () => {
    const m = links({ top: sym('mid'), 'mid/link': sym('../final/f') });
    expect(resolveLinks('top/link', m)).toBe('final/f');
  });

  it('a chain of symlinks', () => {
    expect(resolveLinks('a', links({ a: sym('b'), b: sym('c'), c: sym('d/e') }))).toBe('d/e');
  });

  it('a hardlink target is relative to the archive root, not to the link', () => {
    expect(resolveLinks('x/y/h', links({ 'x/y/h': hard('a/b') }))).toBe('a/b');
    expect(resolveLinks('h', links({ h: hard('./a//b') }))).toBe('a/b');
  });

  it('a hardlink to a symlink, and a symlink to a hardlink', () => {
    expect(resolveLinks('h', links({ h: hard('d/s'), 'd/s': sym('../t') }))).toBe('t');
    expect(resolveLinks('d/s', links({ 'd/s': sym('h'), 'd/h': hard('real') }))).toBe('real');
  });

  it('40 hops are allowed (the Linux limit), 41 are a cycle', () => {
    const chain = (n: number) => {
      const m = new Map<string, LinkEntry>();
      for (let i = 0; i < n; i++) m.set(`l${i}`, sym(`l${i + 1}`));
      return m;
    };
    expect(resolveLinks('l0', chain(40))).toBe('l40');
    linkError('l0', chain(41));
  });

  describe('cycles -> E_LINK', () => {
    it('a -> b, b -> a', () => {
      const err = linkError('a/layer.tar', links({ 'a/layer.tar': sym('../b/layer.tar'), 'b/layer.tar': sym('../a/layer.tar') }));
      expect(err.entry).toBe('a/layer.tar');
    });
    it('a symlink to itself', () => {
      linkError('s', links({ s: sym('s') }));
      linkError('s', links({ s: sym('./s') }));
    });
    it('a directory symlink to itself, used as a path component', () => {
      linkError('d/f', links({ d: sym('d') }));
    });
    it('a directory symlink that contains itself (d -> d/x)', () => {
      linkError('d/f', links({ d: sym('d/x') }));
    });
    it('hardlinks that point at each other', () => {
      linkError('h1', links({ h1: hard('h2'), h2: hard('h1') }));
    });
  });

  describe('escapes -> E_LINK', () => {
    it('a symlink that climbs out (../../../etc/passwd)', () => {
      linkError('a/layer.tar', links({ 'a/layer.tar': sym('../../../etc/passwd') }));
    });
    it('a top-level symlink to ..', () => {
      linkError('l', links({ l: sym('../x') }));
    });
    it('a symlink that leaves and comes back (a/l -> ../../a/f) is still refused', () => {
      linkError('a/l', links({ 'a/l': sym('../../a/f') }));
    });
    it('an absolute symlink target', () => {
      linkError('a/layer.tar', links({ 'a/layer.tar': sym('/etc/passwd') }));
      linkError('a/layer.tar', links({ 'a/layer.tar': sym('/a/layer2.tar') }));
    });
    it('a symlink target with a backslash or NUL', () => {
      linkError('l', links({ l: sym('..\\..\\x') }));
      linkError('l', links({ l: sym('a\u0000b') }));
    });
    it('an escaping intermediate directory symlink', () => {
      linkError('d/f', links({ d: sym('../outside') }));
    });
    it('a hardlink outside the archive or absolute', () => {
      linkError('h', links({ h: hard('../etc/passwd') }));
      linkError('h', links({ h: hard('/etc/passwd') }));
      linkError('h', links({ h: hard('a/../../x') }));
    });
    it('a symlink reached through another symlink that then escapes', () => {
      linkError('top/f', links({ top: sym('mid'), 'mid/f': sym('../../x') }));
    });
  });
});
