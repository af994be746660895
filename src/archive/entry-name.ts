import { LayerstoreError } from '../errors.js';

/**
 * Normalize an archive-internal name to a key ("a/b/c": no leading "./", no "." or empty
 * segments, no trailing "/"). Names are only ever map keys, never file-system paths, but we
 * still refuse the shapes that path-traversal attacks use so that no later code can be
 * tricked by them: absolute names, "..", NUL and backslash. The root itself ("./") is "".
 */
export function normalizeEntryName(raw: string, offset?: number): string {
  if (raw.includes('\0')) throw unsafe(raw, 'contains a NUL byte', offset);
  if (raw.includes('\\')) throw unsafe(raw, 'contains a backslash', offset);
  if (raw.startsWith('/')) throw unsafe(raw, 'is absolute', offset);
  const parts: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') throw unsafe(raw, 'contains ".."', offset);
    parts.push(seg);
  }
  return parts.join('/');
}

function unsafe(raw: string, why: string, offset?: number): LayerstoreError {
  return new LayerstoreError('E_UNSAFE_PATH', `entry name ${why}; refusing it`, { entry: raw, offset });
}

/** Directory part of a normalized name ("" for a top-level name). */
export function dirOf(name: string): string {
  const i = name.lastIndexOf('/');
  return i < 0 ? '' : name.slice(0, i);
}
