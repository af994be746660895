/**
 * containers/image's "dir" transport as an input: what `skopeo copy ... dir:D` (1.9) and
 * `podman save --format docker-dir` (4.3) write (a `version` file, manifest.json, blobs named
 * by bare hex; with --all the index as manifest.json and its manifests as `<hex>.manifest.json`).
 * It was read as a broken docker save ("manifest.json must be a JSON array of images").
 * Expected digests come from the tools' own files (sha256 of manifest.json, the manifest's
 * descriptors, the config's diff_ids), never from layerstore.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands, FIXTURES_REAL, realFixtures } from '../helpers/peers.js';
import { indexRefs, readIndexJson, readStoreImages, runCli, sha256Of, show } from '../helpers/cli.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { engineSlot, skipWithoutEngine, startPodman, type Podman } from '../helpers/engines.js';

const FILE = 'interop/skopeo-dir.test.ts';
const HAVE_SKOPEO = commands([
  ['skopeo', 'skopeo'],
  ['zstd', 'zstd'],
]);

let tmp = '';
let fx = '';
withFixtureTemp('ls-skopeo-dir-', (p) => ({ tmp, fx } = p));
const p = (...x: string[]) => path.join(tmp, ...x);

function skopeo(args: string[]): void {
  const r = spawnSync('skopeo', ['copy', '-q', ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`skopeo copy ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
}

/** What a dir: directory says of its one image, read with fs. */
function dirImage(dir: string) {
  const bytes = readFileSync(path.join(dir, 'manifest.json'));
  const m = JSON.parse(bytes.toString());
  const config = JSON.parse(readFileSync(path.join(dir, m.config.digest.slice(7)), 'utf8'));
  return {
    manifestDigest: sha256Of(bytes),
    configDigest: m.config.digest as string,
    layers: m.layers.map((l: { digest: string }) => l.digest) as string[],
    diffIds: config.rootfs.diff_ids as string[],
    mediaType: m.mediaType as string | undefined,
  };
}

interface IngestJson {
  results: Array<{ format: string; images: Array<{ refs: string[]; manifestDigest: string }>; notes: string[] }>;
}

function ingest(store: string, args: string[]): IngestJson {
  const r = runCli(['--store', store, 'ingest', '--json', ...args]);
  expect(r.code, show(r)).toBe(0);
  return JSON.parse(r.stdout) as IngestJson;
}

