/**
 * The web UI of `layerstore serve` in a real browser (Debian's chromium, headless): `/` beside
 * the registry API, its JSON endpoints (/api/report is byte for byte `report --files --json`),
 * the same checks as the HTML report (charts, numbers, filter, sort, layer view, no console
 * error), the pull commands per tag with the request's host, and the registry's auth rules.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import bcrypt from 'bcryptjs';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { humanBytes, percent } from '../../src/report/human.js';
import { CLI, REPO_ROOT, ensureBuilt, runCli, show } from '../helpers/cli.js';
import { boxes, columnTexts, fixtureStore, launchBrowser, publishScreenshot, rowKeys, screenshotDir, setFilter, watchConsole } from './browser.js';

let tmp: string;
let store: string;
let report: any;
let reportText: string;
let ls: any;
const servers: ChildProcess[] = [];
let base: string;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
let problems: string[];
const requests: string[] = [];

/** Start `serve --listen 127.0.0.1:0 ARGS...` and read its URL from stdout. */
async function serve(...args: string[]): Promise<string> {
  const child = spawn(process.execPath, [CLI, '--store', store, 'serve', '--listen', '127.0.0.1:0', ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.push(child);
  let out = '';
  let err = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (err += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not print its URL in 20 s; stderr:\n${err}`)), 20_000);
    child.stdout!.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const m = /^listening on (http:\/\/\S+)\n/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}; stderr:\n${err}`));
    });
  });
}

/** GET with a Host header of our choosing (fetch may not send one). */
function getJsonWithHost(url: string, host: string): Promise<any> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { host } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve(JSON.parse(text)));
      })
      .on('error', reject);
  });
}

const byRef = (ref: string) => report.images.find((i: any) => i.refs.includes(ref));

/** Set-up failures (no chromium, above all) fail every test, rather than skip them. */
let setupError: unknown;

beforeAll(async () => {
  try {
    browser = await launchBrowser({ permissions: ['clipboard-read', 'clipboard-write'] }); // first: without chromium, fail at once
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'ls-browser-ui-'));
    store = await fixtureStore(tmp);
    const j = runCli(['--store', store, 'report', '--files', '--json']);
    expect(j.code, show(j)).toBe(0);
    reportText = j.stdout;
    report = JSON.parse(reportText);
    const l = runCli(['--store', store, 'ls', '--json']);
    expect(l.code, show(l)).toBe(0);
    ls = JSON.parse(l.stdout);
    base = await serve();
    page = await browser.context.newPage();
    problems = watchConsole(page);
    page.on('request', (req) => requests.push(req.url()));
    await page.goto(`${base}/`);
    await page.waitForSelector('body[data-ready="1"]', { timeout: 30_000 });
  } catch (e) {
    setupError = e;
  }
}, 180_000);

beforeEach(() => {
  if (setupError) throw setupError;
});

