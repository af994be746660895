/**
 * `layerstore budget` end to end, in real processes, on images built here. Every size below is
 * worked out from the bytes put in the layers (tarSize: 512-byte header per entry + content
 * rounded up to 512 + 1024-byte end marker) and the config bytes the fixture writer makes
 * (imageConfig, the exact config blob a legacy `docker save` carries).
 *
 *   L0 (base)  base.bin 100000                          -> 512 + 100352 + 1024        = 101888
 *   L1 (app)   app/junk.bin 5000, app/keep.bin 3000      -> 512+5120 + 512+3072 + 1024 =  10240
 *   L2 (app)   app/.wh.junk.bin (0), app/main.js 1000    -> 512 + 512+1024 + 1024      =   3072
 *   L3 (other) srv/data.bin 7000                         -> 512 + 7168 + 1024          =   8704
 *
 *   acme/base:1.0  = [L0]
 *   acme/app:1.0   = [L0, L1, L2]: L2's whiteout deletes app/junk.bin (5000 bytes), no other waste
 *       file bytes: 100000 + 5000 + 3000 + 1000 = 109000; above the first layer 9000
 *       wasted 5000; efficiency 1 - 5000/109000 (0.954128 to 6 decimals); user wasted 5000/9000 (0.555556)
 *       added over base: L1 + L2 = 13312
 *   acme/other:1.0 = [L0, L3]
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dockerSaveLegacy, imageConfig, layerTar, type ImageSpec, type LayerBlob } from '../../fixtures/image-writer.js';
import { ensureBuilt, indexRefs, runCli, show, spawnCli, type CliResult } from '../helpers/cli.js';
import { fill, parseXml, tarSize, xmlFindAll } from '../helpers/hand-bytes.js';
import { FIXTURES_REAL } from '../helpers/peers.js';
import type { VerdictRow } from '../../src/cli/budget-text.js';

const L0_BYTES = 101888;
const L1_BYTES = 10240;
const L2_BYTES = 3072;
const L3_BYTES = 8704;
const ADDED_OVER_BASE = L1_BYTES + L2_BYTES; // 13312
const WASTED = 5000;
const EFFICIENCY = 1 - 5000 / 109000; // 0.95412844...: verdicts carry the exact ratio (report --json rounds it to 0.954128)
const USER_WASTED = 5000 / 9000; // 0.5555... exactly, as for EFFICIENCY

interface BudgetJson {
  schemaVersion: number;
  passed: boolean;
  summary: { images: number; rules: number; failed: number; skipped: number; unchecked: number };
  results: VerdictRow[];
  unchecked: Array<{ refs: string[]; manifestDigest: string }>;
}

let tmp: string;
let n = 0;
const newStore = () => path.join(tmp, 'stores', `s${++n}`);
const file = (name: string) => path.join(tmp, name);

/** A budget file in tmp, from an object (or raw text). */
function budgetFile(name: string, doc: unknown): string {
  const f = file(name);
  writeFileSync(f, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
  return f;
}

const errorLines = (r: CliResult) => r.stderr.split('\n').filter((l) => l.startsWith('layerstore: error:'));

let base: ImageSpec;
let app: ImageSpec;
let other: ImageSpec;
let appSize: number;
let otherSize: number;
/** A store holding base, app and other (read-only for the tests that use it). */
let store: string;
/** Sizes of the app grown by a small and by a big layer. */
let grown: { small: number; big: number };
let allTar: string;

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-budget-cli-'));
  mkdirSync(path.join(tmp, 'stores'));
  const L0: LayerBlob = { tar: await layerTar([{ path: 'base.bin', content: fill(100000, 'base') }]), compression: 'none' };
  const L1: LayerBlob = {
    tar: await layerTar([
      { path: 'app/junk.bin', content: fill(5000, 'junk') },
      { path: 'app/keep.bin', content: fill(3000, 'keep') },
    ]),
    compression: 'none',
  };
  const L2: LayerBlob = { tar: await layerTar([{ path: 'app/.wh.junk.bin' }, { path: 'app/main.js', content: fill(1000, 'main') }]), compression: 'none' };
  const L3: LayerBlob = { tar: await layerTar([{ path: 'srv/data.bin', content: fill(7000, 'data') }]), compression: 'none' };
  // The hand-computed layer sizes are what the writer produced.
  expect([L0.tar.length, L1.tar.length, L2.tar.length, L3.tar.length]).toEqual([L0_BYTES, L1_BYTES, L2_BYTES, L3_BYTES]);
  expect(tarSize([100000])).toBe(L0_BYTES);
  expect(tarSize([5000, 3000])).toBe(L1_BYTES);
  expect(tarSize([0, 1000])).toBe(L2_BYTES);

  base = { repoTags: ['acme/base:1.0'], layers: [L0] };
  app = { repoTags: ['acme/app:1.0'], layers: [L0, L1, L2] };
  other = { repoTags: ['acme/other:1.0'], layers: [L0, L3] };
  appSize = imageConfig(app).length + L0_BYTES + L1_BYTES + L2_BYTES;
  otherSize = imageConfig(other).length + L0_BYTES + L3_BYTES;

  allTar = file('all.tar');
  writeFileSync(allTar, await dockerSaveLegacy([base, app, other]));
  writeFileSync(file('base-app.tar'), await dockerSaveLegacy([base, app]));
  writeFileSync(file('other.tar'), await dockerSaveLegacy([other]));

  // The app, grown by a small layer (app/extra.txt, 100 bytes: 512 + 512 + 1024 = 2048) and by a big one
  // (app/big.bin, 20000 bytes: 512 + 20480 + 1024 = 22016), under the same ref.
  const small: LayerBlob = { tar: await layerTar([{ path: 'app/extra.txt', content: fill(100, 'extra') }]), compression: 'none' };
  const big: LayerBlob = { tar: await layerTar([{ path: 'app/big.bin', content: fill(20000, 'big') }]), compression: 'none' };
  expect([small.tar.length, big.tar.length]).toEqual([2048, 22016]);
  const appSmall: ImageSpec = { repoTags: ['acme/app:1.0'], layers: [...app.layers, small] };
  const appBig: ImageSpec = { repoTags: ['acme/app:1.0'], layers: [...app.layers, big] };
  writeFileSync(file('app-small.tar'), await dockerSaveLegacy([appSmall]));
  writeFileSync(file('app-big.tar'), await dockerSaveLegacy([appBig]));
  grown = {
    small: imageConfig(appSmall).length + L0_BYTES + L1_BYTES + L2_BYTES + 2048,
    big: imageConfig(appBig).length + L0_BYTES + L1_BYTES + L2_BYTES + 22016,
  };

  store = newStore();
  const r = runCli(['--store', store, '-q', 'ingest', allTar]);
  expect(r.code, show(r)).toBe(0);
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const parseBudgetJson = (r: CliResult): { r: CliResult; j: BudgetJson } => {
  try {
    return { r, j: JSON.parse(r.stdout) as BudgetJson };
  } catch {
    throw new Error(`budget --json printed no JSON:\n${show(r)}`);
  }
};
/** `layerstore --store STORE budget ARGS` in a child process, without blocking, so independent runs can overlap. */
const budgetAsync = (args: string[], opts: { cwd?: string; storeDir?: string } = {}) =>
  spawnCli(['--store', opts.storeDir ?? store, 'budget', ...args], { cwd: opts.cwd ?? tmp });

describe('budget: all rules pass', () => {
  it('limits at exactly the actual values pass: exit 0, PASS', async () => {
    const f = budgetFile('pass.json', {
      budgets: [
        {
          match: 'acme/app:*',
          maxSize: appSize,
          maxLayerSize: L0_BYTES,
          maxLayers: 3,
          maxAddedOverBase: ADDED_OVER_BASE,
          base: 'acme/base:1.0',
          maxWasted: WASTED,
          minEfficiency: EFFICIENCY,
          highestUserWastedPercent: USER_WASTED,
        },
        { match: ['acme/other:*', 'acme/base:*'], maxSize: '1MB', maxLayers: 2 },
      ],
    });
    const junit = file('junit-pass.xml');
    const [r, rjRaw] = await Promise.all([budgetAsync(['--config', f]), budgetAsync(['--config', f, '--json', '--junit', junit])]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^PASS: all 11 budget rules passed$/m);
    expect(r.stdout).not.toMatch(/FAIL/);

    const { r: rj, j } = parseBudgetJson(rjRaw);
    expect(rj.code, show(rj)).toBe(0);
    expect(j.passed).toBe(true);
    // 7 rules on the app, 2 each on other and base.
    expect(j.summary).toEqual({ images: 3, rules: 11, failed: 0, skipped: 0, unchecked: 0 });
    expect(j.results.every((v) => v.pass === true)).toBe(true);
    // "1MB" is 1,000,000 bytes.
    expect(
      j.results
        .filter((v) => v.rule === 'maxSize' && v.image !== 'acme/app:1.0')
        .map((v) => [v.image, v.limit, v.actual])
        .sort(),
    ).toEqual([
      ['acme/base:1.0', 1_000_000, imageConfig(base).length + L0_BYTES],
      ['acme/other:1.0', 1_000_000, otherSize],
    ]);

    // JUnit of an all-pass run: well-formed, one suite per image, no <failure>.
    const root = parseXml(readFileSync(junit, 'utf8'));
    expect(root.attrs).toMatchObject({ tests: '11', failures: '0', skipped: '0' });
    expect(
      xmlFindAll(root, 'testsuite')
        .map((x) => [x.attrs.name, x.attrs.tests])
        .sort(),
    ).toEqual([
      ['acme/app:1.0', '7'],
      ['acme/base:1.0', '2'],
      ['acme/other:1.0', '2'],
    ]);
    expect(xmlFindAll(root, 'failure')).toHaveLength(0);
  });
});

describe('budget: each rule can fail on its own', () => {
  // [rule, its value in the budget file, limit, actual]; one rule per run, so exit 1 comes from that rule alone.
  const cases: Array<[string, () => Record<string, unknown>, () => number, () => number]> = [
    ['maxSize', () => ({ maxSize: appSize - 1 }), () => appSize - 1, () => appSize],
    ['maxLayerSize', () => ({ maxLayerSize: L0_BYTES - 1 }), () => L0_BYTES - 1, () => L0_BYTES],
    ['maxLayers', () => ({ maxLayers: 2 }), () => 2, () => 3],
    ['maxAddedOverBase', () => ({ maxAddedOverBase: ADDED_OVER_BASE - 1, base: 'acme/base:1.0' }), () => ADDED_OVER_BASE - 1, () => ADDED_OVER_BASE],
    ['maxWasted', () => ({ maxWasted: WASTED - 1 }), () => WASTED - 1, () => WASTED],
    ['minEfficiency', () => ({ minEfficiency: '96%' }), () => 0.96, () => EFFICIENCY],
    ['highestUserWastedPercent', () => ({ highestUserWastedPercent: 0.5 }), () => 0.5, () => USER_WASTED],
  ];
  const results = new Map<string, CliResult>();
  // The runs are independent: start them all at once.
  beforeAll(async () => {
    const dive = budgetFile('fail-dive.json', { budgets: [{ match: 'acme/app:*', highestWastedBytes: '4.999kB', lowestEfficiency: 0.96 }] });
    const runs = [
      ...cases.map(async ([rule, value]) => {
        const f = budgetFile(`fail-${rule}.json`, { budgets: [{ match: 'acme/app:*', ...value() }] });
        results.set(rule, await budgetAsync(['--config', f, '--json']));
      }),
      (async () => results.set('dive', await budgetAsync(['--config', dive, '--json'])))(),
    ];
    await Promise.all(runs);
  });

  it.each(cases)('%s', (rule, _value, limit, actual) => {
    const r = results.get(rule)!;
    expect(r.code, show(r)).toBe(1);
    const j = JSON.parse(r.stdout) as BudgetJson;
    expect(j.passed).toBe(false);
    expect(j.summary).toMatchObject({ rules: 1, failed: 1, skipped: 0 });
    expect(j.results).toHaveLength(1);
    expect(j.results[0]).toMatchObject({ image: 'acme/app:1.0', rule, limit: limit(), actual: actual(), pass: false });
  });

  it("dive's names fail the same rules: highestWastedBytes, lowestEfficiency", () => {
    const { r, j } = parseBudgetJson(results.get('dive')!);
    expect(r.code, show(r)).toBe(1);
    expect(j.results.map((v) => [v.rule, v.limit, v.actual, v.pass])).toEqual([
      ['maxWasted', 4999, WASTED, false],
      ['minEfficiency', 0.96, EFFICIENCY, false],
    ]);
  });
});

describe('budget: several failures, --json and --junit', () => {
  let r: CliResult;
  let j: BudgetJson;
  let junitFile: string;
  let table: CliResult;
  beforeAll(async () => {
    const f = budgetFile('fail-all.json', {
      budgets: [
        {
          match: 'acme/app:*',
          maxSize: appSize - 1,
          maxLayerSize: L0_BYTES - 1,
          maxLayers: 2,
          maxAddedOverBase: ADDED_OVER_BASE - 1,
          base: 'acme/base:1.0',
          maxWasted: WASTED - 1,
          minEfficiency: '96%',
          highestUserWastedPercent: 0.5,
        },
        { match: 'acme/other:*', maxSize: '1MB' },
      ],
    });
    junitFile = file('junit.xml');
    let raw: CliResult;
    [raw, table] = await Promise.all([budgetAsync(['--config', f, '--junit', junitFile, '--json']), budgetAsync(['--config', f])]);
    ({ r, j } = parseBudgetJson(raw));
  });

  it('exit 1 and the JSON verdicts with exact limits and actuals', () => {
    expect(r.code, show(r)).toBe(1);
    expect(j.schemaVersion).toBe(1);
    expect(j.passed).toBe(false);
    expect(j.summary).toEqual({ images: 3, rules: 8, failed: 7, skipped: 0, unchecked: 1 });
    expect(j.unchecked.map((u) => u.refs)).toEqual([['acme/base:1.0']]);
    const appResults = j.results.filter((v) => v.image === 'acme/app:1.0');
    const got = Object.fromEntries(appResults.map((v) => [v.rule, { limit: v.limit, actual: v.actual, pass: v.pass }]));
    expect(got).toEqual({
      maxSize: { limit: appSize - 1, actual: appSize, pass: false },
      maxLayerSize: { limit: L0_BYTES - 1, actual: L0_BYTES, pass: false },
      maxLayers: { limit: 2, actual: 3, pass: false },
      maxAddedOverBase: { limit: ADDED_OVER_BASE - 1, actual: ADDED_OVER_BASE, pass: false },
      maxWasted: { limit: WASTED - 1, actual: WASTED, pass: false },
      minEfficiency: { limit: 0.96, actual: EFFICIENCY, pass: false },
      highestUserWastedPercent: { limit: 0.5, actual: USER_WASTED, pass: false },
    });
    expect(j.results.filter((v) => v.image === 'acme/other:1.0')).toEqual([
      expect.objectContaining({ rule: 'maxSize', limit: 1_000_000, actual: otherSize, pass: true }),
    ]);
    // Every verdict names the image's manifest digest.
    for (const v of j.results) expect(v.manifestDigest).toMatch(/^sha256:[0-9a-f]{64}$/);
  });

  it('--junit writes well-formed JUnit XML: counts and one <failure> per failing rule', () => {
    expect(existsSync(junitFile)).toBe(true);
    const root = parseXml(readFileSync(junitFile, 'utf8'));
    expect(root.name).toBe('testsuites');
    expect(root.attrs).toMatchObject({ tests: '8', failures: '7', skipped: '0' });
    const suites = xmlFindAll(root, 'testsuite');
    expect(suites.map((s) => s.attrs.name).sort()).toEqual(['acme/app:1.0', 'acme/other:1.0']);
    const appSuite = suites.find((s) => s.attrs.name === 'acme/app:1.0')!;
    const otherSuite = suites.find((s) => s.attrs.name === 'acme/other:1.0')!;
    expect(appSuite.attrs).toMatchObject({ tests: '7', failures: '7', skipped: '0' });
    expect(otherSuite.attrs).toMatchObject({ tests: '1', failures: '0', skipped: '0' });
    const cases = xmlFindAll(appSuite, 'testcase');
    expect(cases).toHaveLength(7);
    expect(xmlFindAll(root, 'testcase')).toHaveLength(8);
    // Suite counts agree with their testcases.
    for (const s of suites) {
      const tc = xmlFindAll(s, 'testcase');
      expect(Number(s.attrs.tests)).toBe(tc.length);
      expect(Number(s.attrs.failures)).toBe(tc.filter((c) => c.children.some((x) => x.name === 'failure')).length);
    }
    const failedRules = cases.map((c) => {
      const failures = c.children.filter((x) => x.name === 'failure');
      expect(failures, `testcase ${c.attrs.name}`).toHaveLength(1);
      expect(c.attrs.classname).toBe('acme/app:1.0');
      return c.attrs.name!.split(' ')[0];
    });
    expect(failedRules.sort()).toEqual(['highestUserWastedPercent', 'maxAddedOverBase', 'maxLayerSize', 'maxLayers', 'maxSize', 'maxWasted', 'minEfficiency']);
    // The failure of maxLayers says the numbers.
    const layersCase = cases.find((c) => c.attrs.name!.startsWith('maxLayers '))!;
    const failure = layersCase.children[0]!;
    expect(failure.attrs.message).toBe('maxLayers: actual 3, limit 2');
    expect(failure.text).toContain('acme/app:1.0');
    const [otherCase] = xmlFindAll(otherSuite, 'testcase');
    expect(otherCase!.children).toEqual([]);
  });

  it('the table output lists each failing rule and the FAIL line', () => {
    const t = table;
    expect(t.code, show(t)).toBe(1);
    expect(t.stdout).toMatch(/^FAIL: 7 of 8 budget rules failed$/m);
    const failLines = t.stdout.split('\n').filter((l) => /│\s*FAIL\s*│/.test(l));
    expect(failLines).toHaveLength(7);
    expect(t.stdout).toMatch(/no budget matches acme\/base:1\.0/);
  });
});

describe('budget: maxGrowth against a baseline report', () => {
  /** `report --json` of the store before the app grew (base, app and other ingested). */
  let baseline: string;
  const before = () => appSize;
  const runs: Record<string, CliResult> = {};
  const skippedJunit = () => file('junit-skipped.xml');
  const skippedLimitsJunit = () => file('junit-skipped-limits.xml');
  beforeAll(async () => {
    const rep = runCli(['--store', store, 'report', '--json']);
    expect(rep.code, show(rep)).toBe(0);
    baseline = file('baseline.json');
    writeFileSync(baseline, rep.stdout);
    const appBefore = (JSON.parse(rep.stdout) as { images: Array<{ refs: string[]; sizeBytes: number }> }).images.find((i) => i.refs.includes('acme/app:1.0'))!;
    // The baseline's size is what we computed: config + distinct layer blobs.
    expect(appBefore.sizeBytes).toBe(appSize);

    const growth = budgetFile('growth.json', { budgets: [{ match: 'acme/app:*', maxGrowth: '5%' }] });
    const bytes = budgetFile('growth-bytes.json', { budgets: [{ match: 'acme/app:*', maxGrowth: grown.small - before() - 1 }] });

    // The pad image is the app's three layers under another ref, its config padded (an Env entry)
    // to 1612 bytes: 1612 + 101888 + 10240 + 3072 = 116812 bytes. A baseline report saying it was
    // 116000 bytes makes the growth 812 = 116000 x 7 / 1000 exactly: at the limit, so it must pass.
    const withPad = (k: number): ImageSpec => ({ ...app, repoTags: ['acme/pad:1.0'], env: ['PATH=/usr/bin', `PAD=${'x'.repeat(k)}`] });
    const pad = withPad(1612 - imageConfig(withPad(0)).length);
    expect(imageConfig(pad).length).toBe(1612);
    const padTar = file('pad.tar');
    writeFileSync(padTar, await dockerSaveLegacy([pad]));
    const padBaseline = file('baseline-pad.json');
    writeFileSync(padBaseline, JSON.stringify({ schemaVersion: 1, images: [{ refs: ['acme/pad:1.0'], sizeBytes: 116000 }] }));
    const padBudget = budgetFile('growth-pad.json', { budgets: [{ match: 'acme/pad:*', maxGrowth: '0.7%' }] });
    const skippedLimits = budgetFile('growth-skipped.json', {
      budgets: [
        { match: 'acme/app:*', maxGrowth: '5%' },
        { match: 'acme/app:*', maxGrowth: '10MB' },
        { match: 'acme/app:*', maxLayers: 9 },
      ],
    });

    // The grown apps come as tarballs (one CI step), each into a store of its own.
    const todo: Record<string, Promise<CliResult>> = {
      big: budgetAsync(['--config', growth, '--baseline', baseline, file('app-big.tar'), '--json'], { storeDir: newStore() }),
      small: budgetAsync(['--config', growth, '--baseline', baseline, file('app-small.tar'), '--json'], { storeDir: newStore() }),
      bytes: budgetAsync(['--config', bytes, '--baseline', baseline, file('app-small.tar'), '--json'], { storeDir: newStore() }),
      skipped: budgetAsync(['--config', growth, '--junit', skippedJunit(), '--json']),
      pad: budgetAsync(['--config', padBudget, '--baseline', padBaseline, padTar, '--json'], { storeDir: newStore() }),
      skippedLimits: budgetAsync(['--config', skippedLimits, '--junit', skippedLimitsJunit(), '--json']),
    };
    for (const [k, p] of Object.entries(todo)) runs[k] = await p;
  });

  it('growth above 5% fails (exit 1) with the exact growth and limit', () => {
    const limit = Math.floor((before() * 5) / 100);
    const growth = grown.big - before();
    expect(growth).toBeGreaterThan(limit);
    const { r, j } = parseBudgetJson(runs.big!);
    expect(r.code, show(r)).toBe(1);
    expect(j.passed).toBe(false);
    expect(j.results).toEqual([expect.objectContaining({ image: 'acme/app:1.0', rule: 'maxGrowth', limit, actual: growth, pass: false })]);
  });

  it('growth within 5% passes (exit 0)', () => {
    const limit = Math.floor((before() * 5) / 100);
    const growth = grown.small - before();
    expect(growth).toBeGreaterThan(0);
    expect(growth).toBeLessThanOrEqual(limit);
    const { r, j } = parseBudgetJson(runs.small!);
    expect(r.code, show(r)).toBe(0);
    expect(j.passed).toBe(true);
    expect(j.results).toEqual([expect.objectContaining({ rule: 'maxGrowth', limit, actual: growth, pass: true })]);
  });

  it('a growth limit in bytes', () => {
    const growth = grown.small - before();
    const { r, j } = parseBudgetJson(runs.bytes!);
    expect(r.code, show(r)).toBe(1);
    expect(j.results).toEqual([expect.objectContaining({ rule: 'maxGrowth', limit: growth - 1, actual: growth, pass: false })]);
  });

  it('without --baseline the rule is skipped, not failed (JUnit: <skipped>); a run where every rule skipped checked nothing: exit 2', () => {
    const { r, j } = parseBudgetJson(runs.skipped!);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/every one of the 1 budget rules was skipped \(no --baseline given\): nothing was checked \[E_BUDGET_INVALID\]/);
    expect(j.passed).toBe(false);
    expect(j.summary).toMatchObject({ rules: 1, failed: 0, skipped: 1 });
    expect(j.results[0]).toMatchObject({ rule: 'maxGrowth', actual: null, pass: null });
    const root = parseXml(readFileSync(skippedJunit(), 'utf8'));
    expect(root.attrs).toMatchObject({ tests: '1', failures: '0', skipped: '1' });
    const [tc] = xmlFindAll(root, 'testcase');
    expect(tc!.children.map((c) => c.name)).toEqual(['skipped']);
  });

  it('a skipped rule says its real limit: bytes as bytes, a percentage null (no baseline size to take it of), never 0', () => {
    const { r, j } = parseBudgetJson(runs.skippedLimits!);
    expect(r.code, show(r)).toBe(0);
    const growth = j.results.filter((v) => v.rule === 'maxGrowth').map(({ limit, limitText, pass }) => ({ limit, limitText, pass }));
    expect(growth).toEqual([
      { limit: null, limitText: '+5.0%', pass: null },
      { limit: 10_000_000, limitText: '+10.0 MB', pass: null },
    ]);
    const names = xmlFindAll(parseXml(readFileSync(skippedLimitsJunit(), 'utf8')), 'testcase').map((tc) => tc.attrs.name);
    expect(names).toEqual(['maxGrowth (limit +5.0%)', 'maxGrowth (limit +10.0 MB)', 'maxLayers (limit 9)']);
  });

  it('growth of exactly the percentage passes: "0.7%" of 116000 bytes allows 812 bytes', () => {
    const { r, j } = parseBudgetJson(runs.pad!);
    expect(j.results).toEqual([expect.objectContaining({ image: 'acme/pad:1.0', rule: 'maxGrowth', actual: 812, limit: 812, pass: true })]);
    expect(r.code, show(r)).toBe(0);
  });
});

