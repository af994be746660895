import { LayerstoreError } from '../errors.js';
import { refCandidates } from '../formats/ref-names.js';
import type { ImageInfo } from './load-images.js';

/**
 * Pick images by ref ("acme/api:1.0", "docker.io/acme/api:1.0"), by manifest digest or by
 * image ID (config digest), full or as a prefix of at least 12 hex digits. Every selector
 * must match something.
 */
export function selectImages(images: ImageInfo[], selectors: string[]): ImageInfo[] {
  if (selectors.length === 0) return images;
  const picked = new Set<ImageInfo>();
  for (const sel of selectors) {
    const matches = images.filter((img) => matches_(img, sel));
    if (matches.length === 0) {
      throw new LayerstoreError('E_REF_NOT_FOUND', `no image in the store matches ${JSON.stringify(sel)}`, { hint: 'layerstore ls lists refs and image IDs' });
    }
    for (const m of matches) picked.add(m);
  }
  return images.filter((i) => picked.has(i));
}

function matches_(img: ImageInfo, sel: string): boolean {
  if (refCandidates(sel).some((r) => img.refs.includes(r))) return true;
  const hex = sel.startsWith('sha256:') ? sel.slice(7) : sel;
  if (/^[0-9a-f]{12,64}$/.test(hex)) {
    return img.manifestDigest.slice(7).startsWith(hex) || img.configDigest.slice(7).startsWith(hex);
  }
  return false;
}
