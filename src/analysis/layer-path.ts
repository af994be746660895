/**
 * Names inside a layer tar, as the file index keys them. Pure guards, no I/O.
 *
 * Unlike normalizeEntryName (archive/entry-name.ts), which refuses a whole outer archive
 * on the first bad name, a layer is data we report on: an odd name is recorded, never
 * thrown. Absolute names are normal in layers (docker and containerd apply them relative
 * to the root), so a leading "/" is stripped like a leading "./". A backslash is an
 * ordinary file-name byte on Linux and stays. Only names that could climb out of the
 * root ("..") or that no file system can hold (NUL) are unsafe: they are counted apart
 * and never merged into an image's file system.
 */

export type LayerPath = { ok: true; path: string } | { ok: false; reason: 'dotdot' | 'nul' };

/**
 * "./a//b/./c/" → "a/b/c"; "/" and "./" → "" (the root). A ".." segment or a NUL byte
 * makes the name unsafe.
 */
export function normalizeLayerPath(raw: string): LayerPath {
  if (raw.includes('\0')) return { ok: false, reason: 'nul' };
  const parts: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') return { ok: false, reason: 'dotdot' };
    parts.push(seg);
  }
  return { ok: true, path: parts.join('/') };
}

/** "a/b/c" → "a/b"; "c" → "". */
export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i < 0 ? '' : path.slice(0, i);
}

/** "a/b/c" → "c". */
export function baseOf(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Join a directory ("" for the root) and a name. */
export function joinPath(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}
