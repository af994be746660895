import { emptyGcReport, gcStore } from '../store/gc.js';
import { humanBytes } from '../report/human.js';
import { toJson } from '../report/json.js';
import { openForRead, storeDir, info, type GlobalOptions } from './context.js';

export async function gcCommand(opts: GlobalOptions & { dryRun?: boolean; json?: boolean }): Promise<number> {
  const store = await openForRead(opts);
  if (!store) {
    info(opts, `no store at ${storeDir(opts)}; nothing to collect`);
    // --json still prints its document, an empty store's: a script reads one shape either way.
    if (opts.json) process.stdout.write(toJson({ schemaVersion: 1, store: storeDir(opts), ...emptyGcReport(!!opts.dryRun) }));
    return 0;
  }
  const r = await gcStore(store, { dryRun: opts.dryRun });
  if (opts.json) {
    process.stdout.write(toJson({ schemaVersion: 1, store: store.root, ...r }));
    return 0;
  }
  const verb = r.dryRun ? 'would remove' : 'removed';
  process.stdout.write(
    `Store: ${store.root}\n` +
      `${verb} ${r.blobsRemoved.length} unreferenced blobs (${humanBytes(r.bytesFreed)}), ${r.derivedRemoved} derived files, ` +
      `${r.leftoversRemoved} leftovers of interrupted ingests (${humanBytes(r.leftoverBytes)}); kept ${r.blobsKept} blobs` +
      // Named, so that a gc which frees less than expected says why (docs/STORE.md, "Blobs pushed to serve").
      (r.receivedKept ? ` (${r.receivedKept} of them pushed to serve less than a week ago, named by no manifest yet)` : '') +
      '\n',
  );
  return 0;
}
