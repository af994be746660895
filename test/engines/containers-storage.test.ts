/**
 * `containers-storage:[DRIVER@ROOT+RUNROOT]NAME` reads podman's store in place, with no
 * service and no podman process: images.json and layers.json for the names and layer chain,
 * the config and manifest from the image's big-data files, and each layer's tar rebuilt from
 * its tar-split and its files. Proof against a real podman (vfs, private root): the stored
 * image is the one podman inspect and `podman save --format oci-archive` describe (config
 * digest, diff_ids, layer digests, manifest digest); report, diff and budget take it; a layer
 * file changed in the storage dir is a clear exit 2 that leaves the store byte-identical.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStoreImages, runCli, show, type StoreImage } from '../helpers/cli.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { runCliAsync } from '../registry/helpers.js';
import { engineSlot, skipWithoutEngine, startPodman, type Podman } from '../helpers/engines.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { parseStorageRef } from '../../src/engines/storage-location.js';

const FILE = 'engines/containers-storage.test.ts';
let tmp: string;
let fx: string;

withFixtureTemp('ls-cstorage-', (p) => ({ tmp, fx } = p));

const byRef = (imgs: StoreImage[]) => new Map(imgs.flatMap((i) => i.refs.map((r) => [r, i] as const)));

describe('containers-storage: names', () => {
  it.each([
    ['containers-storage:acme/api:1.0', {}, 'acme/api:1.0'],
    ['containers-storage:[vfs@/srv/root+/run/x]docker.io/acme/api:1.1', { driver: 'vfs', graphroot: '/srv/root', runroot: '/run/x' }, 'docker.io/acme/api:1.1'],
    ['containers-storage:[overlay@/srv/root+/run/x:overlay.mountopt=nodev]img', { driver: 'overlay', graphroot: '/srv/root', runroot: '/run/x' }, 'img'],
    ['containers-storage:[/srv/root]', { graphroot: '/srv/root' }, ''],
  ])('%s is store %j, image %j', (arg, spec, image) => {
    expect(parseStorageRef(arg)).toEqual({ spec, image });
  });
});

describe.skipIf(skipWithoutEngine('podman', FILE))('containers-storage: a private podman store (vfs), read in place', () => {
  const slot = engineSlot<Podman>('podman');
  let spec: string;
  let saved: StoreImage;

  beforeAll(async () => {
    await slot.start(startPodman, async (p) => {
      spec = `[vfs@${path.join(p.dir, 'root')}+${path.join(p.dir, 'run')}]`;
      for (const f of ['api-v25.tar', 'family-legacy.tar']) await p.podman(['load', '-i', path.join(fx, f)]);
      // What podman itself exports, ingested as a file: the reference for the image's bytes.
      const archive = path.join(tmp, 'podman-save.tar');
      await p.podman(['save', '--format', 'oci-archive', '-o', archive, 'docker.io/acme/api:1.1']);
      const s = path.join(tmp, 'from-save');
      const r = runCli(['--store', s, '-q', 'ingest', archive]);
      expect(r.code, show(r)).toBe(0);
      saved = readStoreImages(s)[0]!;
    });
  }, 180_000);
  afterAll(() => slot.stop());

  it('the stored image is the one podman holds: image ID, diff_ids, manifest digest, and the layers of podman save', async (ctx) => {
    const p = slot.get(ctx);
    const store = path.join(tmp, 'one');
    const r = await runCliAsync(['--store', store, 'ingest', `containers-storage:${spec}docker.io/acme/api:1.1`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/: 1 image \(acme\/api:1\.1\); 4 new blobs/);
    const got = readStoreImages(store)[0]!;
    const inspect = JSON.parse((await p.podman(['image', 'inspect', 'docker.io/acme/api:1.1'])).stdout)[0];
    expect(got.configDigest).toBe(`sha256:${inspect.Id}`);
    expect(got.diffIds).toEqual(inspect.RootFS.Layers);
    expect(got.manifestDigest).toBe(inspect.Digest); // the stored manifest lists the uncompressed layers: kept as it is
    expect(got.configDigest).toBe(saved.configDigest);
    expect(got.diffIds).toEqual(saved.diffIds);
    // podman save gzips its layers; their uncompressed bytes (checked against diff_ids on
    // ingest) are exactly the rebuilt tars, which are stored uncompressed
    expect(got.layers).toEqual(saved.diffIds);
    expect(got.layers).toHaveLength(2);
    expect(runCli(['--store', store, 'verify']).code).toBe(0);
  });

  it('storage.conf ($CONTAINERS_STORAGE_CONF) finds the store; short names resolve as podman does; containers-storage: alone is every image', async (ctx) => {
    const p = slot.get(ctx);
    const store = path.join(tmp, 'conf');
    const env = { CONTAINERS_STORAGE_CONF: p.env.CONTAINERS_STORAGE_CONF! };
    const one = await runCliAsync(['--store', store, 'ingest', 'containers-storage:acme/worker:1.0'], env);
    expect(one.code, one.stderr).toBe(0);
    expect(one.stdout).toMatch(/1 image \(localhost\/acme\/worker:1\.0\)/);
    const all = await runCliAsync(['--store', store, 'ingest', 'containers-storage:'], env);
    expect(all.code, all.stderr).toBe(0);
    const listed = JSON.parse((await p.podman(['images', '--format', 'json'])).stdout) as Array<{ Id: string; Names: string[] }>;
    const got = byRef(readStoreImages(store));
    expect(got.size).toBe(listed.flatMap((i) => i.Names).length);
    for (const img of listed) for (const n of img.Names) expect(got.get(n.replace(/^docker\.io\//, ''))?.configDigest, n).toBe(`sha256:${img.Id}`);
  });

  it('containers-storage:NAME brings only that name of the image, not its other names; by ID, none', async (ctx) => {
    const p = slot.get(ctx);
    await p.podman(['tag', 'acme/base:1.0', 'acme/p:1', 'acme/p:2']);
    try {
      const id = JSON.parse((await p.podman(['image', 'inspect', 'acme/p:1'])).stdout)[0].Id as string;
      const store = path.join(tmp, 'one-name');
      const r = await runCliAsync(['--store', store, 'ingest', `containers-storage:${spec}acme/p:1`]);
      expect(r.code, r.stderr).toBe(0);
      expect(readStoreImages(store).map((i) => i.refs)).toEqual([['localhost/acme/p:1']]);
      const byId = path.join(tmp, 'by-id');
      const r2 = await runCliAsync(['--store', byId, 'ingest', `containers-storage:${spec}${id.slice(0, 12)}`]);
      expect(r2.code, r2.stderr).toBe(0);
      expect(readStoreImages(byId).map((i) => [i.configDigest, i.refs])).toEqual([[`sha256:${id}`, []]]);
    } finally {
      await p.podman(['untag', 'acme/base:1.0', 'localhost/acme/p:1', 'localhost/acme/p:2']);
    }
  });

  it("the overlay driver: each layer's files come from overlay/<id>/diff, whiteouts included", async (ctx) => {
    const p = slot.get(ctx);
    const root = path.join(p.dir, 'overlay-root');
    const run = path.join(p.dir, 'overlay-run');
    const where = ['--root', root, '--runroot', run, '--storage-driver', 'overlay'];
    const loaded = await p.podman([...where, 'load', '-i', path.join(fx, 'family-legacy.tar')], { check: false });
    if (loaded.code !== 0) ctx.skip(`podman cannot use overlay here: ${loaded.stderr.trim().split('\n').pop()}`);
    const store = path.join(tmp, 'overlay');
    const r = await runCliAsync(['--store', store, 'ingest', `containers-storage:[overlay@${root}+${run}]`]);
    expect(r.code, r.stderr).toBe(0);
    const got = byRef(readStoreImages(store));
    for (const name of ['localhost/acme/base:1.0', 'localhost/acme/api:1.0', 'localhost/acme/worker:1.0']) {
      const inspect = JSON.parse((await p.podman([...where, 'image', 'inspect', name])).stdout)[0];
      expect(got.get(name)?.configDigest, name).toBe(`sha256:${inspect.Id}`);
      expect(got.get(name)?.layers, name).toEqual(inspect.RootFS.Layers);
    }
  });

  it('--storage-root and --storage-driver name the store too; a name it lacks is exit 2 naming it', async (ctx) => {
    const p = slot.get(ctx);
    const store = path.join(tmp, 'opts');
    const root = ['--storage-root', path.join(p.dir, 'root'), '--storage-driver', 'vfs'];
    const r = await runCliAsync(['--store', store, 'ingest', ...root, 'containers-storage:acme/base:1.0']);
    expect(r.code, r.stderr).toBe(0);
    const before = await snapshotStore(store);
    const miss = await runCliAsync(['--store', store, 'ingest', ...root, 'containers-storage:no/such:image']);
    expect(miss.code).toBe(2);
    expect(miss.stderr).toMatch(/has no image no\/such:image \[E_REF_NOT_FOUND\]/);
    const nowhere = await runCliAsync(['--store', store, 'ingest', `containers-storage:[vfs@${path.join(tmp, 'nothing')}]acme/base:1.0`]);
    expect(nowhere.code).toBe(2);
    expect(nowhere.stderr).toMatch(/cannot read the containers-storage store \(driver vfs, root .*nothing\): no vfs-images\/images\.json \[E_ENGINE\]/);
    expect(await snapshotStore(store)).toEqual(before);
  });

  it('report, report --files, diff and budget take containers-storage: images', async (ctx) => {
    slot.get(ctx);
    const store = path.join(tmp, 'cmds');
    const base = `containers-storage:${spec}acme/base:1.0`;
    const api = `containers-storage:${spec}acme/api:1.0`;
    const rep = await runCliAsync(['--store', store, 'report', api]);
    expect(rep.code, rep.stderr).toBe(0);
    expect(rep.stdout).toMatch(/localhost\/acme\/api:1\.0/);
    const files = await runCliAsync(['--store', store, 'report', '--files', '--json', api]);
    expect(files.code, files.stderr).toBe(0);
    const diff = await runCliAsync(['--store', store, 'diff', '--json', base, api]);
    expect(diff.code, diff.stderr).toBe(0);
    expect(JSON.stringify(JSON.parse(diff.stdout))).toMatch(/app\/api/);
    const ok = path.join(tmp, 'budget-ok.json');
    const tight = path.join(tmp, 'budget-tight.json');
    writeFileSync(ok, JSON.stringify({ budgets: [{ match: '*acme/api:*', maxSize: '1GB' }] }));
    writeFileSync(tight, JSON.stringify({ budgets: [{ match: '*acme/api:*', maxSize: '1KB' }] }));
    expect((await runCliAsync(['--store', store, 'budget', '--config', ok, api])).code).toBe(0);
    expect((await runCliAsync(['--store', store, 'budget', '--config', tight, api])).code).toBe(1);
  });

  it('a layer file changed in the storage dir (same size, then another size): exit 2 with one clear line, the store byte-identical', async (ctx) => {
    const p = slot.get(ctx);
    // A copy of podman's store, so the damage stays out of the shared one.
    const root = path.join(tmp, 'damaged-root');
    execFileSync('cp', ['-a', path.join(p.dir, 'root'), root]);
    const inspect = JSON.parse((await p.podman(['image', 'inspect', 'docker.io/acme/api:1.1'])).stdout)[0];
    const top = inspect.RootFS.Layers.at(-1) as string;
    const layers = JSON.parse(execFileSync('cat', [path.join(root, 'vfs-layers', 'layers.json')], { encoding: 'utf8' })) as Array<{
      id: string;
      'diff-digest': string;
    }>;
    const id = layers.find((l) => l['diff-digest'] === top)!.id;
    const version = path.join(root, 'vfs', 'dir', id, 'app', 'api', 'VERSION');
    expect(readdirSync(path.dirname(version))).toContain('VERSION');
    const store = path.join(tmp, 'damaged');
    expect(runCli(['--store', store, '-q', 'ingest', path.join(fx, 'family-legacy.tar')]).code).toBe(0);
    const before = await snapshotStore(store);
    const ref = `containers-storage:[vfs@${root}]docker.io/acme/api:1.1`;

    writeFileSync(version, '9.9.9\n'); // "1.1.0\n": the same size, other bytes
    const same = await runCliAsync(['--store', store, 'ingest', ref]);
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(new RegExp(`the bytes hash to sha256:[0-9a-f]{64}, but ${top} was claimed \\[E_DIGEST_MISMATCH\\]`));
    expect(await snapshotStore(store)).toEqual(before);

    writeFileSync(version, '9.9.9-longer\n');
    const longer = await runCliAsync(['--store', store, 'ingest', ref]);
    expect(longer.code).toBe(2);
    expect(longer.stderr).toMatch(
      /the layer's file "app\/api\/VERSION" changed after the layer was stored \(13 bytes, not 6\), so the layer cannot be rebuilt \[E_DIFFID_MISMATCH\]/,
    );
    expect(await snapshotStore(store)).toEqual(before);
  });
});
