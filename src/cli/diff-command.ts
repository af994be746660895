import { LayerstoreError } from '../errors.js';
import { loadImages } from '../analysis/load-images.js';
import { selectImages } from '../analysis/select.js';
import { compareImages } from '../analysis/image-diff.js';
import { imageDiffChunks } from '../report/files-tables.js';
import { writeJson } from '../report/json.js';
import { writeChunks } from '../util/write-chunks.js';
import { requireStore, storeDir } from './context.js';
import { Store } from '../store/store.js';
import { ingestEngineArgs, isEngineRef, theOneImage, type EngineOptions } from './engine-inputs.js';
import { isContainerRef } from '../engines/container-changes.js';

/** Layers and files added, removed and changed between two images; or, with container:NAME as B, what committing that container would add (commit-preview-command.ts). */
export async function diffCommand(a: string, b: string, opts: EngineOptions & { json?: boolean; all?: boolean }): Promise<number> {
  // An engine image (docker-daemon:NAME, containerd:NAME) is ingested first, then diffed by its manifest digest.
  if (isEngineRef(a) || isEngineRef(b)) {
    const { results } = await ingestEngineArgs(await Store.open(storeDir(opts), { create: true }), [a, b], opts);
    [a, b] = [a, b].map((x) => (results.has(x) ? theOneImage(x, results.get(x)!) : x)) as [string, string];
  }
  const store = await requireStore(opts);
  const all = await loadImages(store);
  const pick = (sel: string) => {
    const found = selectImages(all, [sel]);
    if (found.length > 1)
      throw new LayerstoreError('E_USAGE', `${JSON.stringify(sel)} names ${found.length} images (a multi-platform ref?); name one by its manifest digest`, {
        hint: 'layerstore ls shows each platform image',
      });
    return found[0]!;
  };
  if (isContainerRef(b)) return (await import('./commit-preview-command.js')).commitPreviewCommand(store, pick(a), b, opts);
  const d = await compareImages(store, pick(a), pick(b));
  // Both outputs are written in pieces from the refs: a million changes are never a million objects at once.
  if (opts.json) await writeJson(process.stdout, { schemaVersion: 1, ...d, files: d.files.lists() });
  else await writeChunks(process.stdout, imageDiffChunks(d, opts.all ? Number.MAX_SAFE_INTEGER : 30));
  return 0;
}
