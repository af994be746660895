/**
 * Helpers for the browser tests: Debian's chromium driven by playwright-core (which never
 * downloads a browser of its own), a store built from the project's fixtures with the CLI,
 * and screenshots.
 *
 * The tests FAIL (they do not skip) when /usr/bin/chromium is missing: CI installs it
 * (.ci/run), and a developer without it should hear so.
 */
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { generateFixtures } from '../../fixtures/generate.js';
import { REPO_ROOT, runCli, show } from '../helpers/cli.js';

export const CHROMIUM = '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];

/** A headless chromium with a fresh user-data-dir (removed by `close`). */
export async function launchBrowser(opts: { permissions?: string[] } = {}): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`the browser tests need Debian's chromium at ${CHROMIUM}: apt-get install chromium (.ci/run installs it)`);
  }
  const profile = mkdtempSync(path.join(tmpdir(), 'ls-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1366, height: 900 },
    deviceScaleFactor: 1,
    permissions: opts.permissions,
  });
  return {
    context,
    close: async () => {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Console errors, warnings and uncaught exceptions of a page, collected as they happen. */
export function watchConsole(page: Page): string[] {
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  return problems;
}

/**
 * A store holding the project's fixture images (README: 7 images, 9 distinct layers),
 * ingested with the CLI as a user would.
 */
export async function fixtureStore(tmp: string): Promise<string> {
  const fx = path.join(tmp, 'fixtures');
  await generateFixtures(fx);
  const store = path.join(tmp, 'store');
  const inputs = readdirSync(fx)
    .filter((f) => f.endsWith('.tar'))
    .map((f) => path.join(fx, f));
  const r = runCli(['--store', store, '-q', 'ingest', ...inputs, path.join(fx, 'oci-gzip')]);
  if (r.code !== 0) throw new Error(`ingest failed: ${show(r)}`);
  return store;
}

/** Where this run's screenshots go (a temp dir; printed so a developer can look). */
export function screenshotDir(): string {
  const dir = path.join(tmpdir(), 'layerstore-screenshots');
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Copy a screenshot to docs/screenshots/NAME, which README shows: when it is not there yet or
 * when LAYERSTORE_UPDATE_SCREENSHOTS=1. Not on every run, so a test run does not rewrite
 * tracked files (the UI screenshot shows the random port of its server).
 */
export function publishScreenshot(file: string, name: string): void {
  const dest = path.join(REPO_ROOT, 'docs', 'screenshots', name);
  if (existsSync(dest) && process.env.LAYERSTORE_UPDATE_SCREENSHOTS !== '1') return;
  mkdirSync(path.dirname(dest), { recursive: true });
  copyFileSync(file, dest);
}

/**
 * Type `q` into the filter box and wait until every view shows it: the page redraws once
 * typing pauses (body[data-filter] is the filter it last applied, lower-cased and trimmed).
 */
export async function setFilter(page: Page, q: string): Promise<void> {
  await page.fill('#filter', q);
  await page.waitForFunction((want) => (globalThis as any).document.body.getAttribute('data-filter') === want, q.trim().toLowerCase());
}

/** Texts of the visible rows' cells of column `col` in table `#id`, top to bottom. */
export async function columnTexts(page: Page, id: string, col: string): Promise<string[]> {
  return page.$$eval(`#${id} tbody tr:not([hidden]) td[data-col="${col}"]`, (tds) => tds.map((td) => td.textContent ?? ''));
}

/** data-key of the visible rows of table `#id`, top to bottom. */
export async function rowKeys(page: Page, id: string): Promise<string[]> {
  return page.$$eval(`#${id} tbody tr:not([hidden])`, (trs) => trs.map((tr) => tr.getAttribute('data-key') ?? ''));
}

/** Width and height of the bounding boxes of every element matching `selector`. */
export async function boxes(page: Page, selector: string): Promise<Array<{ w: number; h: number }>> {
  return page.$$eval(selector, (els) =>
    els.map((e) => {
      const r = e.getBoundingClientRect();
      return { w: r.width, h: r.height };
    }),
  );
}
