import { describe, expect, it } from 'vitest';
import { LayerstoreError } from '../../src/errors.js';
import { dirOf, normalizeEntryName } from '../../src/archive/entry-name.js';

function refused(raw: string, offset?: number): LayerstoreError {
  try {
    normalizeEntryName(raw, offset);
  } catch (e) {
    expect(e).toBeInstanceOf(LayerstoreError);
    return e as LayerstoreError;
  }
  throw new Error(`normalizeEntryName(${JSON.stringify(raw)}) did not throw`);
}

describe('normalizeEntryName', () => {
  it.each([
    ['manifest.json', 'manifest.json'],
    ['./manifest.json', 'manifest.json'],
    ['a/b/c', 'a/b/c'],
    ['a//b///c', 'a/b/c'],
    ['./a/./b/.', 'a/b'],
    ['dir/', 'dir'],
    ['././dir//', 'dir'],
    ['blobs/sha256/', 'blobs/sha256'],
    ['./', ''],
    ['.', ''],
    ['', ''],
    ['...', '...'],
    ['..a/b..', '..a/b..'],
    ['a/.../b', 'a/.../b'],
    ['.hidden/.wh..wh..opq', '.hidden/.wh..wh..opq'],
    ['naïve/日本語', 'naïve/日本語'],
  ])('%j -> %j', (raw, want) => {
    expect(normalizeEntryName(raw)).toBe(want);
  });

  it.each([
    ['/manifest.json'],
    ['/'],
    ['//etc/passwd'],
    ['..'],
    ['../escape'],
    ['a/../../b'],
    ['a/..'],
    ['a/../b'], // stays inside, but ".." is refused outright
    ['./../x'],
    ['a\\b'],
    ['..\\..\\windows'],
    ['C:\\x'],
    ['a\u0000b'],
    ['manifest.json\u0000'],
  ])('%j is refused with E_UNSAFE_PATH', (raw) => {
    const err = refused(raw, 4096);
    expect(err.code).toBe('E_UNSAFE_PATH');
    expect(err.entry).toBe(raw);
    expect(err.offset).toBe(4096);
  });

  it('leaves the offset undefined when none is given', () => {
    expect(refused('/x').offset).toBeUndefined();
  });
});

describe('dirOf', () => {
  it.each([
    ['a/b/c', 'a/b'],
    ['a/b', 'a'],
    ['a', ''],
    ['', ''],
  ])('%j -> %j', (name, want) => {
    expect(dirOf(name)).toBe(want);
  });
});
