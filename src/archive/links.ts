import { LayerstoreError } from '../errors.js';
import { normalizeEntryName } from './entry-name.js';

export interface LinkEntry {
  type: 'symlink' | 'link';
  /** As written in the archive: relative to the link's directory (symlink) or to the archive root (hardlink). */
  target: string;
}

const MAX_HOPS = 40; // the Linux limit for symlink resolution

/**
 * Resolve `name` through the archive's symlinks and hardlinks (in any path component) to the
 * name of the entry that holds the bytes. Links may not leave the archive, be absolute, or
 * loop; `docker save` uses `<id>/layer.tar -> ../<id2>/layer.tar` for shared layers.
 */
export function resolveLinks(name: string, links: ReadonlyMap<string, LinkEntry>): string {
  let pending = name === '' ? [] : name.split('/');
  let done: string[] = [];
  let hops = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    const here = done.length ? `${done.join('/')}/${part}` : part;
    const link = links.get(here);
    if (!link) {
      done.push(part);
      continue;
    }
    if (++hops > MAX_HOPS) throw new LayerstoreError('E_LINK', `too many levels of links resolving ${JSON.stringify(name)} (a link cycle?)`, { entry: name });
    if (link.type === 'link') {
      let target: string;
      try {
        target = normalizeEntryName(link.target);
      } catch {
        throw new LayerstoreError('E_LINK', `hardlink ${JSON.stringify(here)} points outside the archive (${JSON.stringify(link.target)})`, { entry: here });
      }
      pending = [...(target ? target.split('/') : []), ...pending];
      done = [];
      continue;
    }
    if (link.target.startsWith('/') || link.target.includes('\0') || link.target.includes('\\')) {
      throw new LayerstoreError('E_LINK', `symlink ${JSON.stringify(here)} has an unsafe target ${JSON.stringify(link.target)}`, { entry: here });
    }
    const base = [...done];
    for (const seg of link.target.split('/')) {
      if (seg === '' || seg === '.') continue;
      if (seg === '..') {
        if (base.length === 0)
          throw new LayerstoreError('E_LINK', `symlink ${JSON.stringify(here)} points outside the archive (${JSON.stringify(link.target)})`, { entry: here });
        base.pop();
      } else base.push(seg);
    }
    pending = [...base, ...pending];
    done = [];
  }
  return done.join('/');
}
