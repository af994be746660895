import { workerData } from 'node:worker_threads';
import { loadStore } from '../analysis/load-images.js';
import { toJson } from '../report/json.js';
import { Store } from '../store/store.js';
import { buildReportJson, buildStacks } from './report-data.js';
import { answerParent } from './thread-call.js';

/**
 * The body of serve's report thread (report-thread.ts): the `report --files --json` object
 * and the layer stacks of every image of the store at `workerData.root`, posted back once.
 */
const { root } = workerData as { root: string };
await answerParent(async () => {
  const store = await Store.open(root);
  const { images, referrers } = await loadStore(store, { compression: true });
  const report = toJson(await buildReportJson(store, images, { referrers }));
  const stacks = await buildStacks(store, images);
  return { report, stacks };
});
