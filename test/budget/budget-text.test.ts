/**
 * The words of `budget` (cli/budget-text.ts) and its JUnit (budget/junit.ts) on verdicts made
 * up here: how the images of a multi-platform ref are told apart.
 */
import { describe, expect, it } from 'vitest';
import type { Verdict } from '../../src/budget/evaluate.js';
import { toJUnit } from '../../src/budget/junit.js';
import { imageLabels, junitCases, renderVerdicts, uncheckedLines, verdictRows } from '../../src/cli/budget-text.js';
import { parseXml, xmlFindAll } from '../helpers/hand-bytes.js';

const dg = (c: string) => `sha256:${c.repeat(64)}`;
const verdict = (image: string, digest: string, platform?: string, pass = true): Verdict => ({
  image,
  manifestDigest: dg(digest),
  ...(platform ? { platform } : {}),
  rule: 'maxLayers',
  limit: 1,
  actual: pass ? 1 : 2,
  pass,
});

describe('budget: the images of a multi-platform ref, told apart', () => {
  it('a ref naming several images is labelled with each platform; a ref naming one keeps its name', () => {
    const labels = imageLabels([
      { image: 'acme/multi:1', manifestDigest: dg('a'), platform: 'linux/amd64' },
      { image: 'acme/multi:1', manifestDigest: dg('b'), platform: 'linux/arm/v7' },
      { image: 'acme/one:1', manifestDigest: dg('c'), platform: 'linux/amd64' },
      // Two images of one ref on one platform (or none): the short digest tells them apart.
      { image: 'acme/twice:1', manifestDigest: dg('d'), platform: 'linux/amd64' },
      { image: 'acme/twice:1', manifestDigest: dg('e'), platform: 'linux/amd64' },
      { image: 'acme/twice:1', manifestDigest: dg('f') },
    ]);
    expect([...labels.values()]).toEqual([
      'acme/multi:1 (linux/amd64)',
      'acme/multi:1 (linux/arm/v7)',
      'acme/one:1',
      'acme/twice:1 (linux/amd64 dddddddddddd)',
      'acme/twice:1 (linux/amd64 eeeeeeeeeeee)',
      'acme/twice:1 (ffffffffffff)',
    ]);
  });

  it('JUnit: one testsuite per image, not per ref, with consistent counts', () => {
    const vs = [verdict('acme/multi:1', 'a', 'linux/amd64'), verdict('acme/multi:1', 'b', 'linux/arm/v7', false), verdict('acme/multi:1', 'b', 'linux/arm/v7')];
    const root = parseXml(toJUnit(junitCases(vs)));
    const suites = xmlFindAll(root, 'testsuite');
    expect(suites.map((s) => [s.attrs.name, s.attrs.tests, s.attrs.failures])).toEqual([
      ['acme/multi:1 (linux/amd64)', '1', '0'],
      ['acme/multi:1 (linux/arm/v7)', '2', '1'],
    ]);
    expect(root.attrs).toMatchObject({ tests: '3', failures: '1', skipped: '0' });
  });

  it('the table names the platform; "no budget matches" is said once per ref', () => {
    const text = renderVerdicts([verdict('acme/multi:1', 'a', 'linux/amd64'), verdict('acme/multi:1', 'b', 'linux/arm/v7')]);
    expect(text).toContain('acme/multi:1 (linux/amd64)');
    expect(text).toContain('acme/multi:1 (linux/arm/v7)');
    const unchecked = [
      { refs: ['acme/b2:1'], manifestDigest: dg('a') },
      { refs: ['acme/b2:1'], manifestDigest: dg('b') },
      { refs: ['acme/one:1'], manifestDigest: dg('c') },
    ];
    expect(uncheckedLines(unchecked)).toBe('no budget matches acme/b2:1 (2 images)\nno budget matches acme/one:1\n');
  });
});

describe('budget --json results', () => {
  it('every entry has every key docs/COMMANDS.md lists, in that order: detail is null when there is nothing to add', () => {
    const [row] = verdictRows([verdict('acme/one:1', 'a')]);
    expect(Object.keys(row!)).toEqual(['image', 'manifestDigest', 'platform', 'rule', 'limit', 'actual', 'limitText', 'actualText', 'pass', 'detail']);
    expect(row).toMatchObject({ platform: null, detail: null });
  });
});
