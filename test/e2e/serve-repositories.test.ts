/**
 * serve's /api/repositories against an image config made to hurt it: a history of a million
 * entries and texts of thousands of characters (a 3 MB config, which ingest accepts), tagged
 * 25 times. Each config's history is sent once, bounded and clipped, whatever the tags; the
 * body is made once per state of index.json; and /v2/ keeps answering while it is made.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATED_MAX, HISTORY_EMPTY_MAX, HISTORY_TEXT_MAX } from '../../src/html/config-history.js';
import { ensureBuilt, runCli, sha256Of, show } from '../helpers/cli.js';
import { imageDocs } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { startServe, type Serve } from '../registry/helpers.js';

const FILLER = 1_000_000; // history entries past the image's one layer
const EMPTY = 150; // entries that made no layer (ENV, CMD...)
const TAGS = 25;

let dir: string;
let store: string;
let bigConfig: string;
let smallConfig: string;
let configBytes: number;

/** An OCI layout of one-layer images, each { ref names: history } , ingested into the store. */
function ingest(images: Array<{ refs: string[]; history: unknown[]; created?: string; seed: string }>): string[] {
  const layout = path.join(dir, `layout-${images[0]!.seed}`);
  mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
  const manifests: unknown[] = [];
  const configs: string[] = [];
  for (const img of images) {
    const layer = rawTar([{ name: `etc/${img.seed}`, body: img.seed }]);
    const { config, manifest } = imageDocs(layer, { configExtra: { history: img.history, ...(img.created ? { created: img.created } : {}) } });
    for (const b of [config, manifest, layer]) writeFileSync(path.join(layout, 'blobs', 'sha256', sha256Of(b).slice(7)), b);
    configs.push(sha256Of(config));
    if (img.seed === 'big') configBytes = config.length;
    for (const ref of img.refs) {
      manifests.push({
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: sha256Of(manifest),
        size: manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': ref },
      });
    }
  }
  writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests }));
  const r = runCli(['--store', store, '-q', 'ingest', layout]);
  expect(r.code, show(r)).toBe(0);
  return configs;
}

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(path.join(tmpdir(), 'ls-serve-repos-'));
  store = path.join(dir, 'store');
  const history = [
    { created: 'x'.repeat(200), created_by: 'b'.repeat(10_000), comment: 'c'.repeat(5_000) },
    ...Array.from({ length: EMPTY }, (_, i) => ({ created_by: `ENV N=${i}`, empty_layer: true })),
    ...Array.from({ length: FILLER }, () => ({})),
  ];
  const refs = ['hist/big:1', ...Array.from({ length: TAGS - 1 }, (_, i) => `hist/big:t${i + 1}`)];
  [bigConfig, smallConfig] = ingest([
    { refs, history, created: 'y'.repeat(1000), seed: 'big' },
    { refs: ['hist/small:1'], history: [{ created: '2024-01-01T00:00:00Z', created_by: 'COPY small /' }], seed: 'small' },
  ]) as [string, string];
  expect(configBytes).toBeGreaterThan(3_000_000);
}, 120_000);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

/** Bytes the process has read so far (read(2) and the like, files and sockets: /proc/PID/io). */
const bytesRead = (pid: number) => Number(/^rchar: (\d+)$/m.exec(readFileSync(`/proc/${pid}/io`, 'utf8'))![1]);

describe('serve: /api/repositories with a config of a million history entries, tagged 25 times', () => {
  it('sends each config history once, bounded and clipped; /v2/ answers while it is made', async () => {
    const serve: Serve = await startServe(store);
    try {
      const order: string[] = [];
      const repos = get(`${serve.url}/api/repositories`).then((r) => (order.push('repositories'), r));
      const v2 = await get(`${serve.url}/v2/`).then((r) => (order.push('v2'), r));
      const r = await repos;
      expect(v2.status).toBe(200);
      expect(order).toEqual(['v2', 'repositories']);
      expect(r.status, r.body.slice(0, 300)).toBe(200);
      // 26 tags and two histories: kilobytes, not the config's megabytes once per tag.
      expect(r.body.length).toBeLessThan(100_000);
      const body = JSON.parse(r.body);
      expect(body.schemaVersion).toBe(2);
      const tags = body.repositories.flatMap((x: any) => x.tags);
      expect(tags).toHaveLength(TAGS + 1);
      for (const t of tags) {
        expect(t.images).toHaveLength(1);
        expect(t.images[0].history).toBeUndefined();
        expect(t.images[0].configDigest).toBe(t.ref === 'hist/small:1' ? smallConfig : bigConfig);
      }
      // A config's `created` is clipped too.
      expect(tags.find((t: any) => t.ref === 'hist/big:1').created).toBe(`${'y'.repeat(CREATED_MAX - 1)}\u2026`);
      expect(Object.keys(body.histories).sort()).toEqual([bigConfig, smallConfig].sort());
      expect(body.histories[smallConfig]).toEqual({ entries: [{ created: '2024-01-01T00:00:00Z', createdBy: 'COPY small /' }], omitted: 0 });
      const big = body.histories[bigConfig];
      // The one entry that made the one layer, then the first 100 that made none; the rest counted.
      expect(big.entries).toHaveLength(1 + HISTORY_EMPTY_MAX);
      expect(big.omitted).toBe(EMPTY - HISTORY_EMPTY_MAX + FILLER);
      expect(big.entries[0]).toEqual({
        created: `${'x'.repeat(CREATED_MAX - 1)}\u2026`,
        createdLength: 200,
        createdBy: `${'b'.repeat(HISTORY_TEXT_MAX - 1)}\u2026`,
        createdByLength: 10_000,
        comment: `${'c'.repeat(HISTORY_TEXT_MAX - 1)}\u2026`,
        commentLength: 5_000,
      });
      expect(big.entries.slice(1).map((e: any) => e.createdBy)).toEqual(Array.from({ length: HISTORY_EMPTY_MAX }, (_, i) => `ENV N=${i}`));
      expect(big.entries.slice(1).every((e: any) => e.emptyLayer === true)).toBe(true);
    } finally {
      await serve.stop();
    }
  }, 60_000);

  it('is made once per state of index.json: a second load reads nothing from the store; a new tag is in the next one', async () => {
    const serve: Serve = await startServe(store);
    try {
      const pid = serve.proc.pid!;
      const before = bytesRead(pid);
      const first = await get(`${serve.url}/api/repositories`);
      expect(first.status).toBe(200);
      // The first load read the config (at least once).
      expect(bytesRead(pid) - before).toBeGreaterThan(configBytes);
      const again = bytesRead(pid);
      const second = await get(`${serve.url}/api/repositories`);
      expect(second.body).toBe(first.body);
      // The request itself and index.json's stat, not the 3 MB config again.
      expect(bytesRead(pid) - again).toBeLessThan(64_000);

      const t = runCli(['--store', store, '-q', 'tag', 'hist/big:1', 'hist/big:new']);
      expect(t.code, show(t)).toBe(0);
      const third = JSON.parse((await get(`${serve.url}/api/repositories`)).body);
      expect(third.repositories[0].tags.map((x: any) => x.ref)).toContain('hist/big:new');
      expect(third.histories[bigConfig].omitted).toBe(EMPTY - HISTORY_EMPTY_MAX + FILLER);
    } finally {
      await serve.stop();
    }
  }, 60_000);
});
