/**
 * push finds cross-repository mounts itself: the store remembers, per registry, the
 * repository each blob was pushed to or pulled from, and a later push to another repository
 * asks the registry to mount from there instead of sending the bytes. Checked against
 * Debian's docker-registry 2.8 and layerstore's own serve, each behind a counting proxy on
 * 127.0.0.1 (the bytes the registry received), with skopeo reading the pushed image back.
 * A stale record (the blob deleted from the remembered repository) and a corrupt record
 * only cost an upload.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobFile, blobSize, runCli, sha256Of, show } from '../helpers/cli.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { HAVE_REGISTRY, HAVE_SKOPEO, layoutBlobHashes, rawRequest, runCliAsync, showTool, skopeo, startDockerRegistry, startServe } from './helpers.js';

let tmp: string;
let fx: string;
withFixtureTemp('ls-push-mounts-', (p) => ({ tmp, fx } = p));

/** A proxy that counts the request body bytes the registry behind it received. */
interface CountingProxy {
  host: string;
  received: () => number;
  close(): Promise<void>;
}
async function startCountingProxy(backendPort: number): Promise<CountingProxy> {
  let received = 0;
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: backendPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.on('data', (c: Buffer) => (received += c.length));
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    received: () => received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

interface Img {
  manifestDigest: string;
  configDigest: string;
  layers: string[];
}

const targets = [
  { name: 'docker-registry 2.8', ready: HAVE_REGISTRY && HAVE_SKOPEO },
  { name: 'layerstore serve --allow-push --allow-delete', ready: HAVE_SKOPEO },
];

describe.each(targets)('push mounts shared blobs itself: $name', ({ name, ready }) => {
  let src: string;
  let backend: { host: string; port: number; stop(): Promise<unknown> };
  let proxy: CountingProxy;
  let api: Img;
  let worker: Img;
  let base: string;
  let policy: string;
  const isServe = name.startsWith('layerstore');

  const json = (args: string[]): any => {
    const r = runCli(['--store', src, ...args, '--json']);
    expect(r.code, show(r)).toBe(0);
    return JSON.parse(r.stdout);
  };
  /** A push through the proxy: asynchronous, since the proxy runs in this process. */
  const push = async (args: string[], asJson = true): Promise<any> => {
    const r = await runCliAsync(['--store', src, 'push', ...args, ...(asJson ? ['--json'] : [])]);
    expect(r.code, showTool(r)).toBe(0);
    return asJson ? JSON.parse(r.stdout) : r.stdout;
  };
  const image = (ref: string): Img => json(['report', ref]).images.find((i: any) => i.refs.includes(ref));
  const bytesOf = (img: Img, except: string[] = []) =>
    [img.configDigest, ...img.layers].filter((d) => !except.includes(d)).reduce((n, d) => n + blobSize(src, d), 0);
  /** skopeo copies the pushed image out (digests preserved): every blob equals the store's. */
  const expectPullsBack = (repoTag: string, img: Img, tag: string) => {
    const ref = `docker://${backend.host}/${repoTag}`;
    const raw = Buffer.from(skopeo(['--policy', policy, 'inspect', '--raw', '--tls-verify=false', ref]), 'utf8');
    expect(sha256Of(raw)).toBe(img.manifestDigest);
    const out = path.join(tmp, `out-${tag}`);
    skopeo(['--policy', policy, 'copy', '--preserve-digests', '--src-tls-verify=false', ref, `oci:${out}:x`]);
    const hashes = layoutBlobHashes(out);
    expect([...hashes.keys()].sort()).toEqual([img.manifestDigest, img.configDigest, ...img.layers].sort());
    for (const [d, actual] of hashes) {
      expect(actual, d).toBe(d);
      expect(readFileSync(path.join(out, 'blobs', 'sha256', d.slice(7))).equals(readFileSync(blobFile(src, d))), d).toBe(true);
    }
  };

  beforeAll(async () => {
    if (!ready) return;
    const dir = path.join(tmp, isServe ? 'serve' : 'registry');
    src = path.join(dir, 'src');
    const r = runCli(['--store', src, '-q', 'ingest', path.join(fx, 'family-legacy.tar')]);
    expect(r.code, show(r)).toBe(0);
    policy = path.join(dir, 'policy.json');
    writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    backend = isServe ? await startServe(path.join(dir, 'target'), ['--allow-push', '--allow-delete']) : await startDockerRegistry(path.join(dir, 'reg'));
    proxy = await startCountingProxy(backend.port);
    api = image('acme/api:1.0');
    worker = image('acme/worker:1.0');
    const shared = worker.layers.filter((l) => api.layers.includes(l));
    expect(shared).toHaveLength(1); // the family's base layer
    base = shared[0]!;
  }, 90_000);
  afterAll(async () => {
    await Promise.all([proxy?.close(), backend?.stop()]);
  });

  it.skipIf(!ready)(
    'image B pushed to another repository mounts the base image A sent, without --mount-from: bytes not sent = the base, and B pulls back byte-identical',
    async () => {
      let before = proxy.received();
      const a = await push(['acme/api:1.0', `${proxy.host}/corp/api:1.0`]);
      expect(a.blobsSent).toBe(1 + api.layers.length);
      expect(a.bytesNotSent).toBe(0);
      expect(proxy.received() - before).toBeGreaterThanOrEqual(bytesOf(api));

      before = proxy.received();
      const b = await push(['acme/worker:1.0', `${proxy.host}/corp/slim-tools:1.0`]);
      const received = proxy.received() - before;
      expect(b.blobsMounted).toBe(1);
      expect(b.bytesMounted).toBe(blobSize(src, base));
      expect(b.mountedFrom).toEqual({ 'corp/api': 1 });
      expect(b.bytesNotSent).toBe(blobSize(src, base));
      expect(b.blobsSent).toBe(worker.layers.length); // config + the layers but the base
      expect(b.bytesSent).toBe(bytesOf(worker, [base]));
      // What reached the registry: the unshared blobs and the manifest, not the base.
      const manifestBytes = blobSize(src, worker.manifestDigest);
      expect(received).toBe(bytesOf(worker, [base]) + manifestBytes);
      expectPullsBack('corp/slim-tools:1.0', worker, `${isServe ? 's' : 'r'}-slim`);

      const text = await push(['acme/worker:1.0', `${proxy.host}/corp/other:1.0`], false);
      expect(text).toMatch(/mounted \d+ from corp\/slim-tools \([\d.]+ [kM]?B\); not sent [\d.]+ [kM]?B;/);
    },
  );

  it.skipIf(!ready)('a store that pulled an image mounts its blobs from the repository it pulled them from', async () => {
    const other = path.join(tmp, `${isServe ? 's' : 'r'}-puller`);
    const pulled = await runCliAsync(['--store', other, 'pull', `${proxy.host}/corp/api:1.0`]);
    expect(pulled.code, showTool(pulled)).toBe(0);
    const before = proxy.received();
    const r = await runCliAsync(['--store', other, 'push', `${proxy.host}/corp/api:1.0`, `${proxy.host}/pulled/copy:1.0`, '--json']);
    expect(r.code, showTool(r)).toBe(0);
    const b = JSON.parse(r.stdout);
    expect(b.mountedFrom).toEqual({ 'corp/api': 1 + api.layers.length });
    expect(b.blobsSent).toBe(0);
    expect(b.bytesNotSent).toBe(bytesOf(api));
    expect(proxy.received() - before).toBe(blobSize(src, api.manifestDigest)); // the manifest only
  });

  it.skipIf(!ready)('a stale record (the blob deleted from the repository it names) falls back to an upload, and the push succeeds', async () => {
    await push(['acme/api:1.0', `${proxy.host}/stale/from:1.0`]); // the record now names stale/from for every blob
    if (isServe) {
      // serve refuses to delete a blob a manifest uses: delete the manifest, so the repository no longer holds it.
      expect((await rawRequest(`http://${backend.host}/v2/stale/from/manifests/${api.manifestDigest}`, { method: 'DELETE' })).status).toBe(202);
    } else {
      expect((await rawRequest(`http://${backend.host}/v2/stale/from/blobs/${base}`, { method: 'DELETE' })).status).toBe(202);
    }
    const before = proxy.received();
    const b = await push(['acme/worker:1.0', `${proxy.host}/stale/to:1.0`]);
    // The base, remembered in stale/from, is uploaded; the worker's own blobs are still
    // mounted from where the first test pushed them.
    expect(b.blobsSent).toBe(1);
    expect(b.bytesSent).toBe(blobSize(src, base));
    expect(Object.keys(b.mountedFrom)).not.toContain('stale/from');
    expect(b.blobsMounted).toBe(worker.layers.length);
    expect(proxy.received() - before).toBe(blobSize(src, base) + blobSize(src, worker.manifestDigest));
    expectPullsBack('stale/to:1.0', worker, `${isServe ? 's' : 'r'}-stale`);
  });

  it.skipIf(!ready)('a corrupt record is as good as none: the push uploads and succeeds', async () => {
    const dir = path.join(src, '.layerstore', 'derived', 'registry-blobs');
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(0);
    for (const f of files) writeFileSync(path.join(dir, f), '{"version":1,"registry":"x","blobs":[["sha256:zz","a&b"]]');
    const b = await push(['acme/api:1.0', `${proxy.host}/corrupt/to:1.0`]);
    expect(b.blobsMounted).toBe(0);
    expect(b.blobsSent).toBe(1 + api.layers.length);
    expectPullsBack('corrupt/to:1.0', api, `${isServe ? 's' : 'r'}-corrupt`);
  });
});
