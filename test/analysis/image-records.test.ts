/**
 * The record cache behind report/ls (src/analysis/image-records.ts): it must never change an
 * answer. Every report here is compared with one made from the store's own documents (cache
 * removed), and a damaged or stale cache must be rebuilt, not believed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { ensureBuilt, runCli, show, type CliResult } from '../helpers/cli.js';

describe('image record cache', () => {
  let tmp: string;
  let store: string;
  let cacheFile: string;
  const ok = (r: CliResult): CliResult => {
    expect(r.code, show(r)).toBe(0);
    return r;
  };
  const reportText = (): string => ok(runCli(['--store', store, 'report', '--json'])).stdout;
  const lsText = (): string => ok(runCli(['--store', store, 'ls', '--json'])).stdout;
  /** The report made with no cache at all (and the cache that run leaves behind). */
  const fresh = (): { report: string; ls: string } => {
    rmSync(cacheFile, { force: true });
    const r = reportText();
    rmSync(cacheFile, { force: true });
    return { report: r, ls: lsText() };
  };

  beforeAll(async () => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-records-'));
    const fx = path.join(tmp, 'fx');
    await generateFixtures(fx);
    store = path.join(tmp, 'store');
    ok(runCli(['--store', store, 'ingest', `${fx}/*.tar`, path.join(fx, 'oci-gzip')]));
    cacheFile = path.join(store, '.layerstore', 'derived', 'records.json');
  }, 120_000);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('a report from the cache equals one from the documents, and the cache holds every image', () => {
    const want = fresh();
    expect(existsSync(cacheFile)).toBe(true);
    expect(reportText()).toBe(want.report); // from the cache written by ls
    expect(lsText()).toBe(want.ls);
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8'));
    const images = JSON.parse(want.report).images as Array<{ manifestDigest: string }>;
    const cachedDigests = new Set((cache.docs as Array<[number, string, unknown]>).map(([, d]) => d));
    for (const img of images) expect(cachedDigests.has(img.manifestDigest), img.manifestDigest).toBe(true);
    // compression was sniffed from the bytes: the gzip fixture's layers say so
    const layers = JSON.parse(want.report).layers as Array<{ digest: string; compression: string }>;
    expect(layers.some((l) => l.compression === 'gzip')).toBe(true);
    for (const l of layers) expect(cache.layers.some((t: unknown[]) => t[0] === l.digest && t[4] === l.compression), l.digest).toBe(true);
  });

  it.each([
    ['not JSON', 'this is {not json'],
    ['another version', JSON.stringify({ version: 999, mediaTypes: [], layers: [], docs: [] })],
    ['wrong shapes', JSON.stringify({ version: 2, mediaTypes: 'x', layers: {}, docs: 7 })],
    ['records with bad fields', JSON.stringify({ version: 2, mediaTypes: ['a'], layers: [['sha256:zz', '', 5, -1, 'lzma']], docs: [[0, 'sha256:nope', { kind: 'image', layers: [0] }], [9, 5, null]] })],
    ['empty file', ''],
  ])('a damaged cache (%s) is rebuilt, not believed', (_what, bytes) => {
    const want = fresh();
    reportText(); // writes a good cache
    writeFileSync(cacheFile, bytes);
    expect(reportText()).toBe(want.report);
    expect(lsText()).toBe(want.ls);
    // rewritten as a whole cache: this version, a record for every image
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8'));
    expect(cache.version).toBe(2);
    const cached = new Set((cache.docs as Array<[number, string, unknown]>).map(([, d]) => d));
    for (const img of JSON.parse(want.report).images as Array<{ manifestDigest: string }>) expect(cached.has(img.manifestDigest)).toBe(true);
  });

  it('records of images removed from the store are dropped, and a missing root still fails', () => {
    const before = JSON.parse(fresh().report);
    reportText();
    const victim = before.images.find((i: { refs: string[] }) => i.refs.includes('acme/worker:1.0'));
    ok(runCli(['--store', store, 'rm', 'acme/worker:1.0']));
    ok(runCli(['--store', store, 'gc']));
    const after = JSON.parse(reportText());
    expect(after.images.map((i: { manifestDigest: string }) => i.manifestDigest)).not.toContain(victim.manifestDigest);
    expect(after).toEqual(JSON.parse(fresh().report));
    reportText();
    const cache = JSON.parse(readFileSync(cacheFile, 'utf8'));
    expect((cache.docs as Array<[number, string]>).map(([, d]) => d)).not.toContain(victim.manifestDigest);

    // A root manifest deleted behind the store's back: the cache does not paper over it.
    const root = after.images[0].manifestDigest.replace('sha256:', '');
    rmSync(path.join(store, 'blobs', 'sha256', root));
    const r = runCli(['--store', store, 'report', '--json']);
    expect(r.code, show(r)).toBe(3);
    expect(r.stderr).toContain('[E_STORE_INVALID]');
  });
});
