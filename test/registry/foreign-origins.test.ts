/**
 * Credentials belong to the registry's origin. Three origins, all node:http servers in this
 * process on 127.0.0.1, in front of real `serve` processes:
 * - A, the registry: a proxy that wants a Bearer token from C, sends blob GETs of `redir/*`
 *   to B with a 307, and can hand out upload Locations that are absolute URLs (on B, or on A);
 * - B, another origin (a storage host): logs every Authorization it gets; under /deny it
 *   answers 401 with a Bearer challenge whose realm is on B itself;
 * - C, the token service A's challenge names (another host, as auth.docker.io: allowed).
 * The registry's credentials (flags or a DOCKER_CONFIG file) reach C, never B; a 401 from B
 * fails the pull with one line (E_AUTH, exit 2) and the store unchanged. A push by digest
 * must name the source's digest (E_USAGE before any request).
 */
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, readIndexJson } from '../helpers/cli.js';
import { randomLayer, writeArchive } from '../helpers/store-proc.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { runCliAsync, showTool, startServe, type Serve } from './helpers.js';

const USER = 'alice';
const PASS = 's3cret';
const BASIC = `Basic ${Buffer.from(`${USER}:${PASS}`).toString('base64')}`;
const TOKEN = 'good-token';

interface Seen {
  method: string;
  url: string;
  auth: string | null;
}

interface Origin {
  host: string;
  url: string;
  log: Seen[];
  close(): Promise<void>;
}

