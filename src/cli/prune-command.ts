import { loadImages } from '../analysis/load-images.js';
import { untaggedImages } from '../analysis/untagged.js';
import { shortDigest } from '../digest/digest.js';
import { humanBytes } from '../report/human.js';
import { toJson } from '../report/json.js';
import { refOf } from '../store/refs.js';
import { gcStore } from '../store/gc.js';
import { info, openForRead, storeDir, type GlobalOptions } from './context.js';

/**
 * Remove untagged images (as `docker image prune` removes dangling ones), then gc frees
 * what nothing reaches any more. --dry-run says what would go and what it frees.
 */
export async function pruneCommand(opts: GlobalOptions & { dryRun?: boolean; json?: boolean }): Promise<number> {
  const store = await openForRead(opts);
  if (!store) {
    info(opts, `no store at ${storeDir(opts)}; nothing to prune`);
    return 0;
  }
  const u = untaggedImages(await loadImages(store));
  const digests = new Set(u.images.map((i) => i.manifestDigest));
  let removedRoots = 0;
  let freed = u.bytes;
  if (!opts.dryRun && digests.size) {
    // Untagged roots only: an untagged image inside a tagged index stays with its index.
    removedRoots = (await store.removeRoots((d) => refOf(d) === undefined && digests.has(d.digest))).length;
    freed = (await gcStore(store)).bytesFreed;
  }
  if (opts.json) {
    process.stdout.write(
      toJson({ schemaVersion: 1, store: store.root, dryRun: !!opts.dryRun, images: u.images.map((i) => i.manifestDigest), bytesFreed: freed, removedRoots }),
    );
    return 0;
  }
  process.stdout.write(`Store: ${store.root}\n`);
  for (const i of u.images) process.stdout.write(`${opts.dryRun ? 'would remove' : 'removed'} untagged image ${shortDigest(i.manifestDigest)}\n`);
  process.stdout.write(`${opts.dryRun ? 'would free' : 'freed'} ${humanBytes(freed)} (${u.images.length} untagged image${u.images.length === 1 ? '' : 's'})\n`);
  return 0;
}
