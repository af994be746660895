/**
 * The budget file: sizes, ratios, growth limits, rule names and dive's .dive-ci aliases.
 * Expected values are the unit arithmetic done by hand (SI: 1 MB = 10^6 B; IEC: 1 GiB = 2^30 B).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LayerstoreError } from '../../src/errors.js';
import { parseGrowth, parseRatio, parseSize } from '../../src/budget/sizes.js';
import { loadBudgetFile, parseBudgets } from '../../src/budget/config.js';

/** Run `fn`, expect a LayerstoreError with code E_BUDGET_INVALID, and return it. */
function budgetError(fn: () => unknown): LayerstoreError {
  let thrown: unknown;
  try {
    fn();
  } catch (e) {
    thrown = e;
  }
  expect(thrown, 'expected a throw').toBeInstanceOf(LayerstoreError);
  expect((thrown as LayerstoreError).code).toBe('E_BUDGET_INVALID');
  return thrown as LayerstoreError;
}

async function budgetErrorAsync(p: Promise<unknown>): Promise<LayerstoreError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e, 'expected a rejection').toBeInstanceOf(LayerstoreError);
  expect((e as LayerstoreError).code).toBe('E_BUDGET_INVALID');
  return e as LayerstoreError;
}

describe('parseSize', () => {
  it.each([
    ['250MB', 250_000_000], // 250 x 10^6
    ['1.5GiB', 1_610_612_736], // 1.5 x 2^30 = 1073741824 + 536870912
    [1234, 1234],
    ['12 kB', 12_000], // space between number and unit, SI kilo
    ['0', 0],
    ['42', 42], // a bare number string is bytes
    ['42B', 42],
    ['1KiB', 1024],
    ['3 MiB', 3 * 1048576],
    ['2GB', 2_000_000_000],
    ['1TB', 1e12],
    ['1TiB', 1099511627776], // 2^40
    ['250mb', 250_000_000], // units are case-insensitive
    [' 7 kb ', 7000],
    ['0.5kB', 500],
    [0, 0],
  ])('%j is %d bytes', (input, bytes) => {
    expect(parseSize(input, 'x')).toBe(bytes);
  });

  it.each([['12 parsecs'], ['MB'], [''], ['   '], ['-5'], ['-5MB'], ['1.2.3MB'], ['1,5GB'], ['5 M B'], ['0x10'], ['1e3']])(
    'rejects %j with E_BUDGET_INVALID',
    (input) => {
      const e = budgetError(() => parseSize(input, 'budgets[0].maxSize'));
      expect(e.message).toContain('budgets[0].maxSize');
      expect(e.message).toContain(JSON.stringify(input));
    },
  );

  it.each([[-1], [Number.NaN], [Number.POSITIVE_INFINITY], [null], [true], [{}], [[250]]])('rejects the value %j', (input) => {
    budgetError(() => parseSize(input, 'x'));
  });
});

describe('parseRatio and parseGrowth', () => {
  it('ratios are numbers in [0,1] or percentages', () => {
    expect(parseRatio(0.95, 'x')).toBe(0.95);
    expect(parseRatio('95%', 'x')).toBeCloseTo(0.95, 12);
    expect(parseRatio('0.5', 'x')).toBe(0.5);
    expect(parseRatio(0, 'x')).toBe(0);
    expect(parseRatio(1, 'x')).toBe(1);
    expect(parseRatio('100%', 'x')).toBe(1);
    for (const bad of [1.5, -0.1, '150%', '-5%', 'ninety', '', null, Number.NaN]) budgetError(() => parseRatio(bad, 'x'));
  });

  it('growth is a percentage of the baseline or a size', () => {
    expect(parseGrowth('5%', 'x')).toEqual({ ratio: 0.05 });
    expect(parseGrowth('12.5 %', 'x')).toEqual({ ratio: 0.125 });
    expect(parseGrowth('10MB', 'x')).toEqual({ bytes: 10_000_000 });
    expect(parseGrowth(2048, 'x')).toEqual({ bytes: 2048 });
    budgetError(() => parseGrowth('five%', 'x'));
    budgetError(() => parseGrowth('10 furlongs', 'x'));
  });
});