describe('budget: bad input is exit 2 with one error line', () => {
  // [what, extra arguments, what the error line must say]
  const cases: Array<[string, () => string[], RegExp]> = [
    ['a missing budget file', () => ['--config', file('no-such-budget.json')], /no-such-budget\.json.*E_BUDGET_INVALID/],
    [
      'malformed JSON',
      () => ['--config', budgetFile('malformed.json', '{"budgets": [ {"match": "acme/*",, } ]}')],
      /malformed\.json.*not valid JSON.*E_BUDGET_INVALID/,
    ],
    [
      'an unknown rule',
      () => ['--config', budgetFile('unknown-rule.json', { budgets: [{ match: 'acme/*', maxSizes: '1MB' }] })],
      /"maxSizes".*E_BUDGET_INVALID/,
    ],
    [
      'a base ref that is not in the store',
      () => ['--config', budgetFile('missing-base.json', { budgets: [{ match: 'acme/app:*', maxAddedOverBase: '1MB', base: 'acme/nope:9' }] })],
      /acme\/nope:9.*\[E_(REF_NOT_FOUND|BUDGET_INVALID)\]/,
    ],
    [
      'a ref argument that matches nothing',
      () => ['--config', budgetFile('any.json', { budgets: [{ match: 'acme/**', maxLayers: 10 }] }), 'acme/ghost:1'],
      /acme\/ghost:1.*E_REF_NOT_FOUND/,
    ],
    [
      'a bad baseline report',
      () => [
        '--config',
        budgetFile('any2.json', { budgets: [{ match: 'acme/**', maxGrowth: '5%' }] }),
        '--baseline',
        budgetFile('not-a-report.json', { hello: 1 }),
      ],
      /not-a-report\.json.*E_BUDGET_INVALID/,
    ],
  ];
  const results = new Map<string, { r: CliResult; junit: string }>();
  beforeAll(async () => {
    await Promise.all(
      cases.map(async ([what, args], i) => {
        const junit = file(`junit-bad-${i}.xml`);
        results.set(what, { r: await spawnCli(['--store', store, 'budget', ...args(), '--junit', junit], { cwd: tmp }), junit });
      }),
    );
  });

  it.each(cases)('%s', (what, _args, expectText) => {
    const { r, junit } = results.get(what)!;
    expect(r.code, show(r)).toBe(2);
    const lines = errorLines(r);
    expect(lines, show(r)).toHaveLength(1);
    expect(lines[0]).toMatch(expectText);
    expect(r.stdout).toBe('');
    expect(existsSync(junit), 'no JUnit file on bad input').toBe(false);
  });
});

