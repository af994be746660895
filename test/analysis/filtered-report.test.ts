/**
 * A report on some images (report REF...) answers what removing each of them from the
 * store frees: a blob another image of the store uses is not freed, whether or not that
 * image was selected. The same figures as the unfiltered report, for the images picked,
 * in the text, the JSON (uniqueBytes, sharedBytes, marginalBytes) and the HTML data.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';

let tmp: string;
let store: string;
beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-filtered-'));
  const fx = path.join(tmp, 'fx');
  await generateFixtures(fx);
  store = path.join(tmp, 'store');
  const r = runCli(['--store', store, '-q', 'ingest', path.join(fx, 'family-legacy.tar'), path.join(fx, 'api-v25.tar')]);
  expect(r.code, show(r)).toBe(0);
}, 60_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const json = (args: string[]) => {
  const r = runCli(['--store', store, 'report', '--json', ...args]);
  expect(r.code, show(r)).toBe(0);
  return JSON.parse(r.stdout);
};

describe('report REF...: unique and removing-frees are about the store', () => {
  it('each picked image has the figures of the unfiltered report, for --files too', () => {
    const whole = new Map(json(['--files']).images.map((i: any) => [i.manifestDigest, i]));
    for (const pick of [['acme/worker:1.0'], ['acme/base:1.0'], ['acme/worker:1.0', 'acme/base:1.0']]) {
      const part = json(['--files', ...pick]);
      expect(part.images).toHaveLength(pick.length);
      for (const img of part.images) {
        const w = whole.get(img.manifestDigest) as any;
        expect([img.uniqueBytes, img.sharedBytes, img.marginalBytes], pick.join(' ')).toEqual([w.uniqueBytes, w.sharedBytes, w.marginalBytes]);
      }
    }
  });

  it('the base image that every other image builds on frees almost nothing, even when it is the only one asked about', () => {
    const [base] = json(['acme/base:1.0']).images;
    expect(base.uniqueBytes).toBeLessThan(1000); // its config only: the layer is everyone's
    expect(base.sharedBytes).toBeGreaterThan(1_000_000);
  });
});
