/**
 * evaluateBudgets on image records made up here: every size is a number we chose, so each
 * expected verdict is plain arithmetic. Boundaries (actual == limit) must pass.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { evaluateBudgets, type WasteFigures } from '../../src/budget/evaluate.js';
import { parseBudgets } from '../../src/budget/config.js';
import { verdictText } from '../../src/cli/budget-text.js';
import type { ImageInfo } from '../../src/analysis/load-images.js';
import type { Digest } from '../../src/digest/digest.js';

const d = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}` as Digest;

/** An image: config of `config` bytes, layers given as [digest char, size]. */
function image(ref: string, config: number, layers: Array<[string, number]>, manifest = ref): ImageInfo {
  return {
    manifestDigest: `sha256:${createHash('sha256').update(manifest).digest('hex')}` as Digest,
    manifestSize: 400,
    configDigest: d('c'),
    configSize: config,
    layers: layers.map(([c, size]) => ({ digest: d(c), diffId: d(c), mediaType: 'application/vnd.oci.image.layer.v1.tar', size })),
    refs: [ref],
  };
}

const budgets = (b: Record<string, unknown>) => parseBudgets({ budgets: [b] });

describe('evaluateBudgets', () => {
  // base: config 100, layer a 1000. app: config 200, layers a 1000, b 300, b again (counted once), e 50.
  const base = image('acme/base:1', 100, [['a', 1000]], 'base');
  const app = image(
    'acme/app:1',
    200,
    [
      ['a', 1000],
      ['b', 300],
      ['b', 300],
      ['e', 50],
    ],
    'app',
  );
  const all = [base, app];

  it('size rules at exactly the limit pass, one byte less fails', async () => {
    // size = 200 + 1000 + 300 + 50 = 1550 (a layer used twice counts once); largest layer 1000;
    // 4 layer entries; added over base = 300 + 50 = 350.
    const at = await evaluateBudgets(
      [app],
      budgets({ match: 'acme/app:*', maxSize: 1550, maxLayerSize: 1000, maxLayers: 4, maxAddedOverBase: 350, base: 'acme/base:1' }),
      { all },
    );
    expect(at.map((v) => [v.rule, v.limit, v.actual, v.pass])).toEqual([
      ['maxSize', 1550, 1550, true],
      ['maxLayerSize', 1000, 1000, true],
      ['maxLayers', 4, 4, true],
      ['maxAddedOverBase', 350, 350, true],
    ]);
    const under = await evaluateBudgets(
      [app],
      budgets({ match: 'acme/app:*', maxSize: 1549, maxLayerSize: 999, maxLayers: 3, maxAddedOverBase: 349, base: 'acme/base:1' }),
      { all },
    );
    expect(under.map((v) => v.pass)).toEqual([false, false, false, false]);
  });

  it('waste rules use the figures given, with boundaries passing', async () => {
    const waste = async (): Promise<WasteFigures> => ({ wastedBytes: 500, totalFileBytes: 2000, userFileBytes: 2000 });
    const at = await evaluateBudgets([app], budgets({ match: 'acme/app:*', maxWasted: 500, minEfficiency: '75%', highestUserWastedPercent: '25%' }), {
      all,
      waste,
    });
    expect(at.map((v) => [v.rule, v.pass])).toEqual([
      ['maxWasted', true],
      ['minEfficiency', true],
      ['highestUserWastedPercent', true],
    ]);
    const over = await evaluateBudgets([app], budgets({ match: 'acme/app:*', maxWasted: 499, minEfficiency: 0.76, highestUserWastedPercent: 0.24 }), {
      all,
      waste,
    });
    expect(over.map((v) => [v.rule, v.limit, v.actual, v.pass])).toEqual([
      ['maxWasted', 499, 500, false],
      ['minEfficiency', 0.76, 0.75, false],
      ['highestUserWastedPercent', 0.24, 0.25, false],
    ]);
  });

  it('ratios are compared exactly: efficiency 2/3 fails a minimum of 0.666667 (a figure rounded to 6 decimals would pass)', async () => {
    const waste = async (): Promise<WasteFigures> => ({ wastedBytes: 1000, totalFileBytes: 3000, userFileBytes: 3000 });
    const v = await evaluateBudgets([app], budgets({ match: 'acme/app:*', minEfficiency: 0.666667, highestUserWastedPercent: 0.333333 }), { all, waste });
    expect(v.map((x) => [x.rule, x.pass])).toEqual([
      ['minEfficiency', false],
      ['highestUserWastedPercent', false],
    ]);
    expect(v[0]!.actual).toBe(1 - 1000 / 3000);
  });

  it('a budget applies only to images whose refs match its globs', async () => {
    const v = await evaluateBudgets(all, budgets({ match: 'acme/base:*', maxLayers: 0 }), { all });
    expect(v.map((x) => [x.image, x.rule, x.pass])).toEqual([['acme/base:1', 'maxLayers', false]]);
  });

  it('highestUserWastedPercent: waste over no file bytes above the first layer fails (an infinite ratio, as in dive), with actual null', async () => {
    const b = budgets({ match: 'acme/app:*', highestUserWastedPercent: 1 });
    const over = async (): Promise<WasteFigures> => ({ wastedBytes: 4, totalFileBytes: 8, userFileBytes: 0 });
    const [v] = await evaluateBudgets([app], b, { all, waste: over });
    expect(v).toMatchObject({ rule: 'highestUserWastedPercent', actual: null, pass: false, userWaste: { wastedBytes: 4, userFileBytes: 0 } });
    expect(verdictText(v!)).toEqual({ limitText: '100.0%', actualText: 'infinite', detail: '4 B wasted, no file bytes above the first layer' });
    // No waste and no user bytes: nothing wasted, 0.
    const none = async (): Promise<WasteFigures> => ({ wastedBytes: 0, totalFileBytes: 8, userFileBytes: 0 });
    const [ok] = await evaluateBudgets([app], budgets({ match: 'acme/app:*', highestUserWastedPercent: 0 }), { all, waste: none });
    expect(ok).toMatchObject({ actual: 0, pass: true });
  });

  it('maxGrowth in bytes: growth = now - baseline size; exactly the limit passes', async () => {
    const baseline = [{ refs: ['acme/app:1'], sizeBytes: 1500 }]; // now 1550: growth 50
    const at = await evaluateBudgets([app], budgets({ match: 'acme/app:*', maxGrowth: 50 }), { all, baseline });
    expect(at[0]).toMatchObject({ rule: 'maxGrowth', limit: 50, actual: 50, pass: true });
    const under = await evaluateBudgets([app], budgets({ match: 'acme/app:*', maxGrowth: 49 }), { all, baseline });
    expect(under[0]).toMatchObject({ limit: 49, actual: 50, pass: false });
  });

  it('maxGrowth without a baseline, or for an image not in it, is skipped (pass null)', async () => {
    const none = await evaluateBudgets([app], budgets({ match: 'acme/app:*', maxGrowth: '5%' }), { all });
    expect(none[0]).toMatchObject({ rule: 'maxGrowth', actual: null, pass: null });
    const missing = await evaluateBudgets([app], budgets({ match: 'acme/app:*', maxGrowth: '5%' }), { all, baseline: [{ refs: ['other:1'], sizeBytes: 1 }] });
    expect(missing[0]).toMatchObject({ rule: 'maxGrowth', actual: null, pass: null });
  });

  it('a skipped maxGrowth keeps its limit: bytes as bytes, a percentage (bytes only of a baseline size) null, never 0', async () => {
    const twice = [
      { refs: ['acme/app:1'], sizeBytes: 1, manifestDigest: 'sha256:1' },
      { refs: ['acme/app:1'], sizeBytes: 2, manifestDigest: 'sha256:2' },
    ];
    for (const ctx of [{ all }, { all, baseline: [{ refs: ['other:1'], sizeBytes: 1 }] }, { all, baseline: twice }]) {
      const vs = await evaluateBudgets(
        [app],
        parseBudgets({
          budgets: [
            { match: 'acme/app:*', maxGrowth: '10MB' },
            { match: 'acme/app:*', maxGrowth: '5%' },
          ],
        }),
        ctx,
      );
      expect(vs.map((v) => [v.limit, v.pass])).toEqual([
        [10_000_000, null],
        [null, null],
      ]);
      expect(vs.map((v) => v.growth?.baseline)).toEqual(
        ctx.baseline === twice ? ['ambiguous', 'ambiguous'] : ctx.baseline ? ['missing', 'missing'] : ['none', 'none'],
      );
    }
  });

  it('maxGrowth of a multi-platform ref: each platform against the same ref AND platform (variant included)', async () => {
    const on = (img: ImageInfo, architecture: string, variant?: string): ImageInfo => ({
      ...img,
      platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
    });
    const amd = on(image('acme/multi:1', 100, [['a', 600]], 'amd'), 'amd64'); // 700
    const v7 = on(image('acme/multi:1', 100, [['b', 700]], 'v7'), 'arm', 'v7'); // 800
    const v6 = on(image('acme/multi:1', 100, [['e', 700]], 'v6'), 'arm', 'v6'); // 800, not in the baseline
    // The baseline lists amd64 first: a match by ref alone compared arm/v7 with it (+100 B).
    const baseline = [
      { refs: ['acme/multi:1'], sizeBytes: 700, platform: 'linux/amd64' },
      { refs: ['acme/multi:1'], sizeBytes: 800, platform: 'linux/arm/v7' },
    ];
    const vs = await evaluateBudgets([amd, v7, v6], budgets({ match: 'acme/multi:*', maxGrowth: 0 }), { all: [amd, v7, v6], baseline });
    expect(vs.map((v) => [v.actual, v.pass])).toEqual([
      [0, true],
      [0, true],
      [null, null],
    ]);
    expect(vs[2]!.growth).toEqual({ limit: { bytes: 0 }, baseline: 'missing', platform: 'linux/arm/v6', otherPlatforms: ['linux/amd64', 'linux/arm/v7'] });
    // Two baseline images of the ref on one platform: the same manifest pairs them, else no guess.
    const twice = [
      { refs: ['acme/multi:1'], sizeBytes: 1, platform: 'linux/amd64' },
      { refs: ['acme/multi:1'], sizeBytes: 700, platform: 'linux/amd64', manifestDigest: amd.manifestDigest },
    ];
    const [paired] = await evaluateBudgets([amd], budgets({ match: 'acme/multi:*', maxGrowth: 0 }), { all: [amd], baseline: twice });
    expect(paired).toMatchObject({ actual: 0, pass: true });
    const [unsure] = await evaluateBudgets([amd], budgets({ match: 'acme/multi:*', maxGrowth: 0 }), { all: [amd], baseline: [twice[0]!, twice[0]!] });
    expect(unsure).toMatchObject({ actual: null, pass: null, growth: { baseline: 'ambiguous', candidates: 2 } });
    // A baseline without platforms (hand-written, or older than the field) matches by ref alone when that is one image.
    const [byRef] = await evaluateBudgets([v7], budgets({ match: 'acme/multi:*', maxGrowth: 0 }), {
      all: [v7],
      baseline: [{ refs: ['acme/multi:1'], sizeBytes: 790 }],
    });
    expect(byRef).toMatchObject({ actual: 10, pass: false });
  });

  it('verdicts are data, not text: the facts a message needs, and no pre-formatted limit or actual', async () => {
    const waste = async (): Promise<WasteFigures> => ({ wastedBytes: 500, totalFileBytes: 2000, userFileBytes: 2000 });
    const baseline = [{ refs: ['acme/app:1'], sizeBytes: 1500 }];
    const b = budgets({ match: 'acme/app:*', maxLayerSize: 1000, maxAddedOverBase: 350, base: 'acme/base:1', minEfficiency: 0.5, maxGrowth: '10%' });
    const vs = await evaluateBudgets([app], b, { all, baseline, waste });
    for (const v of vs) for (const key of ['limitText', 'actualText', 'detail']) expect(v, v.rule).not.toHaveProperty(key);
    expect(vs.find((v) => v.rule === 'maxLayerSize')).toMatchObject({ largestLayer: d('a') });
    expect(vs.find((v) => v.rule === 'maxAddedOverBase')).toMatchObject({ base: 'acme/base:1' });
    expect(vs.find((v) => v.rule === 'maxGrowth')).toMatchObject({
      limit: 150,
      actual: 50,
      growth: { limit: { ratio: 0.1 }, baseline: 'found', beforeBytes: 1500, nowBytes: 1550 },
    });
    const none = await evaluateBudgets([app], budgets({ match: 'acme/app:*', maxGrowth: '5%' }), { all });
    expect(none[0]).toMatchObject({ growth: { limit: { ratio: 0.05 }, baseline: 'none' } });
  });

  // BUG: the percentage limit is Math.floor(baseline * ratio) in floating point, and ratio =
  // N/100 is not exact in binary, so the product can land just below the whole number and the
  // floor loses a byte. For these baselines the exact limit is a whole number of bytes, the
  // growth equals it, and the rule must pass (limits are inclusive, as for byte limits).
  it.each([
    // [percentage, baseline bytes, exact limit = baseline * pct / 100]
    ['29%', 100, 29], // 100 * 0.29 = 28.999999999999996 in doubles
    ['57%', 200, 114], // 200 * 0.57 = 113.99999999999999
    ['0.7%', 100_000, 700], // 0.7 / 100 = 0.006999999999999999
    ['0.7%', 250_000_000, 1_750_000], // a 250 MB image: 1749999.9999999998
    ['5%', 1000, 50], // control: 1000 * 0.05 = 50 exactly
  ])('maxGrowth %s of %d bytes allows exactly %d bytes of growth', async (pct, before, limit) => {
    // An image of exactly before + limit bytes: config 0 + one layer.
    const grown = image('acme/g:1', 0, [['f', before + limit]], 'g');
    const v = await evaluateBudgets([grown], budgets({ match: 'acme/g:*', maxGrowth: pct }), {
      all: [grown],
      baseline: [{ refs: ['acme/g:1'], sizeBytes: before }],
    });
    expect(v[0]).toMatchObject({ rule: 'maxGrowth', actual: limit, limit, pass: true });
  });
});
