/**
 * Budgets that must not pass by mistake: a glob with '*' inside matches refs with a slash;
 * a budget that matches no checked image, a --store that does not exist, and a run where
 * nothing was checked are exit 2 with one line naming the cause; a failed ratio shows
 * enough digits to see why; maxGrowth shows a % limit in bytes too and the growth as a %.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';
import { evaluateBudgets } from '../../src/budget/evaluate.js';
import { parseBudgets } from '../../src/budget/config.js';
import { verdictText } from '../../src/cli/budget-text.js';
import type { ImageInfo } from '../../src/analysis/load-images.js';
import type { Digest } from '../../src/digest/digest.js';

let tmp: string;
let store: string;
const budgetFile = (name: string, budgets: unknown[]) => {
  const f = path.join(tmp, name);
  writeFileSync(f, JSON.stringify({ budgets }));
  return f;
};

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-budget-safety-'));
  const fx = path.join(tmp, 'fx');
  await generateFixtures(fx);
  store = path.join(tmp, 'store');
  const r = runCli(['--store', store, '-q', 'ingest', path.join(fx, 'family-legacy.tar')]);
  expect(r.code, show(r)).toBe(0);
}, 60_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('budget: globs and loud failures', () => {
  it('"*api*" and "**api*" match acme/api:1.0 (a ref with a slash): the size budget fails, exit 1', () => {
    for (const glob of ['*api*', '**api*']) {
      const r = runCli(['--store', store, 'budget', '--config', budgetFile('g.json', [{ match: glob, maxSize: 1000 }])]);
      expect(r.code, show(r)).toBe(1);
      expect(r.stdout).toMatch(/acme\/api:1\.0 .*maxSize.*FAIL/);
    }
  });

  it('a budget whose match selects no image is exit 2 naming it; "optional": true lets it match nothing', () => {
    const r = runCli([
      '--store',
      store,
      'budget',
      '--config',
      budgetFile('none.json', [
        { match: 'acme/*', maxSize: '1GB' },
        { match: 'corp/typo*', maxSize: 1 },
      ]),
    ]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/a budget matches none of the 3 images checked: "corp\/typo\*" \[E_BUDGET_INVALID\]/);
    const ok = runCli([
      '--store',
      store,
      'budget',
      '--config',
      budgetFile('opt.json', [
        { match: 'acme/*', maxSize: '1GB' },
        { match: 'corp/typo*', maxSize: 1, optional: true },
      ]),
    ]);
    expect(ok.code, show(ok)).toBe(0);
    expect(ok.stdout).toMatch(/PASS: all 3 budget rules passed/);
  });

  it('a --store that does not exist is exit 2 (E_NOT_A_STORE), not a pass over no images, and is not created', () => {
    const typo = path.join(tmp, 'no-such-store');
    const r = runCli(['--store', typo, 'budget', '--config', budgetFile('any.json', [{ match: '*', maxSize: 1 }])]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('[E_NOT_A_STORE]');
    expect(existsSync(typo)).toBe(false);
  });
});

describe('budget: verdicts show why', () => {
  const img: ImageInfo = {
    manifestDigest: `sha256:${'1'.repeat(64)}` as Digest,
    manifestSize: 400,
    configDigest: `sha256:${'2'.repeat(64)}` as Digest,
    configSize: 1000,
    layers: [
      {
        digest: `sha256:${'3'.repeat(64)}` as Digest,
        diffId: `sha256:${'3'.repeat(64)}` as Digest,
        mediaType: 'application/vnd.oci.image.layer.v1.tar',
        size: 115_000,
      },
    ],
    refs: ['acme/app:1'],
  };

  it('minEfficiency 95% against 0.949697: "95.00%" vs "94.97%", not "95.0%" vs "95.0%"', async () => {
    const [v] = await evaluateBudgets([img], parseBudgets({ budgets: [{ match: '*', minEfficiency: 0.95 }] }), {
      all: [img],
      waste: async () => ({ wastedBytes: 50_303, totalFileBytes: 1_000_000, userFileBytes: 0 }), // efficiency 0.949697
    });
    expect(v).toMatchObject({ pass: false });
    expect(verdictText(v!)).toMatchObject({ limitText: '95.00%', actualText: '94.97%' });
  });

  it('maxGrowth "5%" shows the limit in bytes too, and the growth as a percentage', async () => {
    // before 100,000 B; now 116,000 B (config 1000 + layer 115,000): +16,000 B = +16.0%; 5% = 5,000 B
    const [v] = await evaluateBudgets([img], parseBudgets({ budgets: [{ match: '*', maxGrowth: '5%' }] }), {
      all: [img],
      baseline: [{ refs: ['acme/app:1'], sizeBytes: 100_000 }],
    });
    expect(v).toMatchObject({ pass: false, limit: 5000, actual: 16_000 });
    expect(verdictText(v!)).toMatchObject({ limitText: '+5.0% (5.00 kB)', actualText: '+16.0 kB (+16.0%)' });
  });
});

describe("dive's user-wasted ratio (item 4): what its name promises, documented as it is", () => {
  // L0 (base) data/big.bin 20,000 B; L1 deletes it (whiteout) and adds data/small.bin 1,000 B.
  // Wasted: the 20,000 B hidden in L0; the user's layers hold 1,000 B of files: 20,000 / 1,000 = 20.
  it('goes above 1 when the waste outweighs the upper layers, in report --files and in the budget verdict, and the docs say so', async () => {
    const { dockerSaveLegacy, layerTar } = await import('../../fixtures/image-writer.js');
    const { fill } = await import('../helpers/hand-bytes.js');
    const L0 = { tar: await layerTar([{ path: 'data/big.bin', content: fill(20_000, 'big') }]), compression: 'none' as const };
    const L1 = { tar: await layerTar([{ path: 'data/.wh.big.bin' }, { path: 'data/small.bin', content: fill(1000, 'small') }]), compression: 'none' as const };
    const f = path.join(tmp, 'user-wasted.tar');
    writeFileSync(f, await dockerSaveLegacy([{ repoTags: ['uw/app:1'], layers: [L0, L1] }]));
    const s = path.join(tmp, 'uw-store');
    expect(runCli(['--store', s, '-q', 'ingest', f]).code).toBe(0);
    const rep = JSON.parse(runCli(['--store', s, 'report', '--files', '--json']).stdout);
    const waste = rep.images[0].waste;
    expect(waste.wastedBytes).toBe(20_000);
    expect(waste.userWastedRatio).toBe(20);
    const b = runCli(['--store', s, 'budget', '--json', '--config', budgetFile('uw.json', [{ match: 'uw/*', highestUserWastedPercent: 0.5 }])]);
    expect(b.code, show(b)).toBe(1);
    const verdict = JSON.parse(b.stdout).results.find((c: any) => c.rule === 'highestUserWastedPercent');
    expect(verdict).toMatchObject({ limit: 0.5, actual: 20, pass: false });
    const { readFileSync } = await import('node:fs');
    const { REPO_ROOT } = await import('../helpers/cli.js');
    const row = readFileSync(path.join(REPO_ROOT, 'docs', 'COMMANDS.md'), 'utf8')
      .split('\n')
      .find((l) => l.startsWith('| `highestUserWastedPercent`'));
    expect(row).toMatch(/goes above 1/);
  });
});
