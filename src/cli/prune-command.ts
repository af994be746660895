import { loadStore } from '../analysis/load-images.js';
import { untaggedImages } from '../analysis/untagged.js';
import { shortDigest } from '../digest/digest.js';
import { humanBytes } from '../report/human.js';
import { toJson } from '../report/json.js';
import { refOf } from '../store/refs.js';
import { info, openForRead, storeDir, type GlobalOptions } from './context.js';

/**
 * Remove untagged images (as `docker image prune` removes dangling ones) and the blobs only
 * they held; orphans no root reached before are gc's. --dry-run takes the same path in the
 * store (Store.prune) without writing, so it says what a real run frees.
 */
export async function pruneCommand(opts: GlobalOptions & { dryRun?: boolean; json?: boolean }): Promise<number> {
  const store = await openForRead(opts);
  const json = (root: string, images: string[], bytesFreed: number, removedRoots: number) =>
    toJson({ schemaVersion: 1, store: root, dryRun: !!opts.dryRun, images, bytesFreed, removedRoots });
  if (!store) {
    info(opts, `no store at ${storeDir(opts)}; nothing to prune`);
    // --json still prints its document, an empty store's: a script reads one shape either way.
    if (opts.json) process.stdout.write(json(storeDir(opts), [], 0, 0));
    return 0;
  }
  const contents = await loadStore(store);
  const u = untaggedImages(contents.images);
  const untagged = new Set(u.images);
  // The untagged roots that lead to an untagged image: a manifest, or an index of platforms
  // (its root is the index, not the platform manifests). Roots that lead to no image
  // (artifacts, referrers) stay; the store removes what only the picked roots reach.
  const picked = new Set(
    contents.roots.filter((x) => refOf(x.descriptor) === undefined && x.images.some((i) => untagged.has(i))).map((x) => x.descriptor.digest),
  );
  const r = await store.prune((d) => refOf(d) === undefined && picked.has(d.digest), { dryRun: opts.dryRun });
  const removedRoots = opts.dryRun ? 0 : r.rootsRemoved.length;
  const freed = r.bytesFreed;
  if (opts.json) {
    process.stdout.write(
      json(
        store.root,
        u.images.map((i) => i.manifestDigest),
        freed,
        removedRoots,
      ),
    );
    return 0;
  }
  process.stdout.write(`Store: ${store.root}\n`);
  for (const i of u.images) process.stdout.write(`${opts.dryRun ? 'would remove' : 'removed'} untagged image ${shortDigest(i.manifestDigest)}\n`);
  process.stdout.write(`${opts.dryRun ? 'would free' : 'freed'} ${humanBytes(freed)} (${u.images.length} untagged image${u.images.length === 1 ? '' : 's'})\n`);
  return 0;
}
