import type { Digest } from '../digest/digest.js';
import type { Compression } from '../archive/compression.js';
import { loadImages } from '../analysis/load-images.js';
import { selectImages } from '../analysis/select.js';
import { computeSharing } from '../analysis/sharing.js';
import { computeFilesReport } from '../analysis/files-report.js';
import { wellKnownLayer } from '../analysis/ledger.js';
import { renderSharing } from '../report/tables.js';
import { renderFilesReport } from '../report/files-tables.js';
import { toJson } from '../report/json.js';
import { openForRead, storeDir, type GlobalOptions } from './context.js';
import { ProgressBar } from './progress.js';

export interface ReportOptions extends GlobalOptions {
  json?: boolean;
  allLayers?: boolean;
  files?: boolean;
  top?: string;
}

export async function reportCommand(refs: string[], opts: ReportOptions): Promise<number> {
  const store = await openForRead(opts);
  const all = store ? await loadImages(store) : [];
  const images = selectImages(all, refs);
  const top = opts.top ? Math.max(1, parseInt(opts.top, 10) || 10) : 10;
  const compression = new Map<Digest, Compression>();
  if (store) {
    for (const img of images) for (const l of img.layers) if (!compression.has(l.digest)) compression.set(l.digest, await store.blobs.compression(l.digest));
  }
  const report = computeSharing(images, (d) => compression.get(d) ?? 'none');
  // Well-known empty layers are flagged so their "sharing" is not read as real savings.
  const layers = report.layers.map((l) => {
    const label = wellKnownLayer(l);
    return label ? { ...l, wellKnown: label } : l;
  });
  let files: Awaited<ReturnType<typeof computeFilesReport>> | undefined;
  if (opts.files && store) {
    const bar = new ProgressBar('indexing layers', !opts.quiet && process.stderr.isTTY === true, 'count');
    files = await computeFilesReport(store, images, { top, onProgress: (d, t) => bar.update(d, t) });
    bar.stop();
  }
  if (opts.json) {
    if (!files) {
      process.stdout.write(toJson({ ...report, layers }));
      return 0;
    }
    const f = files;
    const l = f.ledger;
    const level = (x: { logicalBytes: number; storedBytes: number; savedBytes: number }) => ({ logicalBytes: x.logicalBytes, storedBytes: x.storedBytes, savedBytes: x.savedBytes });
    process.stdout.write(
      toJson({
        ...report,
        totals: {
          ...report.totals,
          levels: { blob: level(l.blob), diffId: level(l.diffId), file: l.file ? level(l.file) : null },
          wellKnown: l.wellKnown,
        },
        images: report.images.map((img) => {
          const x = f.images.get(img.manifestDigest)!;
          return { ...img, marginalBytes: x.marginalBytes, waste: x.waste, wastedFiles: x.topWasted };
        }),
        layers,
        duplicateFiles: f.duplicateFiles,
      }),
    );
    return 0;
  }
  process.stdout.write(`Store: ${storeDir(opts)}\n`);
  if (images.length === 0) {
    process.stdout.write('No images yet. Add some with: layerstore ingest IMAGE.tar\n');
    return 0;
  }
  process.stdout.write(renderSharing({ ...report, layers }, { maxLayers: opts.allLayers ? undefined : 20 }));
  if (files) process.stdout.write(renderFilesReport(images, files, top));
  return 0;
}
