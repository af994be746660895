/**
 * `ingest containerd:[NAMESPACE/]NAME` against a private containerd (1.6): images imported
 * with `ctr images import` land in the store with the digests containerd holds (its content
 * store is a sha256 blob store: the manifest digest ctr lists is the one we store), in the
 * namespace named; a name containerd lacks is exit 2 and changes nothing.
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexRefs, readStoreImages, runCli } from '../helpers/cli.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { runCliAsync } from '../registry/helpers.js';
import { engineSlot, skipWithoutEngine, startContainerd, type Containerd } from '../helpers/engines.js';
import { parseContainerdRef } from '../../src/engines/containerd.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';

const FILE = 'engines/containerd.test.ts';
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
});
