import type { Digest } from '../digest/digest.js';
import type { ImageInfo } from './load-images.js';

/**
 * Untagged images (no ref names them; an ingest or a tag moved their ref away) and the bytes
 * only they hold: their manifest, config and layer blobs that no tagged image uses. That is
 * what `prune` frees, as `docker image prune` frees dangling images.
 */
export function untaggedImages(images: ImageInfo[]): { images: ImageInfo[]; blobs: Map<Digest, number>; bytes: number } {
  const untagged = images.filter((i) => i.refs.length === 0);
  const usedByTagged = new Set<Digest>();
  for (const i of images) if (i.refs.length) for (const d of blobsOf(i).keys()) usedByTagged.add(d);
  const blobs = new Map<Digest, number>();
  for (const i of untagged) for (const [d, size] of blobsOf(i)) if (!usedByTagged.has(d)) blobs.set(d, size);
  let bytes = 0;
  for (const s of blobs.values()) bytes += s;
  return { images: untagged, blobs, bytes };
}

function blobsOf(img: ImageInfo): Map<Digest, number> {
  const m = new Map<Digest, number>([
    [img.manifestDigest, img.manifestSize],
    [img.configDigest, img.configSize],
  ]);
  for (const l of img.layers) m.set(l.digest, l.size);
  return m;
}
