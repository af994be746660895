/**
 * `layerstore report --html FILE` in a real browser (Debian's chromium, headless): the page
 * opens from file:// with no network, its charts render, the numbers it shows are those of
 * `report --files --json`, and the filter, the sortable tables and the layer view work,
 * without a console error; what is attached to an image (an SBOM pushed through serve) is a
 * row of the referrers table.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dockerSaveLegacy, layerTar, type ImageSpec } from '../../fixtures/image-writer.js';
import { humanBytes, percent } from '../../src/report/human.js';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';
import { boxes, columnTexts, fixtureStore, launchBrowser, publishScreenshot, rowKeys, screenshotDir, setFilter, watchConsole } from './browser.js';

let tmp: string;
let store: string;
let htmlFile: string;
let report: any;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
let problems: string[];
const requests: string[] = [];

const byRef = (ref: string) => {
  const img = report.images.find((i: any) => i.refs.includes(ref));
  if (!img) throw new Error(`no ${ref} in the report`);
  return img;
};

/** Set-up failures (no chromium, above all) fail every test, rather than skip them. */
let setupError: unknown;

beforeAll(async () => {
  try {
    browser = await launchBrowser(); // first: without chromium, fail at once and say why
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'ls-browser-html-'));
    store = await fixtureStore(tmp);
    const j = runCli(['--store', store, 'report', '--files', '--json']);
    expect(j.code, show(j)).toBe(0);
    report = JSON.parse(j.stdout);
    htmlFile = path.join(tmp, 'report.html');
    const r = runCli(['--store', store, 'report', '--html', htmlFile]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*report\.html \(\d+(\.\d+)? kB\): 7 images, 9 distinct layers\n$/);
    page = await browser.context.newPage();
    problems = watchConsole(page);
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(pathToFileURL(htmlFile).href);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 20_000 });
  } catch (e) {
    setupError = e;
  }
}, 180_000);

beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  await browser?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('report --html: one self-contained file', () => {
  it('inlines its data (the report --files --json object), script and style, and asks the network for nothing', () => {
    const html = readFileSync(htmlFile, 'utf8');
    const m = /<script type="application\/json" id="data">([\s\S]*?)<\/script>/.exec(html);
    expect(m).not.toBeNull();
    const data = JSON.parse(m![1]!);
    expect(data.report).toEqual(report);
    expect(Object.keys(data.stacks).sort()).toEqual(report.images.map((i: any) => i.manifestDigest).sort());
    // Nothing in the data block can end the element or open a comment.
    expect(m![1]).not.toMatch(/<\/|<!--/);
    // No external resource anywhere.
    expect(html).not.toMatch(/\s(?:src|href)\s*=\s*["']?(?:https?:)?\/\//i);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src &#39;none&#39;/);
    expect(requests.filter((u) => !u.startsWith('file:') && !u.startsWith('data:'))).toEqual([]);
    // Size on disk, for README's "Pictures" section.
    expect(statSync(htmlFile).size).toBeLessThan(150_000);
  });

  it('draws every chart: SVG elements with non-zero boxes', async () => {
    for (const sel of ['#ledger-chart svg', '#matrix svg', '#images-table svg', '#stack svg']) {
      const b = await boxes(page, sel);
      expect(b.length, sel).toBeGreaterThan(0);
      for (const x of b) expect(x.w * x.h, sel).toBeGreaterThan(0);
    }
    // One matrix cell per (image, distinct layer) pair; one column per distinct layer.
    const pairs = report.images.reduce((n: number, i: any) => n + new Set(i.layers).size, 0);
    expect(await page.locator('#matrix rect[data-layer]').count()).toBe(pairs);
    expect(new Set(await page.$$eval('#matrix rect[data-layer]', (rs) => rs.map((r) => r.getAttribute('data-layer')))).size).toBe(report.totals.layers);
    for (const b of await boxes(page, '#matrix rect[data-layer]')) expect(b.w * b.h).toBeGreaterThan(0);
  });

  it('shows the numbers of report --files --json, in the CLI units', async () => {
    const t = report.totals;
    const card = (k: string) => page.textContent(`[data-k="${k}"] .v`);
    expect(await card('logical')).toBe(humanBytes(t.logicalBytes));
    expect(await card('stored')).toBe(humanBytes(t.storedBytes));
    expect(await card('saved')).toBe(`${humanBytes(t.savedBytes)} ${percent(t.savedBytes, t.logicalBytes)}`);
    expect(await card('images')).toBe(String(t.images));
    for (const level of ['blob', 'diffId', 'file'] as const) {
      const v = t.levels[level];
      for (const f of ['logical', 'stored', 'saved'] as const) {
        expect(await page.textContent(`#ledger-chart [data-level="${level}"] [data-f="${f}"]`), `${level} ${f}`).toBe(humanBytes(v[`${f}Bytes`]));
      }
    }
    // README's own figures, as a cross-check of units: 12.0 MB logical, 6.18 MB stored.
    expect(await card('logical')).toBe('12.0 MB');
    expect(await card('stored')).toBe('6.18 MB');
    for (const img of report.images) {
      const cell = (col: string) => page.textContent(`#images-table tr[data-key="${img.manifestDigest}"] td[data-col="${col}"]`);
      expect(await cell('size')).toBe(humanBytes(img.sizeBytes));
      expect(await cell('shared')).toBe(humanBytes(img.sharedBytes));
      expect(await cell('unique')).toBe(humanBytes(img.uniqueBytes));
      expect(await cell('wasted')).toBe(humanBytes(img.waste.wastedBytes));
      expect(await cell('efficiency')).toBe(percent(img.waste.efficiency, 1));
      expect(await cell('frees')).toBe(humanBytes(img.marginalBytes));
    }
    const worker = byRef('acme/worker:1.0');
    expect(await columnTexts(page, 'wasted-table', 'bytes')).toEqual(
      [...worker.wastedFiles].sort((a: any, b: any) => b.bytes - a.bytes).map((f: any) => humanBytes(f.bytes)),
    );
    expect(await columnTexts(page, 'wasted-table', 'path')).toContain('app/worker/lib/libz.so.1');
    expect(await columnTexts(page, 'duplicates-table', 'saved')).toEqual(report.duplicateFiles.map((d: any) => humanBytes(d.savedBytes)));
  });

  it('filters every view by ref', async () => {
    await setFilter(page, 'acme/api');
    const api = report.images.filter((i: any) => i.refs.some((r: string) => r.includes('acme/api')));
    expect(api).toHaveLength(2);
    expect((await rowKeys(page, 'images-table')).sort()).toEqual(api.map((i: any) => i.manifestDigest).sort());
    expect(await page.locator('#images-table tbody tr[hidden]').count()).toBe(report.images.length - 2);
    // The matrix keeps the matching rows and the layers they use.
    const rows = new Set(await page.$$eval('#matrix rect[data-image]', (rs) => rs.map((r) => r.getAttribute('data-image'))));
    expect([...rows].sort()).toEqual(api.map((i: any) => i.manifestDigest).sort());
    expect(new Set(await page.$$eval('#matrix rect[data-layer]', (rs) => rs.map((r) => r.getAttribute('data-layer'))))).toEqual(
      new Set(api.flatMap((i: any) => i.layers)),
    );
    // Only the worker wastes files: that table is empty and says so.
    expect(await rowKeys(page, 'wasted-table')).toEqual([]);
    expect(await page.isVisible('#waste-box p.empty')).toBe(true);
    // The layer view offers the matching images only.
    expect(await page.$$eval('#layer-image option', (os) => os.map((o) => (o as any).value))).toEqual(api.map((i: any) => i.manifestDigest));
    expect(await page.textContent('#count')).toBe('2 of 7 images match');

    await setFilter(page, 'WORKER');
    expect(await rowKeys(page, 'images-table')).toEqual([byRef('acme/worker:1.0').manifestDigest]);
    expect((await rowKeys(page, 'wasted-table')).length).toBe(byRef('acme/worker:1.0').wastedFiles.length);

    await setFilter(page, 'no-such-image');
    expect(await rowKeys(page, 'images-table')).toEqual([]);
    expect(await page.textContent('#matrix')).toContain('No image matches the filter.');

    await setFilter(page, '');
    expect(await rowKeys(page, 'images-table')).toHaveLength(report.images.length);
    expect(await page.textContent('#count')).toBe('7 images');
  });

  it('sorts a table by the column whose header is clicked', async () => {
    const bySize = [...report.images].sort((a: any, b: any) => b.sizeBytes - a.sizeBytes);
    const before = await rowKeys(page, 'images-table');
    expect(before).toEqual(report.images.map((i: any) => i.manifestDigest));
    await page.click('#images-table th button:text-is("Size")');
    const desc = await rowKeys(page, 'images-table');
    expect(desc).not.toEqual(before);
    expect(desc.map((d) => report.images.find((i: any) => i.manifestDigest === d).sizeBytes)).toEqual(bySize.map((i: any) => i.sizeBytes));
    expect(await page.getAttribute('#images-table th:nth-child(4)', 'aria-sort')).toBe('descending');
    await page.click('#images-table th button:text-is("Size")');
    const asc = await rowKeys(page, 'images-table');
    expect(asc.map((d) => report.images.find((i: any) => i.manifestDigest === d).sizeBytes)).toEqual(bySize.map((i: any) => i.sizeBytes).reverse());
    // Text columns sort A to Z first.
    await page.click('#images-table th button:text-is("Ref")');
    const refs = await columnTexts(page, 'images-table', 'ref');
    expect(refs).toEqual([...refs].sort((a, b) => a.localeCompare(b)));
    // The shown cells move with their rows.
    const sizes = await columnTexts(page, 'images-table', 'size');
    expect(sizes).toEqual((await rowKeys(page, 'images-table')).map((d) => humanBytes(report.images.find((i: any) => i.manifestDigest === d).sizeBytes)));
  });

  it('draws the chosen image layers, bottom to top, with the bytes each adds, replaces and deletes', async () => {
    const worker = byRef('acme/worker:1.0');
    await page.selectOption('#layer-image', worker.manifestDigest);
    const bands = await page.$$eval('#stack-svg g.band', (gs) =>
      gs.map((g) => ({
        index: Number(g.getAttribute('data-index')),
        layer: g.getAttribute('data-layer'),
        y: g.getBoundingClientRect().y,
        h: g.getBoundingClientRect().height,
      })),
    );
    expect(bands.map((b) => b.layer)).toEqual(worker.layers);
    for (const b of bands) expect(b.h).toBeGreaterThan(0);
    // Bottom layer drawn lowest.
    const ys = [...bands].sort((a, b) => a.index - b.index).map((b) => b.y);
    for (let i = 1; i < ys.length; i++) expect(ys[i]!).toBeLessThan(ys[i - 1]!);
    // Per-layer deleted and replaced bytes add up to the image's waste in the JSON report.
    const html = readFileSync(htmlFile, 'utf8');
    const stacks = JSON.parse(/<script type="application\/json" id="data">([\s\S]*?)<\/script>/.exec(html)![1]!).stacks[worker.manifestDigest];
    expect(stacks.reduce((n: number, r: any) => n + r.deletedBytes, 0)).toBe(worker.waste.deletedBytes);
    expect(stacks.reduce((n: number, r: any) => n + r.replacedBytes, 0)).toBe(worker.waste.replacedBytes);
    expect(await columnTexts(page, 'stack-table', 'deleted')).toEqual(stacks.map((r: any) => humanBytes(r.deletedBytes)));
    expect(await columnTexts(page, 'stack-table', 'added')).toEqual(stacks.map((r: any) => humanBytes(r.addedBytes)));
    expect(await columnTexts(page, 'stack-table', 'by')).toEqual([
      '/bin/sh -c #(nop) ADD file:acme-rootfs-3.19.tar in / ',
      'COPY app/worker /app/worker # buildkit',
      'RUN /bin/sh -c cleanup.sh # buildkit',
    ]);
    expect(await page.locator('#stack-svg rect[data-kind="deleted"]').count()).toBe(1);

    const base = byRef('acme/base:1.0');
    await page.selectOption('#layer-image', base.manifestDigest);
    expect(await page.$$eval('#stack-svg g.band', (gs) => gs.map((g) => g.getAttribute('data-layer')))).toEqual(base.layers);
  });

  it('prints without the toolbar, and the page logs no error', async () => {
    const dir = screenshotDir();
    // A fresh view (no sort, no filter), scrolled to the top, showing the worker's layers.
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]');
    await page.selectOption('#layer-image', byRef('acme/worker:1.0').manifestDigest);
    await page.evaluate(() => (globalThis as any).scrollTo(0, 0));
    const shot = path.join(dir, 'report.png');
    await page.screenshot({ path: shot, fullPage: true });
    publishScreenshot(shot, 'report.png');
    await page.emulateMedia({ media: 'print' });
    expect(await page.isVisible('#filter')).toBe(false);
    expect(await page.isVisible('#matrix svg')).toBe(true);
    await page.screenshot({ path: path.join(dir, 'report-print.png'), fullPage: true });
    await page.emulateMedia({ media: 'screen' });
    expect(problems).toEqual([]);
  });
});

describe('report --html with hostile names', () => {
  it('shows file names that look like markup as text, and runs no script but its own', async () => {
    const t = mkdtempSync(path.join(tmpdir(), 'ls-browser-evil-'));
    try {
      // A file whose path holds </script>, <!-- and <script> (its "/" make directories), deleted by
      // the top layer; and a file named like an <img> tag, replaced by the top layer.
      const evil = 'a/x</script><script>window.__pwned=1</script><!--<script>';
      const evilDir = evil.slice(0, evil.lastIndexOf('/'));
      const evilBase = evil.slice(evil.lastIndexOf('/') + 1);
      const img = `a/<img src=x onerror="window.__pwned=2">`;
      const bottom = await layerTar([
        { path: 'a', type: 'dir' },
        { path: evil, content: Buffer.alloc(3000, 1) },
        { path: img, content: Buffer.alloc(2000, 2) },
      ]);
      const top = await layerTar([{ path: `${evilDir}/.wh.${evilBase}` }, { path: img, content: Buffer.alloc(10, 3) }]);
      const spec: ImageSpec = {
        repoTags: ['evil/app:1'],
        layers: [
          { tar: bottom, compression: 'none' },
          { tar: top, compression: 'none' },
        ],
      };
      const tar = path.join(t, 'evil.tar');
      writeFileSync(tar, await dockerSaveLegacy([spec]));
      const s = path.join(t, 'store');
      expect(runCli(['--store', s, '-q', 'ingest', tar]).code).toBe(0);
      const file = path.join(t, 'evil.html');
      const r = runCli(['--store', s, 'report', '--html', file]);
      expect(r.code, show(r)).toBe(0);
      const p = await browser.context.newPage();
      const errs = watchConsole(p);
      await p.goto(pathToFileURL(file).href);
      await p.waitForSelector('body[data-ready="1"]');
      expect(await p.evaluate(() => (globalThis as any).__pwned)).toBeUndefined();
      const paths = await columnTexts(p, 'wasted-table', 'path');
      expect(paths).toContain(evil);
      expect(paths).toContain(img);
      expect(await p.locator('img').count()).toBe(0);
      expect(await p.locator('script').count()).toBe(2); // the data and the page script
      expect(errs).toEqual([]);
      await p.close();
    } finally {
      rmSync(t, { recursive: true, force: true });
    }
  });
});

describe('report --html shows what is attached to an image (referrers)', () => {
  it('an SBOM pushed through serve with a subject is a row of the referrers table: image, artifact type, digest, size; the image filter keeps it', async () => {
    const { rawRequest, startServe, uploadBlob } = await import('../registry/helpers.js');
    const { digestOf } = await import('../helpers/hand-bytes.js');
    const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
    const SBOM = 'application/spdx+json';
    const api = byRef('acme/api:1.1');
    const subjectSize = statSync(path.join(store, 'blobs', 'sha256', api.manifestDigest.slice(7))).size;
    const s = path.join(tmp, 'store-referrers');
    cpSync(store, s, { recursive: true });
    const srv = await startServe(s, ['--allow-push']);
    let manifest: Buffer;
    try {
      const empty = Buffer.from('{}');
      const doc = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', name: 'acme/api:1.1' }));
      for (const b of [empty, doc]) expect(await uploadBlob(srv.url, 'acme/api', b)).toBe(201);
      manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType: SBOM,
          config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(empty), size: 2 },
          layers: [{ mediaType: SBOM, digest: digestOf(doc), size: doc.length }],
          subject: { mediaType: OCI_MANIFEST, digest: api.manifestDigest, size: subjectSize },
        }),
      );
      const put = await rawRequest(`${srv.url}/v2/acme/api/manifests/${digestOf(manifest)}`, {
        method: 'PUT',
        headers: { 'Content-Type': OCI_MANIFEST },
        body: manifest,
      });
      expect(put.status, put.body.toString()).toBe(201);
    } finally {
      await srv.stop();
    }
    const file = path.join(tmp, 'referrers.html');
    const r = runCli(['--store', s, 'report', '--html', file]);
    expect(r.code, show(r)).toBe(0);
    const p = await browser.context.newPage();
    const errs = watchConsole(p);
    try {
      await p.goto(pathToFileURL(file).href);
      await p.waitForSelector('body[data-ready="1"]');
      expect(await p.locator('#referrers-table').isVisible()).toBe(true);
      const cols = async () =>
        Promise.all(['image', 'type', 'digest', 'size'].map((c) => columnTexts(p, 'referrers-table', c))).then(([image, type, digest, size]) => ({
          image,
          type,
          digest,
          size,
        }));
      expect(await cols()).toEqual({
        image: ['acme/api:1.1'],
        type: [SBOM],
        digest: [digestOf(manifest).slice(7, 19)],
        size: [humanBytes(manifest.length)],
      });
      // The ref filter hides the row with its image, and brings it back.
      await setFilter(p, 'acme/worker');
      expect((await cols()).image).toEqual([]);
      await setFilter(p, 'acme/api:1.1');
      expect((await cols()).image).toEqual(['acme/api:1.1']);
      expect(errs).toEqual([]);
    } finally {
      await p.close();
    }
  });
});
