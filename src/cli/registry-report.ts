import { computeSharing } from '../analysis/sharing.js';
import { compressionFromMediaType, repositoryCosts, scanRegistry } from '../registry/registry-scan.js';
import { renderSharing, table, plural } from '../report/tables.js';
import { humanBytes } from '../report/human.js';
import { writeJson } from '../report/json.js';
import type { GlobalOptions } from './context.js';
import { ProgressBar } from './progress.js';
import { clientFor, type RemoteOptions } from './remote.js';

/** `report --registry URL`: the sharing report for a whole registry, from manifests and configs only. */
export async function registryReportCommand(url: string, opts: GlobalOptions & RemoteOptions & { repo?: string; json?: boolean; allLayers?: boolean; concurrency?: string }): Promise<number> {
  const client = await clientFor(url, opts);
  const bar = new ProgressBar('scanning tags', !opts.quiet && !opts.json && process.stderr.isTTY === true, 'count');
  const scan = await scanRegistry(client, { repoPattern: opts.repo, concurrency: opts.concurrency ? Math.max(1, Number(opts.concurrency)) : 8, onProgress: (d, t) => bar.update(d, t) });
  bar.stop();
  const report = computeSharing(scan.images, (d) => compressionFromMediaType(scan.images.flatMap((i) => i.layers).find((l) => l.digest === d)?.mediaType ?? ''));
  const repos = repositoryCosts(scan);
  const manifestBytes = [...scan.manifestBlobs.values()].reduce((n, s) => n + s, 0);
  const registry = {
    url: client.baseUrl,
    repositories: repos.length,
    tags: repos.reduce((n, r) => n + r.tags, 0),
    /** What the registry's blob store holds for these tags: configs, layers, and manifests (registries store them as blobs). */
    blobBytes: report.totals.storedBytes + manifestBytes,
    manifestBytes,
  };
  if (opts.json) {
    await writeJson(process.stdout, { ...report, registry, repositories: repos, errors: scan.errors });
    return scan.errors.length ? 2 : 0;
  }
  process.stdout.write(`Registry: ${client.baseUrl} (${plural(registry.repositories, 'repository')}, ${plural(registry.tags, 'tag')}; compressed blob sizes as stored; compression from media types)\n`);
  process.stdout.write(renderSharing(report, { maxLayers: opts.allLayers ? undefined : 20 }));
  process.stdout.write('\nRepositories (unique = what deleting the repository would free)\n');
  const t = table(['REPOSITORY', 'TAGS', 'IMAGES', 'SIZE', 'UNIQUE'], ['left', 'right', 'right', 'right', 'right']);
  for (const r of repos) t.push([r.name, String(r.tags), String(r.images), humanBytes(r.sizeBytes), humanBytes(r.uniqueBytes)]);
  process.stdout.write(t.toString() + '\n');
  process.stdout.write(`Blob storage for these tags: ${humanBytes(registry.blobBytes)} (${humanBytes(manifestBytes)} of it manifests)\n`);
  for (const e of scan.errors) process.stderr.write(`layerstore: warning: ${e}\n`);
  return scan.errors.length ? 2 : 0;
}
