/**
 * serve --allow-push against clients that try to hurt it rather than push: a config too big
 * to parse, floods of upload sessions (file descriptors, per-client and total caps), two
 * writers on one session, internal errors that would show store paths, web pages that try
 * to push cross-origin, names over the spec's length, multi-range reads, and password
 * guessing. Each test states the limit it proves; servers listen on 127.0.0.1 only and every
 * loop is bounded.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobSize, listBlobs, readStoreImages, runCli, show } from '../helpers/cli.js';
import { digestOf, imageDocs } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { basic, errorCodes, makeHtpasswd, rawRequest, startServe, uploadBlob, type RawResponse, type Serve } from './helpers.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';

let tmp: string;
let fx: string;

withFixtureTemp('ls-hostile-', (p) => ({ tmp, fx } = p));

/** One request from a chosen loopback source address (127.0.0.N), so tests can be several clients. */
function requestFrom(
  localAddress: string,
  url: string,
  opts: { method?: string; headers?: Record<string, string | number>; body?: Buffer } = {},
): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: Number(u.port), method: opts.method ?? 'GET', path: u.pathname + u.search, headers: opts.headers, localAddress, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout: ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

const postSession = (srv: Serve, repo: string, from = '127.0.0.1', headers: Record<string, string | number> = {}) =>
  requestFrom(from, `${srv.url}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': 0, ...headers } });

const openFds = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

/** An uncompressed one-file layer, an image config naming it (padded to `padTo` bytes), and an OCI manifest. */
function image(padTo = 0, configOverride?: Buffer) {
  const layer = rawTar([{ name: 'hello.txt', body: randomBytes(2000) }]);
  const { config, manifest } = imageDocs(layer, { config: configOverride, configExtra: padTo ? { pad: 'x'.repeat(padTo) } : {} });
  return { layer, config, manifest };
}

describe('serve --allow-push: what one client can do to the server', () => {
  let store: string;
  let srv: Serve;

  beforeAll(async () => {
    store = path.join(tmp, 'push');
    const r = runCli(['--store', store, '-q', 'ingest', path.join(fx, 'family-legacy.tar')]);
    expect(r.code, show(r)).toBe(0);
    srv = await startServe(store, ['--allow-push']);
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
  });

  const alive = async () => expect((await rawRequest(`${srv.url}/v2/`)).status).toBe(200);

  it('a config over 4 MiB is refused with 400 MANIFEST_INVALID before it is parsed, though its diff_ids are right; the server goes on', async () => {
    const img = image(5 * 1024 * 1024);
    for (const b of [img.layer, img.config]) expect(await uploadBlob(srv.url, 'big/config', b)).toBe(201);
    const put = await rawRequest(`${srv.url}/v2/big/config/manifests/v1`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: img.manifest,
    });
    expect(put.status, put.body.toString()).toBe(400);
    expect(errorCodes(put.body)).toEqual(['MANIFEST_INVALID']);
    expect(put.body.toString()).toMatch(/limited to 4194304 bytes/);
    expect(readStoreImages(store).flatMap((i) => i.refs)).not.toContain('big/config:v1');
    await alive();
  });

  it('a config that is not JSON is 400 MANIFEST_INVALID, not a 500', async () => {
    const img = image(0, Buffer.from('this is not json at all'));
    for (const b of [img.layer, img.config]) expect(await uploadBlob(srv.url, 'bad/config', b)).toBe(201);
    const put = await rawRequest(`${srv.url}/v2/bad/config/manifests/v1`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
      body: img.manifest,
    });
    expect(put.status, put.body.toString()).toBe(400);
    expect(errorCodes(put.body)).toEqual(['MANIFEST_INVALID']);
    await alive();
  });

  it('upload sessions hold no file descriptor while they wait: 40 open sessions add no descriptors to the server', async () => {
    const before = openFds(srv.proc.pid!);
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await postSession(srv, 'fd/flood', '127.0.0.3');
      expect(r.status).toBe(202);
      ids.push(String(r.headers.location));
    }
    expect(openFds(srv.proc.pid!) - before).toBeLessThan(5);
    for (const loc of ids) await requestFrom('127.0.0.3', `${srv.url}${loc}`, { method: 'DELETE' });
  });

  it('a client gets at most 64 open sessions (then 429 TOOMANYREQUESTS), and other clients are not affected', async () => {
    const locs: string[] = [];
    for (let i = 0; i < 64; i++) {
      const r = await postSession(srv, 'cap/client', '127.0.0.4');
      expect(r.status, `session ${i}`).toBe(202);
      locs.push(String(r.headers.location));
    }
    const over = await postSession(srv, 'cap/client', '127.0.0.4');
    expect(over.status).toBe(429);
    expect(errorCodes(over.body)).toEqual(['TOOMANYREQUESTS']);
    expect((await postSession(srv, 'cap/client', '127.0.0.5')).status).toBe(202);
    // Finishing one makes room again.
    expect((await requestFrom('127.0.0.4', `${srv.url}${locs.pop()}`, { method: 'DELETE' })).status).toBe(204);
    expect((await postSession(srv, 'cap/client', '127.0.0.4')).status).toBe(202);
  });

  it("an internal error answers 500 without the store's path (the server logs it)", async () => {
    // A store whose staging directory is not a directory: opening a staging file fails inside the server.
    const fresh = path.join(tmp, 'broken-staging');
    const r = runCli(['--store', fresh, '-q', 'ingest', path.join(fx, 'api-v25.tar')]);
    expect(r.code, show(r)).toBe(0);
    const s = await startServe(fresh, ['--allow-push']);
    try {
      const staging = path.join(fresh, '.layerstore', 'staging');
      rmSync(staging, { recursive: true, force: true });
      writeFileSync(staging, 'not a directory');
      const res = await postSession(s, 'any/repo');
      expect(res.status).toBe(500);
      expect(res.body.toString()).not.toContain(fresh);
      expect(res.body.toString()).not.toContain(tmpdir());
      expect(s.stderr()).toContain(fresh); // the operator still sees what happened
    } finally {
      await s.stop();
    }
  });

  it('a web page cannot push: writes carrying a foreign Origin or Sec-Fetch-Site: cross-site are 403 DENIED and store nothing', async () => {
    const bytes = randomBytes(1000);
    const d = digestOf(bytes);
    const blobs = listBlobs(store);
    const foreign: Array<Record<string, string>> = [
      { Origin: 'http://evil.example' },
      { 'Sec-Fetch-Site': 'cross-site' },
      { Origin: 'null' },
      { 'Sec-Fetch-Site': 'same-site' },
    ];
    for (const headers of foreign) {
      const r = await rawRequest(`${srv.url}/v2/web/page/blobs/uploads/?digest=${d}`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain', 'Content-Length': bytes.length, ...headers },
        body: bytes,
      });
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(errorCodes(r.body)).toEqual(['DENIED']);
    }
    expect(listBlobs(store)).toEqual(blobs);
    // The same request from this registry's own origin, or from a client that sends neither (docker, skopeo), works.
    const same = await rawRequest(`${srv.url}/v2/web/page/blobs/uploads/?digest=${d}`, {
      method: 'POST',
      headers: { Origin: srv.url, 'Content-Length': bytes.length },
      body: bytes,
    });
    expect(same.status, same.body.toString()).toBe(201);
  });

  it('DNS rebinding: a loopback serve answers no request addressed to a foreign host name, read or write', async () => {
    // A page at http://evil.example:PORT whose name was re-pointed at 127.0.0.1 is its own
    // origin there (Origin and Host agree, Sec-Fetch-Site: same-origin): only Host tells.
    const bytes = randomBytes(1000);
    const d = digestOf(bytes);
    const blobs = listBlobs(store);
    const evil = `evil.example:${srv.port}`;
    const rebound = { Host: evil, Origin: `http://${evil}`, 'Sec-Fetch-Site': 'same-origin' };
    const w = await rawRequest(`${srv.url}/v2/web/rebind/blobs/uploads/?digest=${d}`, {
      method: 'POST',
      headers: { ...rebound, 'Content-Length': bytes.length },
      body: bytes,
    });
    expect(w.status, w.body.toString()).toBe(403);
    expect(errorCodes(w.body)).toEqual(['DENIED']);
    for (const p of ['/v2/', '/v2/_catalog', '/api/repositories', '/']) {
      const r = await rawRequest(`${srv.url}${p}`, { headers: { Host: evil } });
      expect(r.status, `GET ${p} with Host ${evil}`).toBe(403);
    }
    expect(listBlobs(store)).toEqual(blobs);
    // The names a registry client on this machine uses still work.
    for (const host of [
      `localhost:${srv.port}`,
      `127.0.0.1:${srv.port}`,
      `127.1.2.3:${srv.port}`,
      `registry.localhost:${srv.port}`,
      `${hostname()}:${srv.port}`,
      'LOCALHOST',
      `10.1.2.3:${srv.port}`, // an address: no name to rebind
      `[::1]:${srv.port}`,
    ]) {
      const r = await rawRequest(`${srv.url}/v2/`, { headers: { Host: host } });
      expect(r.status, `GET /v2/ with Host ${host}`).toBe(200);
    }
    // A reverse proxy that passes its own name on: let in by --allowed-host, and only that name.
    const proxied = await startServe(store, ['--allowed-host', 'registry.example']);
    try {
      expect((await rawRequest(`${proxied.url}/v2/`, { headers: { Host: 'registry.example' } })).status).toBe(200);
      expect((await rawRequest(`${proxied.url}/v2/`, { headers: { Host: 'evil.example' } })).status).toBe(403);
    } finally {
      await proxied.stop();
    }
  });

  it("two PATCHes at once on one session: the second is 416 and the first one's bytes are the blob", async () => {
    const start = await postSession(srv, 'two/writers');
    const loc = String(start.headers.location);
    const part1 = randomBytes(100_000);
    const part2 = randomBytes(50_000);
    // The first PATCH sends half its body and waits; the second arrives meanwhile.
    const first = new Promise<RawResponse>((resolve, reject) => {
      const req = http.request(
        {
          host: '127.0.0.1',
          port: srv.port,
          method: 'PATCH',
          path: loc,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': part1.length },
          agent: false,
        },
        (res) => {
          const c: Buffer[] = [];
          res.on('data', (x: Buffer) => c.push(x));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(c) }));
        },
      );
      req.on('error', reject);
      req.write(part1.subarray(0, 50_000));
      setTimeout(async () => {
        const second = await rawRequest(`${srv.url}${loc}`, {
          method: 'PATCH',
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': part2.length },
          body: part2,
        });
        expect(second.status, second.body.toString()).toBe(416);
        req.end(part1.subarray(50_000));
      }, 300);
    });
    const r1 = await first;
    expect(r1.status).toBe(202);
    const put = await rawRequest(`${srv.url}${String(r1.headers.location)}?digest=${digestOf(part1)}`, { method: 'PUT', headers: { 'Content-Length': 0 } });
    expect(put.status, put.body.toString()).toBe(201);
    const get = await rawRequest(`${srv.url}/v2/two/writers/blobs/${digestOf(part1)}`);
    expect(get.body.equals(part1)).toBe(true);
  });

  it('at most 1024 sessions are open in all: the next client, with none of its own, gets 429', async () => {
    // A server of its own: filling it up must not starve the other tests.
    const own = await startServe(store, ['--allow-push']);
    try {
      let needed = 1024;
      for (let n = 10; needed > 0; n++) {
        for (let i = 0; i < 64 && needed > 0; i++, needed--) expect((await postSession(own, 'cap/total', `127.0.0.${n}`)).status).toBe(202);
      }
      const over = await postSession(own, 'cap/total', '127.0.1.1');
      expect(over.status).toBe(429);
      expect(errorCodes(over.body)).toEqual(['TOOMANYREQUESTS']);
      expect((await rawRequest(`${own.url}/v2/`)).status).toBe(200);
    } finally {
      await own.stop();
    }
  });

  it('a repository name over 255 characters is 400 NAME_INVALID, for reads and writes', async () => {
    const long = Array.from({ length: 26 }, () => 'abcdefghi').join('/'); // 259 characters, each part valid
    expect(long.length).toBeGreaterThan(255);
    const get = await rawRequest(`${srv.url}/v2/${long}/tags/list`);
    expect(get.status).toBe(400);
    expect(errorCodes(get.body)).toEqual(['NAME_INVALID']);
    const post = await postSession(srv, long);
    expect(post.status).toBe(400);
    expect(errorCodes(post.body)).toEqual(['NAME_INVALID']);
  });

  it('a multi-range blob request is answered whole (200), not 416', async () => {
    const img = readStoreImages(store).find((i) => i.refs.includes('acme/base:1.0'))!;
    const layer = img.layers[0]!;
    const r = await rawRequest(`${srv.url}/v2/acme/base/blobs/${layer}`, { headers: { Range: 'bytes=0-9,20-29' } });
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(blobSize(store, layer));
    expect(digestOf(r.body)).toBe(layer);
  });
});

