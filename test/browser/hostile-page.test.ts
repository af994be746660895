/**
 * The report page (`report --html`) against data made to hurt it, in chromium: names and
 * history lines that hide or reorder characters are shown escaped, as the CLI's tables show
 * them (report/printable.ts); one content copied to thousands of paths neither grows the file
 * nor the page with them; 2000 images draw a bounded sharing matrix, and typing in the filter
 * redraws once typing pauses, not at each keystroke; history lines of thousands of characters
 * are clipped, whole in a tooltip, and serve's history list shows a bounded number of steps.
 */
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { dockerSaveLegacy, layerTar, type ImageSpec } from '../../fixtures/image-writer.js';
import type { Digest } from '../../src/digest/digest.js';
import type { ImageInfo } from '../../src/analysis/load-images.js';
import { buildReportJson } from '../../src/html/report-data.js';
import { renderReportPage } from '../../src/html/report-page.js';
import { printable } from '../../src/report/printable.js';
import { ensureBuilt, runCli, sha256Of, show } from '../helpers/cli.js';
import { imageDocs } from '../helpers/hand-bytes.js';
import { startServe } from '../registry/helpers.js';
import { rawTar } from '../helpers/make-tar.js';
import { columnTexts, launchBrowser, setFilter, watchConsole } from './browser.js';

let tmp: string;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let setupError: unknown;

beforeAll(async () => {
  try {
    browser = await launchBrowser(); // first: without chromium, fail at once and say why
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'ls-browser-hostile-'));
  } catch (e) {
    setupError = e;
  }
}, 60_000);

beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  await browser?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Ingest `specs` (a docker save) into a new store and write its HTML report; the report's path. */
async function htmlReport(name: string, specs: ImageSpec[]): Promise<string> {
  const tar = path.join(tmp, `${name}.tar`);
  writeFileSync(tar, await dockerSaveLegacy(specs));
  const store = path.join(tmp, `${name}-store`);
  const i = runCli(['--store', store, '-q', 'ingest', tar]);
  expect(i.code, show(i)).toBe(0);
  const file = path.join(tmp, `${name}.html`);
  const r = runCli(['--store', store, 'report', '--html', file]);
  expect(r.code, show(r)).toBe(0);
  return file;
}

async function open(file: string): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.context.newPage();
  const problems = watchConsole(page);
  await page.goto(pathToFileURL(file).href);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 20_000 });
  return { page, problems };
}

/**
 * Characters printable escapes, and the U+EF80-U+EFFF stand-ins of bytes that are not UTF-8;
 * but newline, which the page's own tooltips use between their lines (a name's newline is
 * checked where the name is shown).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const HIDDEN = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff\uef80-\uefff]/;

/** Every text node (but scripts' and the markup's own blank ones) and every title attribute of the page. */
async function shownTexts(page: Page): Promise<string[]> {
  return page.evaluate(() => {
    const d = (globalThis as any).document;
    const out: string[] = [];
    const walk = d.createTreeWalker(d.body, 4 /* NodeFilter.SHOW_TEXT */);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) if (n.parentNode.nodeName !== 'SCRIPT' && n.nodeValue.trim()) out.push(n.nodeValue);
    for (const e of d.querySelectorAll('[title]')) out.push(e.getAttribute('title'));
    return out;
  });
}

