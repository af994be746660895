import { shortDigest } from '../digest/digest.js';
import type { ImageInfo } from '../analysis/load-images.js';
import type { FilesReport } from '../analysis/files-report.js';
import type { ImageChanges } from '../analysis/image-diff.js';
import { humanBytes, percent } from './human.js';
import { printable } from './printable.js';
import { plural, table } from './tables.js';
import { tableChunks } from './streamed-table.js';

/** Layers named in a cell: a path rewritten in 3,000 layers must not make a row 250,000 characters wide (--json lists them all). */
const LAYERS_SHOWN = 4;
const digestList = (ds: string[]): string =>
  ds.slice(0, LAYERS_SHOWN).map(shortDigest).join(', ') + (ds.length > LAYERS_SHOWN ? ` (+${ds.length - LAYERS_SHOWN} more)` : '');

/** The tables of `report --files`: ledger levels, per-image waste, top wasted and duplicated files. */
export function renderFilesReport(images: ImageInfo[], r: FilesReport, top: number): string {
  const out: string[] = [''];
  const l = r.ledger;
  out.push('Savings ledger (layers only; configs and manifests are in the totals above)');
  const lt = table(['LEVEL', 'LOGICAL', 'STORED', 'SAVED', 'WHAT IT IS'], ['left', 'right', 'right', 'right', 'left']);
  lt.push([
    'blob',
    humanBytes(l.blob.logicalBytes),
    humanBytes(l.blob.storedBytes),
    humanBytes(l.blob.savedBytes),
    `${plural(l.blob.blobs, 'distinct blob')}: what the store pays today`,
  ]);
  lt.push([
    'diffID',
    humanBytes(l.diffId.logicalBytes),
    humanBytes(l.diffId.storedBytes),
    humanBytes(l.diffId.savedBytes),
    `${plural(l.diffId.diffIds, 'distinct diffID')}: potential, one blob per uncompressed layer`,
  ]);
  if (l.file) {
    lt.push([
      'file',
      humanBytes(l.file.logicalBytes),
      humanBytes(l.file.storedBytes),
      humanBytes(l.file.savedBytes),
      `${plural(l.file.contents, 'distinct content')} in ${plural(l.file.files, 'file')}: potential, uncompressed bytes`,
    ]);
  }
  out.push(lt.toString());
  if (l.wellKnown.length) {
    out.push(
      `Well-known empty layers, left out of the levels: ${l.wellKnown.map((w) => `${w.label} ${shortDigest(w.digest)} in ${plural(w.images, 'image')}`).join('; ')}`,
    );
  }
  out.push('');
  out.push('Waste inside images (deleted/replaced: lower-layer copies hidden by upper layers; duplicate: same content at another path)');
  const wt = table(
    ['REF', 'FILES', 'DELETED', 'REPLACED', 'DUPLICATE', 'WASTED', 'EFFICIENCY', 'REMOVING FREES'],
    ['left', 'right', 'right', 'right', 'right', 'right', 'right', 'right'],
  );
  for (const img of images) {
    const x = r.images.get(img.manifestDigest);
    if (!x) continue; // a layer could not be read: listed below the table
    const w = x.waste;
    wt.push([
      img.refs.length ? img.refs.join('\n') : `<none>@${shortDigest(img.manifestDigest)}`,
      humanBytes(w.totalFileBytes),
      humanBytes(w.deletedBytes),
      humanBytes(w.replacedBytes),
      humanBytes(w.duplicateBytes),
      humanBytes(w.wastedBytes),
      percent(w.efficiency, 1),
      humanBytes(x.marginalBytes),
    ]);
  }
  out.push(wt.toString());
  for (const u of r.unreadableLayers) {
    const names = images.filter((i) => u.images.includes(i.manifestDigest)).map((i) => i.refs[0] ?? `<none>@${shortDigest(i.manifestDigest)}`);
    out.push(`Not analysed: ${names.join(', ')}: layer ${shortDigest(u.digest)} is not a readable tar (${u.message} [${u.code}])`);
  }
  const wasted = images.flatMap((img) => (r.images.get(img.manifestDigest)?.topWasted ?? []).map((f) => ({ img, f }))).sort((a, b) => b.f.bytes - a.f.bytes);
  if (wasted.length) {
    out.push('');
    out.push(`Largest wasted files (top ${Math.min(top, wasted.length)})`);
    const ft = table(['IMAGE', 'PATH', 'CLASS', 'BYTES', 'IN LAYER', 'WHY'], ['left', 'left', 'left', 'right', 'left', 'left']);
    for (const { img, f } of wasted.slice(0, top)) {
      const why = f.class === 'duplicate' ? `same as ${printable(f.duplicateOf ?? '')}` : `hidden by ${digestList(f.hiddenBy)}`;
      ft.push([img.refs[0] ?? shortDigest(img.manifestDigest), printable(f.path), f.class, humanBytes(f.bytes), digestList(f.layers), why]);
    }
    out.push(ft.toString());
  }
  if (r.duplicateFiles.length) {
    out.push('');
    out.push('Contents stored more than once, in one layer or across layers (what a file-level store would save)');
    const dt = table(['CONTENT', 'SIZE', 'COPIES', 'LAYERS', 'SAVED', 'PATHS'], ['left', 'right', 'right', 'right', 'right', 'left']);
    for (const d of r.duplicateFiles) {
      const paths = [...new Set(d.occurrences.map((o) => printable(o.path)))];
      // Paths past the listed ones (MAX_OCCURRENCES) are counted, not named.
      const more = paths.length - Math.min(3, paths.length) + (d.occurrencesOmitted ?? 0);
      dt.push([
        shortDigest(d.digest),
        humanBytes(d.sizeBytes),
        String(d.occurrences.length + (d.occurrencesOmitted ?? 0)),
        String(d.layers),
        humanBytes(d.savedBytes),
        paths.slice(0, 3).join('\n') + (more > 0 ? `\n(+${more} more)` : ''),
      ]);
    }
    out.push(dt.toString());
  }
  return out.join('\n') + '\n';
}

