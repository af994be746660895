/**
 * serve --allow-push under bad clients: a client that drops the connection mid-upload, wrong
 * digests, manifests naming missing blobs, oversized manifests, pushes to a read-only server,
 * invalid repository names, and uploads swept by gc (gc racing pushes: gc-race.test.ts). Each check looks at the store's files directly (blobs/sha256, staging,
 * index.json), not only at what the server answers. Servers listen on 127.0.0.1 only.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { badBlobs, blobFile, ensureBuilt, listBlobs, readStoreImages, runCli, show } from '../helpers/cli.js';
import { REGCLIENT_TESTREPO, errorCodes, MANIFEST_ACCEPT, rawRequest, sha256Hex, startServe, uploadBlob, type Serve } from './helpers.js';
import { digestOf } from '../helpers/hand-bytes.js';

let tmp: string;
let fx: string;
const p = (...x: string[]) => path.join(tmp, ...x);
const ok = (store: string, args: string[]) => {
  const r = runCli(['--store', store, ...args]);
  expect(r.code, show(r)).toBe(0);
  return r;
};
const staging = (store: string) => {
  const d = path.join(store, '.layerstore', 'staging');
  return existsSync(d) ? readdirSync(d).sort() : [];
};

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-reg-robust-'));
  fx = p('fx');
  await generateFixtures(fx);
}, 60_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** One platform's image of the regclient test repository (ref v2): manifest bytes and its blobs. */
function regclientImage(arch: string) {
  const blob = (d: string) => readFileSync(path.join(REGCLIENT_TESTREPO, 'blobs', 'sha256', d.replace(/^sha256:/, '')));
  const top = JSON.parse(readFileSync(path.join(REGCLIENT_TESTREPO, 'index.json'), 'utf8')).manifests.find(
    (m: any) => m.annotations?.['org.opencontainers.image.ref.name'] === 'v2',
  );
  const child = JSON.parse(blob(top.digest).toString('utf8')).manifests.find((c: any) => c.platform.architecture === arch);
  const manifest = blob(child.digest);
  const m = JSON.parse(manifest.toString('utf8'));
  return {
    digest: child.digest as string,
    manifest,
    mediaType: m.mediaType as string,
    doc: m,
    blobs: [m.config.digest, ...m.layers.map((l: any) => l.digest)].map((d: string) => ({ digest: d, bytes: blob(d) })),
  };
}

// ---------------------------------------------------------------------------------------------

