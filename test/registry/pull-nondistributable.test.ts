/**
 * Images with non-distributable layers (Docker `foreign`, OCI `nondistributable`, with `urls`),
 * from a fake registry on 127.0.0.1. A store holds every blob its images name (docs/STORE.md),
 * so: a registry that serves the layer (many do) pulls like any other, the manifest's bytes
 * kept; one that does not gives one error naming the layer, that it is non-distributable and
 * not served, and what to do, with the store unchanged. The layer's `urls` are never followed.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobFile, ensureBuilt, runCli, show, spawnCli } from '../helpers/cli.js';
import { digestOf } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { fakeRegistry, imageRoutes, send, testImage, type FakeRegistry, type Handler } from './fake-registry.js';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const FOREIGN = 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip';
const NONDIST = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';

let tmp: string;
const p = (...x: string[]) => path.join(tmp, ...x);

/** A Windows-style image: a non-distributable base layer (`mediaType`) with urls, then an ordinary one. */
function imageWithBase(mediaType: string, urlsHost: string) {
  const base = rawTar([{ name: 'base.txt', body: `the base of ${mediaType}\n` }]);
  const top = rawTar([{ name: 'app.txt', body: 'the app\n' }]);
  const baseGz = gzipSync(base);
  const topGz = gzipSync(top);
  const docker = mediaType === FOREIGN;
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'windows', rootfs: { type: 'layers', diff_ids: [digestOf(base), digestOf(top)] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: docker ? DOCKER_MANIFEST : 'application/vnd.oci.image.manifest.v1+json',
      config: {
        mediaType: docker ? 'application/vnd.docker.container.image.v1+json' : 'application/vnd.oci.image.config.v1+json',
        digest: digestOf(config),
        size: config.length,
      },
      layers: [
        { mediaType, digest: digestOf(baseGz), size: baseGz.length, urls: [`http://${urlsHost}/base.tar.gz`] },
        {
          mediaType: docker ? 'application/vnd.docker.image.rootfs.diff.tar.gzip' : 'application/vnd.oci.image.layer.v1.tar+gzip',
          digest: digestOf(topGz),
          size: topGz.length,
        },
      ],
    }),
  );
  return { baseGz, topGz, config, manifest, manifestType: docker ? DOCKER_MANIFEST : 'application/vnd.oci.image.manifest.v1+json' };
}

/** Routes for REPO:1; the base layer only when `serveBase`. */
function routesFor(repo: string, img: ReturnType<typeof imageWithBase>, serveBase: boolean): Record<string, Handler> {
  const r: Record<string, Handler> = {
    [`/v2/${repo}/manifests/1`]: send(img.manifestType, img.manifest),
    [`/v2/${repo}/manifests/${digestOf(img.manifest)}`]: send(img.manifestType, img.manifest),
    [`/v2/${repo}/blobs/${digestOf(img.config)}`]: send('application/octet-stream', img.config),
    [`/v2/${repo}/blobs/${digestOf(img.topGz)}`]: send('application/octet-stream', img.topGz),
  };
  if (serveBase) r[`/v2/${repo}/blobs/${digestOf(img.baseGz)}`] = send('application/octet-stream', img.baseGz);
  return r;
}

let reg: FakeRegistry;
/** Where the layers' urls point: it must never be asked. */
let elsewhere: { host: string; seen: string[]; close: () => Promise<void> };
let foreignImg: ReturnType<typeof imageWithBase>;
let nondistImg: ReturnType<typeof imageWithBase>;

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-pull-nondist-'));
  const seen: string[] = [];
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    res.writeHead(500);
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  elsewhere = {
    host: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
  foreignImg = imageWithBase(FOREIGN, elsewhere.host);
  nondistImg = imageWithBase(NONDIST, elsewhere.host);
  reg = await fakeRegistry({
    ...routesFor('served/foreign', foreignImg, true),
    ...routesFor('served/nondist', nondistImg, true),
    ...routesFor('unserved/foreign', foreignImg, false),
    ...routesFor('unserved/nondist', nondistImg, false),
    ...imageRoutes('plain/app', '1', testImage(['already in the store\n'])),
  });
});
afterAll(async () => {
  await reg?.close();
  await elsewhere?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('pull of an image with a non-distributable layer', () => {
  for (const [kind, mt] of [
    ['Docker foreign', FOREIGN],
    ['OCI nondistributable', NONDIST],
  ] as const) {
    const repo = mt === FOREIGN ? 'foreign' : 'nondist';
    const img = () => (mt === FOREIGN ? foreignImg : nondistImg);

    it(`${kind}, served by the registry: pulled like any other layer, the manifest kept byte for byte, verify clean`, async () => {
      const store = p(`served-${repo}`);
      const r = await spawnCli(['--store', store, 'pull', `${reg.host}/served/${repo}:1`]);
      expect(r.code, show(r)).toBe(0);
      expect(readFileSync(blobFile(store, digestOf(img().manifest)))).toEqual(img().manifest);
      expect(readFileSync(blobFile(store, digestOf(img().baseGz)))).toEqual(img().baseGz);
      const v = runCli(['--store', store, 'verify']);
      expect(v.code, show(v)).toBe(0);
      expect(elsewhere.seen).toEqual([]);
    });

    it(`${kind}, not served (404): one error naming the layer, that it is non-distributable and not served, and what to do; exit 2, the store unchanged`, async () => {
      const store = p(`unserved-${repo}`);
      const first = await spawnCli(['--store', store, 'pull', `${reg.host}/plain/app:1`]);
      expect(first.code, show(first)).toBe(0);
      const before = await snapshotStore(store);
      const r = await spawnCli(['--store', store, 'pull', `${reg.host}/unserved/${repo}:1`]);
      expect(r.code, show(r)).toBe(2);
      const errors = r.stderr.split('\n').filter((l) => l.startsWith('layerstore: error:'));
      expect(errors, r.stderr).toHaveLength(1);
      const line = errors[0]!;
      expect(line).toContain(`layer ${digestOf(img().baseGz)} is non-distributable (${mt}`);
      expect(line).toContain(`${reg.url} does not serve it (404)`);
      expect(line).toContain(`http://${elsewhere.host}/base.tar.gz`);
      expect(line).toMatch(/\[E_BLOB_MISSING\]$/);
      expect(r.stderr).toContain('hint: copy the image into the registry with its non-distributable layers');
      expect(await snapshotStore(store)).toEqual(before);
      expect(elsewhere.seen).toEqual([]);
    });
  }

  it('not served, into a store the pull created: no store is left behind', async () => {
    const store = p('unserved-new');
    const r = await spawnCli(['--store', store, 'pull', `${reg.host}/unserved/foreign:1`]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('non-distributable');
    expect(existsSync(store)).toBe(false);
  });
});
