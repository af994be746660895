import { LayerstoreError } from '../errors.js';
import { analyzeRegistry } from '../registry/registry-analysis.js';
import { scanRegistry, ScanStop, type RegistryScan } from '../registry/registry-scan.js';
import { probeRegistry } from '../registry/probe.js';
import { RequestPolicy } from '../registry/request-policy.js';
import { ScanCache } from '../registry/scan-cache.js';
import { SHARING_FIELDS, plural, renderSharing, sharingRows, table } from '../report/tables.js';
import { renderRows } from '../report/row-format.js';
import { humanBytes } from '../report/human.js';
import { writeJson } from '../report/json.js';
import { Store } from '../store/store.js';
import { storeDir, type GlobalOptions } from './context.js';
import { SIGNAL_EXIT, stopOnSignal } from './interrupt.js';
import { outputFormat } from './output-format.js';
import { ProgressBar } from './progress.js';
import { clientFor, parseSeconds as seconds, type RemoteOptions } from './remote.js';

/** Exit code of a report that does not cover every tag (README, "Exit codes"). */
export const EXIT_INCOMPLETE = 4;
/** Attempts after the first for a GET or HEAD answered 429/5xx or whose connection failed. */
const RETRIES = 3;
const DEFAULT_TIMEOUT_S = 30;
/** Errors printed in text mode; --json lists every one. */
const ERRORS_SHOWN = 10;

export interface RegistryReportOptions extends GlobalOptions, RemoteOptions {
  repo?: string;
  json?: boolean;
  format?: string;
  allLayers?: boolean;
  concurrency?: string;
  timeout?: string;
  maxTime?: string;
}

/**
 * `report --registry URL`: the sharing report for a whole registry, from manifests and
 * configs only. Exit 0 when every tag is in it, EXIT_INCOMPLETE when some are not (the
 * registry stopped answering, --max-time, errors): the report says so first. SIGINT or
 * SIGTERM stops the scan as --max-time does and saves what was fetched to the cache, but prints
 * no report: one line on stderr, exit 130 or 143 (the user asked it to stop, not for a report).
 */
export async function registryReportCommand(url: string, opts: RegistryReportOptions): Promise<number> {
  const timeoutS = seconds(opts.timeout, '--timeout') ?? DEFAULT_TIMEOUT_S;
  const maxTimeS = seconds(opts.maxTime, '--max-time');
  const concurrency = opts.concurrency === undefined ? 8 : Number(opts.concurrency);
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > 256)
    throw new LayerstoreError('E_USAGE', `--concurrency ${JSON.stringify(opts.concurrency)}: expected a whole number from 1 to 256`);

  const client = await clientFor(url.replace(/\/+$/, ''), opts);
  const stop = new ScanStop();
  client.policy = new RequestPolicy({ timeoutMs: timeoutS * 1000, retries: RETRIES, signal: stop.signal });
  const timer = maxTimeS !== undefined ? setTimeout(() => stop.stop(`--max-time ${maxTimeS} s reached`), maxTimeS * 1000) : undefined;
  const signals = stopOnSignal((sig) => stop.stop(`interrupted (${sig})`));
  try {
    const dir = storeDir(opts);
    const bar = new ProgressBar('scanning tags', !opts.quiet && outputFormat(opts, SHARING_FIELDS).kind !== 'json' && process.stderr.isTTY === true, 'count');
    let scan: RegistryScan;
    let cache: ScanCache;
    try {
      await probeRegistry(client);
      // Loaded after the probe: a loopback HOST:PORT has only then settled on https or http,
      // and the cache is saved under the URL the scan used (keyed before, it was never found).
      cache = await loadCache(dir, client.baseUrl);
      scan = await scanRegistry(client, { repoPattern: opts.repo, concurrency, cache, stop, onProgress: (d, t) => bar.update(d, t) });
    } catch (e) {
      const sig = signals.received();
      if (sig) return interrupted(sig, 'nothing was read yet');
      // Stopped (--max-time) before there was anything to report: say that, not "aborted".
      if (stop.reason !== undefined && !(e instanceof LayerstoreError))
        throw new LayerstoreError('E_REGISTRY', `${client.baseUrl}: ${stop.reason} before the catalog was read`);
      throw e;
    } finally {
      bar.stop();
    }
    clearTimeout(timer);
    const sig = signals.received();
    if (sig) {
      await saveCache(dir, client.baseUrl, scan, cache, !opts.repo);
      const d = scan.documents;
      return interrupted(sig, `kept the ${plural(d.manifestsFetched, 'manifest')} and ${plural(d.configsFetched, 'config')} fetched for the next run`);
    }
    // A scan of the whole catalog that read every tag replaces the cache: the old records are not needed any more.
    if (!opts.repo && scan.complete) cache.release();
    const code = await printReport(client.baseUrl, scan, opts, { get: client.sent.get, head: client.sent.head, retried: client.policy.retried });
    // After the report: its data is garbage by then, so the cache's bytes need no more heap (20k tags: 250 -> 235 MB peak RSS).
    await saveCache(dir, client.baseUrl, scan, cache, !opts.repo);
    return code;
  } finally {
    clearTimeout(timer);
    signals.dispose();
  }
}

