/**
 * report --registry against servers that are broken on purpose (small HTTP servers in this
 * process, on 127.0.0.1 only): not a registry at all, https spoken to plain http, throttling
 * and flaky answers, a black hole. The run must end, say what happened naming the URL, and
 * report what it could.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { digestOf } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { type FakeRegistry, type Handler, recordingServer } from './fake-registry.js';
import { runCliAsync, showTool } from './helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let tmp: string;
const p = (...x: string[]) => path.join(tmp, ...x);

type Server = FakeRegistry;

/** A server on 127.0.0.1 answering `route(path)` (or `fallback`), logging "METHOD /path" of every request. */
function serve(route: (path: string) => Handler | undefined, fallback: Handler): Promise<Server> {
  return recordingServer((req, res, pathname) => (route(pathname) ?? fallback)(req, res));
}

const send =
  (status: number, type: string, body: Buffer | string, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    const b = Buffer.from(body);
    res.writeHead(status, { 'Content-Type': type, 'Content-Length': String(b.length), ...headers });
    res.end(b);
  };
const NOT_FOUND = send(404, 'application/json', '{"errors":[{"code":"NOT_FOUND","message":"no"}]}');
const V2 = send(200, 'application/json', '{}', { 'Docker-Distribution-API-Version': 'registry/2.0' });

/** A real little registry's documents: one image in repository `app`, tagged `1` and `2`. */
function registryRoutes(): { routes: Map<string, Handler>; config: Buffer } {
  const layer = rawTar([{ name: 'hello.txt', body: 'hello\n' }]);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
    }),
  );
  const routes = new Map<string, Handler>([
    ['/v2/', V2],
    ['/v2/_catalog', send(200, 'application/json', '{"repositories":["app"]}')],
    ['/v2/app/tags/list', send(200, 'application/json', '{"name":"app","tags":["1","2"]}')],
    ['/v2/app/manifests/1', send(200, OCI_MANIFEST, manifest, { 'Docker-Content-Digest': digestOf(manifest) })],
    ['/v2/app/manifests/2', send(200, OCI_MANIFEST, manifest, { 'Docker-Content-Digest': digestOf(manifest) })],
    [`/v2/app/blobs/${digestOf(config)}`, send(200, 'application/octet-stream', config)],
  ]);
  return { routes, config };
}

/** `h` for the first `times` requests, then `then`. */
function firstTimes(times: number, h: Handler, then: Handler): Handler {
  let n = 0;
  return (req, res) => (n++ < times ? h : then)(req, res);
}

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-reg-broken-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('report --registry on something that is not a registry', () => {
  it('a server answering {} to every path: an error naming its URL, not an empty report (exit 2)', async () => {
    const s = await serve(() => undefined, send(200, 'application/json', '{}'));
    try {
      const r = await runCliAsync(['--store', p('unused'), 'report', '--registry', s.url, '--json']);
      expect(r.code, showTool(r)).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('[E_REGISTRY]');
      expect(r.stderr).toContain(`${s.url}/v2/_catalog`);
      expect(r.stderr).toContain('not a registry');
    } finally {
      await s.close();
    }
  });

  it('a web server answering an HTML page with 200: "not a registry" naming /v2/, no JSON parser message (exit 2)', async () => {
    const s = await serve(() => undefined, send(200, 'text/html; charset=utf-8', '<!doctype html><html><body>Welcome to nginx!</body></html>'));
    try {
      const r = await runCliAsync(['--store', p('unused'), 'report', '--registry', s.url]);
      expect(r.code, showTool(r)).toBe(2);
      expect(r.stderr).toContain(`GET ${s.url}/v2/: not a registry`);
      expect(r.stderr).not.toMatch(/Unexpected token|JSON/);
      expect(s.seen).toEqual(['GET /v2/']);
    } finally {
      await s.close();
    }
  });

  it('https:// to a plain-http registry on loopback: one error line naming the URL, no OpenSSL text, no "off loopback" hint', async () => {
    const { routes } = registryRoutes();
    const s = await serve((x) => routes.get(x), NOT_FOUND);
    try {
      const r = await runCliAsync(['--store', p('unused'), 'report', '--registry', `https://${s.host}`]);
      expect(r.code, showTool(r)).toBe(2);
      const lines = r.stderr.trimEnd().split('\n');
      expect(lines[0]).toMatch(new RegExp(`^layerstore: error: GET https://${s.host}/v2/: cannot reach the registry \\(the server does not speak TLS`));
      expect(lines.slice(1)).toEqual([`  hint: use http://${s.host}`]);
      expect(r.stderr).not.toMatch(/SSL routines|openssl|off loopback/i);
    } finally {
      await s.close();
    }
  });
});