describe('serve --htpasswd: guessing passwords', () => {
  let srv: Serve;
  const good = basic('alice', 'right-password');

  beforeAll(async () => {
    const store = path.join(tmp, 'auth');
    const r = runCli(['--store', store, '-q', 'ingest', path.join(fx, 'api-v25.tar')]);
    expect(r.code, show(r)).toBe(0);
    mkdirSync(path.join(tmp, 'htp'), { recursive: true });
    const file = path.join(tmp, 'htp', 'htpasswd');
    makeHtpasswd(file, [['alice', 'right-password']]);
    srv = await startServe(store, ['--htpasswd', file]);
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
  });

  it('after 10 failed logins an address gets 429 TOOMANYREQUESTS with Retry-After, while a client that logged in before keeps working', async () => {
    const ok = await requestFrom('127.0.0.20', `${srv.url}/v2/`, { headers: { Authorization: good } });
    expect(ok.status).toBe(200);
    const statuses: number[] = [];
    for (let i = 0; i < 14; i++) {
      const r = await requestFrom('127.0.0.20', `${srv.url}/v2/`, { headers: { Authorization: basic('alice', `guess-${i}`) } });
      statuses.push(r.status);
      if (r.status === 429) {
        expect(errorCodes(r.body)).toEqual(['TOOMANYREQUESTS']);
        expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      }
    }
    expect(statuses).toEqual([...Array(10).fill(401), ...Array(4).fill(429)]);
    // The same address, with the credentials that passed: still 200. Another address: unaffected.
    expect((await requestFrom('127.0.0.20', `${srv.url}/v2/`, { headers: { Authorization: good } })).status).toBe(200);
    expect((await requestFrom('127.0.0.21', `${srv.url}/v2/`, { headers: { Authorization: basic('alice', 'wrong') } })).status).toBe(401);
    expect((await requestFrom('127.0.0.21', `${srv.url}/v2/`, { headers: { Authorization: good } })).status).toBe(200);
  });

  it('an unknown user counts as a failed login like a wrong password (no probing names for free)', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 11; i++)
      statuses.push((await requestFrom('127.0.0.22', `${srv.url}/v2/`, { headers: { Authorization: basic('nobody', `x${i}`) } })).status);
    expect(statuses).toEqual([...Array(10).fill(401), 429]);
  });

  it('guessing names as well: after 100 failed logins to any users an address gets 429', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 101; i++)
      statuses.push((await requestFrom('127.0.0.23', `${srv.url}/v2/`, { headers: { Authorization: basic(`user-${i}`, 'x') } })).status);
    expect(statuses).toEqual([...Array(100).fill(401), 429]);
    expect((await requestFrom('127.0.0.24', `${srv.url}/v2/`, { headers: { Authorization: good } })).status).toBe(200);
  });

  it('malformed Authorization headers are 401 and cost no budget (no bcrypt check runs for them)', async () => {
    for (let i = 0; i < 15; i++) expect((await requestFrom('127.0.0.25', `${srv.url}/v2/`, { headers: { Authorization: `Basic !!${i}` } })).status).toBe(401);
    expect((await requestFrom('127.0.0.25', `${srv.url}/v2/`, { headers: { Authorization: good } })).status).toBe(200);
  });
});
