/**
 * `ingest containerd:[NAMESPACE/]NAME` against a private containerd (1.6): images imported
 * with `ctr images import` land in the store with the digests containerd holds (its content
 * store is a sha256 blob store: the manifest digest ctr lists is the one we store), in the
 * namespace named; a name containerd lacks is exit 2 and changes nothing.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexRefs, readStoreImages, runCli } from '../helpers/cli.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { runCliAsync } from '../registry/helpers.js';
import { engineSlot, skipWithoutEngine, startContainerd, type Containerd } from '../helpers/engines.js';
import { parseContainerdRef } from '../../src/engines/containerd.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';

const FILE = 'engines/containerd.test.ts';

/**
 * An OCI archive of the fixture acme/web:2.0 rebuilt for linux/arm64 only (its config says
 * arm64, the index's descriptor has the platform), named docker.io/acme/oci:1 for ctr import:
 * an image with no manifest for the host's platform.
 */
function arm64OnlyArchive(fx: string, out: string): { file: string; config: string } {
  const dir = `${out}.d`;
  cpSync(path.join(fx, 'oci-gzip'), dir, { recursive: true });
  const blob = (d: string) => path.join(dir, 'blobs', 'sha256', d.replace('sha256:', ''));
  const put = (b: Buffer) => {
    const d = `sha256:${createHash('sha256').update(b).digest('hex')}`;
    writeFileSync(blob(d), b);
    return { digest: d, size: b.length };
  };
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
  const manifest = JSON.parse(readFileSync(blob(index.manifests[0].digest), 'utf8'));
  const config = JSON.parse(readFileSync(blob(manifest.config.digest), 'utf8'));
  manifest.config = { ...manifest.config, ...put(Buffer.from(JSON.stringify({ ...config, architecture: 'arm64' }))) };
  const arm64 = {
    mediaType: manifest.mediaType ?? 'application/vnd.oci.image.manifest.v1+json',
    ...put(Buffer.from(JSON.stringify(manifest))),
    platform: { os: 'linux', architecture: 'arm64' },
  };
  // the image is an index (as a multi-platform image is) that has only the arm64 manifest
  const desc = {
    mediaType: 'application/vnd.oci.image.index.v1+json',
    ...put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [arm64] }))),
    annotations: { 'io.containerd.image.name': 'docker.io/acme/oci:1', 'org.opencontainers.image.ref.name': '1' },
  };
  writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ ...index, manifests: [desc] }));
  execFileSync('tar', ['-C', dir, '-cf', out, '.']);
  return { file: out, config: manifest.config.digest };
}
let tmp: string;
let fx: string;

withFixtureTemp('ls-containerd-', (p) => ({ tmp, fx } = p));

describe('containerd: names', () => {
  it.each([
    ['containerd:docker.io/library/alpine:3.10', 'default', 'docker.io/library/alpine:3.10'],
    ['containerd:alpine:3.10', 'default', 'docker.io/library/alpine:3.10'],
    ['containerd:acme/api:1.0', 'default', 'docker.io/acme/api:1.0'],
    ['containerd:k8s.io/registry.k8s.io/pause:3.9', 'k8s.io', 'registry.k8s.io/pause:3.9'],
    ['containerd:moby/docker.io/acme/api', 'moby', 'docker.io/acme/api:latest'],
  ])('%s is namespace %s, image %s', (arg, namespace, name) => {
    expect(parseContainerdRef(arg)).toEqual({ namespace, name });
  });
});