async function origin(handle: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<Origin> {
  const o: Origin = { host: '', url: '', log: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    o.log.push({ method: req.method ?? '', url: req.url ?? '', auth: req.headers.authorization ?? null });
    handle(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  o.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  o.url = `http://${o.host}`;
  o.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return o;
}

/** Pass `req` on to `to` (at `pathAndQuery`), without its Authorization; `location` may rewrite the answer's Location. */
function forward(to: Serve, req: http.IncomingMessage, res: http.ServerResponse, pathAndQuery = req.url!, location?: (loc: string) => string): void {
  const headers = { ...req.headers, host: to.host };
  delete headers.authorization;
  const up = http.request({ host: '127.0.0.1', port: to.port, method: req.method, path: pathAndQuery, headers }, (ur) => {
    const h = { ...ur.headers };
    if (location && typeof h.location === 'string') h.location = location(h.location);
    res.writeHead(ur.statusCode!, h);
    ur.pipe(res);
  });
  up.on('error', () => res.socket?.destroy());
  req.pipe(up);
}

let tmp: string;
let source: string;
let serve: Serve; // the source store, for pulls
let sink: Serve; // an empty store that takes pushes
let A: Origin;
let B: Origin;
let C: Origin;
const p = (...x: string[]) => path.join(tmp, ...x);
let stores = 0;
const newStore = () => p(`store-${stores++}`);
/** A copy of the source store: its record of where blobs were pushed starts empty of this test's pushes (no mounts). */
const sourceCopy = () => {
  const s = newStore();
  cpSync(source, s, { recursive: true });
  return s;
};
const blobNames = (s: string) => readdirSync(path.join(s, 'blobs', 'sha256')).sort();
const digestOf = (store: string, ref: string): string =>
  (readIndexJson(store).manifests as Array<{ digest: string; annotations?: Record<string, string> }>).find(
    (m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref,
  )!.digest;

/** Credentials nowhere but where the test puts them: no LAYERSTORE_*, an empty DOCKER_CONFIG, HOME in tmp. */
const noCreds = () => ({ LAYERSTORE_USERNAME: undefined, LAYERSTORE_PASSWORD: undefined, DOCKER_CONFIG: p('no-docker-config'), HOME: tmp });
/** Every way the test passes the credentials for A: flags, and a DOCKER_CONFIG file as `docker login` writes it. */
const credentialWays = () => [
  { name: '--username/--password', args: ['--username', USER, '--password', PASS], env: noCreds() },
  { name: 'a DOCKER_CONFIG file', args: [] as string[], env: { ...noCreds(), DOCKER_CONFIG: p('docker-config') } },
];

/** Non-hint lines of stderr: an error is one line. */
const errorLines = (stderr: string) =>
  stderr
    .trim()
    .split('\n')
    .filter((l) => !/^\s*hint:/.test(l));

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-foreign-origins-'));
  mkdirSync(p('no-docker-config'));
  mkdirSync(p('docker-config'));
  source = p('source');
  const tar = p('images.tar');
  writeFileSync(
    tar,
    await writeArchive('oci', [
      { repoTags: ['redir/ok:1'], layers: [await randomLayer('origins-ok', 200_000)] },
      { repoTags: ['redir/deny:1'], layers: [await randomLayer('origins-deny', 200_000)] },
      { repoTags: ['push/one:1'], layers: [await randomLayer('origins-one', 200_000)] },
      { repoTags: ['push/two:1'], layers: [await randomLayer('origins-two', 200_000)] },
    ]),
  );
  const r = await runCliAsync(['--store', source, '-q', 'ingest', tar]);
  expect(r.code, showTool(r)).toBe(0);
  serve = await startServe(source);
  sink = await startServe(p('sink'), ['--allow-push']);

  C = await origin((req, res) => {
    if (req.headers.authorization !== BASIC) {
      res.writeHead(401, { 'Content-Length': '0' });
      return res.end();
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ token: TOKEN }));
  });
  B = await origin((req, res) => {
    const u = new URL(req.url!, 'http://x');
    if (u.pathname.startsWith('/deny/')) {
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${B.url}/token",service="storage"`, 'Content-Length': '0' });
      return res.end();
    }
    if (u.pathname === '/token') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      return res.end(JSON.stringify({ token: 'stolen' }));
    }
    if (u.pathname.startsWith('/ok/')) return forward(serve, req, res, req.url!.slice('/ok'.length));
    forward(sink, req, res); // an upload session A's Location sent here
  });
  A = await origin((req, res) => {
    const u = new URL(req.url!, 'http://x');
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="${C.url}/token",service="registry-a"`, 'Content-Length': '0' });
      return res.end();
    }
    const redir = /^\/v2\/redir\/(ok|deny)\/blobs\//.exec(u.pathname);
    if (redir && req.method === 'GET') {
      res.writeHead(307, { Location: `${B.url}/${redir[1]}${req.url}`, 'Content-Length': '0' });
      return res.end();
    }
    if (u.pathname.startsWith('/v2/redir/')) return forward(serve, req, res);
    // A manifest PUT moved elsewhere (307 keeps the method and the body), as a proxy may do.
    if (req.method === 'PUT' && /^\/v2\/loc\/moved\/.*\/manifests\//.test(u.pathname) && !u.searchParams.has('moved')) {
      req.resume();
      res.writeHead(307, { Location: `${u.pathname}?moved=1`, 'Content-Length': '0' });
      return res.end();
    }
    // Uploads: loc/foreign gets Locations on B, loc/self absolute ones on A itself.
    const absolute = u.pathname.startsWith('/v2/loc/foreign/') ? B.url : u.pathname.startsWith('/v2/loc/self/') ? A.url : '';
    forward(sink, req, res, req.url, (loc) => (req.method === 'POST' && loc.startsWith('/') ? absolute + loc : loc));
  });
  writeFileSync(p('docker-config', 'config.json'), JSON.stringify({ auths: { [A.host]: { auth: Buffer.from(`${USER}:${PASS}`).toString('base64') } } }));
}, 120_000);
afterAll(async () => {
  await A?.close();
  await B?.close();
  await C?.close();
  await serve?.stop();
  await sink?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('credentials stay with the registry', () => {
  it('a blob redirected to another origin that serves it: the pull works, the token service got the credentials, the other origin none', async () => {
    for (const way of credentialWays()) {
      B.log.length = 0;
      C.log.length = 0;
      const S = newStore();
      const r = await runCliAsync(['--store', S, '-q', 'pull', ...way.args, `${A.host}/redir/ok:1`], way.env);
      expect(r.code, `${way.name}: ${showTool(r)}`).toBe(0);
      expect(B.log.length, way.name).toBeGreaterThan(0);
      expect(
        B.log.filter((s) => s.auth !== null),
        way.name,
      ).toEqual([]);
      expect(
        C.log.some((s) => s.auth === BASIC),
        `${way.name}: the realm A named (another host) gets them`,
      ).toBe(true);
    }
  });

  it('a redirect target that answers 401 with its own Bearer realm never gets the credentials: E_AUTH in one line, exit 2, the store unchanged', async () => {
    for (const way of credentialWays()) {
      const S = newStore();
      const pre = await runCliAsync(['--store', S, '-q', 'pull', ...way.args, `${A.host}/redir/ok:1`], way.env);
      expect(pre.code, showTool(pre)).toBe(0);
      const before = await snapshotStore(S);
      B.log.length = 0;
      const r = await runCliAsync(['--store', S, '-q', 'pull', ...way.args, `${A.host}/redir/deny:1`], way.env);
      expect(r.code, `${way.name}: ${showTool(r)}`).toBe(2);
      expect(B.log.length, way.name).toBeGreaterThan(0); // it was asked: the redirect was followed
      expect(
        B.log.filter((s) => s.auth !== null || s.url.startsWith('/token')),
        `${way.name}: what the other origin got`,
      ).toEqual([]);
      const lines = errorLines(r.stderr);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain('[E_AUTH]');
      expect(lines[0]).toContain(`${A.url}/v2/redir/deny/blobs/sha256:`);
      expect(lines[0]).toContain(`redirected it to ${B.url}, which answered 401`);
      expect(await snapshotStore(S), way.name).toEqual(before);
    }
  });
});

describe('push: upload Locations and push by digest', () => {
  it('an absolute Location on another origin is followed (the upload goes there) without the credentials; the pushed image pulls back whole', async () => {
    for (const [i, way] of credentialWays().entries()) {
      B.log.length = 0;
      const repo = `loc/foreign/w${i}`;
      const r = await runCliAsync(['--store', sourceCopy(), '-q', 'push', ...way.args, 'push/one:1', `${A.host}/${repo}:1`], way.env);
      expect(r.code, `${way.name}: ${showTool(r)}`).toBe(0);
      const puts = B.log.filter((s) => s.method === 'PUT' && s.url.startsWith(`/v2/${repo}/blobs/uploads/`));
      expect(puts.length, `${way.name}: ${JSON.stringify(A.log.slice(-20))}`).toBe(2); // the layer and the config
      expect(B.log.filter((s) => s.auth !== null)).toEqual([]);
      const back = newStore();
      const pull = await runCliAsync(['--store', back, '-q', 'pull', `${sink.host}/${repo}:1`], noCreds());
      expect(pull.code, showTool(pull)).toBe(0);
      expect(digestOf(back, `${sink.host}/${repo}:1`)).toBe(digestOf(source, 'push/one:1'));
      expect(blobNames(back).length).toBe(3);
    }
  });

  it('an absolute Location on the registry itself keeps the credentials', async () => {
    A.log.length = 0;
    const r = await runCliAsync(['--store', source, '-q', 'push', '--username', USER, '--password', PASS, 'push/two:1', `${A.host}/loc/self/img:1`], noCreds());
    expect(r.code, showTool(r)).toBe(0);
    const puts = A.log.filter((s) => s.method === 'PUT' && s.url.startsWith('/v2/loc/self/img/blobs/uploads/'));
    expect(puts.length).toBe(2);
    expect(puts.every((s) => s.auth === `Bearer ${TOKEN}`)).toBe(true);
  });

  it('a manifest PUT answered 307 is sent again, body and all, where the registry says', async () => {
    A.log.length = 0;
    const r = await runCliAsync(
      ['--store', sourceCopy(), '-q', 'push', '--username', USER, '--password', PASS, 'push/two:1', `${A.host}/loc/moved/img:1`],
      noCreds(),
    );
    expect(r.code, showTool(r)).toBe(0);
    const puts = A.log.filter((s) => s.method === 'PUT' && s.url.startsWith('/v2/loc/moved/img/manifests/1'));
    // (The first PUT may be asked twice: once more after a 401 when no blob request got the token first.)
    expect(puts.map((s) => s.url).slice(-2)).toEqual(['/v2/loc/moved/img/manifests/1', '/v2/loc/moved/img/manifests/1?moved=1']);
    const back = newStore();
    const pull = await runCliAsync(['--store', back, '-q', 'pull', `${sink.host}/loc/moved/img:1`], noCreds());
    expect(pull.code, showTool(pull)).toBe(0);
    expect(digestOf(back, `${sink.host}/loc/moved/img:1`)).toBe(digestOf(source, 'push/two:1'));
  });

  it('REGISTRY/NAME@DIGEST with another digest than the source manifest: E_USAGE in one line before any request; the right digest pushes by digest', async () => {
    const want = digestOf(source, 'push/one:1');
    const wrong = digestOf(source, 'push/two:1');
    A.log.length = 0;
    const r = await runCliAsync(
      ['--store', source, 'push', '--username', USER, '--password', PASS, 'push/one:1', `${A.host}/bydigest/img@${wrong}`],
      noCreds(),
    );
    expect(r.code, showTool(r)).toBe(2);
    expect(r.stdout).toBe('');
    const lines = errorLines(r.stderr).filter((l) => !/^store:/.test(l));
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toContain('[E_USAGE]');
    expect(lines[0]).toContain(wrong);
    expect(lines[0]).toContain(want);
    expect(A.log).toEqual([]);

    const ok = await runCliAsync(
      ['--store', source, '-q', 'push', '--username', USER, '--password', PASS, 'push/one:1', `${A.host}/bydigest/img@${want}`],
      noCreds(),
    );
    expect(ok.code, showTool(ok)).toBe(0);
    const back = newStore();
    const pull = await runCliAsync(['--store', back, '-q', 'pull', `${sink.host}/bydigest/img@${want}`], noCreds());
    expect(pull.code, showTool(pull)).toBe(0);
    expect(blobNames(back)).toContain(want.replace('sha256:', ''));
  });
});