describe('report --html: names and history lines that hide or reorder characters', () => {
  it('shows paths and "Created by" lines escaped as the CLI tables do: bidi overrides, newlines, zero-width characters, bytes that are not UTF-8', async () => {
    const rlo = 'usr/bin/evil\u202egpj.exe';
    const newline = 'etc/line1\nline2';
    const zeroWidth = 'etc/ad\u200bmin\u2060\ufeff';
    const badBytes = Buffer.concat([Buffer.from('srv/bad'), Buffer.from([0xff, 0xfe]), Buffer.from('bytes')]);
    const badShown = 'srv/bad\\xff\\xfebytes';
    const content = Buffer.alloc(700, 'd');
    // Four copies of one content: the duplicates table lists all four paths; the wasted table
    // lists three as duplicates of the first.
    const layer = rawTar([
      { name: rlo, body: content },
      { name: newline, body: content },
      { name: zeroWidth, body: content },
      { name: 'srv/bad', nameBytes: badBytes, body: content },
    ]);
    const history = ['RUN \u001b[2Jecho\u202e hi\nfake line\u2028more'];
    const file = await htmlReport('names', [{ repoTags: ['hostile/names:1'], layers: [{ tar: layer, compression: 'none' }], history }]);
    const { page, problems } = await open(file);
    try {
      const wantPaths = [printable(rlo), printable(newline), printable(zeroWidth), badShown];
      expect(wantPaths.slice(0, 3)).toEqual(['usr/bin/evil\\u202egpj.exe', 'etc/line1\\u000aline2', 'etc/ad\\u200bmin\\u2060\\ufeff']);
      // Wasted table: the three later copies, each "same as" the first (both escaped).
      const wasted = await columnTexts(page, 'wasted-table', 'path');
      expect(wasted.length).toBe(3);
      for (const p of wasted) expect(wantPaths).toContain(p);
      for (const why of await columnTexts(page, 'wasted-table', 'why')) expect(wantPaths.map((p) => `same as ${p}`)).toContain(why);
      // Duplicates table: every path, escaped.
      const dupPaths = await page.$$eval('#duplicates-table td[data-col="paths"] div', (ds) => ds.map((d) => d.textContent ?? ''));
      expect(dupPaths.map((p) => p.replace(/ \([0-9a-f]{12}\)$/, '')).sort()).toEqual([...wantPaths].sort());
      // The layer table's "Created by" and the band's tooltip.
      expect(await columnTexts(page, 'stack-table', 'by')).toEqual([printable(history[0]!)]);
      expect(await page.textContent('#stack-svg g.band title')).toBe(printable(history[0]!));
      // Nothing anywhere on the page shows such a character raw.
      const raw = (await shownTexts(page)).filter((t) => HIDDEN.test(t));
      expect(raw).toEqual([]);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

describe('report --html: one content at thousands of paths', () => {
  /** Two images: dup/many:1, one layer holding one content at `copies` paths, and dup/other:1. */
  async function copiesReport(copies: number): Promise<string> {
    const same = Buffer.alloc(64, 's');
    const many = await layerTar(Array.from({ length: copies }, (_, i) => ({ path: `pkg/f-${String(i).padStart(5, '0')}`, content: same })));
    const other = await layerTar([{ path: 'etc/other', content: 'other' }]);
    return htmlReport(`copies-${copies}`, [
      { repoTags: ['dup/many:1'], layers: [{ tar: many, compression: 'none' }] },
      { repoTags: ['dup/other:1'], layers: [{ tar: other, compression: 'none' }] },
    ]);
  }

  it('the file does not grow with the paths; the table shows a few paths and how many more, counts every copy, and filters by image', async () => {
    const small = await copiesReport(300);
    const big = await copiesReport(1500);
    // 1200 more paths (~100 bytes each in the data) would be ~120 kB more; a few digits differ.
    expect(Math.abs(statSync(big).size - statSync(small).size)).toBeLessThan(2_000);
    const { page, problems } = await open(big);
    try {
      const row = '#duplicates-table tbody tr';
      expect(await page.locator(row).count()).toBe(1);
      expect(await columnTexts(page, 'duplicates-table', 'copies')).toEqual(['1500']);
      const paths = await page.$$eval(`${row} td[data-col="paths"] div`, (ds) => ds.map((d) => d.textContent ?? ''));
      expect(paths.length).toBe(11);
      expect(paths.slice(0, 10).map((p) => p.replace(/ \([0-9a-f]{12}\)$/, ''))).toEqual(
        Array.from({ length: 10 }, (_, i) => `pkg/f-${String(i).padStart(5, '0')}`),
      );
      expect(paths[10]).toBe('+1490 more');
      // The filter keeps the row for its image, hides it for another.
      await setFilter(page, 'dup/other');
      expect(await page.locator('#duplicates-table tbody tr[hidden]').count()).toBe(1);
      await setFilter(page, 'dup/many');
      expect(await page.locator('#duplicates-table tbody tr:not([hidden])').count()).toBe(1);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

describe('report --html: 2000 images', () => {
  /**
   * 2000 images on one shared base layer, each with a layer of its own (2001 layers): the
   * report's data made by the report code itself from the images' metadata (no layers to
   * read), written as report --html writes it.
   */
  async function manyImagesPage(n: number): Promise<string> {
    const digest = (s: string) => sha256Of(s) as Digest;
    const layer = (name: string, size: number) => ({
      digest: digest(`blob ${name}`),
      diffId: digest(`tar ${name}`),
      mediaType: 'application/vnd.oci.image.layer.v1.tar',
      size,
      compression: 'none' as const,
    });
    const base = layer('base', 400_000);
    const images: ImageInfo[] = Array.from({ length: n }, (_, i) => ({
      manifestDigest: digest(`manifest ${i}`),
      manifestSize: 500,
      configDigest: digest(`config ${i}`),
      configSize: 300,
      layers: [base, layer(`app ${i}`, 1000 + i)],
      refs: [`many/img${i}:1`],
    }));
    const report = await buildReportJson(undefined, images);
    const file = path.join(tmp, `many-${n}.html`);
    writeFileSync(file, renderReportPage({ data: { schemaVersion: 1, report, stacks: {} } }).html);
    return file;
  }

  it('draws a bounded sharing matrix (most shared layers, the images using them), says what it leaves out, and redraws once per pause in typing', async () => {
    const { page, problems } = await open(await manyImagesPage(2000));
    try {
      // 40 layers x 60 images at most (2000 x 2001 cells unbounded); the base layer is the first column.
      const cells = await page.locator('#matrix svg rect[data-layer], #matrix svg circle').count();
      expect(cells).toBe(40 * 60);
      expect(await page.locator('#matrix svg *').count()).toBeLessThan(8_000);
      const columns = await page.$$eval('#matrix rect[data-layer]', (rs) => [...new Set(rs.map((r) => r.getAttribute('data-layer')))]);
      expect(columns.length).toBe(40);
      expect(await page.textContent('#matrix-left-out')).toBe(
        'Drawn: the 40 most shared of 2001 layers and 60 of 2000 images (those using the most of these layers). Type a ref or digest in the filter to draw other images and their layers; the tables below list every one.',
      );
      // The images table still lists every image.
      expect(await page.locator('#images-table tbody tr').count()).toBe(2000);

      // Typing a filter redraws the views once typing pauses, not per keystroke.
      await page.evaluate(() => {
        const g = globalThis as any;
        g.__matrixDraws = 0;
        new g.MutationObserver(() => g.__matrixDraws++).observe(g.document.getElementById('matrix'), { childList: true });
      });
      await page.focus('#filter');
      await page.keyboard.type('many/img1999');
      await page.waitForFunction(() => (globalThis as any).document.body.getAttribute('data-filter') === 'many/img1999');
      // One redraw (clearing the box and drawing it are one batch of mutations); 12 keystrokes were typed.
      expect(await page.evaluate(() => (globalThis as any).__matrixDraws)).toBeLessThanOrEqual(3);
      expect(await page.locator('#matrix rect[data-image]').count()).toBe(2);
      expect(await page.locator('#matrix-left-out').count()).toBe(0);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });
});

describe('history lines of thousands of characters, and histories of thousands of steps', () => {
  const LONG = `RUN ${'apt-get install -y pkg && '.repeat(400)}true`; // ~10,000 characters

  it('report --html: the layer table shows the first characters of a long "Created by", the whole line (as the server clipped it) in its title', async () => {
    const layer = rawTar([{ name: 'etc/x', body: 'x' }]);
    const file = await htmlReport('long-line', [{ repoTags: ['hist/long:1'], layers: [{ tar: layer, compression: 'none' }], history: [LONG] }]);
    const { page, problems } = await open(file);
    try {
      const cell = page.locator('#stack-table td[data-col="by"] span');
      const shown = (await cell.textContent({ timeout: 5_000 })) ?? '';
      expect(shown.length).toBe(160);
      expect(LONG.startsWith(shown.slice(0, -1))).toBe(true);
      const title = (await cell.getAttribute('title')) ?? '';
      expect(title).toBe(`${LONG.slice(0, 4095)}\u2026\n(clipped by the server: the whole text is ${LONG.length} characters)`);
      // One line's height, not a screenful.
      const box = await cell.boundingBox();
      expect(box!.height).toBeLessThan(80);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
    }
  });

  it("serve: a tag's history shows the steps the server sent (the layer's, and 100 that made no layer), says how many more there are, and clips long lines", async () => {
    // An OCI layout of one image whose config history is a long line, 150 steps that made no layer, then 3000 empty entries.
    const layout = path.join(tmp, 'long-history');
    mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
    const layer = rawTar([{ name: 'etc/y', body: 'y' }]);
    const history = [
      { created_by: LONG },
      ...Array.from({ length: 150 }, (_, i) => ({ created_by: `ENV N=${i}`, empty_layer: true })),
      ...Array.from({ length: 3000 }, () => ({})),
    ];
    const { config, manifest } = imageDocs(layer, { configExtra: { history } });
    for (const b of [config, manifest, layer]) writeFileSync(path.join(layout, 'blobs', 'sha256', sha256Of(b).slice(7)), b);
    writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const desc = { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha256Of(manifest), size: manifest.length };
    const refs = ['hist/many:1', 'hist/many:2'];
    writeFileSync(
      path.join(layout, 'index.json'),
      JSON.stringify({ schemaVersion: 2, manifests: refs.map((r) => ({ ...desc, annotations: { 'org.opencontainers.image.ref.name': r } })) }),
    );
    const store = path.join(tmp, 'long-history-store');
    const i = runCli(['--store', store, '-q', 'ingest', layout]);
    expect(i.code, show(i)).toBe(0);
    const serve = await startServe(store);
    const page = await browser.context.newPage();
    const problems = watchConsole(page);
    try {
      await page.goto(`${serve.url}/`);
      await page.waitForSelector('body[data-ready="1"]', { timeout: 30_000 });
      const row = '#tags-table tr[data-key="hist/many:1"]';
      expect(await page.textContent(`${row} summary`)).toBe(`history (${1 + 150 + 3000} steps)`);
      // Steps are drawn when a history is opened, not before.
      expect(await page.locator('#tags-table details li').count()).toBe(0);
      await page.click(`${row} summary`);
      const items = await page.$$eval(`${row} details li`, (lis) => lis.map((li) => li.textContent ?? ''));
      expect(items).toHaveLength(1 + 100 + 1);
      expect(items[0]!.length).toBe(160);
      expect(items.slice(1, 101)).toEqual(Array.from({ length: 100 }, (_, n) => `ENV N=${n}  (no layer)`));
      expect(items[101]).toBe('3050 more steps not sent (past the image\u2019s layers, or past 100 that made no layer)');
      expect(await page.getAttribute(`${row} details li span`, 'title')).toBe(
        `${LONG.slice(0, 4095)}\u2026\n(clipped by the server: the whole text is ${LONG.length} characters)`,
      );
      expect(await page.locator('#tags-table tr[data-key="hist/many:2"] details li').count()).toBe(0);
      expect(problems).toEqual([]);
    } finally {
      await page.close();
      await serve.stop();
    }
  });
});