describe('report --registry on a registry broken in one repository', () => {
  it('an image whose config one repository serves wrong and another right: a failure read in one repository is not taken for the other (exit 4, one error)', async () => {
    const { routes, config } = registryRoutes();
    const configDigest = digestOf(config);
    // repositories a and z name the same image; z serves garbage under its config's digest,
    // and a's manifest is answered only once z's config has been asked for (z fails first)
    let release: () => void = () => {};
    const zAsked = new Promise<void>((resolve) => (release = resolve));
    routes.set('/v2/_catalog', send(200, 'application/json', '{"repositories":["a","z"]}'));
    for (const repo of ['a', 'z']) routes.set(`/v2/${repo}/tags/list`, send(200, 'application/json', JSON.stringify({ name: repo, tags: ['1'] })));
    routes.set('/v2/z/manifests/1', routes.get('/v2/app/manifests/1')!);
    routes.set('/v2/a/manifests/1', (req, res) => void zAsked.then(() => routes.get('/v2/app/manifests/1')!(req, res)));
    routes.set(`/v2/a/blobs/${configDigest}`, send(200, 'application/octet-stream', config));
    routes.set(`/v2/z/blobs/${configDigest}`, (req, res) => {
      send(200, 'application/octet-stream', Buffer.alloc(config.length, 0x7b))(req, res);
      release();
    });
    const s = await serve((x) => routes.get(x), NOT_FOUND);
    try {
      const r = await runCliAsync(['--store', p('store-one-broken'), 'report', '--registry', s.url, '--json', '--concurrency', '2']);
      expect(r.code, showTool(r)).toBe(4);
      const rep = JSON.parse(r.stdout);
      expect(rep.images.map((i: any) => i.refs)).toEqual([['a:1']]);
      expect(rep.errors).toEqual([`z:1: GET ${s.url}/v2/z/blobs/${configDigest}: the config does not hash to its digest`]);
      expect(s.seen).toContain(`GET /v2/a/blobs/${configDigest}`);
    } finally {
      await s.close();
    }
  });
});

describe('report --registry on an index with a broken platform', () => {
  it('a multi-platform tag whose one platform cannot be read: the tag is read, the report still says INCOMPLETE with the error (exit 4)', async () => {
    const { routes, config } = registryRoutes();
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
        layers: [],
      }),
    );
    // the arm64 image's config is missing from the registry
    const armConfig = Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }));
    const armManifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(armConfig), size: armConfig.length },
        layers: [],
      }),
    );
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          { mediaType: OCI_MANIFEST, digest: digestOf(manifest), size: manifest.length, platform: { architecture: 'amd64', os: 'linux' } },
          { mediaType: OCI_MANIFEST, digest: digestOf(armManifest), size: armManifest.length, platform: { architecture: 'arm64', os: 'linux' } },
        ],
      }),
    );
    routes.set('/v2/app/tags/list', send(200, 'application/json', '{"name":"app","tags":["multi"]}'));
    routes.set('/v2/app/manifests/multi', send(200, 'application/vnd.oci.image.index.v1+json', index));
    routes.set(`/v2/app/manifests/${digestOf(manifest)}`, send(200, OCI_MANIFEST, manifest));
    routes.set(`/v2/app/manifests/${digestOf(armManifest)}`, send(200, OCI_MANIFEST, armManifest));
    const s = await serve((x) => routes.get(x), NOT_FOUND);
    try {
      const r = await runCliAsync(['--store', p('store-broken-platform'), 'report', '--registry', s.url]);
      expect(r.code, showTool(r)).toBe(4);
      expect(r.stdout.split('\n')[0]).toBe('INCOMPLETE: 1 of 1 tag read (0 failed, 0 not reached); 1 error');
      expect(r.stderr).toContain(`layerstore: warning: app@${digestOf(armManifest)}: GET ${s.url}/v2/app/blobs/${digestOf(armConfig)}: 404`);
    } finally {
      await s.close();
    }
  });
});

