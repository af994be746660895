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
  // Most names are normal already ("usr/bin/x", a directory's "usr/bin/"): no split and join
  // (a big layer's index build made ~100 MB of garbage of them).
  const end = raw.length > 1 && raw.charCodeAt(raw.length - 1) === SLASH ? raw.length - 1 : raw.length;
  if (isNormal(raw, end)) return { ok: true, path: end === raw.length ? raw : raw.slice(0, end) };
  if (raw.includes('\0')) return { ok: false, reason: 'nul' };
  const parts: string[] = [];
  for (const seg of raw.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') return { ok: false, reason: 'dotdot' };
    parts.push(seg);
  }
  return { ok: true, path: parts.join('/') };
}

const SLASH = 0x2f;
const DOT = 0x2e;

/** Whether raw[0, end) is a non-empty name of non-empty segments, none "." or "..", and no NUL. */
function isNormal(raw: string, end: number): boolean {
  if (end === 0) return false;
  let start = 0;
  for (let i = 0; i <= end; i++) {
    const c = i === end ? SLASH : raw.charCodeAt(i);
    if (c === 0) return false;
    if (c !== SLASH) continue;
    const len = i - start;
    if (len === 0) return false;
    if (raw.charCodeAt(start) === DOT && (len === 1 || (len === 2 && raw.charCodeAt(start + 1) === DOT))) return false;
    start = i + 1;
  }
  return true;
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
