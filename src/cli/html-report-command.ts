import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { LayerstoreError } from '../errors.js';
import { loadStore } from '../analysis/load-images.js';
import { selectImages } from '../analysis/select.js';
import { humanBytes } from '../report/human.js';
import { openForRead, type GlobalOptions } from './context.js';
import { ProgressBar } from './progress.js';
import { buildReportJson, buildStacks, type PageData } from '../html/report-data.js';
import { renderReportPage } from '../html/report-page.js';
import { topFiles } from './report-options.js';

export interface HtmlReportOptions extends GlobalOptions {
  top?: string;
}

/**
 * `layerstore report --html FILE [REF...]`: the `report --files` data as one self-contained
 * HTML page (charts, tables, filter; no network needed to open it). The file appears whole
 * or not at all (written beside itself, then renamed).
 */
export async function htmlReportCommand(file: string, refs: string[], opts: HtmlReportOptions): Promise<number> {
  const store = await openForRead(opts);
  const { images: all, referrers } = store ? await loadStore(store, { compression: true }) : { images: [], referrers: new Map() };
  const images = selectImages(all, refs);
  const top = topFiles(opts.top);
  const bar = new ProgressBar('indexing layers', !opts.quiet && process.stderr.isTTY === true, 'count');
  const report = await buildReportJson(store, images, { top, onProgress: (d, t) => bar.update(d, t), universe: all, referrers });
  bar.stop();
  const data: PageData = { schemaVersion: 1, report, stacks: await buildStacks(store, images) };
  const { html } = renderReportPage({ data, title: `layerstore report: ${images.length} image${images.length === 1 ? '' : 's'}` });
  const target = path.resolve(file);
  const tmp = path.join(path.dirname(target), `.${path.basename(target)}.${process.pid}.tmp`);
  try {
    await fsp.writeFile(tmp, html);
    await fsp.rename(tmp, target);
  } catch (e) {
    await fsp.rm(tmp, { force: true });
    throw new LayerstoreError('E_IO', `cannot write ${file}: ${(e as Error).message}`);
  }
  const bytes = Buffer.byteLength(html);
  process.stdout.write(
    `wrote ${file} (${humanBytes(bytes)}): ${images.length} image${images.length === 1 ? '' : 's'}, ${(report.totals as { layers: number }).layers} distinct layers\n`,
  );
  return 0;
}