// Independent flows, each in its own store or directory: run them concurrently.
describe.concurrent('budget: one CI step and the default budget file', () => {
  const cli = (args: string[], opts: { cwd?: string } = {}) => spawnCli(args, { cwd: opts.cwd ?? tmp });

  it('a TARBALL argument is ingested and only its images are checked', async ({ expect }) => {
    const s = newStore();
    const ing = await cli(['--store', s, '-q', 'ingest', file('base-app.tar')]);
    expect(ing.code, show(ing)).toBe(0);
    const f = budgetFile('ci.json', { budgets: [{ match: 'acme/**', maxSize: otherSize, maxLayers: 2 }] });
    // Relative tarball path, resolved against the working directory.
    const { r, j } = parseBudgetJson(await budgetAsync(['--config', f, 'other.tar', '--json'], { storeDir: s, cwd: tmp }));
    expect(r.code, show(r)).toBe(0);
    expect(j.summary).toEqual({ images: 1, rules: 2, failed: 0, skipped: 0, unchecked: 0 });
    expect(j.results.map((v) => [v.image, v.rule, v.actual])).toEqual([
      ['acme/other:1.0', 'maxSize', otherSize],
      ['acme/other:1.0', 'maxLayers', 2],
    ]);
    // It is in the store now; the app (3 layers, would fail maxLayers) was not checked.
    expect(indexRefs(s).sort()).toEqual(['acme/app:1.0', 'acme/base:1.0', 'acme/other:1.0']);
    const whole = await budgetAsync(['--config', f], { storeDir: s });
    // The same budget on the whole store fails on the app.
    expect(whole.code, show(whole)).toBe(1);
  });

  it('a tarball into an empty store, failing: exit 1', async ({ expect }) => {
    const f = budgetFile('ci-fail.json', { budgets: [{ match: 'acme/app:*', maxWasted: WASTED - 1 }] });
    const { r, j } = parseBudgetJson(await budgetAsync(['--config', f, file('base-app.tar'), '--json'], { storeDir: newStore() }));
    expect(r.code, show(r)).toBe(1);
    expect(j.summary).toMatchObject({ images: 2, rules: 1, failed: 1, unchecked: 1 });
    expect(j.results[0]).toMatchObject({ image: 'acme/app:1.0', rule: 'maxWasted', actual: WASTED, limit: WASTED - 1 });
  });

  it('a tarball that is not an image archive: exit 2, one error line', async ({ expect }) => {
    const junk = file('junk.tar');
    writeFileSync(junk, 'this is not a tar\n'.repeat(100));
    const f = budgetFile('any3.json', { budgets: [{ match: 'acme/**', maxLayers: 10 }] });
    const r = await budgetAsync(['--config', f, junk], { storeDir: newStore() });
    expect(r.code, show(r)).toBe(2);
    expect(errorLines(r), show(r)).toHaveLength(1);
    expect(errorLines(r)[0]).toContain('junk.tar');
  });

  it('a tarball whose ingest fails leaves no store where there was none, and an empty directory empty (as ingest does)', async ({ expect }) => {
    const empty = file('empty.tar');
    writeFileSync(empty, '');
    const text = file('text.txt');
    writeFileSync(text, 'hello\n');
    // A real archive whose manifest.json is `null` (go-containerregistry's test data).
    const nullManifest = path.join(FIXTURES_REAL, 'go-containerregistry', 'tarball', 'null_manifest.tar');
    const inputs = [empty, text, ...(existsSync(nullManifest) ? [nullManifest] : [])];
    const f = budgetFile('any4.json', { budgets: [{ match: 'acme/**', maxLayers: 10 }] });
    for (const input of inputs) {
      const s = newStore();
      const r = await budgetAsync(['--config', f, input], { storeDir: s });
      expect(r.code, show(r)).toBe(2);
      expect(errorLines(r), show(r)).toHaveLength(1);
      expect(existsSync(s), `${input}: no store left at ${s}`).toBe(false);
      // A directory that was there (empty) stays, and stays empty.
      const d = newStore();
      mkdirSync(d);
      const r2 = await budgetAsync(['--config', f, input], { storeDir: d });
      expect(r2.code, show(r2)).toBe(2);
      expect(readdirSync(d), input).toEqual([]);
    }
  });

  it('layerstore-budget.json in the working directory is the default budget file', async ({ expect }) => {
    const failDir = path.join(tmp, 'ci-dir-fail');
    const passDir = path.join(tmp, 'ci-dir-pass');
    mkdirSync(failDir, { recursive: true });
    mkdirSync(passDir, { recursive: true });
    writeFileSync(path.join(failDir, 'layerstore-budget.json'), JSON.stringify({ budgets: [{ match: 'acme/app:*', maxLayers: 2 }] }));
    // The same rule, allowing the app's 3 layers.
    writeFileSync(path.join(passDir, 'layerstore-budget.json'), JSON.stringify({ budgets: [{ match: 'acme/app:*', maxLayers: 3 }] }));
    const [r, ok] = await Promise.all([budgetAsync(['--json'], { cwd: failDir }), budgetAsync([], { cwd: passDir })]);
    expect(r.code, show(r)).toBe(1);
    const j = JSON.parse(r.stdout) as BudgetJson;
    expect(j.results).toEqual([expect.objectContaining({ rule: 'maxLayers', limit: 2, actual: 3, pass: false })]);
    expect(ok.code, show(ok)).toBe(0);
    expect(ok.stdout).toMatch(/^PASS: all 1 budget rules passed$/m);
  });

  it('no layerstore-budget.json in the working directory: exit 2 naming it', async ({ expect }) => {
    const cwd = path.join(tmp, 'empty-dir');
    mkdirSync(cwd, { recursive: true });
    const r = await budgetAsync([], { cwd });
    expect(r.code, show(r)).toBe(2);
    const lines = errorLines(r);
    expect(lines, show(r)).toHaveLength(1);
    expect(lines[0]).toContain(path.join(cwd, 'layerstore-budget.json'));
    expect(lines[0]).toContain('E_BUDGET_INVALID');
  });
});
