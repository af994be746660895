/**
 * `budget` in real processes on real images (../shared/fixtures-real/SOURCES.md):
 * - regclient's testrepo (an OCI layout): testrepo:b1 names four platform images,
 *   linux/amd64 and linux/arm64 of 667 bytes, linux/arm/v6 and linux/arm/v7 of 680 bytes;
 * - go-containerregistry's whiteout_image: layer 1 holds foo.txt (4 bytes), layer 2 only
 *   its whiteout .wh.foo.txt: 4 bytes wasted, no file bytes above the first layer.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';
import { parseXml, xmlFindAll } from '../helpers/hand-bytes.js';
import { FIXTURES_REAL, realFixtures } from '../helpers/peers.js';
import type { VerdictRow } from '../../src/cli/budget-text.js';

const HAVE = realFixtures();
const B1_PLATFORMS = ['linux/amd64', 'linux/arm64', 'linux/arm/v6', 'linux/arm/v7'];
const TESTREPO = path.join(FIXTURES_REAL, 'regclient', 'testrepo');

let tmp: string;
let store: string;
const file = (name: string, text?: string) => {
  const f = path.join(tmp, name);
  if (text !== undefined) writeFileSync(f, text);
  return f;
};
const budget = (...args: string[]) => runCli(['--store', store, 'budget', ...args], { cwd: tmp });

beforeAll(() => {
  if (!HAVE) return;
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-budget-real-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!HAVE)('budget: a multi-platform ref', () => {
  let baseline: string;
  beforeAll(() => {
    store = path.join(tmp, 'store');
    const ing = runCli(['--store', store, 'ingest', TESTREPO]);
    expect(ing.code, show(ing)).toBe(0);
    const rep = runCli(['--store', store, 'report', '--json']);
    expect(rep.code, show(rep)).toBe(0);
    baseline = file('base.json', rep.stdout);
  });

  it('maxGrowth compares each platform with the same ref and platform of the baseline: +0 B everywhere against itself', () => {
    const g = file('g.json', JSON.stringify({ budgets: [{ match: 'testrepo:b1', maxGrowth: '0%' }] }));
    const r = budget('--config', g, '--baseline', baseline, '--json');
    expect(r.code, show(r)).toBe(0);
    const results = JSON.parse(r.stdout).results as VerdictRow[];
    expect(results).toHaveLength(4);
    for (const v of results) expect(v, JSON.stringify(v)).toMatchObject({ rule: 'maxGrowth', actual: 0, pass: true });
  });

  it('a platform the baseline lacks for the ref is skipped, saying which platforms it has', () => {
    const doc = JSON.parse(readFileSync(baseline, 'utf8'));
    doc.images = doc.images.filter((i: { refs: string[]; platform?: string }) => !(i.refs.includes('testrepo:b1') && i.platform === 'linux/arm/v6'));
    const partial = file('base-no-v6.json', JSON.stringify(doc));
    const g = file('g.json', JSON.stringify({ budgets: [{ match: 'testrepo:b1', maxGrowth: '0%' }] }));
    const r = budget('--config', g, '--baseline', partial, '--json');
    expect(r.code, show(r)).toBe(0);
    const results = JSON.parse(r.stdout).results as VerdictRow[];
    expect(results.map((v) => v.pass).sort()).toEqual([null, true, true, true]);
    const skipped = results.find((v) => v.pass === null)!;
    expect(skipped.detail).toBe('linux/arm/v6 not in the baseline report (it has this ref for linux/amd64, linux/arm/v7, linux/arm64)');
  });

  it('--junit: one testsuite per platform image, named apart, with counts that add up; the table names the platform too', () => {
    // 670 bytes: the two 667-byte platforms pass, the two 680-byte ones fail.
    const c = file('size.json', JSON.stringify({ budgets: [{ match: 'testrepo:b1', maxSize: 670, maxLayers: 1 }] }));
    const junit = file('b1.xml');
    const r = budget('--config', c, '--junit', junit, 'testrepo:b1', 'testrepo:b2', 'testrepo:v1');
    expect(r.code, show(r)).toBe(1);
    const root = parseXml(readFileSync(junit, 'utf8'));
    const suites = xmlFindAll(root, 'testsuite');
    expect(suites.map((s) => s.attrs.name).sort()).toEqual(B1_PLATFORMS.map((p) => `testrepo:b1 (${p})`).sort());
    for (const s of suites) {
      const cases = xmlFindAll(s, 'testcase');
      expect(cases).toHaveLength(2);
      expect(Number(s.attrs.tests)).toBe(cases.length);
      expect(Number(s.attrs.failures)).toBe(xmlFindAll(s, 'failure').length);
      expect(Number(s.attrs.failures)).toBe(/arm\/v[67]/.test(s.attrs.name!) ? 1 : 0);
      for (const tc of cases) expect(tc.attrs.classname).toBe(s.attrs.name);
    }
    expect(root.attrs).toMatchObject({ tests: '8', failures: '2', skipped: '0' });
    // The table: each row names its platform; the refs no budget matches are named once each.
    for (const p of B1_PLATFORMS) expect(r.stdout.split('\n').filter((l) => l.includes(`testrepo:b1 (${p})`))).toHaveLength(2);
    expect(r.stdout.match(/^no budget matches .*$/gm)).toEqual(['no budget matches testrepo:b2 (4 images)', 'no budget matches testrepo:v1 (2 images)']);
    // --json: each result carries its image's platform.
    const j = budget('--config', c, '--json', 'testrepo:b1');
    const results = JSON.parse(j.stdout).results as VerdictRow[];
    expect(results.map((v) => v.platform).sort()).toEqual([...B1_PLATFORMS, ...B1_PLATFORMS].sort());
    expect(results.every((v) => v.image === 'testrepo:b1')).toBe(true);
  });
});

describe.skipIf(!HAVE)('budget: highestUserWastedPercent on waste over no file bytes above the first layer', () => {
  it('fails (an infinite ratio, as in dive): actual null in --json, and report --files --json agrees (userWastedRatio null)', () => {
    const s = path.join(tmp, 'whiteout-store');
    const image = path.join(FIXTURES_REAL, 'go-containerregistry', 'mutate', 'whiteout_image.tar');
    const c = file('user-wasted.json', JSON.stringify({ budgets: [{ match: '*', highestUserWastedPercent: 1 }] }));
    const r = runCli(['--store', s, 'budget', '--config', c, image, '--json'], { cwd: tmp });
    expect(r.code, show(r)).toBe(1);
    const [v] = JSON.parse(r.stdout).results as VerdictRow[];
    expect(v).toMatchObject({ rule: 'highestUserWastedPercent', limit: 1, actual: null, actualText: 'infinite', pass: false });
    expect(v!.detail).toBe('4 B wasted, no file bytes above the first layer');
    const rep = runCli(['--store', s, 'report', '--files', '--json']);
    expect(rep.code, show(rep)).toBe(0);
    expect(JSON.parse(rep.stdout).images[0].waste).toMatchObject({ deletedBytes: 4, wastedBytes: 4, userWastedRatio: null });
  });
});