describe.skipIf(!HAVE_SKOPEO)('skopeo copy ... dir:D, ingested', () => {
  it.each([
    ['uncompressed (Docker v2s2 manifest)', [] as string[], 'none'],
    ['gzip', ['--dest-compress', '--dest-compress-format', 'gzip'], 'gzip'],
    ['zstd (OCI manifest)', ['--format', 'oci', '--dest-compress', '--dest-compress-format', 'zstd'], 'zstd'],
  ])('%s: the image skopeo wrote, untagged, every blob verified', (_name, flags, compression) => {
    const dir = p(`dir-${compression}`);
    skopeo([...flags, `docker-archive:${path.join(fx, 'api-v25.tar')}`, `dir:${dir}`]);
    expect(readFileSync(path.join(dir, 'version'), 'utf8')).toBe('Directory Transport Version: 1.1\n');
    const want = dirImage(dir);
    const store = p(`store-${compression}`);
    const j = ingest(store, [dir]);
    expect(j.results[0]!.format).toBe('dir');
    expect(j.results[0]!.images).toEqual([expect.objectContaining({ refs: [], manifestDigest: want.manifestDigest })]);
    expect(j.results[0]!.notes.join('\n')).toMatch(/carries no image name, so its image is stored untagged; ingest --tag REPO\[:TAG\] names it/);
    const { mediaType, ...image } = want;
    expect(readStoreImages(store)).toEqual([{ ...image, refs: [] }]);
    // The root keeps the manifest's own media type (a Docker v2s2 manifest stays one).
    expect(readIndexJson(store).manifests.map((m: { mediaType: string }) => m.mediaType)).toEqual([mediaType]);
    const rep = runCli(['--store', store, 'report', '--json']);
    expect(rep.code, show(rep)).toBe(0);
    expect(JSON.parse(rep.stdout).layers.map((l: { compression: string }) => l.compression)).toEqual(want.layers.map(() => compression));
    expect(runCli(['--store', store, 'verify']).code).toBe(0);
  });

  it('ingest --tag names it', () => {
    const dir = p('dir-tag');
    skopeo([`docker-archive:${path.join(fx, 'api-v25.tar')}`, `dir:${dir}`]);
    const store = p('store-tagged');
    const j = ingest(store, ['--tag', 'corp/api:from-dir', dir]);
    expect(j.results[0]!.images.map((i) => i.refs)).toEqual([['corp/api:from-dir']]);
    expect(indexRefs(store)).toEqual(['corp/api:from-dir']);
    expect(j.results[0]!.notes.join('\n')).not.toContain('untagged'); // named after all
  });

  it('--all: the index as manifest.json, each platform as <hex>.manifest.json: the same images as the OCI layout it came from', () => {
    if (!realFixtures()) return;
    const src = path.join(FIXTURES_REAL, 'regclient', 'testrepo');
    const dir = p('dir-all');
    skopeo(['--all', `oci:${src}:v1`, `dir:${dir}`]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.manifest.json')).length).toBeGreaterThan(1);
    const store = p('store-all');
    ingest(store, [dir]);
    const root = readIndexJson(store).manifests;
    expect(root).toEqual([
      expect.objectContaining({ mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha256Of(readFileSync(path.join(dir, 'manifest.json'))) }),
    ]);
    // The layout itself, ingested as an OCI layout: the same images, manifest for manifest.
    const layoutStore = p('store-layout');
    const layoutDir = p('layout-v1');
    skopeo(['--all', `oci:${src}:v1`, `oci:${layoutDir}:v1`]);
    ingest(layoutStore, [layoutDir]);
    const images = (s: string) => readStoreImages(s).map(({ refs, ...i }) => i);
    expect(images(store)).toEqual(images(layoutStore));
    expect(images(store).length).toBeGreaterThanOrEqual(2);
  });

  it('a blob whose bytes do not match its name: E_DIGEST_MISMATCH, the store unchanged', async () => {
    const dir = p('dir-hostile');
    skopeo([`docker-archive:${path.join(fx, 'api-v25.tar')}`, `dir:${dir}`]);
    const store = p('store-hostile');
    ingest(store, [path.join(fx, 'family-legacy.tar')]);
    const before = await snapshotStore(store);
    const layer = dirImage(dir).layers[1]!.slice(7);
    const bytes = readFileSync(path.join(dir, layer));
    bytes[bytes.length - 2000] = bytes[bytes.length - 2000]! ^ 1;
    writeFileSync(path.join(dir, layer), bytes);
    const r = runCli(['--store', store, 'ingest', dir]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(`manifest\\.json layer 1: the bytes hash to sha256:[0-9a-f]{64}, but sha256:${layer} was claimed.*\\[E_DIGEST_MISMATCH\\]`),
    );
    expect(await snapshotStore(store)).toEqual(before);
  });

  it('a version file of another layout: E_UNSUPPORTED, saying what the directory is; no store made', () => {
    const dir = p('dir-old');
    skopeo([`docker-archive:${path.join(fx, 'api-v25.tar')}`, `dir:${dir}`]);
    writeFileSync(path.join(dir, 'version'), 'Directory Transport Version: 1.0\n');
    const store = p('store-never');
    const r = runCli(['--store', store, 'ingest', dir]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/a dir: directory \(containers\/image\) whose version file does not say "Directory Transport Version: 1\.1" \[E_UNSUPPORTED\]/);
    expect(r.stderr).toMatch(/hint: .*skopeo copy dir:DIR oci:LAYOUT/);
    expect(existsSync(store)).toBe(false);
  });

  it('a version file of 50 GB (sparse) is refused by its size before a byte is staged: E_TOO_LARGE, the store unchanged', async () => {
    const dir = p('dir-huge-version');
    skopeo([`docker-archive:${path.join(fx, 'api-v25.tar')}`, `dir:${dir}`]);
    rmSync(path.join(dir, 'version'));
    spawnSync('truncate', ['-s', '50G', path.join(dir, 'version')]);
    const store = p('store-huge-version');
    ingest(store, [path.join(fx, 'family-legacy.tar')]);
    const before = await snapshotStore(store);
    const r = runCli(['--store', store, 'ingest', dir]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/version.*\[E_TOO_LARGE\]/);
    expect(await snapshotStore(store)).toEqual(before);
  });
});

describe.skipIf(skipWithoutEngine('podman', FILE))('podman save --format docker-dir, ingested', () => {
  const slot = engineSlot<Podman>('podman');
  beforeAll(async () => {
    await slot.start(startPodman, async (pm) => {
      await pm.podman(['load', '-i', path.join(fx, 'api-v25.tar')]);
    });
  }, 180_000);
  afterAll(() => slot.stop());

  it('is a dir: directory: the image podman holds, every blob verified', async (ctx) => {
    const pm = slot.get(ctx);
    const dir = p('podman-docker-dir');
    await pm.podman(['save', '--format', 'docker-dir', '-o', dir, 'docker.io/acme/api:1.1']);
    const want = dirImage(dir);
    const store = p('store-podman');
    const j = ingest(store, [dir]);
    expect(j.results[0]!.format).toBe('dir');
    const [got] = readStoreImages(store);
    expect(got).toEqual({ manifestDigest: want.manifestDigest, configDigest: want.configDigest, layers: want.layers, diffIds: want.diffIds, refs: [] });
    const inspect = JSON.parse((await pm.podman(['image', 'inspect', 'docker.io/acme/api:1.1'])).stdout)[0];
    expect(got!.configDigest).toBe(`sha256:${inspect.Id}`);
    expect(got!.diffIds).toEqual(inspect.RootFS.Layers);
  });
});
