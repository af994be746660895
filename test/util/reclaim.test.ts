/**
 * ChunkReclaimer: a minor GC for every MiB of stream chunks staged, so dead chunks free their
 * memory for the next ones (util/reclaim.ts). The collector is V8's own, run as a minor GC
 * (seen by a PerformanceObserver), and the program's global never gets a `gc`.
 */
import { PerformanceObserver, constants } from 'node:perf_hooks';
import { describe, expect, it } from 'vitest';
import { ChunkReclaimer, minorGc } from '../../src/util/reclaim.js';

/** Minor GCs V8 reports while `fn` runs. */
async function minorGcsDuring(fn: () => void): Promise<number> {
  let minor = 0;
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) if ((e as unknown as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++;
  });
  obs.observe({ entryTypes: ['gc'] });
  fn();
  await new Promise((r) => setTimeout(r, 50)); // entries are delivered asynchronously
  obs.disconnect();
  return minor;
}

describe('ChunkReclaimer', () => {
  it('the collector is a minor GC of V8, and no `gc` is left on the global', async () => {
    const gc = minorGc();
    expect(typeof gc).toBe('function');
    expect((globalThis as { gc?: unknown }).gc).toBeUndefined();
    const n = await minorGcsDuring(() => {
      for (let i = 0; i < 5; i++) gc!();
    });
    expect(n).toBeGreaterThanOrEqual(5);
  });

  it('collects once for every `everyBytes` consumed, whatever the chunk sizes', () => {
    let calls = 0;
    const r = new ChunkReclaimer(1024 * 1024, () => calls++);
    for (let i = 0; i < 10; i++) r.consumed(300_000); // 3,000,000 bytes: two full MiB
    expect(calls).toBe(2);
    r.consumed(64 * 1024);
    r.consumed(1024 * 1024);
    expect(calls).toBe(3);
  });

  it('without a collector it only counts', () => {
    const r = new ChunkReclaimer(1, undefined);
    expect(() => r.consumed(10)).not.toThrow();
  });
});