describe('parseBudgets', () => {
  const one = (b: Record<string, unknown>) => parseBudgets({ budgets: [b] });

  it('reads every rule, with sizes in bytes', () => {
    expect(
      one({
        match: ['acme/*', 'other/**'],
        description: 'ignored by the checker',
        maxSize: '250MB',
        maxLayerSize: '1.5GiB',
        maxLayers: 12,
        maxAddedOverBase: '12 kB',
        base: 'acme/base:1.0',
        maxWasted: 1234,
        minEfficiency: '95%',
        maxGrowth: '5%',
      }),
    ).toEqual([
      {
        match: ['acme/*', 'other/**'],
        maxSize: 250_000_000,
        maxLayerSize: 1_610_612_736,
        maxLayers: 12,
        maxAddedOverBase: 12_000,
        base: 'acme/base:1.0',
        maxWasted: 1234,
        minEfficiency: 0.95,
        maxGrowth: { ratio: 0.05 },
      },
    ]);
  });

  it('a single match string becomes a list', () => {
    expect(one({ match: 'acme/api:*' })).toEqual([{ match: ['acme/api:*'] }]);
  });

  it("dive's .dive-ci names map to the same rules", () => {
    const dive = one({ match: 'x', lowestEfficiency: 0.95, highestWastedBytes: '20MB', highestUserWastedPercent: 0.2 });
    expect(dive).toEqual([{ match: ['x'], minEfficiency: 0.95, maxWasted: 20_000_000, maxUserWastedRatio: 0.2 }]);
    // Same values under our own names give the same rules.
    const ours = one({ match: 'x', minEfficiency: 0.95, maxWasted: 20_000_000 });
    expect(ours[0]!.minEfficiency).toBe(dive[0]!.minEfficiency);
    expect(ours[0]!.maxWasted).toBe(dive[0]!.maxWasted);
    // dive writes percentages as ratios; a "%" string works too.
    expect(one({ match: 'x', highestUserWastedPercent: '20%' })[0]!.maxUserWastedRatio).toBeCloseTo(0.2, 12);
    expect(one({ match: 'x', lowestEfficiency: '90%' })[0]!.minEfficiency).toBeCloseTo(0.9, 12);
  });

  it('dive aliases are validated like the rules they stand for', () => {
    budgetError(() => one({ match: 'x', lowestEfficiency: 1.5 }));
    budgetError(() => one({ match: 'x', highestWastedBytes: 'lots' }));
    budgetError(() => one({ match: 'x', highestUserWastedPercent: -1 }));
  });

  it('an unknown rule name is E_BUDGET_INVALID and names the rule', () => {
    const e = budgetError(() => parseBudgets({ budgets: [{ match: 'x' }, { match: 'y', maxSizes: '1MB' }] }, 'b.json'));
    expect(e.message).toContain('"maxSizes"');
    expect(e.message).toContain('budgets[1]');
    expect(e.message).toContain('b.json');
    budgetError(() => one({ match: 'x', maxsize: '1MB' })); // names are case-sensitive
    budgetError(() => one({ match: 'x', maxUserWastedRatio: 0.1 })); // the internal field is not a rule name
  });

  it('an unknown top-level key is E_BUDGET_INVALID and names the key, as an unknown rule is', () => {
    const e = budgetError(() => parseBudgets({ budgets: [{ match: 'x', maxSize: 1 }], extra: 1 }, 'b.json'));
    expect(e.message).toBe('b.json: has an unknown key "extra" (the file is {"budgets": [...]})');
    // A rule written beside "budgets" instead of inside one guards nothing: refused, not ignored.
    expect(budgetError(() => parseBudgets({ budgets: [{ match: 'x' }], maxSize: '1MB' })).message).toContain('"maxSize"');
  });

  it('a number too large for a double (1e400 in the file) says so, not "null is not a size"', () => {
    // JSON.parse('1e400') is Infinity; JSON.stringify(Infinity) is "null".
    const doc = JSON.parse('{"budgets":[{"match":"x","maxSize":1e400}]}');
    expect(budgetError(() => parseBudgets(doc)).message).toBe('budgets[0].maxSize: the number is too large (not a finite number)');
    expect(budgetError(() => parseBudgets(JSON.parse('{"budgets":[{"match":"x","maxWasted":-1e400}]}'))).message).toBe(
      'budgets[0].maxWasted: the number is too large a negative number (not a finite number)',
    );
    expect(budgetError(() => parseRatio(Number.POSITIVE_INFINITY, 'r')).message).toBe('r: the number is too large (not a finite number)');
    expect(budgetError(() => parseGrowth(Number.POSITIVE_INFINITY, 'g')).message).toBe('g: the number is too large (not a finite number)');
    // Digits that overflow a double are refused too (they were read as an Infinity limit: a rule that always passed).
    const huge = `1${'0'.repeat(400)}`;
    expect(budgetError(() => parseSize(`${huge}MB`, 's')).message).toBe(`s: "${huge}MB" is too large (not a finite number)`);
    expect(budgetError(() => parseGrowth(`${huge}%`, 'g')).message).toBe(`g: "${huge}%" is too large (not a finite number)`);
  });

  it('maxAddedOverBase without base is E_BUDGET_INVALID', () => {
    const e = budgetError(() => one({ match: 'x', maxAddedOverBase: '10MB' }));
    expect(e.message).toMatch(/base/);
    budgetError(() => one({ match: 'x', maxAddedOverBase: '10MB', base: 42 }));
    budgetError(() => one({ match: 'x', maxAddedOverBase: 'big', base: 'acme/base:1' }));
  });

  it.each([
    ['not an object', 'budgets'],
    ['null', null],
    ['an array', [{ match: 'x' }]],
    ['no budgets key', { rules: [] }],
    ['budgets not an array', { budgets: { match: 'x' } }],
    ['a budget that is not an object', { budgets: ['x'] }],
    ['a budget that is an array', { budgets: [['x']] }],
    ['no match', { budgets: [{ maxSize: '1MB' }] }],
    ['an empty match list', { budgets: [{ match: [] }] }],
    ['a match list with a number', { budgets: [{ match: ['x', 1] }] }],
    ['maxLayers not whole', { budgets: [{ match: 'x', maxLayers: 2.5 }] }],
    ['maxLayers a string', { budgets: [{ match: 'x', maxLayers: '3' }] }],
    ['maxLayers negative', { budgets: [{ match: 'x', maxLayers: -1 }] }],
    ['a bad maxSize', { budgets: [{ match: 'x', maxSize: '10 parsecs' }] }],
    ['a bad maxGrowth', { budgets: [{ match: 'x', maxGrowth: 'x%' }] }],
  ])('%s is E_BUDGET_INVALID', (_what, doc) => {
    budgetError(() => parseBudgets(doc));
  });

  it('an empty budgets list is valid (nothing to check)', () => {
    expect(parseBudgets({ budgets: [] })).toEqual([]);
  });
});

describe('loadBudgetFile', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ls-budget-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file', async () => {
    const f = path.join(dir, 'ok.json');
    writeFileSync(f, JSON.stringify({ budgets: [{ match: 'acme/*', maxSize: '250MB' }] }));
    expect(await loadBudgetFile(f)).toEqual([{ match: ['acme/*'], maxSize: 250_000_000 }]);
  });

  it('a missing file is E_BUDGET_INVALID', async () => {
    const e = await budgetErrorAsync(loadBudgetFile(path.join(dir, 'absent.json')));
    expect(e.message).toContain('absent.json');
  });

  it('malformed JSON is E_BUDGET_INVALID', async () => {
    const f = path.join(dir, 'bad.json');
    writeFileSync(f, '{"budgets": [ {"match": "x", } ]');
    const e = await budgetErrorAsync(loadBudgetFile(f));
    expect(e.message).toContain('bad.json');
  });

  it('an unknown rule in a file is E_BUDGET_INVALID', async () => {
    const f = path.join(dir, 'unknown.json');
    writeFileSync(f, JSON.stringify({ budgets: [{ match: 'x', maxFoo: 1 }] }));
    await budgetErrorAsync(loadBudgetFile(f));
  });
});
