import type { Digest } from '../digest/digest.js';
import type { Compression } from '../archive/compression.js';
import { loadImages, sniffStoredCompression } from '../analysis/load-images.js';
import { selectImages } from '../analysis/select.js';
import { computeSharing } from '../analysis/sharing.js';
import { renderSharing } from '../report/tables.js';
import { toJson } from '../report/json.js';
import { openForRead, storeDir, type GlobalOptions } from './context.js';

export interface ReportOptions extends GlobalOptions {
  json?: boolean;
  allLayers?: boolean;
}

export async function reportCommand(refs: string[], opts: ReportOptions): Promise<number> {
  const store = await openForRead(opts);
  const all = store ? await loadImages(store) : [];
  const images = selectImages(all, refs);
  const compression = new Map<Digest, Compression>();
  if (store) {
    for (const img of images) for (const l of img.layers) if (!compression.has(l.digest)) compression.set(l.digest, await sniffStoredCompression(store, l.digest));
  }
  const report = computeSharing(images, (d) => compression.get(d) ?? 'none');
  if (opts.json) {
    process.stdout.write(toJson(report));
    return 0;
  }
  process.stdout.write(`Store: ${storeDir(opts)}\n`);
  if (images.length === 0) {
    process.stdout.write('No images yet. Add some with: layerstore ingest IMAGE.tar\n');
    return 0;
  }
  process.stdout.write(renderSharing(report, { maxLayers: opts.allLayers ? undefined : 20 }));
  return 0;
}
