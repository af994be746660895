import { untaggedImages } from '../analysis/untagged.js';
import type { ImageInfo } from '../analysis/load-images.js';
import { humanBytes } from '../report/human.js';

/** What untagged images of the store hold ("" when none), as ls and report say it: what prune would free. */
export function untaggedLine(images: ImageInfo[]): string {
  const untagged = untaggedImages(images);
  const n = untagged.images.length;
  if (n === 0) return '';
  return `${n} untagged image${n === 1 ? '' : 's'} (<none>) hold ${humanBytes(untagged.bytes)} no tagged image uses; layerstore prune removes them\n`;
}
