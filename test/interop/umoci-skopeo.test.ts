/**
 * Images built by real tools (umoci 0.4.7) and converted by skopeo 1.9 go in; skopeo and
 * umoci read the store back out. Expected digests are computed from the tools' own output
 * files (sha256, gzip -dc), never taken from layerstore.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { commands } from '../helpers/peers.js';
import { badBlobs, blobFile, ensureBuilt, indexRefs, readStoreImages, runCli, sha256Of, show } from '../helpers/cli.js';

const HAVE_TOOLS = commands([
  ['umoci', 'umoci'],
  ['skopeo', 'skopeo'],
  ['gzip', 'gzip'],
  ['tar', 'tar'],
]);

function tool(cmd: string, args: string[], opts: { input?: Buffer; cwd?: string } = {}): Buffer {
  const r = spawnSync(cmd, args, { input: opts.input, cwd: opts.cwd, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return r.stdout;
}
const gunzip = (b: Buffer): Buffer => tool('gzip', ['-dc'], { input: b });
const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;
const hex = (d: string) => d.replace(/^sha256:/, '');

interface LayoutImage {
  manifestDigest: string;
  configDigest: string;
  layers: string[];
  diffIds: string[];
}

/** An image of an OCI layout directory, read with fs; diffIDs recomputed from the layer bytes. */
function layoutImage(layout: string, ref: string): LayoutImage {
  const index = JSON.parse(readFileSync(path.join(layout, 'index.json'), 'utf8'));
  const desc = index.manifests.find((m: any) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
  if (!desc) throw new Error(`${layout} has no ref ${ref}`);
  const blob = (d: string) => readFileSync(path.join(layout, 'blobs', 'sha256', hex(d)));
  const manifest = JSON.parse(blob(desc.digest).toString());
  const config = JSON.parse(blob(manifest.config.digest).toString());
  const diffIds = manifest.layers.map((l: any) => {
    const b = blob(l.digest);
    return sha256Of(isGzip(b) ? gunzip(b) : b);
  });
  expect(diffIds).toEqual(config.rootfs.diff_ids); // umoci's output is self-consistent
  return { manifestDigest: desc.digest, configDigest: manifest.config.digest, layers: manifest.layers.map((l: any) => l.digest), diffIds };
}

interface IngestJson {
  results: Array<{
    source: string;
    format: string;
    images: Array<{ refs: string[]; manifestDigest: string; configDigest: string; layers: string[] }>;
    refChanges: Array<{ ref: string; from?: string; to: string }>;
  }>;
  failed: number;
}

describe.skipIf(!HAVE_TOOLS)('umoci-built images through skopeo and back', () => {
  let tmp: string;
  let L: string; // umoci layout
  let store: string;
  let base: LayoutImage;
  let app: LayoutImage;
  const p = (...x: string[]) => path.join(tmp, ...x);

  const ingestJson = (s: string, input: string): IngestJson => {
    const r = runCli(['--store', s, 'ingest', '--json', input]);
    expect(r.code, show(r)).toBe(0);
    return JSON.parse(r.stdout) as IngestJson;
  };
  /** diffIDs of an image in a store, recomputed from the blob files. */
  const storeDiffIds = (s: string, layers: string[]) =>
    layers.map((d) => {
      const b = readFileSync(blobFile(s, d));
      return sha256Of(isGzip(b) ? gunzip(b) : b);
    });
  const reportJson = (s: string, refs: string[] = []): any => {
    const r = runCli(['--store', s, 'report', '--json', ...refs]);
    expect(r.code, show(r)).toBe(0);
    return JSON.parse(r.stdout);
  };

  beforeAll(() => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-interop-'));
    L = p('umoci-layout');
    store = p('store');
    // a small rootfs
    const root = p('rootfs');
    mkdirSync(path.join(root, 'etc'), { recursive: true });
    mkdirSync(path.join(root, 'bin'), { recursive: true });
    mkdirSync(path.join(root, 'usr', 'share', 'doc'), { recursive: true });
    writeFileSync(path.join(root, 'etc', 'motd'), 'welcome to the interop image\n');
    writeFileSync(path.join(root, 'etc', 'os-release'), 'NAME="Interop"\nID=interop\n');
    writeFileSync(path.join(root, 'bin', 'tool'), randomBytes(40_000));
    chmodSync(path.join(root, 'bin', 'tool'), 0o755);
    symlinkSync('tool', path.join(root, 'bin', 'sh'));
    writeFileSync(path.join(root, 'usr', 'share', 'doc', 'README'), 'docs '.repeat(2000));
    const appDir = p('appdir');
    mkdirSync(appDir);
    writeFileSync(path.join(appDir, 'run.sh'), '#!/bin/sh\necho app\n');

    const umoci = (...args: string[]) => tool('umoci', args);
    umoci('init', '--layout', L);
    umoci('new', '--image', `${L}:base`);
    umoci('insert', '--image', `${L}:base`, root, '/');
    // app = base + a whiteout of /etc/motd + /app
    umoci('insert', '--image', `${L}:base`, '--tag', 'app', '--whiteout', '/etc/motd');
    umoci('insert', '--image', `${L}:app`, appDir, '/app');
    base = layoutImage(L, 'base');
    app = layoutImage(L, 'app');
    // sanity on what umoci built: app extends base, and its 2nd layer is the whiteout
    expect(base.layers).toHaveLength(1);
    expect(app.layers).toHaveLength(3);
    expect(app.layers[0]).toBe(base.layers[0]);
    const whiteoutList = tool('tar', ['-tz'], { input: readFileSync(path.join(L, 'blobs', 'sha256', hex(app.layers[1]!))) }).toString();
    expect(whiteoutList).toMatch(/etc\/\.wh\.motd/);

    tool('skopeo', ['copy', '-q', `oci:${L}:base`, `docker-archive:${p('x.tar')}:acme/base:1`]);
    tool('skopeo', ['copy', '-q', `oci:${L}:base`, `oci-archive:${p('y.tar')}:acme/base:1`]);
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('ingests the umoci layout directory: both tags, same manifests, configs and layers as umoci wrote', () => {
    const j = ingestJson(store, L);
    expect(j.results[0]!.format).toBe('oci-layout');
    const imgs = readStoreImages(store);
    // umoci's bare tags "base" and "app" go under the layout directory's name
    const b = imgs.find((i) => i.refs.includes('umoci-layout:base'))!;
    const a = imgs.find((i) => i.refs.includes('umoci-layout:app'))!;
    expect(b).toMatchObject({ manifestDigest: base.manifestDigest, configDigest: base.configDigest, layers: base.layers });
    expect(a).toMatchObject({ manifestDigest: app.manifestDigest, configDigest: app.configDigest, layers: app.layers });
    const rep = reportJson(store);
    expect(rep.totals.images).toBe(2);
    // the base layer is shared; the report's diffIds are the recomputed ones
    const baseRow = rep.layers.find((l: any) => l.digest === base.layers[0]);
    expect(baseRow.images).toHaveLength(2);
    expect(baseRow.compression).toBe('gzip');
    for (const [i, d] of app.layers.entries()) expect(rep.layers.find((l: any) => l.digest === d).diffId).toBe(app.diffIds[i]);
    expect(badBlobs(store)).toEqual([]);
  });

  it('skopeo docker-archive (legacy hybrid) and oci-archive copies of base: same diffIDs, same config; the ref moves to the OCI manifest', () => {
    // independently: what skopeo wrote
    const X = p('x.tar');
    const xman = JSON.parse(tool('tar', ['-xOf', X, 'manifest.json']).toString());
    expect(xman).toHaveLength(1);
    expect(xman[0].RepoTags).toEqual(['docker.io/acme/base:1']);
    const xLayers: Buffer[] = xman[0].Layers.map((l: string) => tool('tar', ['-xOf', X, l]));
    expect(xLayers.map((b) => sha256Of(b))).toEqual(base.diffIds); // uncompressed in a docker save
    expect(sha256Of(tool('tar', ['-xOf', X, xman[0].Config]))).toBe(base.configDigest); // skopeo kept the config

    const jx = ingestJson(store, X);
    expect(jx.results[0]!.images).toHaveLength(1);
    const xi = jx.results[0]!.images[0]!;
    expect(xi.refs).toEqual(['acme/base:1']);
    expect(xi.configDigest).toBe(base.configDigest);
    expect(xi.layers).toEqual(base.diffIds);
    expect(storeDiffIds(store, xi.layers)).toEqual(base.diffIds);
    // a legacy save has no manifest: layerstore writes one, so the digest differs from umoci's
    expect(xi.manifestDigest).not.toBe(base.manifestDigest);

    const Y = p('y.tar');
    const yIndex = JSON.parse(tool('tar', ['-xOf', Y, 'index.json']).toString());
    expect(yIndex.manifests[0].digest).toBe(base.manifestDigest); // skopeo copied the manifest unchanged
    const ry = runCli(['--store', store, 'ingest', '--json', Y]);
    expect(ry.code, show(ry)).toBe(0);
    const jy = JSON.parse(ry.stdout) as IngestJson;
    const yi = jy.results[0]!.images[0]!;
    expect(yi.manifestDigest).toBe(base.manifestDigest);
    expect(yi.configDigest).toBe(base.configDigest);
    expect(yi.layers).toEqual(base.layers);
    expect(storeDiffIds(store, yi.layers)).toEqual(base.diffIds);
    expect(jy.results[0]!.refChanges).toEqual([{ ref: 'acme/base:1', from: xi.manifestDigest, to: base.manifestDigest }]);
    // nothing new: umoci's layout already brought every blob of y.tar
    expect(badBlobs(store)).toEqual([]);

    // the store: acme/base:1 and umoci-layout:base name umoci's manifest; skopeo's docker-archive image is kept untagged
    const imgs = readStoreImages(store);
    expect(imgs.find((i) => i.manifestDigest === base.manifestDigest)!.refs).toEqual(['acme/base:1', 'umoci-layout:base']);
    expect(imgs.find((i) => i.manifestDigest === xi.manifestDigest)!.refs).toEqual([]);
    const ls = JSON.parse(runCli(['--store', store, 'ls', '--json']).stdout);
    expect(ls.images.find((i: any) => i.manifestDigest === xi.manifestDigest).refs).toEqual([]);
    // same diffIDs, in the report too, for all three sources
    const rep = reportJson(store);
    const diffOf = (d: string) => rep.layers.find((l: any) => l.digest === d).diffId;
    expect([base.layers, xi.layers, yi.layers].map((ls2) => ls2.map(diffOf))).toEqual([base.diffIds, base.diffIds, base.diffIds]);
  });

  it('skopeo copy oci:STORE:acme/base:1 dir:OUT reads the store: every blob hashes to its name, the manifest to our digest', () => {
    const OUT = p('dir-out');
    tool('skopeo', ['copy', '-q', `oci:${store}:acme/base:1`, `dir:${OUT}`]);
    const files = readdirSync(OUT).sort();
    const blobs = files.filter((f) => f !== 'manifest.json' && f !== 'version');
    expect(blobs.sort()).toEqual([hex(base.configDigest), ...base.layers.map(hex)].sort());
    for (const f of blobs) {
      const out = tool('sha256sum', [path.join(OUT, f)])
        .toString()
        .split(/\s+/)[0];
      expect(out, f).toBe(f);
    }
    expect(sha256Of(readFileSync(path.join(OUT, 'manifest.json')))).toBe(base.manifestDigest);
  });

  it('skopeo copy oci:STORE:umoci-layout:app docker-archive:back.tar, re-ingested into a fresh store: same config digest and diffIDs', () => {
    const back = p('back.tar');
    tool('skopeo', ['copy', '-q', `oci:${store}:umoci-layout:app`, `docker-archive:${back}:acme/app:1`]);
    const fresh = p('fresh-store');
    const j = ingestJson(fresh, back);
    const img = j.results[0]!.images[0]!;
    expect(img.refs).toEqual(['acme/app:1']);
    expect(img.configDigest).toBe(app.configDigest);
    expect(storeDiffIds(fresh, img.layers)).toEqual(app.diffIds);
    const rep = reportJson(fresh, ['acme/app:1']);
    expect(rep.images[0].layers.map((d: string) => rep.layers.find((l: any) => l.digest === d).diffId)).toEqual(app.diffIds);
    expect(badBlobs(fresh)).toEqual([]);
  });

  it('umoci reads the store: ls lists the refs, unpack applies the layers (whiteout included) without touching the store', () => {
    const ls = tool('umoci', ['ls', '--layout', store]).toString().split('\n').filter(Boolean).sort();
    expect(ls).toEqual([...indexRefs(store)].sort());
    expect(ls).toEqual(['acme/base:1', 'umoci-layout:app', 'umoci-layout:base']);
    const indexBefore = readFileSync(path.join(store, 'index.json'));
    const bundle = p('bundle');
    tool('umoci', ['unpack', '--image', `${store}:umoci-layout:app`, bundle]);
    const rootfs = path.join(bundle, 'rootfs');
    expect(existsSync(path.join(rootfs, 'etc', 'motd'))).toBe(false);
    expect(readFileSync(path.join(rootfs, 'etc', 'os-release'), 'utf8')).toBe('NAME="Interop"\nID=interop\n');
    expect(readFileSync(path.join(rootfs, 'app', 'run.sh'), 'utf8')).toBe('#!/bin/sh\necho app\n');
    expect(readFileSync(path.join(store, 'index.json')).equals(indexBefore)).toBe(true);
  });

  it('the store is itself an OCI layout layerstore can ingest: a fresh store gets the same roots', () => {
    const copy = p('store-of-store');
    const r = runCli(['--store', copy, 'ingest', store]);
    expect(r.code, show(r)).toBe(0);
    const norm = (s: string) =>
      readStoreImages(s)
        .map((i) => `${i.manifestDigest} ${i.refs.join(',')}`)
        .sort();
    expect(norm(copy)).toEqual(norm(store));
    expect(norm(copy)).toHaveLength(3);
  });
});