/** `layerstore diff A B` for people: a summary, then the `top` largest changes (written in pieces: --all may list millions). */
export function* imageDiffChunks(d: ImageChanges, top: number): Generator<string> {
  const name = (x: ImageChanges['a']) => x.refs[0] ?? shortDigest(x.manifestDigest);
  const out: string[] = [`${name(d.a)} -> ${name(d.b)}`, ''];
  const L = d.layers;
  out.push(
    `Layers: ${L.common.length} in common (${humanBytes(L.commonBytes)}), ${L.added.length} added (+${humanBytes(L.addedBytes)}), ${L.removed.length} removed (-${humanBytes(L.removedBytes)})`,
  );
  for (const l of L.removed) out.push(`  - ${shortDigest(l.digest)} ${humanBytes(l.size)}`);
  for (const l of L.added) out.push(`  + ${shortDigest(l.digest)} ${humanBytes(l.size)}`);
  const F = d.files;
  out.push('');
  out.push(
    `Files: ${F.addedRefs.length} added (+${humanBytes(F.addedBytes)}), ${F.removedRefs.length} removed (-${humanBytes(F.removedBytes)}), ` +
      `${F.changedA.length} changed (${humanBytes(F.changedBytesBefore)} -> ${humanBytes(F.changedBytesAfter)}), ${F.unchanged} unchanged`,
  );
  yield `${out.join('\n')}\n`;
  if (F.count === 0) return;
  const rows = F.firstRows(top);
  const cells = (i: number): string[] => {
    const r = F.rowAt(rows[i]!);
    if (r.kind === 'changed') {
      const c = r.change;
      return ['changed', printable(c.path), `${humanBytes(c.before.bytes)} -> ${humanBytes(c.after.bytes)}`, c.reasons.join(', ')];
    }
    const f = r.entry;
    return [r.kind, printable(f.path), `${r.kind === 'added' ? '+' : '-'}${humanBytes(f.bytes)}`, f.type];
  };
  yield* tableChunks(['CHANGE', 'PATH', 'BYTES', 'WHAT'], ['left', 'left', 'right', 'left'], rows.length, cells);
  if (F.count > rows.length) yield `(${F.count - rows.length} more; --all lists every change, --json gives them all)\n`;
}