describe('a client that disconnects mid-upload', () => {
  it('leaves nothing visible, the server keeps serving, and staging is empty once the server stops', async () => {
    const store = p('disconnect');
    ok(store, ['ingest', path.join(fx, 'family-legacy.tar')]);
    const before = listBlobs(store);
    const indexBefore = readFileSync(path.join(store, 'index.json'));
    const srv = await startServe(store, ['--allow-push']);
    let stopped = false;
    try {
      const start = await rawRequest(`${srv.url}/v2/acme/api/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': 0 } });
      expect(start.status).toBe(202);
      const loc = new URL(String(start.headers.location), srv.url);
      const first = randomBytes(1 << 20);

      // PATCH announcing 10 MiB, send 1 MiB, then drop the socket.
      await new Promise<void>((resolve) => {
        const req = http.request({
          host: '127.0.0.1',
          port: srv.port,
          method: 'PATCH',
          path: loc.pathname + loc.search,
          headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': 10 << 20 },
          agent: false,
        });
        req.on('error', () => resolve()); // the destroy below
        req.on('response', () => resolve());
        req.write(first, () => {
          // Give the server time to take the first megabyte into its staging file.
          setTimeout(() => {
            req.destroy();
            resolve();
          }, 400);
        });
      });

      // Within a bounded wait, the partial file is gone from staging.
      let partials: string[] = [];
      for (let i = 0; i < 50; i++) {
        partials = staging(store).filter((n) => !n.endsWith('.pin'));
        if (partials.length === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(partials, 'partial upload files left in staging').toEqual([]);
      expect(listBlobs(store)).toEqual(before);
      expect(existsSync(blobFile(store, digestOf(first)))).toBe(false);
      expect(readFileSync(path.join(store, 'index.json')).equals(indexBefore)).toBe(true);

      // The session is gone; the server answers as before; a new upload works.
      const status = await rawRequest(`${srv.url}${loc.pathname}`);
      expect(status.status).toBe(404);
      expect(errorCodes(status.body)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
      expect((await rawRequest(`${srv.url}/v2/`)).status).toBe(200);
      expect((await rawRequest(`${srv.url}/v2/acme/api/tags/list`)).status).toBe(200);
      const small = randomBytes(4096);
      expect(await uploadBlob(srv.url, 'acme/api', small)).toBe(201);
      expect((await rawRequest(`${srv.url}/v2/acme/api/blobs/${digestOf(small)}`, { method: 'HEAD' })).status).toBe(200);

      const end = await srv.stop();
      stopped = true;
      expect(end.code, srv.stderr()).toBe(0);
      expect(staging(store), 'staging after the server stopped').toEqual([]);
      // nothing of the dropped upload ever became a blob
      expect(listBlobs(store).filter((n) => !before.includes(n))).toEqual([sha256Hex(small)]);
      expect(badBlobs(store)).toEqual([]);
      const v = runCli(['--store', store, 'verify']);
      expect(v.code, show(v)).toBe(0);
    } finally {
      if (!stopped) await srv.stop();
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe("serve --allow-push refuses bad input with the spec's errors and commits nothing", () => {
  let store: string;
  let srv: Serve;
  let ro: Serve;

  beforeAll(async () => {
    store = p('refuse');
    ok(store, ['ingest', path.join(fx, 'family-legacy.tar')]);
    [srv, ro] = await Promise.all([startServe(store, ['--allow-push']), startServe(store)]);
  }, 60_000);
  afterAll(async () => {
    await Promise.all([srv?.stop(), ro?.stop()]);
  });

  const snapshot = () => ({ blobs: listBlobs(store), index: readFileSync(path.join(store, 'index.json')) });
  const unchanged = (s: { blobs: string[]; index: Buffer }) => {
    expect(listBlobs(store)).toEqual(s.blobs);
    expect(readFileSync(path.join(store, 'index.json')).equals(s.index)).toBe(true);
    expect(staging(store).filter((n) => !n.endsWith('.pin'))).toEqual([]);
  };

  it('PUT ?digest= with a digest the bytes do not have: 400 DIGEST_INVALID, no blob under either digest', async () => {
    const s = snapshot();
    const bytes = randomBytes(50_000);
    const claimed = digestOf(randomBytes(32));
    const start = await rawRequest(`${srv.url}/v2/acme/api/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': 0 } });
    expect(start.status).toBe(202);
    const loc = new URL(String(start.headers.location), srv.url);
    const put = await rawRequest(`${srv.url}${loc.pathname}?digest=${claimed}`, {
      method: 'PUT',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length },
      body: bytes,
    });
    expect(put.status).toBe(400);
    expect(errorCodes(put.body)).toEqual(['DIGEST_INVALID']);
    // monolithic POST ?digest= too
    const mono = await rawRequest(`${srv.url}/v2/acme/api/blobs/uploads/?digest=${claimed}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length },
      body: bytes,
    });
    expect(mono.status).toBe(400);
    expect(errorCodes(mono.body)).toEqual(['DIGEST_INVALID']);
    // chunked: two PATCHes, then a PUT with the wrong digest
    const start2 = await rawRequest(`${srv.url}/v2/acme/api/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': 0 } });
    const loc2 = new URL(String(start2.headers.location), srv.url);
    const half = bytes.length / 2;
    const p1 = await rawRequest(`${srv.url}${loc2.pathname}`, {
      method: 'PATCH',
      headers: { 'Content-Range': `0-${half - 1}`, 'Content-Length': half },
      body: bytes.subarray(0, half),
    });
    expect(p1.status).toBe(202);
    const p2 = await rawRequest(`${srv.url}${loc2.pathname}`, {
      method: 'PATCH',
      headers: { 'Content-Range': `${half}-${bytes.length - 1}`, 'Content-Length': half },
      body: bytes.subarray(half),
    });
    expect(p2.status).toBe(202);
    expect(p2.headers.range).toBe(`0-${bytes.length - 1}`);
    const fin = await rawRequest(`${srv.url}${loc2.pathname}?digest=${claimed}`, { method: 'PUT', headers: { 'Content-Length': 0 } });
    expect(fin.status).toBe(400);
    expect(errorCodes(fin.body)).toEqual(['DIGEST_INVALID']);
    unchanged(s);
    expect(existsSync(blobFile(store, digestOf(bytes)))).toBe(false);
    expect(existsSync(blobFile(store, claimed))).toBe(false);
    expect((await rawRequest(`${srv.url}/v2/acme/api/blobs/${digestOf(bytes)}`, { method: 'HEAD' })).status).toBe(404);
  });

  it('upload sessions: a chunk at the wrong offset is 416; a session is bound to its repository; a cancelled one is gone', async () => {
    const s = snapshot();
    const start = await rawRequest(`${srv.url}/v2/acme/api/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': 0 } });
    expect(start.status).toBe(202);
    const loc = new URL(String(start.headers.location), srv.url).pathname;
    const data = randomBytes(1000);
    const wrong = await rawRequest(`${srv.url}${loc}`, {
      method: 'PATCH',
      headers: { 'Content-Range': '100-199', 'Content-Length': 100 },
      body: data.subarray(100, 200),
    });
    expect(wrong.status).toBe(416);
    expect(errorCodes(wrong.body)).toEqual(['BLOB_UPLOAD_INVALID']);
    // the session is still at 0 and takes the right chunk
    const status = await rawRequest(`${srv.url}${loc}`);
    expect(status.status).toBe(204);
    expect(status.headers.range).toBe('0-0');
    const right = await rawRequest(`${srv.url}${loc}`, { method: 'PATCH', headers: { 'Content-Range': '0-999', 'Content-Length': 1000 }, body: data });
    expect(right.status).toBe(202);
    // the same session id under another repository is unknown
    const other = loc.replace('/v2/acme/api/', '/v2/acme/worker/');
    const cross = await rawRequest(`${srv.url}${other}?digest=${digestOf(data)}`, { method: 'PUT', headers: { 'Content-Length': 0 } });
    expect(cross.status).toBe(404);
    expect(errorCodes(cross.body)).toEqual(['BLOB_UPLOAD_UNKNOWN']);
    // cancel: DELETE, then the session is gone and nothing was committed
    expect((await rawRequest(`${srv.url}${loc}`, { method: 'DELETE' })).status).toBe(204);
    expect((await rawRequest(`${srv.url}${loc}`)).status).toBe(404);
    unchanged(s);
    expect(existsSync(blobFile(store, digestOf(data)))).toBe(false);
  });

  it('a manifest naming a blob the registry lacks: 400 MANIFEST_BLOB_UNKNOWN naming it, nothing committed', async () => {
    const s = snapshot();
    const img = readStoreImages(store).find((i) => i.refs.includes('acme/api:1.0'))!;
    const doc = JSON.parse(readFileSync(blobFile(store, img.manifestDigest), 'utf8'));
    const missing = digestOf(randomBytes(64));
    for (const mutate of [(d: any) => (d.layers[1].digest = missing), (d: any) => (d.config.digest = missing)]) {
      const m = structuredClone(doc);
      mutate(m);
      const body = Buffer.from(JSON.stringify(m));
      const put = await rawRequest(`${srv.url}/v2/acme/api/manifests/broken`, { method: 'PUT', headers: { 'Content-Type': m.mediaType }, body });
      expect(put.status, put.body.toString()).toBe(400);
      expect(errorCodes(put.body)).toEqual(['MANIFEST_BLOB_UNKNOWN']);
      expect(put.body.toString()).toContain(missing);
      expect((await rawRequest(`${srv.url}/v2/acme/api/manifests/broken`, { headers: { Accept: MANIFEST_ACCEPT } })).status).toBe(404);
      expect((await rawRequest(`${srv.url}/v2/acme/api/manifests/${digestOf(body)}`, { headers: { Accept: MANIFEST_ACCEPT } })).status).toBe(404);
    }
    unchanged(s);
  });

  /**
   * Send a request on a raw socket (headers, then the body in 64 KiB writes) and read the
   * answer while sending, as curl and Go's client do: a server may answer an oversized body
   * before reading it all, then close. Stops writing once an answer arrives. Resolves with the
   * status and body of the answer, or status 0 when none came.
   */
  const exchange = (head: string, body: Buffer, chunked: boolean) =>
    new Promise<{ status: number; body: string; raw: string }>((resolve) => {
      const sock = net.connect(srv.port, '127.0.0.1');
      let got = '';
      let off = 0;
      const finish = () => {
        const m = /^HTTP\/1\.1 (\d{3})/.exec(got);
        const i = got.indexOf('\r\n\r\n');
        resolve({ status: m ? Number(m[1]) : 0, body: i >= 0 ? got.slice(i + 4) : '', raw: got.slice(0, 300) });
      };
      const timer = setTimeout(() => sock.destroy(), 30_000);
      sock.setEncoding('utf8');
      sock.on('data', (c: string) => (got += c));
      sock.on('error', () => {});
      sock.on('close', () => {
        clearTimeout(timer);
        finish();
      });
      sock.write(head);
      const pump = () => {
        while (off < body.length) {
          if (got) return void sock.end();
          const piece = body.subarray(off, off + 65536);
          off += piece.length;
          const framed = chunked ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')]) : piece;
          if (!sock.write(framed)) return void sock.once('drain', pump);
        }
        if (chunked) sock.write('0\r\n\r\n');
        // wait for the answer, then close our side
        const wait = setInterval(() => {
          if (/\r\n\r\n/.test(got)) {
            clearInterval(wait);
            setTimeout(() => sock.end(), 100);
          }
        }, 20);
        sock.on('close', () => clearInterval(wait));
      };
      pump();
    });

  it('a manifest over 4 MiB: 413 SIZE_INVALID, with or without Content-Length; nothing committed; the server goes on', async () => {
    const s = snapshot();
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","annotations":{"x":"').copy(big);
    const ct = 'application/vnd.oci.image.manifest.v1+json';
    for (const [chunked, close] of [
      [false, false],
      [true, false],
      [true, true],
    ] as Array<[boolean, boolean]>) {
      const label = `${chunked ? 'chunked' : 'Content-Length'}${close ? ', Connection: close' : ''}`;
      const head = `PUT /v2/acme/api/manifests/huge HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: ${ct}\r\n${chunked ? 'Transfer-Encoding: chunked' : `Content-Length: ${big.length}`}\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
      const r = await exchange(head, big, chunked);
      expect(r.status, `${label}: ${r.raw}`).toBe(413);
      expect(errorCodes(Buffer.from(r.body.replace(/^[0-9a-f]+\r\n/, ''))), `${label}: ${r.body}`).toEqual(['SIZE_INVALID']);
    }
    unchanged(s);
    expect((await rawRequest(`${srv.url}/v2/`)).status).toBe(200);
    // exactly at the limit is not refused for its size (it is refused as invalid JSON instead)
    const atLimit = Buffer.alloc(4 * 1024 * 1024, 0x20);
    const r = await rawRequest(`${srv.url}/v2/acme/api/manifests/huge`, {
      method: 'PUT',
      headers: { 'Content-Type': ct, 'Content-Length': atLimit.length },
      body: atLimit,
    });
    expect(r.status).toBe(400);
    expect(errorCodes(r.body)).toEqual(['MANIFEST_INVALID']);
    unchanged(s);
  });

  it('a manifest over 4 MiB from a client that sends Connection: close and the whole body before reading (node:http without an agent): it still gets the 413', async () => {
    // The server answers before reading the body, then closes; bytes still arriving at a
    // closed socket make the kernel send RST, which discards the 413 the client has not read
    // yet, so the client sees EPIPE/ECONNRESET instead of an answer.
    const big = Buffer.alloc(4 * 1024 * 1024 + 1, 0x20);
    const outcomes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await rawRequest(`${srv.url}/v2/acme/api/manifests/huge`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': big.length },
        body: big,
      }).then(
        (x) => `${x.status} ${errorCodes(x.body).join(',')}`,
        (e: Error) => `connection error: ${e.message}`,
      );
      outcomes.push(r);
    }
    expect(outcomes).toEqual(['413 SIZE_INVALID', '413 SIZE_INVALID', '413 SIZE_INVALID']);
    expect((await rawRequest(`${srv.url}/v2/`)).status).toBe(200);
  });

  it('a push to a read-only serve: 405 UNSUPPORTED for every write; our push exits 2 saying so', async () => {
    const s = snapshot();
    const writes: Array<[string, string, Buffer?]> = [
      ['POST', '/v2/acme/api/blobs/uploads/'],
      ['POST', `/v2/acme/api/blobs/uploads/?digest=${digestOf(Buffer.from('x'))}`, Buffer.from('x')],
      ['PATCH', '/v2/acme/api/blobs/uploads/some-id', Buffer.from('x')],
      ['PUT', '/v2/acme/api/blobs/uploads/some-id?digest=sha256:' + '0'.repeat(64), Buffer.from('x')],
      ['PUT', '/v2/acme/api/manifests/1.0', readFileSync(blobFile(store, readStoreImages(store)[0]!.manifestDigest))],
      ['DELETE', '/v2/acme/api/manifests/1.0'],
    ];
    for (const [method, url, body] of writes) {
      const r = await rawRequest(`${ro.url}${url}`, {
        method,
        headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': body?.length ?? 0 },
        body,
      });
      expect(r.status, `${method} ${url}`).toBe(405);
      expect(errorCodes(r.body), `${method} ${url}`).toEqual(['UNSUPPORTED']);
    }
    const src = p('ro-src');
    ok(src, ['ingest', path.join(fx, 'api-v25.tar')]);
    const push = runCli(['--store', src, 'push', 'acme/api:1.1', `${ro.host}/acme/api:1.1`]);
    expect(push.code, show(push)).toBe(2);
    expect(push.stderr).toMatch(/405/);
    expect(push.stderr).toContain('UNSUPPORTED');
    unchanged(s);
  });

  it('invalid repository names: 400 NAME_INVALID on reads and writes alike', async () => {
    const names = ['Acme/api', 'acme/API', 'acme_/api', 'acme/-api', 'acme//api', 'a..b', '-acme', 'acme/api.', 'acme%2Fapi', 'acme/api/', 'acme/a%20b', '_/x'];
    for (const n of names) {
      for (const [base, method, rest] of [
        [srv.url, 'GET', 'tags/list'],
        [srv.url, 'GET', 'manifests/1.0'],
        [srv.url, 'HEAD', `blobs/sha256:${'a'.repeat(64)}`],
        [srv.url, 'POST', 'blobs/uploads/'],
        [srv.url, 'PUT', 'manifests/1.0'],
        [ro.url, 'GET', 'tags/list'],
      ] as Array<[string, string, string]>) {
        const r = await rawRequest(`${base}/v2/${n}/${rest}`, {
          method,
          headers: { 'Content-Length': method === 'PUT' ? 2 : 0 },
          body: method === 'PUT' ? Buffer.from('{}') : undefined,
        });
        expect(r.status, `${method} /v2/${n}/${rest}`).toBe(400);
        if (method !== 'HEAD') expect(errorCodes(r.body), `${method} /v2/${n}/${rest}`).toEqual(['NAME_INVALID']);
      }
    }
    // a cross-repository mount naming an invalid source repository does not mount
    const m = await rawRequest(`${srv.url}/v2/acme/api/blobs/uploads/?mount=sha256:${'a'.repeat(64)}&from=Bad/Name`, {
      method: 'POST',
      headers: { 'Content-Length': 0 },
    });
    expect([202, 400]).toContain(m.status);
    expect(m.status).not.toBe(201);
  });

  it('blobs uploaded (no manifest names them yet) and swept by gc come back for the manifest PUT that names them', async () => {
    const img = regclientImage('arm64');
    for (const b of img.blobs) expect(await uploadBlob(srv.url, 'pinned/img', b.bytes), b.digest).toBe(201);
    const gc = runCli(['--store', store, 'gc', '--json']);
    expect(gc.code, show(gc)).toBe(0);
    const removed = (JSON.parse(gc.stdout).blobsRemoved as Array<{ digest: string }>).map((x) => x.digest);
    expect(removed).toEqual(expect.arrayContaining(img.blobs.map((b) => b.digest))); // gc did sweep them
    const put = await rawRequest(`${srv.url}/v2/pinned/img/manifests/arm64`, { method: 'PUT', headers: { 'Content-Type': img.mediaType }, body: img.manifest });
    expect(put.status, put.body.toString()).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(img.digest);
    for (const b of img.blobs) expect(existsSync(blobFile(store, b.digest)), b.digest).toBe(true);
    const v = runCli(['--store', store, 'verify']);
    expect(v.code, show(v)).toBe(0);
  });

  it('a manifest committed in one repository leaves the pins of another that received the same blobs', async () => {
    // docker push of one image to several names at once: each repository gets 201 (or a
    // mount) for the same blobs; the first manifest to land must not take them from the rest.
    const img = regclientImage('arm64');
    for (const repo of ['pins/one', 'pins/two']) for (const b of img.blobs) expect(await uploadBlob(srv.url, repo, b.bytes), `${repo} ${b.digest}`).toBe(201);
    const put = (repo: string) =>
      rawRequest(`${srv.url}/v2/${repo}/manifests/x`, { method: 'PUT', headers: { 'Content-Type': img.mediaType }, body: img.manifest });
    const first = await put('pins/one');
    expect(first.status, first.body.toString()).toBe(201);
    for (const b of img.blobs) {
      const head = await rawRequest(`${srv.url}/v2/pins/two/blobs/${b.digest}`, { method: 'HEAD' });
      expect(head.status, `HEAD pins/two ${b.digest}`).toBe(200);
    }
    const second = await put('pins/two');
    expect(second.status, second.body.toString()).toBe(201);
    // and a repository that never received them still cannot name them
    const third = await put('pins/three');
    expect(third.status).toBe(400);
    expect(errorCodes(third.body)).toEqual(['MANIFEST_BLOB_UNKNOWN']);
  });

  it('a blob answered 201 stays visible (HEAD 200) after a gc, before any manifest names it', async () => {
    // Clients HEAD blobs before pushing a manifest (skopeo does, for each platform of an
    // index); a 404 here makes them upload the bytes again.
    const img = regclientImage('amd64');
    for (const b of img.blobs) expect(await uploadBlob(srv.url, 'pinned/amd', b.bytes), b.digest).toBe(201);
    const gc = runCli(['--store', store, 'gc']);
    expect(gc.code, show(gc)).toBe(0);
    for (const b of img.blobs) {
      const head = await rawRequest(`${srv.url}/v2/pinned/amd/blobs/${b.digest}`, { method: 'HEAD' });
      expect(head.status, `HEAD ${b.digest} after gc`).toBe(200);
    }
  });
});
