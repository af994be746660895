import { loadStore } from '../analysis/load-images.js';
import { selectImages } from '../analysis/select.js';
import { SHARING_FIELDS, renderSharing, sharingRows } from '../report/tables.js';
import { renderRows } from '../report/row-format.js';
import { outputFormat } from './output-format.js';
import { renderFilesReport } from '../report/files-tables.js';
import { renderReferrers } from '../report/referrers-table.js';
import { writeJson } from '../report/json.js';
import { computeReport, reportJson } from '../report/report-json.js';
import { info, openForRead, storeDir } from './context.js';
import { ProgressBar } from './progress.js';
import { htmlReportCommand } from './html-report-command.js';
import { untaggedLine } from './untagged-line.js';
import { notImagesNotes } from './not-images-line.js';
import { Store } from '../store/store.js';
import { engineEndpoint } from '../engines/engine-api.js';
import { DOCKER_DAEMON } from '../engines/engine-refs.js';
import { containersByImage } from '../engines/containers.js';
import { engineUsage, renderEngineUsage } from '../report/engine-usage.js';
import { ingestEngineArgs, isEngineRef, type EngineOptions } from './engine-inputs.js';
import { topFiles } from './report-options.js';

export interface ReportOptions extends EngineOptions {
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

export async function reportCommand(args: string[], opts: ReportOptions): Promise<number> {
  // docker-daemon:/containerd: arguments are ingested into the store first (the cache that
  // makes the next run fast), then reported as the images they brought in.
  const fromEngine = args.some(isEngineRef);
  const ingested = fromEngine ? await ingestEngineArgs(await Store.open(storeDir(opts), { create: true }), args, opts) : undefined;
  const refs = ingested?.selectors ?? args;
  if (opts.html !== undefined) return htmlReportCommand(opts.html, refs, opts);
  const store = await openForRead(opts);
  const { images: all, referrers, notImages } = store ? await loadStore(store, { compression: true }) : { images: [], referrers: new Map(), notImages: [] };
  // `report docker-daemon:` is the engine's disk report: unique bytes count against the
  // engine's images (what removing one from the engine frees), not the whole store's.
  const wholeEngine = args.length === 1 && args[0] === DOCKER_DAEMON;
  const selected = selectImages(all, refs);
  // Its rows name each image by the tags the engine has now (the export's, one per RepoTag of
  // /images/json), not by the store's refs, which keep tags of earlier runs the engine dropped.
  const engineRefs = wholeEngine ? new Map(ingested!.results.get(DOCKER_DAEMON)!.images.map((i) => [i.manifestDigest, i.refs])) : undefined;
  const images = engineRefs ? selected.map((i) => ({ ...i, refs: [...(engineRefs.get(i.manifestDigest) ?? [])].sort() })) : selected;
  const top = topFiles(opts.top);
  const bar = new ProgressBar('indexing layers', !!opts.files && !opts.quiet && process.stderr.isTTY === true, 'count');
  const r = await computeReport(store, images, {
    files: opts.files,
    top,
    onProgress: (d, t) => bar.update(d, t),
    universe: wholeEngine ? images : all,
    referrers,
  });
  bar.stop();
  for (const u of r.files?.unreadableLayers ?? []) {
    const names = images.filter((i) => u.images.includes(i.manifestDigest)).map((i) => i.refs[0] ?? i.manifestDigest);
    info(opts, `warning: layer ${u.digest} is not a readable tar (${u.message} [${u.code}]); left out of the file figures: ${names.join(', ')}`);
  }
  const usage = wholeEngine
    ? engineUsage(DOCKER_DAEMON, engineEndpoint(opts).label, images, r.sharing.images, await containersByImage(engineEndpoint(opts)))
    : undefined;
  const format = outputFormat(opts, SHARING_FIELDS);
  if (format.kind === 'json') {
    await writeJson(process.stdout, usage ? { ...reportJson(r), engine: usage } : reportJson(r));
    return 0;
  }
  if (format.kind === 'template') {
    process.stdout.write(renderRows(format.template, sharingRows(r.sharing)));
    return 0;
  }
  process.stdout.write(`Store: ${storeDir(opts)}\n`);
  // About the whole store, as untaggedLine: said when no image was asked for by name.
  const notes = refs.length === 0 ? notImagesNotes(notImages) : { out: '', warning: '' };
  process.stderr.write(notes.warning);
  if (images.length === 0) {
    process.stdout.write(notes.out ? `No images. ${notes.out}` : 'No images yet. Add some with: layerstore ingest IMAGE.tar\n');
    return 0;
  }
  process.stdout.write(
    renderSharing(r.sharing, {
      maxLayers: opts.allLayers ? undefined : 20,
      truncate: opts.trunc !== false && process.stdout.isTTY === true,
      removingFrom: wholeEngine ? 'the engine' : 'the store',
    }),
  );
  if (usage) process.stdout.write(renderEngineUsage(usage));
  process.stdout.write(renderReferrers(r.sharing.images, r.referrers));
  // Untagged images of the whole store (what prune frees), whatever the selection; an
  // engine's report is about the engine's images, not the store's leftovers.
  if (!wholeEngine) process.stdout.write(untaggedLine(all) + notes.out);
  if (r.files)
    process.stdout.write(
      renderFilesReport(
        images.filter((i) => !i.unverified),
        r.files,
        top,
      ),
    );
  return 0;
}
