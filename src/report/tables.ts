import Table from 'cli-table3';
import { shortDigest } from '../digest/digest.js';
import type { ImageInfo } from '../analysis/load-images.js';
import type { SharingReport } from '../analysis/sharing.js';
import { humanBytes, percent, ratio } from './human.js';
import { platformString } from '../formats/types.js';

export function table(head: string[], align?: Array<'left' | 'right'>): Table.Table {
  return new Table({
    head,
    colAligns: align,
    style: { head: [], border: [], compact: true },
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
  });
}

export function imageSizeBytes(img: ImageInfo): number {
  const blobs = new Map<string, number>([[img.configDigest, img.configSize]]);
  for (const l of img.layers) blobs.set(l.digest, l.size);
  let n = 0;
  for (const s of blobs.values()) n += s;
  return n;
}

export function renderImageList(images: ImageInfo[]): string {
  const t = table(['REF', 'IMAGE ID', 'MANIFEST', 'PLATFORM', 'LAYERS', 'SIZE'], ['left', 'left', 'left', 'left', 'right', 'right']);
  for (const img of images) {
    const platform = img.platform ? platformString(img.platform) : '';
    const refs = img.refs.length ? img.refs : ['<none>'];
    for (const ref of refs) {
      t.push([ref + (img.unverified ? ' !' : ''), shortDigest(img.configDigest), shortDigest(img.manifestDigest), platform, String(img.layers.length), humanBytes(imageSizeBytes(img))]);
    }
  }
  return t.toString() + '\n' + unverifiedNote(images);
}

/** The footnote for images marked "!": stored by a push although their config disagrees with their layers. */
export function unverifiedNote(images: Array<{ unverified?: string }>): string {
  const n = images.filter((i) => i.unverified).length;
  if (n === 0) return '';
  return `! ${plural(n, 'image')} unverified: pushed with a config that disagrees with ${n === 1 ? 'its' : 'their'} layers (an artifact, or a broken image); not analysed inside; layerstore verify says why\n`;
}

export function renderSharing(r: SharingReport, opts: { maxLayers?: number } = {}): string {
  const out: string[] = [];
  const t = r.totals;
  out.push(
    `${plural(t.images, 'image')}, ${plural(t.layers, 'distinct layer')}: ${humanBytes(t.logicalBytes)} logical, ${humanBytes(t.storedBytes)} stored, ` +
      `${humanBytes(t.savedBytes)} saved by sharing (${percent(t.savedBytes, t.logicalBytes)}, dedup ratio ${ratio(t.dedupRatio)})`,
  );
  out.push('');
  out.push('Images (unique = what removing the image from the store would free)');
  const it = table(['REF', 'IMAGE ID', 'PLATFORM', 'LAYERS', 'SIZE', 'SHARED', 'UNIQUE'], ['left', 'left', 'left', 'right', 'right', 'right', 'right']);
  for (const img of r.images) {
    it.push([
      (img.refs.length ? img.refs.join('\n') : '<none>') + (img.unverified ? ' !' : ''),
      shortDigest(img.configDigest),
      img.platform ?? '',
      String(img.layers.length),
      humanBytes(img.sizeBytes),
      humanBytes(img.sharedBytes),
      humanBytes(img.uniqueBytes),
    ]);
  }
  out.push(it.toString());
  const note = unverifiedNote(r.images);
  if (note) out.push(note.trimEnd());
  out.push('');
  const shown = opts.maxLayers === undefined ? r.layers : r.layers.slice(0, opts.maxLayers);
  out.push(`Layers, by bytes saved through sharing${shown.length < r.layers.length ? ` (top ${shown.length} of ${r.layers.length}; --all-layers shows every one)` : ''}`);
  const lt = table(['LAYER', 'DIFF ID', 'COMPRESSION', 'SIZE', 'IMAGES', 'SAVED'], ['left', 'left', 'left', 'right', 'right', 'right']);
  for (const l of shown) {
    const wk = (l as { wellKnown?: string }).wellKnown;
    lt.push([shortDigest(l.digest) + (wk ? ' *' : ''), shortDigest(l.diffId), l.compression, humanBytes(l.sizeBytes), String(l.images.length), humanBytes(l.savedBytes)]);
  }
  out.push(lt.toString());
  const wellKnown = shown.filter((l) => (l as { wellKnown?: string }).wellKnown);
  if (wellKnown.length) out.push(`* a well-known empty layer (${[...new Set(wellKnown.map((l) => (l as { wellKnown?: string }).wellKnown))].join('; ')}): its sharing is not a real saving`);
  return out.join('\n') + '\n';
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
