import Table from 'cli-table3';
import { shortDigest } from '../digest/digest.js';
import type { ImageInfo } from '../analysis/load-images.js';
import type { SharingReport } from '../analysis/sharing.js';
import { humanBytes, percent, ratio } from './human.js';
import { platformString } from '../formats/types.js';
import { truncateCell } from './row-format.js';

export function table(head: string[], align?: Array<'left' | 'right'>, colWidths?: number[]): Table.Table {
  return new Table({
    head,
    colAligns: align,
    ...(colWidths ? { colWidths } : {}),
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

/** Widest REF shown on a terminal unless --no-trunc: one long ref must not widen every row. */
export const REF_WIDTH = 48;

/** One row per (image, ref), as `ls` lists them and `ls --format` prints them. */
/** The fields of an `ls` row (--format templates). */
export const IMAGE_LIST_FIELDS = [
  'Ref',
  'ImageID',
  'Manifest',
  'Platform',
  'Layers',
  'Size',
  'SizeBytes',
  'ConfigDigest',
  'ManifestDigest',
  'Created',
] as const;

/** One row of `ls`: the fields, typed so that a field missing from IMAGE_LIST_FIELDS does not compile. */
type ImageListRow = Record<(typeof IMAGE_LIST_FIELDS)[number], string | number | null>;

export function imageListRows(images: ImageInfo[]): ImageListRow[] {
  return images.flatMap((img) =>
    (img.refs.length ? img.refs : ['<none>']).map(
      (ref): ImageListRow => ({
        Ref: ref,
        ImageID: shortDigest(img.configDigest),
        Manifest: shortDigest(img.manifestDigest),
        Platform: img.platform ? platformString(img.platform) : '',
        Layers: img.layers.length,
        Size: humanBytes(imageSizeBytes(img)),
        SizeBytes: imageSizeBytes(img),
        ConfigDigest: img.configDigest,
        ManifestDigest: img.manifestDigest,
        Created: img.created ?? null,
      }),
    ),
  );
}

export function renderImageList(images: ImageInfo[], opts: { truncate?: boolean } = {}): string {
  const t = table(['REF', 'IMAGE ID', 'MANIFEST', 'PLATFORM', 'LAYERS', 'SIZE'], ['left', 'left', 'left', 'left', 'right', 'right']);
  for (const img of images) {
    const platform = img.platform ? platformString(img.platform) : '';
    const refs = img.refs.length ? img.refs : ['<none>'];
    // --no-trunc: whole refs and whole digests, as docker prints them.
    const id = (d: string) => (opts.truncate === false ? d : shortDigest(d));
    for (const ref of refs) {
      const shown = opts.truncate ? truncateCell(ref, REF_WIDTH) : ref;
      t.push([
        shown + (img.unverified ? ' !' : ''),
        id(img.configDigest),
        id(img.manifestDigest),
        platform,
        String(img.layers.length),
        humanBytes(imageSizeBytes(img)),
      ]);
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

/** One row per image of a report, for `report --format`. */
/** The fields of a `report` row (--format templates); Containers only for an engine's images. */
export const SHARING_FIELDS = [
  'Ref',
  'Refs',
  'ImageID',
  'Platform',
  'Layers',
  'Size',
  'Shared',
  'Unique',
  'SizeBytes',
  'SharedBytes',
  'UniqueBytes',
  'ManifestDigest',
  'Containers',
] as const;

/** One row of `report`: the fields, typed so that a field missing from SHARING_FIELDS does not compile. */
type SharingRow = Partial<Record<(typeof SHARING_FIELDS)[number], string | number | null>>;

export function sharingRows(r: SharingReport): SharingRow[] {
  return r.images.map(
    (img): SharingRow => ({
      Ref: img.refs[0] ?? '<none>',
      Refs: img.refs.join(','),
      ImageID: shortDigest(img.configDigest),
      Platform: img.platform ?? '',
      Layers: img.layers.length,
      Size: humanBytes(img.sizeBytes),
      Shared: humanBytes(img.sharedBytes),
      Unique: humanBytes(img.uniqueBytes),
      SizeBytes: img.sizeBytes,
      SharedBytes: img.sharedBytes,
      UniqueBytes: img.uniqueBytes,
      ManifestDigest: img.manifestDigest,
      ...(img.containers !== undefined ? { Containers: img.containers } : {}),
    }),
  );
}

/**
 * The sharing tables. `removingFrom` is what the images are in ('the store', 'the engine',
 * 'the registry'): their UNIQUE bytes are what removing one from it frees, so it has no default.
 */
export function renderSharing(r: SharingReport, opts: { removingFrom: string; maxLayers?: number; truncate?: boolean }): string {
  const out: string[] = [];
  const t = r.totals;
  out.push(
    `${plural(t.images, 'image')}, ${plural(t.layers, 'distinct layer')}: ${humanBytes(t.logicalBytes)} logical, ${humanBytes(t.storedBytes)} stored, ` +
      `${humanBytes(t.savedBytes)} saved by sharing (${percent(t.savedBytes, t.logicalBytes)}, dedup ratio ${ratio(t.dedupRatio)})`,
  );
  out.push('');
  out.push(`Images (unique = what removing the image from ${opts.removingFrom} would free)`);
  // CONTAINERS only for images read from an engine (report docker-daemon:).
  const withContainers = r.images.some((i) => i.containers !== undefined);
  const it = table(
    ['REF', 'IMAGE ID', 'PLATFORM', 'LAYERS', 'SIZE', 'SHARED', 'UNIQUE', ...(withContainers ? ['CONTAINERS'] : [])],
    ['left', 'left', 'left', 'right', 'right', 'right', 'right', 'right'],
  );
  for (const img of r.images) {
    it.push([
      (img.refs.length ? img.refs.map((ref) => (opts.truncate ? truncateCell(ref, REF_WIDTH) : ref)).join('\n') : '<none>') + (img.unverified ? ' !' : ''),
      shortDigest(img.configDigest),
      img.platform ?? '',
      String(img.layers.length),
      humanBytes(img.sizeBytes),
      humanBytes(img.sharedBytes),
      humanBytes(img.uniqueBytes),
      ...(withContainers ? [String(img.containers ?? '')] : []),
    ]);
  }
  out.push(it.toString());
  const note = unverifiedNote(r.images);
  if (note) out.push(note.trimEnd());
  out.push('');
  const shown = opts.maxLayers === undefined ? r.layers : r.layers.slice(0, opts.maxLayers);
  out.push(
    `Layers, by bytes saved through sharing${shown.length < r.layers.length ? ` (top ${shown.length} of ${r.layers.length}; --all-layers shows every one)` : ''}`,
  );
  const lt = table(['LAYER', 'DIFF ID', 'COMPRESSION', 'SIZE', 'IMAGES', 'SAVED'], ['left', 'left', 'left', 'right', 'right', 'right']);
  for (const l of shown) {
    const wk = (l as { wellKnown?: string }).wellKnown;
    lt.push([
      shortDigest(l.digest) + (wk ? ' *' : ''),
      shortDigest(l.diffId),
      l.compression,
      humanBytes(l.sizeBytes),
      String(l.images.length),
      humanBytes(l.savedBytes),
    ]);
  }
  out.push(lt.toString());
  const wellKnown = shown.filter((l) => (l as { wellKnown?: string }).wellKnown);
  if (wellKnown.length)
    out.push(
      `* a well-known empty layer (${[...new Set(wellKnown.map((l) => (l as { wellKnown?: string }).wellKnown))].join('; ')}): its sharing is not a real saving`,
    );
  return out.join('\n') + '\n';
}

export function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}
