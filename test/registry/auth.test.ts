/**
 * Authentication on both sides: `serve --htpasswd` (basic auth, bcrypt from Apache's htpasswd),
 * our client's credential sources (flags, LAYERSTORE_USERNAME/PASSWORD, DOCKER_CONFIG), the
 * distribution registry's htpasswd auth, a bearer token flow (token server and resource proxy
 * written here, on 127.0.0.1), and TLS with a self-signed certificate made by openssl.
 * Nothing listens off loopback: the one test about 0.0.0.0 runs the CLI under a guard that
 * refuses such a listen before it binds.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { badBlobs, ensureBuilt, readIndexJson, readStoreImages, runCli, show } from '../helpers/cli.js';
import {
  HAVE_HTPASSWD,
  HAVE_OPENSSL,
  HAVE_REGISTRY,
  HAVE_SKOPEO,
  LOOPBACK_GUARD,
  basic,
  errorCodes,
  makeHtpasswd,
  rawRequest,
  runCliAsync,
  selfSignedCert,
  showTool,
  skopeo,
  startDockerRegistry,
  startServe,
  type DockerRegistry,
  type Serve,
} from './helpers.js';

const USER = 'alice';
const PASS = 'pa:ss w0rd!'; // a colon and a space: basic auth splits at the first colon only

let tmp: string;
let fx: string;
let src: string; // a store with the fixtures, the source of pushes
let served: string; // a store with the fixtures, served behind auth
let noCreds: Record<string, string | undefined>; // an environment where no credential source exists
const p = (...x: string[]) => path.join(tmp, ...x);

const ok = (store: string, args: string[], env: Record<string, string | undefined> = noCreds) => {
  const r = runCli(['--store', store, ...args], { env });
  expect(r.code, show(r)).toBe(0);
  return r;
};
const manifestOf = (store: string, ref: string) => readStoreImages(store).find((i) => i.refs.includes(ref))?.manifestDigest;
const rootOf = (store: string, ref: string) =>
  (readIndexJson(store).manifests as any[]).find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref)?.digest;

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-reg-auth-'));
  fx = p('fx');
  await generateFixtures(fx);
  mkdirSync(p('empty-docker-config'));
  mkdirSync(p('home'));
  noCreds = { DOCKER_CONFIG: p('empty-docker-config'), HOME: p('home'), LAYERSTORE_USERNAME: undefined, LAYERSTORE_PASSWORD: undefined };
  src = p('src');
  served = p('served');
  ok(src, ['ingest', path.join(fx, 'family-legacy.tar')]);
  ok(served, ['ingest', path.join(fx, 'family-legacy.tar')]);
}, 60_000);

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(!HAVE_HTPASSWD)('serve --allow-push --htpasswd', () => {
  let srv: Serve;
  let ht: string;

  beforeAll(async () => {
    ht = p('htpasswd');
    makeHtpasswd(ht, [
      [USER, PASS],
      ['bob', 'other'],
    ]);
    expect(readFileSync(ht, 'utf8')).toMatch(/^alice:\$2y\$/); // Apache's bcrypt flavour
    srv = await startServe(served, ['--allow-push', '--htpasswd', ht]);
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
  });

  const expect401 = (r: { status: number; headers: http.IncomingHttpHeaders; body: Buffer }, what: string, head = false) => {
    expect(r.status, `${what}: ${r.body}`).toBe(401);
    expect(String(r.headers['www-authenticate']), what).toMatch(/^Basic realm="[^"]+"$/);
    if (!head) expect(errorCodes(r.body), what).toEqual(['UNAUTHORIZED']);
  };

  it('no credentials: 401 with a Basic challenge and an UNAUTHORIZED body, on every endpoint and method', async () => {
    const u = srv.url;
    expect401(await rawRequest(`${u}/v2/`), 'GET /v2/');
    expect401(await rawRequest(`${u}/v2/_catalog`), 'GET catalog');
    expect401(await rawRequest(`${u}/v2/acme/api/tags/list`), 'GET tags');
    expect401(await rawRequest(`${u}/v2/acme/api/manifests/1.0`), 'GET manifest');
    expect401(await rawRequest(`${u}/v2/acme/api/manifests/1.0`, { method: 'HEAD' }), 'HEAD manifest', true);
    expect401(await rawRequest(`${u}/v2/acme/api/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': 0 } }), 'POST upload');
    expect401(
      await rawRequest(`${u}/v2/acme/api/manifests/x`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        body: Buffer.from('{}'),
      }),
      'PUT manifest',
    );
    expect401(await rawRequest(`${u}/v2/nonexistent/repo/manifests/1.0`), 'unknown repository: still 401, nothing leaks');
  });

  it('wrong password or unknown user: 401; right credentials: 200', async () => {
    const u = srv.url;
    expect401(await rawRequest(`${u}/v2/`, { headers: { Authorization: basic(USER, 'wrong') } }), 'wrong password');
    expect401(await rawRequest(`${u}/v2/`, { headers: { Authorization: basic(USER, 'pa') } }), 'password cut at its colon');
    expect401(await rawRequest(`${u}/v2/`, { headers: { Authorization: basic('mallory', PASS) } }), 'unknown user');
    expect401(await rawRequest(`${u}/v2/`, { headers: { Authorization: basic('bob', PASS) } }), "another user's password");
    const good = await rawRequest(`${u}/v2/`, { headers: { Authorization: basic(USER, PASS) } });
    expect(good.status).toBe(200);
    const m = await rawRequest(`${u}/v2/acme/api/manifests/1.0`, {
      headers: { Authorization: basic(USER, PASS), Accept: 'application/vnd.oci.image.manifest.v1+json' },
    });
    expect(m.status).toBe(200);
    expect((await rawRequest(`${u}/v2/`, { headers: { Authorization: basic('bob', 'other') } })).status).toBe(200);
    // the scheme is case-insensitive (RFC 7617)
    expect((await rawRequest(`${u}/v2/`, { headers: { Authorization: basic(USER, PASS).replace('Basic', 'basic') } })).status).toBe(200);
  });

  it('malformed Authorization headers: always 401, never a 500', async () => {
    const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
    const headers = [
      'Basic',
      'Basic ',
      'Basic    ',
      'Basic !!!!not-base64!!!!',
      `Basic ${b64('no-colon-at-all')}`,
      `Basic ${b64(':')}`,
      `Basic ${b64(`:${PASS}`)}`,
      `Basic ${b64(`${USER}:`)}`,
      `Basic ${b64(Buffer.from([0xff, 0xfe, 0x3a, 0x80, 0x00]))}`,
      `Basic ${b64(`${USER}:${'x'.repeat(5000)}`)}`,
      `Basic ${'A'.repeat(12000)}`,
      // the right credentials with junk after them: Node's decoder alone would ignore it
      `Basic ${b64(`${USER}:${PASS}`)}!!junk`,
      `Basic ${b64(`${USER}:${PASS}`)}AAAA`.replace(/=+(AAAA)$/, '$1'),
      `Basic ${b64(`${USER}:${PASS}`)}====`,
      'Bearer some.jwt.token',
      'Digest username="alice", realm="layerstore"',
      'Basic=abc',
      'garbage',
    ];
    for (const h of headers) {
      const r = await rawRequest(`${srv.url}/v2/`, { headers: { Authorization: h } });
      expect(r.status, `Authorization: ${h.slice(0, 60)}`).toBe(401);
      expect(errorCodes(r.body), h.slice(0, 60)).toEqual(['UNAUTHORIZED']);
    }
    // Lenient but harmless: the right credentials followed by junk. Whatever the verdict, no 500.
    for (const h of [`Basic ${b64(`${USER}:${PASS}`)} trailing`, `Basic  ${b64(`${USER}:${PASS}`)}`]) {
      const r = await rawRequest(`${srv.url}/v2/`, { headers: { Authorization: h } });
      expect([200, 401], h).toContain(r.status);
    }
    // the server still answers
    expect((await rawRequest(`${srv.url}/v2/`, { headers: { Authorization: basic(USER, PASS) } })).status).toBe(200);
  });

  const credSources = (): Array<[string, string[], Record<string, string | undefined>]> => {
    const dockerCfg = p('docker-config');
    mkdirSync(dockerCfg, { recursive: true });
    writeFileSync(path.join(dockerCfg, 'config.json'), JSON.stringify({ auths: { [srv.host]: { auth: Buffer.from(`${USER}:${PASS}`).toString('base64') } } }));
    return [
      ['--username/--password', ['--username', USER, '--password', PASS], noCreds],
      ['LAYERSTORE_USERNAME/LAYERSTORE_PASSWORD', [], { ...noCreds, LAYERSTORE_USERNAME: USER, LAYERSTORE_PASSWORD: PASS }],
      ['DOCKER_CONFIG config.json auths', [], { ...noCreds, DOCKER_CONFIG: dockerCfg }],
    ];
  };

  it('pull and push work with credentials from flags, from the environment and from DOCKER_CONFIG', () => {
    const want = manifestOf(served, 'acme/api:1.0');
    const wantWorker = manifestOf(src, 'acme/worker:1.0');
    expect(want).toBeDefined();
    for (const [i, [label, flags, env]] of credSources().entries()) {
      const store = p(`pulled-${i}`);
      ok(store, ['pull', `${srv.host}/acme/api:1.0`, ...flags], env);
      expect(manifestOf(store, `${srv.host}/acme/api:1.0`), label).toBe(want);
      expect(badBlobs(store), label).toEqual([]);
      const r = runCli(['--store', src, 'push', 'acme/worker:1.0', `${srv.host}/pushed/worker:${i}`, '--json', ...flags], { env });
      expect(r.code, `${label}\n${show(r)}`).toBe(0);
      expect(JSON.parse(r.stdout).manifestDigest, label).toBe(wantWorker);
      expect(rootOf(served, `pushed/worker:${i}`), label).toBe(wantWorker);
    }
    const v = runCli(['--store', served, 'verify']);
    expect(v.code, show(v)).toBe(0);
  });

  it('without credentials, or with wrong ones, pull and push exit 2 with E_AUTH and change nothing', () => {
    const before = readFileSync(path.join(served, 'index.json'));
    for (const [label, flags] of [
      ['none', []],
      ['wrong password', ['--username', USER, '--password', 'nope']],
    ] as Array<[string, string[]]>) {
      const store = p(`pull-denied-${label.replace(/ /g, '-')}`);
      const r = runCli(['--store', store, 'pull', `${srv.host}/acme/api:1.0`, ...flags], { env: noCreds });
      expect(r.code, `${label}\n${show(r)}`).toBe(2);
      expect(r.stderr, label).toContain('E_AUTH');
      const q = runCli(['--store', src, 'push', 'acme/api:1.0', `${srv.host}/denied/api:1`, ...flags], { env: noCreds });
      expect(q.code, `${label}\n${show(q)}`).toBe(2);
      expect(q.stderr, label).toContain('E_AUTH');
    }
    expect(readFileSync(path.join(served, 'index.json')).equals(before)).toBe(true);
  });

  it('report --registry with credentials', () => {
    const r = runCli(['--store', p('unused'), 'report', '--registry', srv.url, '--json', '--username', USER, '--password', PASS], { env: noCreds });
    expect(r.code, show(r)).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.repositories.map((x: any) => x.name)).toEqual(expect.arrayContaining(['acme/api', 'acme/base', 'acme/worker']));
    const denied = runCli(['--store', p('unused'), 'report', '--registry', srv.url, '--json'], { env: noCreds });
    expect(denied.code, show(denied)).toBe(2);
    expect(denied.stderr).toContain('E_AUTH');
  });
});

// ---------------------------------------------------------------------------------------------

describe('serve --allow-push off loopback', () => {
  const guarded = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --import ${LOOPBACK_GUARD}`.trim() };

  it('the guard works: a read-only serve on 0.0.0.0 is stopped before it binds (exit 99)', () => {
    // A store that exists: read-only serve refuses a missing one before it would listen.
    const r = runCli(['--store', src, 'serve', '--listen', '0.0.0.0:0'], { env: guarded });
    expect(r.code, show(r)).toBe(99);
    expect(r.stderr).toContain('loopback-guard: refused listen on 0.0.0.0');
    expect(r.stdout).not.toContain('listening');
  });

  it.each(['0.0.0.0:0', '[::]:0', '[0:0:0:0:0:0:0:0]:0'])(
    '--allow-push --listen %s without --htpasswd refuses to start (exit 2, E_USAGE) before listening',
    (listen) => {
      const r = runCli(['--store', p('guard-store'), 'serve', '--allow-push', '--listen', listen], { env: guarded });
      expect(r.code, show(r)).toBe(2);
      expect(r.stderr).toContain('E_USAGE');
      expect(r.stderr).toContain('--htpasswd');
      expect(r.stderr).not.toContain('loopback-guard');
      expect(r.stdout).toBe('');
    },
  );
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(!(HAVE_REGISTRY && HAVE_HTPASSWD))('docker-registry with htpasswd auth', () => {
  let reg: DockerRegistry;

  beforeAll(async () => {
    const ht = p('registry-htpasswd');
    makeHtpasswd(ht, [[USER, PASS]]);
    reg = await startDockerRegistry(p('registry'), { htpasswd: ht });
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('answers 401 with a Basic challenge without credentials', async () => {
    const r = await rawRequest(`${reg.url}/v2/`);
    expect(r.status).toBe(401);
    expect(String(r.headers['www-authenticate'])).toMatch(/^Basic realm="test-realm"/);
    expect((await rawRequest(`${reg.url}/v2/`, { headers: { Authorization: basic(USER, PASS) } })).status).toBe(200);
  });

  it('our push and pull with credentials; skopeo agrees on the digest; without credentials exit 2 E_AUTH', () => {
    const want = manifestOf(src, 'acme/worker:1.0')!;
    const pushed = JSON.parse(ok(src, ['push', 'acme/worker:1.0', `${reg.host}/acme/worker:1.0`, '--json', '--username', USER, '--password', PASS]).stdout);
    expect(pushed.manifestDigest).toBe(want);
    if (HAVE_SKOPEO) {
      const inspect = JSON.parse(skopeo(['inspect', '--tls-verify=false', '--creds', `${USER}:${PASS}`, `docker://${reg.host}/acme/worker:1.0`]));
      expect(inspect.Digest).toBe(want);
    }
    const store = p('pull-from-auth-registry');
    ok(store, ['pull', `${reg.host}/acme/worker:1.0`], { ...noCreds, LAYERSTORE_USERNAME: USER, LAYERSTORE_PASSWORD: PASS });
    expect(manifestOf(store, `${reg.host}/acme/worker:1.0`)).toBe(want);
    expect(badBlobs(store)).toEqual([]);

    const denied = runCli(['--store', p('pull-denied-registry'), 'pull', `${reg.host}/acme/worker:1.0`], { env: noCreds });
    expect(denied.code, show(denied)).toBe(2);
    expect(denied.stderr).toContain('E_AUTH');
    const wrong = runCli(['--store', src, 'push', 'acme/api:1.0', `${reg.host}/acme/api:1.0`, '--username', USER, '--password', 'wrong'], { env: noCreds });
    expect(wrong.code, show(wrong)).toBe(2);
    expect(wrong.stderr).toContain('E_AUTH');

    const rep = runCli(['--store', p('unused'), 'report', '--registry', reg.url, '--json', '--username', USER, '--password', PASS], { env: noCreds });
    expect(rep.code, show(rep)).toBe(0);
    expect(JSON.parse(rep.stdout).images.map((i: any) => i.manifestDigest)).toEqual([want]);
  });
});

// ---------------------------------------------------------------------------------------------

describe('bearer token flow (token server and resource proxy on 127.0.0.1, written here)', () => {
  const TOKEN = `T-${randomBytes(8).toString('hex')}`;
  let backendRo: Serve;
  let backendRw: Serve;
  let tokenServer: http.Server;
  let proxies: http.Server[] = [];
  let tokenPort = 0;
  const tokenRequests: Array<{ service: string | null; scope: string | null; authorized: boolean }> = [];
  const proxySeen: Array<{ method: string; url: string; authorization?: string }> = [];

  const listen = (s: http.Server) =>
    new Promise<number>((resolve, reject) => {
      s.once('error', reject);
      s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port));
    });

  /** 401 + Bearer challenge unless the request carries the token; then forward to `backend`. */
  const makeProxy = (backend: Serve, scope: string) =>
    http.createServer((req, res) => {
      proxySeen.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization });
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        req.resume();
        const body = JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'token required' }] });
        res.writeHead(401, {
          'Content-Type': 'application/json',
          'Content-Length': Buffer.byteLength(body),
          'WWW-Authenticate': `Bearer realm="http://127.0.0.1:${tokenPort}/token",service="test",scope="${scope}"`,
        });
        res.end(body);
        return;
      }
      const headers = { ...req.headers };
      delete headers.authorization;
      delete headers.host;
      const up = http.request({ host: '127.0.0.1', port: backend.port, method: req.method, path: req.url, headers }, (upRes) => {
        res.writeHead(upRes.statusCode ?? 502, upRes.headers);
        upRes.pipe(res);
      });
      up.setTimeout(30_000, () => up.destroy());
      up.on('error', () => res.destroy());
      req.pipe(up);
    });

  beforeAll(async () => {
    [backendRo, backendRw] = await Promise.all([startServe(src), startServe(p('bearer-rw'), ['--allow-push'])]);
    tokenServer = http.createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const authorized = req.headers.authorization === basic(USER, PASS);
      tokenRequests.push({ service: u.searchParams.get('service'), scope: u.searchParams.get('scope'), authorized });
      if (u.pathname !== '/token' || !authorized) {
        res.writeHead(401, { 'Content-Type': 'application/json' });
        res.end('{"errors":[{"code":"UNAUTHORIZED"}]}');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ token: TOKEN, expires_in: 300 }));
    });
    tokenPort = await listen(tokenServer);
    proxies = [makeProxy(backendRo, 'repository:acme/api:pull'), makeProxy(backendRw, 'repository:bearer/api:pull,push')];
    for (const s of proxies) await listen(s);
  }, 60_000);

  afterAll(async () => {
    for (const s of [tokenServer, ...proxies]) {
      s?.closeAllConnections?.();
      await new Promise<void>((r) => (s ? s.close(() => r()) : r()));
    }
    await Promise.all([backendRo?.stop(), backendRw?.stop()]);
  });

  const portOf = (s: http.Server) => (s.address() as { port: number }).port;

  it('pull through a Bearer challenge: the token server is asked with the service and the pull scope, and the registry only ever sees the token', async () => {
    tokenRequests.length = 0;
    proxySeen.length = 0;
    const host = `127.0.0.1:${portOf(proxies[0]!)}`;
    const store = p('bearer-pull');
    const r = await runCliAsync(['--store', store, 'pull', `${host}/acme/api:1.0`, '--username', USER, '--password', PASS], noCreds);
    expect(r.code, showTool(r)).toBe(0);
    expect(manifestOf(store, `${host}/acme/api:1.0`)).toBe(manifestOf(src, 'acme/api:1.0'));
    expect(badBlobs(store)).toEqual([]);
    expect(tokenRequests.length).toBeGreaterThan(0);
    for (const t of tokenRequests) {
      expect(t.service).toBe('test');
      expect(t.scope).toBe('repository:acme/api:pull');
      expect(t.authorized).toBe(true);
    }
    expect(proxySeen.some((s) => s.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(proxySeen.filter((s) => s.authorization && !s.authorization.startsWith('Bearer '))).toEqual([]); // no basic credentials to the registry
  });

  it('without credentials the token server refuses and pull exits 2 with E_AUTH', async () => {
    tokenRequests.length = 0;
    const host = `127.0.0.1:${portOf(proxies[0]!)}`;
    const r = await runCliAsync(['--store', p('bearer-denied'), 'pull', `${host}/acme/api:1.0`], noCreds);
    expect(r.code, showTool(r)).toBe(2);
    expect(r.stderr).toContain('E_AUTH');
    expect(tokenRequests.length).toBeGreaterThan(0);
    expect(tokenRequests.every((t) => !t.authorized)).toBe(true);
  });

  it('push through a Bearer challenge asks for pull,push on the repository and lands in the store behind it', async () => {
    tokenRequests.length = 0;
    const host = `127.0.0.1:${portOf(proxies[1]!)}`;
    const r = await runCliAsync(['--store', src, 'push', 'acme/api:1.0', `${host}/bearer/api:1.0`, '--json', '--username', USER, '--password', PASS], noCreds);
    expect(r.code, showTool(r)).toBe(0);
    expect(JSON.parse(r.stdout).manifestDigest).toBe(manifestOf(src, 'acme/api:1.0'));
    expect(rootOf(p('bearer-rw'), 'bearer/api:1.0')).toBe(manifestOf(src, 'acme/api:1.0'));
    expect(tokenRequests.map((t) => t.scope)).toContain('repository:bearer/api:pull,push');
    for (const t of tokenRequests) expect(t.service).toBe('test');
    const v = runCli(['--store', p('bearer-rw'), 'verify']);
    expect(v.code, show(v)).toBe(0);
  });
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(!HAVE_OPENSSL)('TLS: serve --tls-cert/--tls-key with a self-signed certificate for 127.0.0.1', () => {
  let srv: Serve;
  let cert: string;
  let certDir: string;

  beforeAll(async () => {
    cert = p('tls', 'cert.pem');
    const key = p('tls', 'key.pem');
    mkdirSync(p('tls'));
    const r = selfSignedCert(key, cert);
    expect(r.code, r.stderr).toBe(0);
    certDir = p('tls', 'certs.d');
    mkdirSync(certDir);
    writeFileSync(path.join(certDir, 'ca.crt'), readFileSync(cert));
    srv = await startServe(src, ['--tls-cert', cert, '--tls-key', key]);
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
  });

  it('prints an https URL and refuses plain http on that port', async () => {
    expect(srv.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const plain = await rawRequest(`http://${srv.host}/v2/`).then(
      (r) => r.status,
      () => 'refused',
    );
    expect(plain === 'refused' || (typeof plain === 'number' && plain >= 400)).toBe(true);
  });

  it.skipIf(!HAVE_SKOPEO)('skopeo inspects and copies over https (unverified, and verified against the certificate)', () => {
    const want = manifestOf(src, 'acme/api:1.0');
    const a = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${srv.host}/acme/api:1.0`]));
    expect(a.Digest).toBe(want);
    const b = JSON.parse(skopeo(['inspect', '--cert-dir', certDir, `docker://${srv.host}/acme/api:1.0`]));
    expect(b.Digest).toBe(want);
    const out = p('tls-copy');
    skopeo(['copy', '--preserve-digests', '--src-cert-dir', certDir, `docker://${srv.host}/acme/api:1.0`, `oci:${out}:x`]);
    expect(JSON.parse(readFileSync(path.join(out, 'index.json'), 'utf8')).manifests[0].digest).toBe(want);
  });

  it('report --registry https://... works when the certificate is trusted (NODE_EXTRA_CA_CERTS)', () => {
    const r = runCli(['--store', p('unused'), 'report', '--registry', srv.url, '--json'], { env: { ...noCreds, NODE_EXTRA_CA_CERTS: cert } });
    expect(r.code, show(r)).toBe(0);
    expect(JSON.parse(r.stdout).images.length).toBe(3);
  });

  it('pull from a loopback registry that speaks only https (certificate trusted) works', () => {
    // Docker and skopeo try https first on loopback too (falling back to http); layerstore
    // always uses http for 127.0.0.1, so a TLS-only registry there cannot be pulled from.
    const store = p('tls-pull');
    const r = runCli(['--store', store, 'pull', `${srv.host}/acme/api:1.0`], { env: { ...noCreds, NODE_EXTRA_CA_CERTS: cert } });
    expect(r.code, show(r)).toBe(0);
    expect(manifestOf(store, `${srv.host}/acme/api:1.0`)).toBe(manifestOf(src, 'acme/api:1.0'));
  });

  it('--tls-cert without --tls-key is a usage error', async () => {
    const r = await runCliAsync(['--store', p('unused2'), 'serve', '--listen', '127.0.0.1:0', '--tls-cert', cert], noCreds, 20_000);
    expect(r.code, showTool(r)).toBe(2);
    expect(r.stderr).toContain('E_USAGE');
  });
});
