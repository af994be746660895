/**
 * `ingest docker-daemon:NAME` against real engines: a private dockerd (20.10) and podman's
 * Docker-compatible service, loaded with the fixture archives. What lands in the store must
 * be the image the engine holds (its config digest as `docker image inspect` says, its
 * layers' diffIDs), the same as ingesting the saved file; `docker-daemon:` alone takes every
 * image. Faults: no socket, an image the engine lacks, and an engine that dies mid-export
 * (a small broken one on a unix socket) are exit 2 with one line and leave the store as it was.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStoreImages, runCli, show, type StoreImage } from '../helpers/cli.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { runCliAsync } from '../registry/helpers.js';
import { engineSlot, skipWithoutEngine, startDockerd, startPodman, type Dockerd, type Podman } from '../helpers/engines.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';

const FILE = 'engines/docker-daemon.test.ts';
let tmp: string;
let fx: string;

withFixtureTemp('ls-docker-daemon-', (p) => ({ tmp, fx } = p));

const byRef = (imgs: StoreImage[]) => new Map(imgs.flatMap((i) => i.refs.map((r) => [r, i] as const)));

describe.skipIf(skipWithoutEngine('docker', FILE))('docker-daemon: with a private dockerd', () => {
  const slot = engineSlot<Dockerd>('dockerd');
  let fromFiles: Map<string, StoreImage>;

  beforeAll(async () => {
    await slot.start(startDockerd, async (d) => {
      for (const f of ['family-legacy.tar', 'api-v25.tar']) await d.docker(['load', '-i', path.join(fx, f)]);
    });
    const s = path.join(tmp, 'from-files');
    const r = runCli(['--store', s, '-q', 'ingest', path.join(fx, 'family-legacy.tar'), path.join(fx, 'api-v25.tar')]);
    expect(r.code, show(r)).toBe(0);
    fromFiles = byRef(readStoreImages(s));
  }, 120_000);
  afterAll(() => slot.stop());

  it('docker-daemon:acme/api:1.0 is the image the engine holds: its image ID, and the layers of the saved file', async (ctx) => {
    const d = slot.get(ctx);
    const store = path.join(tmp, 'one');
    const r = await runCliAsync(['--store', store, 'ingest', '--engine-socket', d.socket, 'docker-daemon:acme/api:1.0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^docker-daemon:acme\/api:1\.0: 1 image \(acme\/api:1\.0\)/);
    const got = byRef(readStoreImages(store)).get('acme/api:1.0')!;
    const inspect = JSON.parse((await d.docker(['image', 'inspect', 'acme/api:1.0'])).stdout)[0];
    expect(got.configDigest).toBe(inspect.Id);
    expect(got.configDigest).toBe(fromFiles.get('acme/api:1.0')!.configDigest);
    expect(got.layers).toEqual(fromFiles.get('acme/api:1.0')!.layers);
    expect(runCli(['--store', store, 'verify']).code).toBe(0);
  });

  it('DOCKER_HOST works as --engine-socket does; docker-daemon: alone takes every image of the engine', async (ctx) => {
    const d = slot.get(ctx);
    const store = path.join(tmp, 'all');
    const r = await runCliAsync(['--store', store, 'ingest', 'docker-daemon:'], { DOCKER_HOST: `unix://${d.socket}` });
    expect(r.code, r.stderr).toBe(0);
    const tags = JSON.parse((await d.api('/images/json')).body.toString()).flatMap((i: { RepoTags?: string[] }) => i.RepoTags ?? []);
    const got = byRef(readStoreImages(store));
    expect([...got.keys()].sort()).toEqual([...tags].sort());
    for (const [ref, img] of got) expect(img.configDigest, ref).toBe(fromFiles.get(ref)!.configDigest);
  });

  it('a name without a tag is NAME:latest, not every tag of the repository; diff refuses an argument naming several images', async (ctx) => {
    const d = slot.get(ctx);
    // acme/two:latest is acme/api:1.1; acme/two:old is acme/base:1.0 (untagged again after, for the other tests)
    await d.docker(['tag', 'acme/api:1.1', 'acme/two:latest']);
    await d.docker(['tag', 'acme/base:1.0', 'acme/two:old']);
    try {
      const store = path.join(tmp, 'latest');
      const env = { DOCKER_HOST: `unix://${d.socket}` };
      const r = await runCliAsync(['--store', store, 'diff', '--json', 'docker-daemon:acme/two', 'docker-daemon:acme/worker:1.0'], env);
      expect(r.code, r.stderr).toBe(0);
      const diff = JSON.parse(r.stdout) as { a: { refs: string[] }; b: { refs: string[] } };
      expect(diff.a.refs).toEqual(['acme/two:latest']);
      expect(diff.b.refs).toEqual(['acme/worker:1.0']);
      expect(byRef(readStoreImages(store)).has('acme/two:old')).toBe(false);
      // docker-daemon: alone is every image of the engine: not something diff can compare
      const many = await runCliAsync(['--store', store, 'diff', 'docker-daemon:', 'docker-daemon:acme/worker:1.0'], env);
      expect(many.code).toBe(2);
      expect(many.stderr).toMatch(/"docker-daemon:" names \d+ images; diff compares one image with one \[E_USAGE\]/);
    } finally {
      await d.docker(['rmi', 'acme/two:latest', 'acme/two:old']);
    }
  });

  it('an image the engine lacks: exit 2, E_REF_NOT_FOUND naming it, the store unchanged', async (ctx) => {
    const d = slot.get(ctx);
    const store = path.join(tmp, 'one');
    const before = await snapshotStore(store);
    const r = await runCliAsync(['--store', store, 'ingest', '--engine-socket', d.socket, 'docker-daemon:no/such:image']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has no image no\/such:image .*\[E_REF_NOT_FOUND\]/);
    expect(await snapshotStore(store)).toEqual(before);
  });
});

describe.skipIf(skipWithoutEngine('podman', FILE))('docker-daemon: with podman system service (the same API)', () => {
  const slot = engineSlot<Podman>('podman');
  beforeAll(async () => {
    await slot.start(startPodman, async (p) => {
      await p.podman(['load', '-i', path.join(fx, 'api-v25.tar')]);
    });
  }, 120_000);
  afterAll(() => slot.stop());

  it("ingests podman's export of an image through its Docker-compatible socket", async (ctx) => {
    const p = slot.get(ctx);
    const svc = await p.service();
    const store = path.join(tmp, 'podman');
    const r = await runCliAsync(['--store', store, 'ingest', '--engine-socket', svc.socket, 'docker-daemon:docker.io/acme/api:1.1']);
    expect(r.code, r.stderr).toBe(0);
    const imgs = readStoreImages(store);
    expect(imgs).toHaveLength(1);
    const id = JSON.parse((await p.podman(['image', 'inspect', 'docker.io/acme/api:1.1'])).stdout)[0].Id as string;
    expect(imgs[0]!.configDigest).toBe(`sha256:${id.replace(/^sha256:/, '')}`);
  });
});

describe('docker-daemon: faults', () => {
  it('report, report --files, diff and budget with an engine that cannot be reached: no store left behind, the error names the input', async () => {
    const env = { DOCKER_HOST: `unix://${path.join(tmp, 'nonexistent.sock')}` };
    const budget = path.join(tmp, 'budget-any.json');
    writeFileSync(budget, JSON.stringify({ budgets: [{ match: '*', maxSize: '1GB' }] }));
    const runs = [
      ['report', 'docker-daemon:x'],
      ['report', '--files', 'docker-daemon:x'],
      ['diff', 'docker-daemon:x', 'acme/api:1.0'],
      ['budget', '--config', budget, 'docker-daemon:x'],
    ];
    for (const [i, args] of runs.entries()) {
      const store = path.join(tmp, `unreachable-${i}`);
      const r = await runCliAsync(['--store', store, ...args], env);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr, args.join(' ')).toMatch(/^layerstore: error: docker-daemon:x: cannot reach the container engine at .*\[E_ENGINE\]$/m);
      expect(existsSync(store), args.join(' ')).toBe(false);
    }
  });

  it('no engine at the socket: exit 2, one E_ENGINE line naming it', async () => {
    const sock = path.join(tmp, 'nothing-here.sock');
    const store = path.join(tmp, 'no-engine');
    const r = await runCliAsync(['--store', store, 'ingest', '--engine-socket', sock, 'docker-daemon:acme/api:1.0']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      new RegExp(
        `^layerstore: error: docker-daemon:acme/api:1.0: cannot reach the container engine at ${sock.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: no such socket .*\\[E_ENGINE\\]$`,
        'm',
      ),
    );
  });

  it('a socket that answers something other than HTTP (an SSH banner, an HTTP/2 frame as gRPC sends): exit 2, E_ENGINE saying so', async () => {
    // HTTP/2 SETTINGS frame: what containerd's gRPC socket sends first
    for (const [i, greeting] of [Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])].entries()) {
      const sock = path.join(tmp, `not-http-${i}.sock`);
      const conns = new Set<net.Socket>();
      const server = net.createServer((c) => {
        conns.add(c);
        c.on('error', () => undefined); // the client hangs up on what it cannot parse
        c.end(greeting);
      });
      await new Promise<void>((r) => server.listen(sock, r));
      try {
        const store = path.join(tmp, 'not-http');
        const r = await runCliAsync(['--store', store, 'ingest', '--engine-socket', sock, 'docker-daemon:acme/api:1.0']);
        expect(r.code).toBe(2);
        expect(r.stderr).toMatch(/: something answers at .*, but not as a Docker Engine API \(not HTTP: HPE_\w+\) \[E_ENGINE\]$/m);
        expect(existsSync(store)).toBe(false);
      } finally {
        for (const c of conns) c.destroy();
        await new Promise((r) => server.close(r));
      }
    }
  });

  it('an engine that dies mid-export: exit 2, the store byte-identical, staging empty', async () => {
    // An engine that sends the first half of a real save, then drops the connection.
    const bytes = readFileSync(path.join(fx, 'family-legacy.tar'));
    const sock = path.join(tmp, 'dying.sock');
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/x-tar' });
      res.write(bytes.subarray(0, Math.floor(bytes.length / 2)), () => setTimeout(() => res.socket?.destroy(), 50));
    });
    await new Promise<void>((r) => server.listen(sock, r));
    try {
      const store = path.join(tmp, 'dying-store');
      expect(runCli(['--store', store, '-q', 'ingest', path.join(fx, 'api-v25.tar')]).code).toBe(0);
      const before = await snapshotStore(store);
      const r = await runCliAsync(['--store', store, 'ingest', '--engine-socket', sock, 'docker-daemon:acme/api:1.0']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/\[E_(TRUNCATED|IO)\]/);
      expect(await snapshotStore(store)).toEqual(before);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
