import { RegistryError } from '../registry/errors.js';
import type { StackRow } from './report-data.js';
import { callThread } from './thread-call.js';

/**
 * serve's report (/api/report, /api/layers) is computed on a thread of its own
 * (report-worker.ts), so the registry API keeps answering while a big store is indexed and
 * stacked, and with a heap limit of its own, so a report too big for it ends that thread
 * (503, said in one line), never the server. One thread per report; it exits when done.
 */
export interface ReportResult {
  report: string;
  stacks: Record<string, StackRow[]>;
}

/** Heap limit of the report thread, MB: LAYERSTORE_REPORT_HEAP_MB, default 2048 (README, "serve"). */
export function reportHeapMb(): number {
  const v = Number(process.env.LAYERSTORE_REPORT_HEAP_MB);
  return Number.isSafeInteger(v) && v > 0 ? v : 2048;
}

export function reportInThread(storeRoot: string, heapMb = reportHeapMb()): Promise<ReportResult> {
  return callThread<ReportResult>(
    new URL('./report-worker.js', import.meta.url),
    { root: storeRoot },
    {
      heapMb,
      outOfMemory: () =>
        new RegistryError(
          503,
          'UNSUPPORTED',
          `the report of this store needs more than the ${heapMb} MB heap serve gives its report thread (LAYERSTORE_REPORT_HEAP_MB); run layerstore report --files instead`,
        ),
    },
  );
}
