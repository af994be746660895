import { parentPort } from 'node:worker_threads';
import { startThread } from '../util/young-generation.js';
import { isLayerstoreError, LayerstoreError, type ErrorCode } from '../errors.js';

/**
 * Work serve must not do on its main thread, where the registry API answers: a call runs one
 * thread (`script`, which answers with answerParent) with a heap limit of its own, so work too
 * big for it ends that thread (`outOfMemory` says so), never the server. The thread exits
 * when done. Errors cross as their code, message and source, and are rebuilt on this side.
 */
export function callThread<T>(script: URL, workerData: unknown, opts: { heapMb: number; outOfMemory: () => Error }): Promise<T> {
  return new Promise((resolve, reject) => {
    const w = startThread(script, {
      workerData,
      resourceLimits: { maxOldGenerationSizeMb: opts.heapMb },
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
    w.on('message', (m: { ok: true; value: T } | { ok: false; error: ThreadError }) => settle(() => (m.ok ? resolve(m.value) : reject(rebuild(m.error)))));
    w.on('error', (e: Error & { code?: string }) => settle(() => reject(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? opts.outOfMemory() : e)));
    w.on('exit', (code) => settle(() => reject(new Error(`the thread ${script.pathname.split('/').pop()} exited (code ${code}) without a result`))));
  });
}

/** The thread side of callThread: post what `compute` gives, or its error, once. */
export async function answerParent(compute: () => Promise<unknown>): Promise<void> {
  try {
    parentPort!.postMessage({ ok: true, value: await compute() });
  } catch (e) {
    const err = e as Error & { code?: string; source?: string };
    const error: ThreadError = { coded: isLayerstoreError(e), code: err?.code, message: err?.message ?? String(e), source: err?.source, stack: err?.stack };
    parentPort!.postMessage({ ok: false, error });
  }
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
