/**
 * A store with one good image and one whose layer is cut inside a file's data (its blob's
 * digest checks; its tar does not read: E_TRUNCATED). `report --files` reports the good one and
 * names the bad layer in `unreadableLayers`; `report --html` and serve's `/api/report` and
 * `/api/layers` must give that same tolerant result, not fail, and the page (in chromium) must
 * show the unreadable layer and the image left out.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { humanBytes } from '../../src/report/human.js';
import { CLI, REPO_ROOT, ensureBuilt, runCli, sha256Of, show } from '../helpers/cli.js';
import { imageDocs } from '../helpers/hand-bytes.js';
import { rawHeader } from '../helpers/make-tar.js';
import { launchBrowser, watchConsole } from './browser.js';

let tmp: string;
let store: string;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let serveChild: ChildProcess | undefined;
let reportText: string;
let bad: string; // manifest digest of the image with the truncated layer
let good: string;

/** An OCI layout holding one image of `layer`, ingested into the store as `ref`. */
function ingestLayer(ref: string, layer: Buffer): string {
  const dir = path.join(tmp, ref.replace(/[/:]/g, '_'));
  mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const { config, manifest } = imageDocs(layer);
  for (const b of [config, manifest, layer]) writeFileSync(path.join(dir, 'blobs', 'sha256', sha256Of(b).slice(7)), b);
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const desc = {
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: sha256Of(manifest),
    size: manifest.length,
    annotations: { 'org.opencontainers.image.ref.name': 't' },
  };
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [desc] }));
  const r = runCli(['--store', store, 'ingest', '--tag', ref, dir]);
  expect(r.code, show(r)).toBe(0);
  return sha256Of(manifest);
}

/** Start `serve --listen 127.0.0.1:0` and read its URL from stdout. */
function serve(): Promise<string> {
  const child = spawn(process.execPath, [CLI, '--store', store, 'serve', '--listen', '127.0.0.1:0'], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  serveChild = child;
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  return new Promise((resolve, reject) => {
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /^listening on (http:\/\/\S+)\n/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}; stderr:\n${err}`)));
  });
}

beforeAll(async () => {
  browser = await launchBrowser(); // first: without chromium, fail at once
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-unreadable-ui-'));
  store = path.join(tmp, 'store');
  const data = Buffer.from('hello\n');
  good = ingestLayer('t/good:1', Buffer.concat([rawHeader({ name: 'etc/hi', body: data }), data, Buffer.alloc(512 - data.length), Buffer.alloc(1024)]));
  // A header announcing 8000 bytes, then 1536 of them: the layer ends inside the file's data.
  bad = ingestLayer('t/bad:1', Buffer.concat([rawHeader({ name: 'big.bin', body: Buffer.alloc(8000, 7) }), Buffer.alloc(1536, 7)]));
  const r = runCli(['--store', store, 'report', '--files', '--json']);
  expect(r.code, show(r)).toBe(0);
  reportText = r.stdout;
}, 120_000);

afterAll(async () => {
  await browser?.close();
  serveChild?.kill('SIGTERM');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** What the page must show: the bad layer listed with its image, "not read" for that image's waste, and why its stack is missing. */
async function expectPageShowsUnreadable(page: Page, problems: string[]): Promise<void> {
  const report = JSON.parse(reportText);
  const u = report.unreadableLayers[0];
  const table = page.locator('#unreadable-table');
  await expect(table.locator('tbody tr').count()).resolves.toBe(1);
  const row = await table.locator('tbody tr').textContent();
  expect(row).toContain('E_TRUNCATED');
  expect(row).toContain(u.message);
  expect(row).toContain('t/bad:1');
  expect(row).not.toContain('t/good:1');
  // The images table: the bad image's waste is "not read", the good one's a number.
  const wasted = async (key: string) => page.locator(`#images-table tr[data-key="${key}"] td[data-col="wasted"]`).textContent();
  expect(await wasted(bad)).toBe('not read');
  expect(await wasted(good)).toBe(humanBytes(0));
  // The layer view of the bad image says why there is no stack.
  await page.selectOption('#layer-image', bad);
  expect(await page.locator('#stack-unreadable').textContent()).toContain(`is not a readable tar (E_TRUNCATED: ${u.message})`);
  await page.selectOption('#layer-image', good);
  await expect(page.locator('#stack-svg .band').count()).resolves.toBe(1);
  expect(problems).toEqual([]);
}

describe('a layer that is not a readable tar, in the HTML report and the web UI', () => {
  it('report --files names it and reports the other image (the reference the others must match)', () => {
    const j = JSON.parse(reportText);
    expect(j.unreadableLayers.map((u: any) => [u.code, u.images])).toEqual([['E_TRUNCATED', [bad]]]);
    expect(j.images.find((i: any) => i.manifestDigest === bad).waste).toBeNull();
    expect(j.images.find((i: any) => i.manifestDigest === good).waste.finalFileBytes).toBe(6);
  });

  it('report --html writes the page (exit 0), carrying that data; chromium shows the unreadable layer and the image left out', async () => {
    const file = path.join(tmp, 'report.html');
    const r = runCli(['--store', store, 'report', '--html', file]);
    expect(r.code, show(r)).toBe(0);
    const page = await browser.context.newPage();
    const problems = watchConsole(page);
    await page.goto(pathToFileURL(file).href);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 20_000 });
    const data = JSON.parse(
      await page
        .locator('#data')
        .textContent()
        .then((t) => t ?? ''),
    );
    expect(data.report).toEqual(JSON.parse(reportText));
    expect(Object.keys(data.stacks)).toEqual([good]);
    await expectPageShowsUnreadable(page, problems);
    await page.close();
  }, 60_000);

  it('serve: /api/report is report --files --json byte for byte, /api/layers stacks the good image, and the page shows the same', async () => {
    const base = await serve();
    const rep = await fetch(`${base}/api/report`);
    const body = await rep.text();
    expect(rep.status, body).toBe(200);
    expect(body).toBe(reportText);
    const lay = await fetch(`${base}/api/layers`);
    const layers = (await lay.json()) as any;
    expect(lay.status).toBe(200);
    expect(Object.keys(layers.images)).toEqual([good]);
    expect(layers.images[good].map((l: any) => l.addedBytes)).toEqual([6]);
    const page = await browser.context.newPage();
    const problems = watchConsole(page);
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30_000 });
    await expectPageShowsUnreadable(page, problems);
    await page.close();
  }, 60_000);
});