/** The one line of a scan stopped by a signal; its exit code. */
function interrupted(sig: keyof typeof SIGNAL_EXIT, what: string): number {
  process.stderr.write(`layerstore: interrupted (${sig}); ${what}; no report printed\n`);
  return SIGNAL_EXIT[sig];
}

/** The scan cache of `url` in the store at `dir`; empty when there is no store (none is made just to read). */
async function loadCache(dir: string, url: string): Promise<ScanCache> {
  const store = (await Store.exists(dir).catch(() => false)) ? await Store.open(dir).catch(() => undefined) : undefined;
  return store ? ScanCache.load(store.derived, url) : ScanCache.empty();
}

/**
 * Keep what this scan read for the next one, in the store (made if there is none yet: a
 * nightly report needs no ingest first). A complete scan of the whole catalog keeps only
 * what it saw (deleted images drop out); a partial one keeps the earlier records too.
 * Written only when something changed; a store that cannot be written just means no cache.
 */
async function saveCache(dir: string, url: string, scan: RegistryScan, old: ScanCache, wholeCatalog: boolean): Promise<void> {
  const d = scan.documents;
  const { manifests, configs, failed } = scan.records();
  const failedNow = new Set<string>(failed);
  const sameFailed = failedNow.size === old.failed.size && [...failedNow].every((x) => old.failed.has(x));
  const pruneOnly = d.manifestsFetched === 0 && d.configsFetched === 0 && sameFailed;
  if (pruneOnly && !(wholeCatalog && scan.complete && old.size > d.manifestsCached)) return;
  const store = await Store.open(dir, { create: true }).catch(() => undefined);
  if (!store) return;
  if (wholeCatalog && scan.complete) {
    await ScanCache.save(store.derived, url, manifests, configs, failedNow);
    return;
  }
  const m = new Map(manifests);
  const c = new Map(configs);
  const all = old.digests();
  for (const k of all.manifests) if (!m.has(k as never)) m.set(k as never, old.manifest(k as never)!);
  for (const k of all.configs) if (!c.has(k as never)) c.set(k as never, old.config(k as never)!);
  await ScanCache.save(
    store.derived,
    url,
    [...m].filter(([, r]) => r),
    [...c].filter(([, r]) => r),
    // A repository this scan did not reach may still lack what it lacked before.
    new Set([...failedNow, ...old.failed]),
  );
}