afterAll(async () => {
  await browser?.close();
  for (const s of servers) s.kill('SIGTERM');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('serve: JSON endpoints beside /v2/', () => {
  it('GET /api/report is report --files --json, byte for byte', async () => {
    const r = await fetch(`${base}/api/report`);
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json');
    expect(await r.text()).toBe(reportText);
  });

  it('GET /api/repositories lists every tag with digest, size, created, platforms and pull commands for the Host asked, and each config history once', async () => {
    const r = await fetch(`${base}/api/repositories`);
    expect(r.status).toBe(200);
    const body = (await r.json()) as any;
    expect(body.schemaVersion).toBe(2);
    expect(Object.keys(body.histories).sort()).toEqual([...new Set(ls.images.map((i: any) => i.configDigest))].sort());
    const host = new URL(base).host;
    expect(body.registry).toBe(host);
    expect(body.repositories.map((x: any) => x.name)).toEqual(['acme/api', 'acme/base', 'acme/cli', 'acme/web', 'acme/worker']);
    const tags = body.repositories.flatMap((x: any) => x.tags);
    expect(tags.map((t: any) => t.ref)).toEqual(ls.images.flatMap((i: any) => i.refs).sort());
    for (const t of tags) {
      const img = ls.images.find((i: any) => i.refs.includes(t.ref));
      expect(t.digest).toBe(img.manifestDigest);
      expect(t.sizeBytes).toBe(img.sizeBytes);
      expect(t.created).toBe(img.created);
      expect(t.platforms).toEqual([img.platform]);
      expect(body.histories[t.images[0].configDigest].entries.length).toBe(img.layers);
      expect(t.pull.docker).toBe(`docker pull ${host}/${t.ref}`);
      expect(t.pull.skopeo).toMatch(new RegExp(`^skopeo copy --src-tls-verify=false docker://${host.replace(/\./g, '\\.')}/${t.ref} oci:`));
    }
    // The commands name the host the client used.
    const other = await getJsonWithHost(`${base}/api/repositories`, '192.0.2.7:5000');
    expect(other.repositories[0].tags[0].pull.docker).toBe('docker pull 192.0.2.7:5000/acme/api:1.0');
    // A Host header that is not a host name is not echoed: on loopback it is not even answered (DNS rebinding guard).
    const odd = await getJsonWithHost(`${base}/api/repositories`, 'a b"<x>');
    expect(odd.registry).toBeUndefined();
    expect(odd.errors[0].code).toBe('DENIED');
  });

  it('GET /api/layers has every image layers bottom to top; the UI is read-only; /v2/ is unchanged', async () => {
    const body = (await (await fetch(`${base}/api/layers`)).json()) as any;
    for (const img of report.images) expect(body.images[img.manifestDigest].map((r: any) => r.digest)).toEqual(img.layers);
    expect((await fetch(`${base}/api/report`, { method: 'POST', body: '{}' })).status).toBe(405);
    expect((await fetch(`${base}/api/nope`)).status).toBe(404);
    const head = await fetch(`${base}/`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-security-policy')).toMatch(/default-src 'none'.*connect-src 'self'/);
    expect(await (await fetch(`${base}/v2/_catalog`)).json()).toEqual({ repositories: ['acme/api', 'acme/base', 'acme/cli', 'acme/web', 'acme/worker'] });
  });

  it('with --htpasswd, the UI and its endpoints need credentials like the registry API', async () => {
    const file = path.join(tmp, 'htpasswd');
    writeFileSync(file, `alice:${bcrypt.hashSync('s3cret', 4)}\n`);
    const url = await serve('--htpasswd', file);
    for (const p of ['/', '/api/report', '/api/repositories', '/v2/']) {
      const r = await fetch(`${url}${p}`);
      expect(r.status, p).toBe(401);
      expect(r.headers.get('www-authenticate')).toBe('Basic realm="layerstore"');
    }
    const auth = { authorization: `Basic ${Buffer.from('alice:s3cret').toString('base64')}` };
    expect((await fetch(`${url}/`, { headers: auth })).status).toBe(200);
    expect(await (await fetch(`${url}/api/report`, { headers: auth })).text()).toBe(reportText);
  });
});

describe('serve: the web UI at /', () => {
  it('loads its data from the server that sent it, and from nowhere else', () => {
    const origin = new URL(base).origin;
    expect(requests.filter((u) => !u.startsWith(origin + '/') && !u.startsWith('data:'))).toEqual([]);
    expect(requests.map((u) => new URL(u).pathname).sort()).toEqual(['/', '/api/layers', '/api/report', '/api/repositories']);
  });

  it('draws the charts and shows the JSON report numbers', async () => {
    for (const sel of ['#ledger-chart svg', '#matrix svg', '#images-table svg', '#stack svg']) {
      const b = await boxes(page, sel);
      expect(b.length, sel).toBeGreaterThan(0);
      for (const x of b) expect(x.w * x.h, sel).toBeGreaterThan(0);
    }
    const t = report.totals;
    expect(await page.textContent('[data-k="logical"] .v')).toBe(humanBytes(t.logicalBytes));
    expect(await page.textContent('[data-k="stored"] .v')).toBe(humanBytes(t.storedBytes));
    expect(await page.textContent('#ledger-chart [data-level="diffId"] [data-f="saved"]')).toBe(humanBytes(t.levels.diffId.savedBytes));
    const worker = byRef('acme/worker:1.0');
    const cell = (col: string) => page.textContent(`#images-table tr[data-key="${worker.manifestDigest}"] td[data-col="${col}"]`);
    expect(await cell('wasted')).toBe(humanBytes(worker.waste.wastedBytes));
    expect(await cell('efficiency')).toBe(percent(worker.waste.efficiency, 1));
    expect(await page.textContent('#sub')).toBe('7 images, 9 distinct layers');
    expect(await page.textContent('#repos-title')).toBe(`Pull from ${new URL(base).host}`);
  });

  it('lists every tag with copyable pull commands naming this host', async () => {
    const host = new URL(base).host;
    expect(await rowKeys(page, 'tags-table')).toEqual(ls.images.flatMap((i: any) => i.refs).sort());
    const row = '#tags-table tr[data-key="acme/api:1.0"]';
    const codes = await page.$$eval(`${row} code`, (cs) => cs.map((c) => c.textContent));
    expect(codes).toEqual([`docker pull ${host}/acme/api:1.0`, `skopeo copy --src-tls-verify=false docker://${host}/acme/api:1.0 oci:api:1.0`]);
    const img = ls.images.find((i: any) => i.refs.includes('acme/api:1.0'));
    expect(await page.textContent(`${row} td[data-col="size"]`)).toBe(humanBytes(img.sizeBytes));
    expect(await page.textContent(`${row} td[data-col="digest"]`)).toBe(img.manifestDigest.slice(7, 19));
    expect(await page.textContent(`${row} td[data-col="created"]`)).toBe(img.created);
    await page.click(`${row} .cmd button >> nth=0`);
    await page.waitForFunction((sel) => (globalThis as any).document.querySelector(`${sel} .cmd button`)?.textContent === 'Copied', row);
    expect(await page.evaluate(() => (globalThis as any).navigator.clipboard.readText())).toBe(`docker pull ${host}/acme/api:1.0`);
    const worker = '#tags-table tr[data-key="acme/worker:1.0"]';
    expect(await page.isVisible(`${worker} details li`)).toBe(false);
    await page.click(`${worker} summary`);
    expect(await page.$$eval(`${worker} details li`, (lis) => lis.map((li) => li.textContent))).toEqual([
      '2024-01-01T00:00:00Z  /bin/sh -c #(nop) ADD file:acme-rootfs-3.19.tar in / ',
      '2024-01-01T00:00:00Z  COPY app/worker /app/worker # buildkit',
      '2024-01-01T00:00:00Z  RUN /bin/sh -c cleanup.sh # buildkit',
    ]);
  });

  it('filters every view by ref, sorts tables, and draws the chosen image layers', async () => {
    await setFilter(page, 'cli');
    const cli = report.images.filter((i: any) => i.refs.some((r: string) => r.includes('cli')));
    expect((await rowKeys(page, 'images-table')).sort()).toEqual(cli.map((i: any) => i.manifestDigest).sort());
    expect(await rowKeys(page, 'tags-table')).toEqual(['acme/cli:1.0', 'acme/cli:1.1']);
    expect(new Set(await page.$$eval('#matrix rect[data-image]', (rs) => rs.map((r) => r.getAttribute('data-image'))))).toEqual(
      new Set(cli.map((i: any) => i.manifestDigest)),
    );
    await setFilter(page, '');
    expect(await rowKeys(page, 'tags-table')).toHaveLength(7);

    await page.click('#images-table th button:text-is("Unique")');
    const keys = await rowKeys(page, 'images-table');
    const uniques = keys.map((d) => report.images.find((i: any) => i.manifestDigest === d).uniqueBytes);
    expect(uniques).toEqual([...uniques].sort((a, b) => b - a));
    expect(await columnTexts(page, 'images-table', 'unique')).toEqual(uniques.map(humanBytes));

    const worker = byRef('acme/worker:1.0');
    await page.selectOption('#layer-image', worker.manifestDigest);
    expect(await page.$$eval('#stack-svg g.band', (gs) => gs.map((g) => g.getAttribute('data-layer')))).toEqual(worker.layers);
    expect(await page.locator('#stack-svg rect[data-kind]').count()).toBeGreaterThanOrEqual(3);
  });

  it('logs no console error; screenshot', async () => {
    await page.reload();
    await page.waitForSelector('body[data-ready="1"]');
    await page.selectOption('#layer-image', byRef('acme/worker:1.0').manifestDigest);
    await page.evaluate(() => (globalThis as any).scrollTo(0, 0));
    const shot = path.join(screenshotDir(), 'ui.png');
    await page.screenshot({ path: shot, fullPage: true });
    publishScreenshot(shot, 'ui.png');
    expect(problems).toEqual([]);
  });
});

describe('serve: the web UI while the store changes under its report', () => {
  /** A new page whose api/report answers 503 + Retry-After: 1 (as serve does while it computes another state) `times` times. */
  async function pageWith503(times: number) {
    const p = await browser.context.newPage();
    const errs = watchConsole(p);
    const calls = { n: 0 };
    await p.route('**/api/report', async (route) => {
      if (calls.n++ < times) {
        await route.fulfill({
          status: 503,
          headers: { 'Retry-After': '1', 'Content-Type': 'application/json' },
          body: JSON.stringify({ errors: [{ code: 'TOOMANYREQUESTS', message: 'a report of an earlier state of the store is being computed' }] }),
        });
      } else await route.continue();
    });
    // The browser logs each 503 as a failed resource; anything else is a problem.
    const problems = () => errs.filter((e) => !/status of 503/.test(e));
    return { p, calls, problems };
  }

  it('a 503 with Retry-After: the page says the store changed, waits as told, and loads', async () => {
    const { p, calls, problems } = await pageWith503(1);
    try {
      await p.goto(`${base}/`);
      await p.waitForFunction(() => (globalThis as any).document.getElementById('sub').textContent.includes('loading again'));
      expect(await p.textContent('#sub')).toBe('the store changed; loading again in 1 s\u2026');
      await p.waitForSelector('body[data-ready="1"]', { timeout: 30_000 });
      expect(calls.n).toBe(2);
      expect(await p.locator('#error').count()).toBe(0);
      expect(await p.textContent('#sub')).toBe('7 images, 9 distinct layers');
      expect(problems()).toEqual([]);
    } finally {
      await p.close();
    }
  });

  it('a few tries, then the page gives up and says why', async () => {
    const { p, calls, problems } = await pageWith503(100);
    try {
      await p.goto(`${base}/`);
      await p.waitForSelector('body[data-ready="error"]', { timeout: 30_000 });
      expect(calls.n).toBe(4); // the first request and 3 more
      expect(await p.textContent('#error')).toBe(
        'Could not load the report: api/report: HTTP 503: a report of an earlier state of the store is being computed',
      );
      expect(problems()).toEqual([]);
    } finally {
      await p.close();
    }
  });
});
