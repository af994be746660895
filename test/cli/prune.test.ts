/**
 * prune: an image whose ref moved to another image is kept untagged (<none>); ls says how
 * much such images hold, prune --dry-run says what it would free and changes nothing, prune
 * removes them and frees exactly the blobs only they held (sizes from stat, independently).
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobFile, listBlobs, readStoreImages, type StoreImage } from '../helpers/cli.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { FIXTURES_REAL } from '../helpers/peers.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { cli, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

let tmp: string;
let store: string;
let oldOnly: string[];

beforeAll(async () => {
  stableCli();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-prune-'));
  store = path.join(tmp, 'store');
  const base = await randomLayer('prune-base', 30_000);
  const v1 = path.join(tmp, 'v1.tar');
  const v2 = path.join(tmp, 'v2.tar');
  writeFileSync(v1, await writeArchive('v25', [{ repoTags: ['corp/app:latest'], layers: [base, await randomLayer('prune-v1', 50_000)] }]));
  writeFileSync(v2, await writeArchive('v25', [{ repoTags: ['corp/app:latest'], layers: [base, await randomLayer('prune-v2', 40_000)] }]));
  expect((await cli(['--store', store, '-q', 'ingest', v1])).code).toBe(0);
  const old = readStoreImages(store)[0]!;
  expect((await cli(['--store', store, '-q', 'ingest', v2])).code).toBe(0);
  const now = readStoreImages(store).find((i) => i.refs.includes('corp/app:latest'))!;
  const keep = new Set([now.manifestDigest, now.configDigest, ...now.layers]);
  oldOnly = [old.manifestDigest, old.configDigest, ...old.layers].filter((d) => !keep.has(d));
}, 60_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const bytes = (ds: string[]) => ds.reduce((n, d) => n + statSync(blobFile(store, d)).size, 0);

describe('prune', () => {
  it('ls says how much the untagged image holds', async () => {
    const r = await cli(['--store', store, 'ls']);
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout).toContain('<none>');
    expect(r.stdout).toMatch(/1 untagged image \(<none>\) hold .* no tagged image uses; layerstore prune removes them/);
  });

  it('report says it too, with the bytes prune would free (humanBytes of the blobs only it holds)', async () => {
    const { humanBytes } = await import('../../src/report/human.js');
    const r = await cli(['--store', store, 'report']);
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout).toContain(`1 untagged image (<none>) hold ${humanBytes(bytes(oldOnly))} no tagged image uses; layerstore prune removes them`);
  });

  it('--dry-run says what it would free, and changes nothing', async () => {
    const before = await snapshotStore(store);
    const r = await cli(['--store', store, 'prune', '--dry-run', '--json']);
    expect(r.code, showRun(r)).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.images).toHaveLength(1);
    expect(j.bytesFreed).toBe(bytes(oldOnly));
    expect(await snapshotStore(store)).toEqual(before);
  });

  it('prune removes the untagged image and frees exactly its own blobs; the tagged image is whole', async () => {
    const expected = bytes(oldOnly);
    const r = await cli(['--store', store, 'prune']);
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout).toMatch(/removed untagged image [0-9a-f]{12}/);
    for (const d of oldOnly) expect(existsSync(blobFile(store, d)), d).toBe(false);
    expect(readStoreImages(store).map((i) => i.refs)).toEqual([['corp/app:latest']]);
    expect(r.stdout).toContain(`freed`);
    expect(expected).toBeGreaterThan(50_000);
    const v = await cli(['--store', store, 'verify']);
    expect(v.code, showRun(v)).toBe(0);
  });
});

describe('prune beside orphans (an rm left blobs no root reaches)', () => {
  let fxStore = '';
  let fixtures = '';
  withFixtureTemp('ls-prune-orphans-', ({ tmp: dir, fx }) => {
    fxStore = path.join(dir, 'store');
    fixtures = fx;
  });

  it('frees only the blobs only the untagged image held, and --dry-run says the same; the orphans stay for gc', async () => {
    const L = (...args: string[]) => cli(['--store', fxStore, ...args]);
    for (const args of [
      ['-q', 'ingest', path.join(fixtures, 'family-legacy.tar'), path.join(fixtures, 'api-v25.tar')],
      ['rm', 'acme/worker:1.0'], // its own blobs are now orphans
      ['tag', 'acme/api:1.1', 'acme/api:1.0'], // the old acme/api:1.0 image is now untagged
    ]) {
      const r = await L(...args);
      expect(r.code, showRun(r)).toBe(0);
    }
    // Independently of src/: what the roots reach, from the files.
    const images = readStoreImages(fxStore);
    const blobsOf = (i: StoreImage) => [i.manifestDigest, i.configDigest, ...i.layers];
    const tagged = new Set(images.filter((i) => i.refs.length).flatMap(blobsOf));
    const untagged = images.filter((i) => i.refs.length === 0);
    expect(untagged).toHaveLength(1);
    const onlyUntagged = [...new Set(blobsOf(untagged[0]!).filter((d) => !tagged.has(d)))];
    const reached = new Set([...tagged, ...blobsOf(untagged[0]!)]);
    const orphans = listBlobs(fxStore)
      .map((h) => `sha256:${h}`)
      .filter((d) => !reached.has(d));
    expect(orphans.length).toBeGreaterThan(0);
    const size = (ds: string[]) => ds.reduce((n, d) => n + statSync(blobFile(fxStore, d)).size, 0);
    const expected = size(onlyUntagged);

    const dry = await L('prune', '--dry-run', '--json');
    expect(dry.code, showRun(dry)).toBe(0);
    expect(JSON.parse(dry.stdout).bytesFreed).toBe(expected);
    const real = await L('prune', '--json');
    expect(real.code, showRun(real)).toBe(0);
    expect(JSON.parse(real.stdout).bytesFreed).toBe(expected);
    for (const d of onlyUntagged) expect(existsSync(blobFile(fxStore, d)), d).toBe(false);
    for (const d of orphans) expect(existsSync(blobFile(fxStore, d)), d).toBe(true);
    // ...which gc then frees, as it says.
    const orphanBytes = size(orphans);
    const gc = await L('gc', '--json');
    expect(gc.code, showRun(gc)).toBe(0);
    expect(JSON.parse(gc.stdout).bytesFreed).toBe(orphanBytes);
    for (const d of orphans) expect(existsSync(blobFile(fxStore, d)), d).toBe(false);
  });
});

describe('prune an untagged multi-platform index (regclient testrepo)', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'ls-prune-index-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Blobs a descriptor reaches, walked from the files (independently of src/). */
  function reach(s: string, digest: string, out = new Set<string>()): Set<string> {
    if (out.has(digest) || !existsSync(blobFile(s, digest))) return out;
    out.add(digest);
    let doc: { manifests?: Array<{ digest: string }>; config?: { digest: string }; layers?: Array<{ digest: string }> };
    try {
      doc = JSON.parse(readFileSync(blobFile(s, digest), 'utf8'));
    } catch {
      return out; // a layer
    }
    if (typeof doc !== 'object' || doc === null) return out;
    for (const c of [...(doc.manifests ?? []), ...(doc.config ? [doc.config] : []), ...(doc.layers ?? [])])
      if (/^sha256:[0-9a-f]{64}$/.test(String(c?.digest))) reach(s, c.digest, out);
    return out;
  }

  it('removes the index root and what only it holds; --dry-run says the same; ls shows no untagged image after', async () => {
    const s = path.join(dir, 'store');
    const L = (...args: string[]) => cli(['--store', s, ...args]);
    for (const args of [
      ['-q', 'ingest', path.join(FIXTURES_REAL, 'regclient', 'testrepo')],
      ['tag', 'testrepo:v2', 'testrepo:v1'],
    ]) {
      const r = await L(...args);
      expect(r.code, showRun(r)).toBe(0);
    }
    const roots = JSON.parse(readFileSync(path.join(s, 'index.json'), 'utf8')).manifests as Array<{
      digest: string;
      mediaType: string;
      annotations?: Record<string, string>;
    }>;
    const isIndex = (m: { mediaType: string }) => m.mediaType === 'application/vnd.oci.image.index.v1+json';
    const untaggedIndex = roots.filter((m) => isIndex(m) && !m.annotations?.['org.opencontainers.image.ref.name']);
    expect(untaggedIndex).toHaveLength(1);
    const gone = untaggedIndex[0]!.digest;
    const others = new Set(roots.filter((m) => m !== untaggedIndex[0]).flatMap((m) => [...reach(s, m.digest)]));
    const onlyIt = [...reach(s, gone)].filter((d) => !others.has(d));
    const expected = onlyIt.reduce((n, d) => n + statSync(blobFile(s, d)).size, 0);
    expect(onlyIt.length).toBeGreaterThan(1); // the index and at least one platform image
    const untaggedBefore = readStoreImages(s).filter((i) => i.refs.length === 0);
    expect(untaggedBefore.length).toBeGreaterThan(0);

    const dry = await L('prune', '--dry-run', '--json');
    expect(dry.code, showRun(dry)).toBe(0);
    expect(JSON.parse(dry.stdout).bytesFreed).toBe(expected);
    const real = await L('prune');
    expect(real.code, showRun(real)).toBe(0);
    for (const i of untaggedBefore) expect(real.stdout).toContain(`removed untagged image ${i.manifestDigest.slice(7, 19)}`);
    const { humanBytes } = await import('../../src/report/human.js');
    expect(real.stdout).toContain(`freed ${humanBytes(expected)}`);
    for (const d of onlyIt) expect(existsSync(blobFile(s, d)), d).toBe(false);
    const after = JSON.parse(readFileSync(path.join(s, 'index.json'), 'utf8')).manifests as Array<{ digest: string }>;
    expect(after.map((m) => m.digest)).not.toContain(gone);
    expect(after).toHaveLength(roots.length - 1);
    expect(readStoreImages(s).filter((i) => i.refs.length === 0)).toEqual([]);
    const ls = await L('ls');
    expect(ls.stdout).not.toContain('<none>');
    const again = await L('prune', '--json');
    expect(JSON.parse(again.stdout)).toMatchObject({ images: [], bytesFreed: 0, removedRoots: 0 });
  });
});