async function printReport(
  url: string,
  scan: RegistryScan,
  opts: RegistryReportOptions,
  requests: { get: number; head: number; retried: number },
): Promise<number> {
  const { report, repositories, manifestBytes, artifactBytes } = analyzeRegistry(scan);
  const c = scan.counts;
  const registry = {
    url,
    repositories: repositories.length,
    tags: repositories.reduce((n, r) => n + r.tags, 0),
    /**
     * What the registry's blob store holds for these tags: configs, layers, manifests (registries
     * store them as blobs), and the blobs of manifests that are not images (attestations, artifacts).
     */
    blobBytes: report.totals.storedBytes + manifestBytes + artifactBytes,
    manifestBytes,
  };
  const code = scan.complete ? 0 : EXIT_INCOMPLETE;
  const format = outputFormat(opts, SHARING_FIELDS);
  if (format.kind === 'json') {
    const { schemaVersion, ...rest } = report;
    await writeJson(process.stdout, {
      schemaVersion,
      complete: scan.complete,
      scan: { ...c, ...(scan.stoppedBy !== undefined ? { stoppedBy: scan.stoppedBy } : {}), requests, documents: scan.documents },
      ...rest,
      registry,
      repositories,
      errors: scan.errors,
    });
    return code;
  }
  if (format.kind === 'template') {
    // One line per image, as the store's report: what is missing is said on stderr and by the exit code.
    process.stdout.write(renderRows(format.template, sharingRows(report)));
    warnErrors(scan);
    return code;
  }
  if (!scan.complete) process.stdout.write(`INCOMPLETE: ${incompleteLine(scan)}\n`);
  const skipped = c.repositoriesWithoutTags ? `; ${nRepositories(c.repositoriesWithoutTags)} without tags skipped` : '';
  process.stdout.write(
    `Registry: ${url} (${nRepositories(registry.repositories)}, ${plural(registry.tags, 'tag')}${skipped}; compressed blob sizes as stored; compression from media types)\n`,
  );
  process.stdout.write(renderSharing(report, { removingFrom: 'the registry', maxLayers: opts.allLayers ? undefined : 20 }));
  process.stdout.write('\nRepositories (unique = what deleting the repository would free)\n');
  const t = table(['REPOSITORY', 'TAGS', 'IMAGES', 'SIZE', 'UNIQUE'], ['left', 'right', 'right', 'right', 'right']);
  for (const r of repositories) t.push([r.name, String(r.tags), String(r.images), humanBytes(r.sizeBytes), humanBytes(r.uniqueBytes)]);
  process.stdout.write(t.toString() + '\n');
  process.stdout.write(`Blob storage for these tags: ${humanBytes(registry.blobBytes)} (${humanBytes(manifestBytes)} of it manifests)\n`);
  warnErrors(scan);
  return code;
}

/** The scan's first errors, and that the report is incomplete, on stderr. */
function warnErrors(scan: RegistryScan): void {
  for (const e of scan.errors.slice(0, ERRORS_SHOWN)) process.stderr.write(`layerstore: warning: ${e}\n`);
  if (scan.errors.length > ERRORS_SHOWN)
    process.stderr.write(`layerstore: warning: ... and ${scan.errors.length - ERRORS_SHOWN} more errors (--json lists every one)\n`);
  if (!scan.complete) process.stderr.write(`layerstore: the report is incomplete: ${incompleteLine(scan)}\n`);
}

const nRepositories = (n: number) => `${n} ${n === 1 ? 'repository' : 'repositories'}`;

/** "4890 tags: 2213 read, 0 failed, 2677 not reached; the registry stopped answering: ..." */
function incompleteLine(scan: RegistryScan): string {
  const c = scan.counts;
  const repos =
    c.repositoriesFailed || c.repositoriesNotReached
      ? `; ${c.repositories} repositories: tags of ${c.repositoriesFailed} could not be listed, ${c.repositoriesNotReached} not reached`
      : '';
  const why = scan.stoppedBy ?? `${plural(scan.errors.length, 'error')}`;
  return `${c.tagsRead} of ${plural(c.tags, 'tag')} read (${c.tagsFailed} failed, ${c.tagsNotReached} not reached)${repos}; ${why}`;
}
