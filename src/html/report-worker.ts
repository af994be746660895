import { parentPort, workerData } from 'node:worker_threads';
import { isLayerstoreError } from '../errors.js';
import { loadStore } from '../analysis/load-images.js';
import { toJson } from '../report/json.js';
import { Store } from '../store/store.js';
import { buildReportJson, buildStacks } from './report-data.js';

/**
 * The body of serve's report thread (report-thread.ts): the `report --files --json` object
 * and the layer stacks of every image of the store at `workerData.root`, posted back once.
 * Errors are posted as their code, message and source, to be rebuilt on the other side.
 */
const { root } = workerData as { root: string };
try {
  const store = await Store.open(root);
  const { images, referrers } = await loadStore(store, { compression: true });
  const report = toJson(await buildReportJson(store, images, { referrers }));
  const stacks = await buildStacks(store, images);
  parentPort!.postMessage({ ok: true, report, stacks });
} catch (e) {
  const err = e as Error & { code?: string; source?: string };
  parentPort!.postMessage({
    ok: false,
    error: { coded: isLayerstoreError(e), code: err?.code, message: err?.message ?? String(e), source: err?.source, stack: err?.stack },
  });
}
