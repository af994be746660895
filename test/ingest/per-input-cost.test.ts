/**
 * What one command pays per input: the inputs of one `ingest` share one pool of hashing
 * threads (src/cli/ingest-command.ts passes IngestOptions.workers), and a small entry (a
 * config) is hashed on the main thread, so an input whose layers the store holds starts no
 * thread at all. Counted by spying on the pool's thread start-up, in-process, on real archives.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RangeWorkers } from '../../src/digest/range-workers.js';
import { ingestPath } from '../../src/ingest/ingest.js';
import { Store } from '../../src/store/store.js';
import { digestOf, fill } from '../helpers/hand-bytes.js';
import { legacySave, type RawEntry } from '../helpers/make-tar.js';

let tmp = '';
const archives: string[] = [];

/** A base layer (1 MiB) shared by `n` images, each adding its own layer (200 KiB), as legacy saves. */
function family(n: number): string[] {
  const base = fill(1024 * 1024, 'family-base');
  return Array.from({ length: n }, (_, i) => {
    const layers = [base, fill(200 * 1024, `family-app-${i}`)];
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => digestOf(l)) } }));
    const configName = `${digestOf(config).slice(7)}.json`;
    const files: RawEntry[] = [{ name: configName, body: config }, ...layers.map((body, j) => ({ name: `l${j}/layer.tar`, body }))];
    const manifest = [{ Config: configName, RepoTags: [`acme/app${i}:1`], Layers: layers.map((_, j) => `l${j}/layer.tar`) }];
    const f = path.join(tmp, `image-${i}.tar`);
    writeFileSync(f, legacySave({ manifest, files }));
    return f;
  });
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-per-input-'));
  archives.push(...family(4));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** Threads the pools start while `fn` runs. */
async function threadsStarted(fn: () => Promise<void>): Promise<number> {
  const spawn = vi.spyOn(RangeWorkers.prototype as unknown as { spawn: () => unknown }, 'spawn');
  await fn();
  return spawn.mock.calls.length;
}

describe('per-input cost', () => {
  it('inputs sharing a pool start its threads once, not once per input', async () => {
    const store = await Store.open(path.join(tmp, 'cold'), { create: true });
    const workers = new RangeWorkers(2);
    try {
      const started = await threadsStarted(async () => {
        for (const a of archives) await ingestPath(store, a, { workers });
      });
      expect(started).toBeLessThanOrEqual(2);
    } finally {
      await workers.close();
    }
  });

  it('an input whose layers are all stored starts no hashing thread (its config is hashed on the main thread)', async () => {
    const store = await Store.open(path.join(tmp, 'warm'), { create: true });
    for (const a of archives) await ingestPath(store, a);
    const started = await threadsStarted(async () => {
      for (const a of archives) {
        const r = await ingestPath(store, a);
        expect(r.blobsAdded).toBe(0);
      }
    });
    expect(started).toBe(0);
  });
});