describe('report --registry on a registry that keeps its blobs elsewhere', () => {
  it('a config redirected (307) to storage on another origin is followed there, without the registry credentials', async () => {
    const { routes, config } = registryRoutes();
    const storageSeen: Array<string | undefined> = [];
    const storage = await serve(
      () => undefined,
      (req, res) => {
        storageSeen.push(req.headers.authorization);
        send(200, 'application/octet-stream', config)(req, res);
      },
    );
    const auth = `Basic ${Buffer.from('ci:secret').toString('base64')}`;
    routes.set(`/v2/app/blobs/${digestOf(config)}`, (_req, res) => {
      res.writeHead(307, { Location: `${storage.url}/bucket/blob?sig=x`, 'Content-Length': '0' });
      res.end();
    });
    const s = await serve((x) => routes.get(x), NOT_FOUND);
    // every request to the registry needs the credentials
    const guarded = await serve(
      () => undefined,
      (req, res) => {
        if (req.headers.authorization !== auth)
          return send(401, 'application/json', '{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}', { 'WWW-Authenticate': 'Basic realm="r"' })(req, res);
        const up = http.request(`${s.url}${req.url}`, { method: req.method, headers: req.headers }, (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        });
        req.pipe(up);
      },
    );
    try {
      const r = await runCliAsync(['--store', p('store-redirect'), 'report', '--registry', guarded.url, '--json', '--username', 'ci', '--password', 'secret'], {
        LAYERSTORE_USERNAME: undefined,
        LAYERSTORE_PASSWORD: undefined,
        DOCKER_CONFIG: p('no-docker-config'),
      });
      expect(r.code, showTool(r)).toBe(0);
      const rep = JSON.parse(r.stdout);
      expect(rep.images[0].configDigest).toBe(digestOf(config));
      expect(storageSeen).toEqual([undefined]);
    } finally {
      await Promise.all([guarded.close(), s.close(), storage.close()]);
    }
  });
});

