import { startThread } from '../util/young-generation.js';
import { LayerstoreError, type ErrorCode } from '../errors.js';
import { RegistryError } from '../registry/errors.js';
import type { StackRow } from './report-data.js';

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
  return new Promise((resolve, reject) => {
    const w = startThread(new URL('./report-worker.js', import.meta.url), {
      workerData: { root: storeRoot },
      resourceLimits: { maxOldGenerationSizeMb: heapMb },
      stdout: false,
      stderr: false,
    });
    // The request waiting for it keeps the process alive; an idle server may still exit.
    w.unref();
    let settled = false;
    const settle = (f: () => void) => {
      if (settled) return;
      settled = true;
      f();
      void w.terminate();
    };
    w.on('message', (m: { ok: true; report: string; stacks: Record<string, StackRow[]> } | { ok: false; error: ThreadError }) =>
      settle(() => (m.ok ? resolve({ report: m.report, stacks: m.stacks }) : reject(rebuild(m.error)))),
    );
    w.on('error', (e: Error & { code?: string }) =>
      settle(() =>
        reject(
          e.code === 'ERR_WORKER_OUT_OF_MEMORY'
            ? new RegistryError(
                503,
                'UNSUPPORTED',
                `the report of this store needs more than the ${heapMb} MB heap serve gives its report thread (LAYERSTORE_REPORT_HEAP_MB); run layerstore report --files instead`,
              )
            : e,
        ),
      ),
    );
    w.on('exit', (code) => settle(() => reject(new Error(`the report thread exited (code ${code}) without a result`))));
  });
}

interface ThreadError {
  coded: boolean;
  code?: string;
  message: string;
  source?: string;
  stack?: string;
}

function rebuild(e: ThreadError): Error {
  const err = e.coded ? new LayerstoreError(e.code as ErrorCode, e.message, { source: e.source }) : new Error(e.message);
  if (e.stack) err.stack = e.stack;
  return err;
}
