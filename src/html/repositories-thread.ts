import type { Digest } from '../digest/digest.js';
import type { ImageInfo } from '../analysis/load-images.js';
import { RegistryError } from '../registry/errors.js';
import type { ConfigHistory } from './config-history.js';
import { reportHeapMb } from './report-thread.js';
import { callThread } from './thread-call.js';

/** What the repositories thread reads: the store's images, and the histories of the configs asked for. */
export interface RepositoriesRead {
  images: ImageInfo[];
  histories: Array<[Digest, ConfigHistory]>;
}

/**
 * The store's images and their configs' histories (but those of `known`), read on a thread of
 * their own (repositories-worker.ts): a config is up to 8 MB of anyone's JSON, and parsing it
 * where the registry answers would stall /v2/. Its heap is the report thread's
 * (LAYERSTORE_REPORT_HEAP_MB).
 */
export function repositoriesInThread(storeRoot: string, known: Digest[], heapMb = reportHeapMb()): Promise<RepositoriesRead> {
  return callThread<RepositoriesRead>(
    new URL('./repositories-worker.js', import.meta.url),
    { root: storeRoot, known },
    {
      heapMb,
      outOfMemory: () =>
        new RegistryError(
          503,
          'UNSUPPORTED',
          `reading the store's images and their history needs more than the ${heapMb} MB heap serve gives it (LAYERSTORE_REPORT_HEAP_MB)`,
        ),
    },
  );
}
