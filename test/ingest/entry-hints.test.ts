/**
 * Entry hints (src/ingest/entry-hints.ts): re-ingesting a legacy docker save pins the stored
 * layers instead of writing them again, and a wrong hint never changes what is stored.
 * Layer bytes are taken out of the archive with GNU tar and hashed here independently.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { Store } from '../../src/store/store.js';
import { BlobWriter } from '../../src/store/blob-writer.js';
import { ingestPath } from '../../src/ingest/ingest.js';
import { MIN_HINT_BYTES } from '../../src/ingest/entry-hints.js';
import { storePaths } from '../helpers/store-paths.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const tarList = (f: string) => spawnSync('tar', ['-tvf', f], { encoding: 'utf8' }).stdout.trim().split('\n');
const tarEntry = (f: string, name: string) => spawnSync('tar', ['-xOf', f, name], { maxBuffer: 1 << 28 }).stdout as Buffer;

describe('entry hints for legacy docker saves', () => {
  let tmp: string;
  let save: string;
  /** Layer entries big enough to be hinted: name -> digest of their bytes. */
  let layers: Map<string, string>;

  beforeAll(async () => {
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-hints-'));
    await generateFixtures(path.join(tmp, 'fx'));
    save = path.join(tmp, 'fx', 'family-legacy.tar');
    layers = new Map();
    for (const line of tarList(save)) {
      const parts = line.split(/\s+/);
      const size = Number(parts[2]);
      const name = parts.slice(5).join(' ');
      if (name.endsWith('/layer.tar') && size >= MIN_HINT_BYTES) layers.set(name, sha(tarEntry(save, name)));
    }
    expect(layers.size).toBeGreaterThan(0);
  }, 120_000);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  const hintsFile = (store: Store) => path.join(storePaths(store).derivedDir, 'entry-hints.json');
  const hintsOf = (store: Store) =>
    new Map((JSON.parse(readFileSync(hintsFile(store), 'utf8')).hints as Array<[string, string]>).map(([k, d]) => [k.replace(/ \d+$/, ''), d]));
  // The digests ingest asked to pin, through either staging path: begin() streams an
  // entry, stageRange() hands its byte range of the archive file to a worker thread.
  const pinRequests = () => {
    const begin = vi.spyOn(BlobWriter.prototype, 'begin');
    const range = vi.spyOn(BlobWriter.prototype, 'stageRange');
    return {
      existing: () => [...begin.mock.calls.map((c) => c[0]?.existing), ...range.mock.calls.map((c) => c[2]?.existing)].filter(Boolean),
      mockRestore: () => {
        begin.mockRestore();
        range.mockRestore();
      },
    };
  };

  it('the first ingest records each layer entry’s digest; the second, reading every byte (--verify-input), pins them instead of writing', async () => {
    const store = await Store.open(path.join(tmp, 's1'), { create: true });
    const first = await ingestPath(store, save);
    expect(first.blobsAdded).toBeGreaterThan(0);
    const hints = hintsOf(store);
    for (const [name, digest] of layers) expect(hints.get(name), name).toBe(digest);

    const spy = pinRequests();
    try {
      // (by default the stored layers would not be read at all: skip-stored.test.ts)
      const again = await ingestPath(store, save, { verifyInput: true });
      expect(again.blobsAdded).toBe(0);
      const pinned = spy.existing();
      // every hinted layer (smaller ones are pinned by their config diff_id)
      expect(pinned).toEqual(expect.arrayContaining([...layers.values()]));
    } finally {
      spy.mockRestore();
    }
  });

  it('a wrong hint costs a second read, never the blob: the real bytes are stored and the hint corrected', async () => {
    const store = await Store.open(path.join(tmp, 's2'), { create: true });
    await ingestPath(store, save);
    const [victim, real] = [...layers][0]!;
    const other = [...layers.values()].find((d) => d !== real) ?? (await store.readIndex()).manifests[0]!.digest;
    // Point the victim's hint at another stored blob, and take the real one out of the store.
    const f = JSON.parse(readFileSync(hintsFile(store), 'utf8'));
    for (const h of f.hints) if (h[0].startsWith(`${victim} `)) h[1] = other;
    writeFileSync(hintsFile(store), JSON.stringify(f));
    rmSync(storePaths(store).blobPath(real as never));

    const spy = pinRequests();
    try {
      const r = await ingestPath(store, save);
      expect(r.blobsAdded).toBe(1);
      // pinned the wrong blob once, then staged the entry's bytes from the file
      expect(spy.existing()).toContain(other);
    } finally {
      spy.mockRestore();
    }
    expect(sha(readFileSync(storePaths(store).blobPath(real as never)))).toBe(real);
    expect(hintsOf(store).get(victim)).toBe(real);
  });

  it('a gzip-compressed save is not hinted (no way back to an entry’s bytes), and still ingests', async () => {
    const gz = path.join(tmp, 'save.tar.gz');
    writeFileSync(gz, spawnSync('gzip', ['-1', '-c', save], { maxBuffer: 1 << 28 }).stdout as Buffer);
    const store = await Store.open(path.join(tmp, 's3'), { create: true });
    await ingestPath(store, save); // hints recorded from the plain save
    const spy = pinRequests();
    try {
      const r = await ingestPath(store, gz);
      expect(r.blobsAdded).toBe(0);
      expect(spy.existing()).toEqual([]);
    } finally {
      spy.mockRestore();
    }
  });
});
