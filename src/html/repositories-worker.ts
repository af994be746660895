import { workerData } from 'node:worker_threads';
import type { Digest } from '../digest/digest.js';
import { loadImages } from '../analysis/load-images.js';
import { Store } from '../store/store.js';
import { CREATED_MAX, clipText, readConfigHistory } from './config-history.js';
import type { RepositoriesRead } from './repositories-thread.js';
import { answerParent } from './thread-call.js';

/**
 * The body of serve's repositories thread (repositories-thread.ts): the images of the store at
 * `workerData.root`, and the bounded history of each of their configs not in `workerData.known`,
 * posted back once. Both mean parsing image configs, up to 8 MB of JSON each: here, not where
 * the registry answers.
 */
const { root, known } = workerData as { root: string; known: Digest[] };
await answerParent(async (): Promise<RepositoriesRead> => {
  const store = await Store.open(root);
  const images = await loadImages(store);
  const skip = new Set(known);
  const histories: RepositoriesRead['histories'] = [];
  for (const img of images) {
    // A config's `created` crosses clipped: any string fits there.
    if (img.created) img.created = clipText(img.created, CREATED_MAX);
    if (skip.has(img.configDigest)) continue;
    skip.add(img.configDigest);
    histories.push([img.configDigest, await readConfigHistory(store, img.configDigest)]);
  }
  return { images, histories };
});
