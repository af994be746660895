/**
 * The record cache behind report/ls (src/analysis/image-records.ts): it must never change an
 * answer. Every report here is compared with one made from the store's own documents (cache
 * removed), and a damaged or stale cache must be rebuilt, not believed. The cache holds only
 * compressed layer blobs' sniffed compressions (documents are read and hash-checked on every run;
 * test/store/lying-cache.test.ts edits the cache on purpose).
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

  /** The cache's [layer digest, compression] entries. */
  const cachedCompressions = (): Map<string, string> => new Map(JSON.parse(readFileSync(cacheFile, 'utf8')).compression as Array<[string, string]>);

  it('a report from the cache equals one from the documents, and the cache holds every compressed layer', () => {
    const want = fresh();
    expect(reportText()).toBe(want.report); // report sniffs every layer and writes the cache
    expect(existsSync(cacheFile)).toBe(true);
    expect(reportText()).toBe(want.report); // from the cache
    expect(lsText()).toBe(want.ls);
    // compression was sniffed from the bytes: the gzip fixture's layers say so
    const layers = JSON.parse(want.report).layers as Array<{ digest: string; compression: string }>;
    expect(layers.some((l) => l.compression === 'gzip')).toBe(true);
    // Only compressed layers need an entry: an uncompressed one is its own diffID.
    const cached = cachedCompressions();
    for (const l of layers) expect(cached.get(l.digest), l.digest).toBe(l.compression === 'none' ? undefined : l.compression);
  });

  it.each([
    ['not JSON', 'this is {not json'],
    ['another version', JSON.stringify({ version: 999, compression: [] })],
    ['wrong shapes', JSON.stringify({ version: 3, compression: { a: 1 } })],
    ['entries with bad fields', JSON.stringify({ version: 3, compression: [['sha256:zz', 'gzip'], [`sha256:${'a'.repeat(64)}`, 'lzma'], [5], null] })],
    ['empty file', ''],
  ])('a damaged cache (%s) is rebuilt, not believed', (_what, bytes) => {
    const want = fresh();
    reportText(); // writes a good cache
    writeFileSync(cacheFile, bytes);
    expect(reportText()).toBe(want.report);
    expect(lsText()).toBe(want.ls);
    // rewritten as a whole cache: this version, an entry for every compressed layer
    expect(JSON.parse(readFileSync(cacheFile, 'utf8')).version).toBe(3);
    const cached = cachedCompressions();
    for (const l of JSON.parse(want.report).layers as Array<{ digest: string; compression: string }>)
      expect(cached.get(l.digest)).toBe(l.compression === 'none' ? undefined : l.compression);
  });

  it('entries of layers removed from the store are dropped, and a missing root still fails', () => {
    const before = JSON.parse(fresh().report);
    reportText();
    // The gzip image: its gzipped base layer has a cache entry, and no other image uses it.
    const victim = before.images.find((i: { refs: string[] }) => i.refs.includes('acme/web:2.0'));
    expect((victim.layers as string[]).some((d) => cachedCompressions().get(d) === 'gzip')).toBe(true);
    ok(runCli(['--store', store, 'rm', 'acme/web:2.0']));
    ok(runCli(['--store', store, 'gc']));
    const after = JSON.parse(reportText());
    expect(after.images.map((i: { manifestDigest: string }) => i.manifestDigest)).not.toContain(victim.manifestDigest);
    expect(after).toEqual(JSON.parse(fresh().report));
    // A cache written after their blobs left the store has no entries for them.
    reportText();
    const kept = new Set((after.layers as Array<{ digest: string }>).map((l) => l.digest));
    const gone = (victim.layers as string[]).filter((d) => !kept.has(d));
    expect(gone.length).toBeGreaterThan(0);
    for (const d of gone) expect(cachedCompressions().has(d), d).toBe(false);

    // A root manifest deleted behind the store's back: the cache does not paper over it.
    const root = after.images[0].manifestDigest.replace('sha256:', '');
    rmSync(path.join(store, 'blobs', 'sha256', root));
    const r = runCli(['--store', store, 'report', '--json']);
    expect(r.code, show(r)).toBe(3);
    expect(r.stderr).toContain('[E_STORE_INVALID]');
  });
});
