import { loadImages } from '../analysis/load-images.js';
import { selectImages } from '../analysis/select.js';
import { renderSharing, sharingRows } from '../report/tables.js';
import { parseRowFormat, renderRows } from '../report/row-format.js';
import { renderFilesReport } from '../report/files-tables.js';
import { renderReferrers } from '../report/referrers-table.js';
import { writeJson } from '../report/json.js';
import { computeReport, reportJson } from '../report/report-json.js';
import { openForRead, storeDir, type GlobalOptions } from './context.js';
import { ProgressBar } from './progress.js';
import { htmlReportCommand } from '../html/html-command.js';

export interface ReportOptions extends GlobalOptions {
  json?: boolean;
  allLayers?: boolean;
  files?: boolean;
  top?: string;
  /** Write the report as one self-contained HTML page to this file. */
  html?: string;
  registry?: string;
  format?: string;
  /** false with --no-trunc. */
  trunc?: boolean;
}

export async function reportCommand(refs: string[], opts: ReportOptions): Promise<number> {
  if (opts.html !== undefined) return htmlReportCommand(opts.html, refs, opts);
  const store = await openForRead(opts);
  const all = store ? await loadImages(store, { compression: true }) : [];
  const images = selectImages(all, refs);
  const topN = opts.top === undefined ? 10 : parseInt(opts.top, 10);
  const top = Number.isInteger(topN) && topN >= 0 ? topN : 10;
  const bar = new ProgressBar('indexing layers', !!opts.files && !opts.quiet && process.stderr.isTTY === true, 'count');
  const r = await computeReport(store, images, { files: opts.files, top, onProgress: (d, t) => bar.update(d, t), universe: all });
  bar.stop();
  const format = parseRowFormat(opts.json ? 'json' : opts.format);
  if (format.kind === 'json') {
    await writeJson(process.stdout, reportJson(r));
    return 0;
  }
  if (format.kind === 'template') {
    process.stdout.write(renderRows(format.template, sharingRows(r.sharing)));
    return 0;
  }
  process.stdout.write(`Store: ${storeDir(opts)}\n`);
  if (images.length === 0) {
    process.stdout.write('No images yet. Add some with: layerstore ingest IMAGE.tar\n');
    return 0;
  }
  process.stdout.write(renderSharing(r.sharing, { maxLayers: opts.allLayers ? undefined : 20, truncate: opts.trunc !== false && process.stdout.isTTY === true }));
  process.stdout.write(renderReferrers(r.sharing.images, r.referrers));
  if (r.files) process.stdout.write(renderFilesReport(images.filter((i) => !i.unverified), r.files, top));
  return 0;
}