describe.skipIf(skipWithoutEngine('containerd', FILE))('containerd: with a private containerd', () => {
  const slot = engineSlot<Containerd>('containerd');
  let arm64: { file: string; config: string };
  beforeAll(async () => {
    await slot.start(startContainerd, async (c) => {
      await c.ctr(['images', 'import', path.join(fx, 'api-v25.tar')]);
      await c.ctr(['images', 'import', path.join(fx, 'family-legacy.tar')], { namespace: 'k8s.io' });
    });
  }, 120_000);
  afterAll(() => slot.stop());

  it('an image of the default namespace: the manifest digest containerd lists, verified', async (ctx) => {
    const c = slot.get(ctx);
    const listed = (await c.ctr(['images', 'ls'])).stdout;
    const line = listed.split('\n').find((l) => l.startsWith('docker.io/acme/api:1.1'))!;
    const digest = /sha256:[0-9a-f]{64}/.exec(line)![0];
    const store = path.join(tmp, 'default');
    const r = await runCliAsync(['--store', store, 'ingest', '--containerd-socket', c.socket, 'containerd:acme/api:1.1']);
    expect(r.code, r.stderr).toBe(0);
    expect(readStoreImages(store).map((i) => i.manifestDigest)).toContain(digest);
    expect(indexRefs(store).join(' ')).toMatch(/acme\/api:1\.1/);
    expect(runCli(['--store', store, 'verify']).code).toBe(0);
  });

  it('an image of another namespace (k8s.io) by NAMESPACE/NAME', async (ctx) => {
    const c = slot.get(ctx);
    const store = path.join(tmp, 'k8s');
    const r = await runCliAsync(['--store', store, 'ingest', '--containerd-socket', c.socket, 'containerd:k8s.io/docker.io/acme/worker:1.0']);
    expect(r.code, r.stderr).toBe(0);
    expect(
      readStoreImages(store)
        .flatMap((i) => i.refs)
        .join(' '),
    ).toMatch(/acme\/worker:1\.0/);
  });

  it('report, report --files and diff take containerd: images directly (ingested into --store first, the same figures as after an ingest)', async (ctx) => {
    const c = slot.get(ctx);
    const direct = path.join(tmp, 'direct');
    const r = await runCliAsync(['--store', direct, 'report', '--json', '--containerd-socket', c.socket, 'containerd:acme/api:1.1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/ingested containerd:acme\/api:1\.1 into /);
    const viaIngest = path.join(tmp, 'via-ingest');
    expect((await runCliAsync(['--store', viaIngest, 'ingest', '--containerd-socket', c.socket, 'containerd:acme/api:1.1'])).code).toBe(0);
    const after = runCli(['--store', viaIngest, 'report', '--json', 'acme/api:1.1']);
    const images = (out: string) => (JSON.parse(out) as { images: { manifestDigest: string; sizeBytes: number; layers: unknown[] }[] }).images;
    expect(images(r.stdout).map((i) => [i.manifestDigest, i.sizeBytes, i.layers])).toEqual(
      images(after.stdout).map((i) => [i.manifestDigest, i.sizeBytes, i.layers]),
    );
    const files = await runCliAsync(['--store', direct, 'report', '--files', '--json', '--containerd-socket', c.socket, 'containerd:acme/api:1.1']);
    expect(files.code, files.stderr).toBe(0);
    expect(runCli(['--store', viaIngest, 'report', '--files', '--json', 'acme/api:1.1']).stdout).toBe(files.stdout);
    const d = await runCliAsync(['--store', direct, 'diff', '--json', '--containerd-socket', c.socket, 'containerd:acme/api:1.1', 'acme/api:1.1']);
    expect(d.code, d.stderr).toBe(0);
    const j = JSON.parse(d.stdout);
    expect(j.a.manifestDigest).toBe(images(after.stdout)[0]!.manifestDigest);
    expect(j.b.manifestDigest).toBe(j.a.manifestDigest);
    expect([j.layers.added, j.layers.removed]).toEqual([[], []]);
  });

  it('an image with no manifest for this host platform (arm64 only, in the moby namespace) comes in, with the refs of the others', async (ctx) => {
    const c = slot.get(ctx);
    arm64 = arm64OnlyArchive(fx, path.join(tmp, 'arm64-only.tar'));
    await c.ctr(['images', 'import', '--all-platforms', '--no-unpack', arm64.file], { namespace: 'moby' });
    const store = path.join(tmp, 'arm64');
    const r = await runCliAsync(['--store', store, 'ingest', '--containerd-socket', c.socket, 'containerd:moby/docker.io/acme/oci:1']);
    expect(r.code, r.stderr).toBe(0);
    const [img, ...more] = readStoreImages(store);
    expect(more).toEqual([]);
    expect(img!.refs).toEqual(['acme/oci:1']);
    // and the refs of an image of the host's platform are the same as before
    const api = path.join(tmp, 'api-refs');
    expect((await runCliAsync(['--store', api, 'ingest', '--containerd-socket', c.socket, 'containerd:acme/api:1.1'])).code).toBe(0);
    expect(readStoreImages(api).map((i) => i.refs)).toEqual([['acme/api:1.1']]);
  });

  it('a name containerd lacks (or one in another namespace): exit 2, E_REF_NOT_FOUND, the store unchanged', async (ctx) => {
    const c = slot.get(ctx);
    const store = path.join(tmp, 'default');
    const before = await snapshotStore(store);
    for (const arg of ['containerd:no/such:image', 'containerd:docker.io/acme/worker:1.0']) {
      const r = await runCliAsync(['--store', store, 'ingest', '--containerd-socket', c.socket, arg]);
      expect(r.code, arg).toBe(2);
      expect(r.stderr).toMatch(/has no image .*\[E_REF_NOT_FOUND\]/);
    }
    expect(await snapshotStore(store)).toEqual(before);
  });

  it('a ctr failure that is not a missing image (a blob gone from the content store) is E_ENGINE with ctr\'s words, not "has no image"', async (ctx) => {
    const c = slot.get(ctx);
    expect(arm64, 'runs after the arm64 test').toBeDefined();
    rmSync(path.join(c.contentDir, arm64.config.replace('sha256:', '')));
    const r = await runCliAsync(['--store', path.join(tmp, 'gone'), 'ingest', '--containerd-socket', c.socket, 'containerd:moby/docker.io/acme/oci:1']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(/has no image/);
    expect(r.stderr).toMatch(/ctr images export of docker\.io\/acme\/oci:1 .*not found \[E_ENGINE\]/);
  });
});
