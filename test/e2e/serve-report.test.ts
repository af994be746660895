/**
 * serve computes /api/report on a thread of its own: the registry API keeps answering while
 * a big layer is indexed and stacked, one report runs at a time (a request for another state
 * of the store gets 503 with Retry-After), and a report too big for the thread's heap ends
 * that thread with a clear 503, not the server.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, utimesSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';
import { manyEmptyFilesLayout } from '../helpers/many-files.js';
import { startServe, type Serve } from '../registry/helpers.js';

const FILES = 200_000;
let dir: string;
let store: string;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(path.join(tmpdir(), 'ls-serve-report-'));
  store = path.join(dir, 'store');
  await manyEmptyFilesLayout(path.join(dir, 'layout'), FILES);
  const r = runCli(['--store', store, 'ingest', '-q', path.join(dir, 'layout')]);
  expect(r.code, show(r)).toBe(0);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function get(url: string): Promise<Got> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

const indexFiles = () => {
  const d = path.join(store, '.layerstore', 'derived', 'files');
  return existsSync(d) ? readdirSync(d).filter((n) => n.endsWith('.idx')) : [];
};

/** Wait (bounded) until `cond` holds, checking every 10 ms. */
async function until(cond: () => boolean, what: string, tries = 12_000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`gave up waiting for ${what}`);
}

describe('serve: /api/report off the request path', () => {
  it('while /api/report indexes and stacks a 200k-file layer, GET /v2/ answers first, and a report of another store state is refused with 503 + Retry-After', async () => {
    rmSync(path.join(store, '.layerstore', 'derived', 'files'), { recursive: true, force: true });
    const serve: Serve = await startServe(store);
    try {
      const order: string[] = [];
      const report = get(`${serve.url}/api/report`).then((r) => (order.push('report'), r));
      // The index file appears when the layer is indexed; stacking and the JSON come after.
      await until(() => indexFiles().length > 0, 'the layer index to be written');
      const v2 = get(`${serve.url}/v2/`).then((r) => (order.push('v2'), r));
      // A new state of index.json (its mtime) while the first report runs: another report is not started.
      const t = new Date(Date.now() + 60_000);
      utimesSync(path.join(store, 'index.json'), t, t);
      const busy = await get(`${serve.url}/api/report`);
      const [r, v] = await Promise.all([report, v2]);
      expect(v.status).toBe(200);
      expect(order).toEqual(['v2', 'report']);
      expect(busy.status, busy.body).toBe(503);
      expect(busy.headers['retry-after']).toBe('5');
      expect(JSON.parse(busy.body).errors[0].message).toMatch(/being computed/);
      expect(r.status, r.body.slice(0, 500)).toBe(200);
      expect(JSON.parse(r.body).images.map((i: { refs: string[] }) => i.refs)).toEqual([['big/many:1']]);
      // Once the first is done, the new state gets its report; the stacks count every entry.
      const again = await get(`${serve.url}/api/report`);
      expect(again.status).toBe(200);
      const layers = JSON.parse((await get(`${serve.url}/api/layers`)).body).images;
      expect(Object.values(layers).map((rows) => (rows as Array<{ addedEntries: number }>).map((x) => x.addedEntries))).toEqual([[FILES + FILES / 40]]);
      expect(serve.stderr()).not.toMatch(/internal error|Error/);
    } finally {
      await serve.stop();
    }
  }, 120_000);

  it('a report that outgrows the report thread heap is a 503 naming the limit; the server keeps serving', async () => {
    const serve = await startServe(store, [], { LAYERSTORE_REPORT_HEAP_MB: '8' });
    try {
      const r = await get(`${serve.url}/api/report`);
      expect(r.status, r.body).toBe(503);
      expect(JSON.parse(r.body).errors[0].message).toMatch(/more than the 8 MB heap .*LAYERSTORE_REPORT_HEAP_MB/);
      expect((await get(`${serve.url}/v2/`)).status).toBe(200);
      expect((await get(`${serve.url}/api/repositories`)).status).toBe(200);
      expect(serve.proc.exitCode).toBe(null);
    } finally {
      await serve.stop();
    }
  }, 120_000);
});