describe('report --registry on a registry that throttles, fails for a while, or stops answering', () => {
  it('429 and 5xx with Retry-After are asked again after the wait the registry asks for; the report is complete (exit 0)', async () => {
    const { routes } = registryRoutes();
    const tooMany = send(429, 'application/json', '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}', { 'Retry-After': '1' });
    const unavailable = send(503, 'text/plain', 'busy', { 'Retry-After': '0' });
    routes.set('/v2/_catalog', firstTimes(1, tooMany, routes.get('/v2/_catalog')!));
    routes.set('/v2/app/tags/list', firstTimes(2, unavailable, routes.get('/v2/app/tags/list')!));
    for (const t of ['1', '2'])
      routes.set(`/v2/app/manifests/${t}`, firstTimes(1, send(502, 'text/plain', 'bad gateway'), routes.get(`/v2/app/manifests/${t}`)!));
    const s = await serve((x) => routes.get(x), NOT_FOUND);
    try {
      const r = await runCliAsync(['--store', p('store-throttled'), 'report', '--registry', s.url, '--json']);
      expect(r.code, showTool(r)).toBe(0);
      const rep = JSON.parse(r.stdout);
      expect(rep.complete).toBe(true);
      expect(rep.images).toHaveLength(1);
      expect(rep.images[0].refs).toEqual(['app:1', 'app:2']);
      expect(s.seen.filter((x) => x.startsWith('GET /v2/_catalog'))).toHaveLength(2);
      expect(s.seen.filter((x) => x.startsWith('GET /v2/app/tags/list'))).toHaveLength(3);
      expect(s.seen.filter((x) => x.startsWith('GET /v2/app/manifests/'))).toHaveLength(4);
      expect(rep.scan.requests.retried).toBe(5);
    } finally {
      await s.close();
    }
  });

  it('a black hole (connections accepted, never answered): --timeout ends each request, the run ends with an incomplete report (exit 4)', async () => {
    const { routes } = registryRoutes();
    const hole: Handler = () => {}; // never answers
    routes.set('/v2/app/manifests/1', hole);
    routes.set('/v2/app/manifests/2', hole);
    const s = await serve((x) => routes.get(x), NOT_FOUND);
    try {
      const r = await runCliAsync(['--store', p('store-hole'), 'report', '--registry', s.url, '--timeout', '0.5'], {}, 50_000);
      expect(r.code, showTool(r)).toBe(4);
      const first = r.stdout.split('\n')[0];
      expect(first).toMatch(/^INCOMPLETE: 0 of 2 tags read \(0 failed, 2 not reached\)/);
      expect(first).toContain(`the registry stopped answering: GET ${s.url}/v2/app/manifests/`);
      expect(first).toContain('no answer within 0.5 s');
      // each manifest asked 4 times at most (3 retries), then the scan stopped
      expect(s.seen.filter((x) => x.includes('/manifests/')).length).toBeLessThanOrEqual(8);
    } finally {
      await s.close();
    }
  });

  it('--max-time stops a scan that waits on a black hole, whatever --timeout says, and reports what was read (exit 4)', async () => {
    const { routes } = registryRoutes();
    routes.set('/v2/app/manifests/2', () => {});
    const s = await serve((x) => routes.get(x), NOT_FOUND);
    try {
      const r = await runCliAsync(
        ['--store', p('store-max-time'), 'report', '--registry', s.url, '--json', '--timeout', '600', '--max-time', '2', '--concurrency', '1'],
        {},
        50_000,
      );
      expect(r.code, showTool(r)).toBe(4);
      const rep = JSON.parse(r.stdout);
      expect(rep.complete).toBe(false);
      expect(rep.scan.stoppedBy).toBe('--max-time 2 s reached');
      expect(rep.scan).toMatchObject({ tags: 2, tagsRead: 1, tagsFailed: 0, tagsNotReached: 1 });
      expect(rep.images[0].refs).toEqual(['app:1']);
    } finally {
      await s.close();
    }
  });

  it('--max-time reached while the catalog is still being read: one error line saying so, naming the registry (exit 2)', async () => {
    const { routes } = registryRoutes();
    routes.set('/v2/_catalog', () => {});
    const s = await serve((x) => routes.get(x), NOT_FOUND);
    try {
      const r = await runCliAsync(['--store', p('store-max-time-catalog'), 'report', '--registry', s.url, '--max-time', '1'], {}, 50_000);
      expect(r.code, showTool(r)).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.trimEnd()).toBe(`layerstore: error: ${s.url}: --max-time 1 s reached before the catalog was read [E_REGISTRY]`);
    } finally {
      await s.close();
    }
  });

  it('a registry failing every manifest with 500 (after retries) is given up after 20 in a row, not asked 4 times per tag forever (exit 4)', async () => {
    const { routes } = registryRoutes();
    const tags = Array.from({ length: 60 }, (_, i) => `t${i}`);
    routes.set('/v2/app/tags/list', send(200, 'application/json', JSON.stringify({ name: 'app', tags })));
    const s = await serve(
      (x) => routes.get(x) ?? (/^\/v2\/app\/manifests\//.test(x) ? send(500, 'text/plain', 'storage down', { 'Retry-After': '0' }) : undefined),
      NOT_FOUND,
    );
    try {
      const r = await runCliAsync(['--store', p('store-500'), 'report', '--registry', s.url, '--json', '--concurrency', '2']);
      expect(r.code, showTool(r)).toBe(4);
      const rep = JSON.parse(r.stdout);
      expect(rep.scan.stoppedBy).toMatch(/^the registry failed 20 requests in a row; the last: GET .*\/v2\/app\/manifests\/t\d+: 500 \(4 attempts\)$/);
      expect(rep.scan.tagsFailed).toBeGreaterThanOrEqual(20);
      expect(rep.scan.tagsFailed).toBeLessThanOrEqual(22);
      expect(rep.scan.tagsNotReached).toBe(60 - rep.scan.tagsFailed);
    } finally {
      await s.close();
    }
  });
});
