/**
 * LAYERSTORE_HASHER=noble: the workers that hash archive entries, layout files and file
 * index batches run node:crypto, so with another hasher chosen ingest and the file index
 * take the streaming path on the main thread. Same blobs and the same index either way,
 * and no worker hashes anything under noble.
 */
import { execFileSync } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { dockerSaveLegacy, layerTar, ociArchive, type ImageSpec } from '../../fixtures/image-writer.js';
import { buildFileIndex } from '../../src/analysis/file-index.js';
import { RangeWorkers } from '../../src/digest/range-workers.js';
import { ingestPath } from '../../src/ingest/ingest.js';
import { Store } from '../../src/store/store.js';

let dir: string;
let save: string;
let layout: string;

beforeAll(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-hasher-'));
  const files = Array.from({ length: 40 }, (_, i) => ({ path: `d/f${i}`, content: `file ${i} `.repeat(i * 30 + 1) }));
  const layers: ImageSpec['layers'] = [
    { tar: await layerTar(files), compression: 'none' },
    { tar: await layerTar([{ path: 'g', content: 'G'.repeat(5000) }]), compression: 'gzip' },
  ];
  save = path.join(dir, 'save.tar');
  await fsp.writeFile(save, await dockerSaveLegacy([{ repoTags: ['h/legacy:1'], layers: [layers[0]!] }]));
  layout = path.join(dir, 'layout');
  await fsp.mkdir(layout);
  await fsp.writeFile(`${layout}.tar`, await ociArchive([{ repoTags: ['h/oci:1'], layers }]));
  execFileSync('tar', ['-xf', `${layout}.tar`, '-C', layout]);
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

async function run(hasher: 'node' | 'noble', tag: string) {
  const prev = process.env.LAYERSTORE_HASHER;
  process.env.LAYERSTORE_HASHER = hasher;
  const hashed = vi.spyOn(RangeWorkers.prototype, 'hash');
  const batched = vi.spyOn(RangeWorkers.prototype, 'hashBatch');
  try {
    const store = await Store.open(path.join(dir, `store-${tag}`), { create: true });
    const a = await ingestPath(store, save);
    const b = await ingestPath(store, layout);
    const index = await buildFileIndex(store, a.images[0]!.layers[0]!, { threadsFromBytes: 0 }); // the threads path, whatever the size
    return { images: [a.images, b.images], index, workerCalls: hashed.mock.calls.length + batched.mock.calls.length };
  } finally {
    hashed.mockRestore();
    batched.mockRestore();
    if (prev === undefined) delete process.env.LAYERSTORE_HASHER;
    else process.env.LAYERSTORE_HASHER = prev;
  }
}

describe('the hasher choice reaches every hashing path', () => {
  it('noble: same images and file index as node:crypto, and no worker hashes', async () => {
    const node = await run('node', 'node');
    const noble = await run('noble', 'noble');
    expect(node.workerCalls).toBeGreaterThan(0);
    expect(noble.workerCalls).toBe(0);
    expect(noble.images).toEqual(node.images);
    expect(noble.index).toEqual(node.index);
    expect(noble.index.entries.filter((e) => e.type === 'file')).toHaveLength(40);
  });
});
