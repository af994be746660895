/**
 * report --registry (and pull's manifest reads) against registries whose answers are odd on
 * the wire: a body cut off midway, Link headers in every form RFC 8288 allows (and the
 * bracketless one quay.io sends), a tags list of 200,000 names in one page, many requests
 * in flight at once, and answers that must be reported under the URL actually asked. Small
 * HTTP servers in this process, on 127.0.0.1, ephemeral ports. No timing is asserted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { digestOf } from '../helpers/hand-bytes.js';
import { type FakeRegistry, type Handler, imageRoutes, recordingServer, testImage, type TestImage } from './fake-registry.js';
import { runCliAsync, showTool } from './helpers.js';

let tmp: string;
const p = (...x: string[]) => path.join(tmp, ...x);

type Server = FakeRegistry;

/** A registry on 127.0.0.1: `routes` by path (no query), else `fallback`'s, GET /v2/ answered, 404 otherwise. */
function serve(routes: Map<string, Handler>, fallback: (path: string) => Handler | undefined = () => undefined): Promise<Server> {
  return recordingServer((req, res, pathname) => {
    const route =
      routes.get(pathname) ?? fallback(pathname) ?? (pathname === '/v2/' ? json('{}', { 'Docker-Distribution-API-Version': 'registry/2.0' }) : undefined);
    if (route) return route(req, res);
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end('{"errors":[{"code":"NAME_UNKNOWN","message":"no"}]}');
  });
}

function json(body: string | Buffer, headers: Record<string, string> = {}, status = 200): Handler {
  return (req, res) => {
    const b = Buffer.from(body);
    res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(b.length), ...headers });
    res.end(req.method === 'HEAD' ? undefined : b);
  };
}

/** Headers and Content-Length as `h` would send them, then half the body, then the connection closed. */
function cutBody(h: Handler): Handler {
  return (req, res) => {
    res.end = ((chunk?: unknown) => {
      const b = Buffer.from(chunk as Buffer);
      res.write(b.subarray(0, b.length >> 1), () => res.socket?.destroy());
      return res;
    }) as typeof res.end;
    h(req, res);
  };
}

/** `first` for the first `times` requests, then `then`. */
function firstTimes(times: number, first: Handler, then: Handler): Handler {
  let n = 0;
  return (req, res) => (n++ < times ? first : then)(req, res);
}

/** Repositories app0..app{n-1}, each one image tagged 1 (its own config). */
function registry(n: number): { routes: Map<string, Handler>; images: TestImage[] } {
  const routes = new Map<string, Handler>();
  const images: TestImage[] = [];
  for (let i = 0; i < n; i++) {
    const img = testImage([`layer of app${i}\n`]);
    images.push(img);
    for (const [k, v] of Object.entries(imageRoutes(`app${i}`, '1', img))) routes.set(k, v);
    routes.set(`/v2/app${i}/tags/list`, json(JSON.stringify({ name: `app${i}`, tags: ['1'] })));
  }
  routes.set('/v2/_catalog', json(JSON.stringify({ repositories: images.map((_, i) => `app${i}`) })));
  return { routes, images };
}

/** A catalog of app0..app{n-1} one name a page, each page's Link as `link(nextPathAndQuery)` says. */
function pagedCatalog(n: number, link: (next: string) => string): Handler {
  return (req, res) => {
    const last = new URL(req.url!, 'http://x').searchParams.get('last');
    const i = last === null ? 0 : Number(last.slice(3)) + 1;
    const headers: Record<string, string> = {};
    if (i + 1 < n) headers.Link = link(`/v2/_catalog?last=app${i}&n=1`);
    json(JSON.stringify({ repositories: [`app${i}`] }), headers)(req, res);
  };
}

async function report(s: Server, store: string, extra: string[] = []) {
  const r = await runCliAsync(['--store', p(store), 'report', '--registry', s.url, '--json', ...extra]);
  return { r, rep: r.stdout ? JSON.parse(r.stdout) : undefined };
}

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-reg-wire-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('a response body cut off midway', () => {
  it('a catalog page, a tags list, a manifest by tag and a config each cut once: asked again whole, the report is complete (exit 0)', async () => {
    const { routes, images } = registry(2);
    for (const k of ['/v2/_catalog', '/v2/app0/tags/list', '/v2/app0/manifests/1', `/v2/app1/blobs/${digestOf(images[1]!.config)}`])
      routes.set(k, firstTimes(1, cutBody(routes.get(k)!), routes.get(k)!));
    const s = await serve(routes);
    try {
      const { r, rep } = await report(s, 'cut-once');
      expect(r.code, showTool(r)).toBe(0);
      expect(rep.complete).toBe(true);
      expect(rep.scan).toMatchObject({ tags: 2, tagsRead: 2 });
      expect(rep.scan.requests.retried).toBe(4);
      expect(s.seen.filter((x) => x.startsWith('GET /v2/_catalog'))).toHaveLength(2);
      expect(s.seen.filter((x) => x === 'GET /v2/app0/manifests/1')).toHaveLength(2);
    } finally {
      await s.close();
    }
  });

  it('a manifest cut every time: given up after its retries with one line naming the URL, the bytes and the attempts (exit 4)', async () => {
    const { routes, images } = registry(1);
    routes.set('/v2/app0/manifests/1', cutBody(routes.get('/v2/app0/manifests/1')!));
    const s = await serve(routes);
    try {
      const { r, rep } = await report(s, 'cut-always');
      expect(r.code, showTool(r)).toBe(4);
      const len = images[0]!.manifest.length;
      expect(rep.scan.stoppedBy).toBe(
        `the registry stopped answering: GET ${s.url}/v2/app0/manifests/1: the connection broke after ${len >> 1} of ${len} bytes of the body (4 attempts)`,
      );
      expect(s.seen.filter((x) => x === 'GET /v2/app0/manifests/1')).toHaveLength(4);
    } finally {
      await s.close();
    }
  });

  it('a config longer than its descriptor declares is refused once, not asked again as a cut would be', async () => {
    const { routes, images } = registry(1);
    const cfg = `/v2/app0/blobs/${digestOf(images[0]!.config)}`;
    routes.set(cfg, json(Buffer.concat([images[0]!.config, Buffer.from('   ')])));
    const s = await serve(routes);
    try {
      const { r, rep } = await report(s, 'too-long');
      expect(r.code, showTool(r)).toBe(4);
      expect(rep.errors.join('\n')).toContain(`GET ${s.url}${cfg}: the response declares`);
      expect(s.seen.filter((x) => x === `GET ${cfg}`)).toHaveLength(1);
    } finally {
      await s.close();
    }
  });

  it('pull: a manifest cut once is asked again; the pull succeeds', async () => {
    const { routes } = registry(1);
    const k = '/v2/app0/manifests/1';
    routes.set(k, firstTimes(1, cutBody(routes.get(k)!), routes.get(k)!));
    const s = await serve(routes);
    try {
      const r = await runCliAsync(['--store', p('pulled'), 'pull', `${s.host}/app0:1`]);
      expect(r.code, showTool(r)).toBe(0);
      expect(s.seen.filter((x) => x === 'GET /v2/app0/manifests/1')).toHaveLength(2);
    } finally {
      await s.close();
    }
  });
});

describe('Link headers of a paged catalog', () => {
  const forms: Array<[string, (next: string) => string]> = [
    ['<…>; rel="next" (distribution)', (n) => `<${n}>; rel="next"`],
    ['a parameter before rel', (n) => `<${n}>; type="application/json"; rel="next"`],
    ['no angle brackets (quay.io)', (n) => `${n}; rel="next"`],
    ['rel unquoted, in capitals, among other relation types', (n) => `<${n}>; rel=NEXT`],
    ['rel with several values', (n) => `<${n}>; rel="prefetch next"`],
    ['several links in one header, next second', (n) => `</v2/_catalog?n=1>; rel="first", <${n}>; title="a; b, c"; rel="next"`],
    ['relative without a leading slash (against the page URL)', (n) => `<${n.slice('/v2/'.length)}>; rel="next"`],
  ];
  for (const [name, link] of forms) {
    it(`${name}: every page is read (exit 0)`, async () => {
      const { routes } = registry(3);
      routes.set('/v2/_catalog', pagedCatalog(3, link));
      const s = await serve(routes);
      try {
        const { r, rep } = await report(s, `link-${forms.findIndex((f) => f[0] === name)}`);
        expect(r.code, showTool(r)).toBe(0);
        expect(rep.scan.repositories).toBe(3);
        expect(rep.complete).toBe(true);
      } finally {
        await s.close();
      }
    });
  }

  it('a Link header that cannot be read: an error naming the page and the header, never a report of page 1 alone (exit 2)', async () => {
    const { routes } = registry(3);
    routes.set(
      '/v2/_catalog',
      pagedCatalog(3, (n) => `<${n}; rel="next"`),
    );
    const s = await serve(routes);
    try {
      const { r } = await report(s, 'link-bad');
      expect(r.code, showTool(r)).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain(`GET ${s.url}/v2/_catalog?n=1000: its Link header cannot be read`);
    } finally {
      await s.close();
    }
  });

  it('a Link without rel="next" (only prev) ends the listing', async () => {
    const { routes } = registry(1);
    routes.set('/v2/_catalog', json('{"repositories":["app0"]}', { Link: '</v2/_catalog?n=1>; rel="prev"' }));
    const s = await serve(routes);
    try {
      const { r, rep } = await report(s, 'link-prev');
      expect(r.code, showTool(r)).toBe(0);
      expect(rep.scan.repositories).toBe(1);
    } finally {
      await s.close();
    }
  });
});

describe('big lists and many requests at once', () => {
  it('a tags list of 200,000 names in one page (a registry that ignores ?n=) is read, not a stack overflow', async () => {
    const { routes } = registry(1);
    const tags = Array.from({ length: 200_000 }, (_, i) => `t${i}`);
    routes.set('/v2/app0/tags/list', json(JSON.stringify({ name: 'app0', tags })));
    // Only the list matters: every manifest answers 500, so the scan gives up after 20 in a row.
    const s = await serve(routes, (x) => (x.startsWith('/v2/app0/manifests/t') ? json('{}', { 'Retry-After': '0' }, 500) : undefined));
    try {
      const { r, rep } = await report(s, 'big-page', ['--concurrency', '32']);
      expect(r.stderr).not.toContain('Maximum call stack');
      expect(r.code, showTool(r)).toBe(4);
      expect(rep.scan.tags).toBe(200_000);
      expect(rep.scan.stoppedBy).toMatch(/^the registry failed 20 requests in a row/);
    } finally {
      await s.close();
    }
  });

  it('--concurrency 256 with 256 manifests in flight at once: no MaxListenersExceededWarning', async () => {
    const { routes } = registry(1);
    const tags = Array.from({ length: 300 }, (_, i) => `t${i}`);
    routes.set('/v2/app0/tags/list', json(JSON.stringify({ name: 'app0', tags })));
    const manifest = routes.get('/v2/app0/manifests/1')!;
    // Held until 256 are waiting (all in flight at once), then all answered.
    const held: Array<() => void> = [];
    let open = false;
    for (const t of tags)
      routes.set(`/v2/app0/manifests/${t}`, (req, res) => {
        if (open) return manifest(req, res);
        held.push(() => manifest(req, res));
        if (held.length >= 256) {
          open = true;
          for (const f of held.splice(0)) f();
        }
      });
    const s = await serve(routes);
    try {
      const { r, rep } = await report(s, 'many', ['--concurrency', '256']);
      expect(r.code, showTool(r)).toBe(0);
      expect(rep.scan.tagsRead).toBe(300);
      expect(r.stderr).not.toMatch(/MaxListeners|memory leak/);
    } finally {
      await s.close();
    }
  });
});

describe('errors name the URL asked', () => {
  it('a manifest by tag that is not JSON: the error names /manifests/TAG, not a digest never asked for', async () => {
    const { routes } = registry(1);
    routes.set('/v2/app0/manifests/1', json('{not json', { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' }));
    const s = await serve(routes);
    try {
      const { r, rep } = await report(s, 'not-json');
      expect(r.code, showTool(r)).toBe(4);
      expect(rep.errors).toHaveLength(1);
      expect(rep.errors[0]).toMatch(new RegExp(`^app0:1: GET ${s.url}/v2/app0/manifests/1: not JSON`));
    } finally {
      await s.close();
    }
  });

  it('a catalog answering 401 without a challenge: the error names the catalog URL (exit 2)', async () => {
    const { routes } = registry(1);
    routes.set('/v2/_catalog', json('{"errors":[{"code":"UNAUTHORIZED","message":"no"}]}', {}, 401));
    const s = await serve(routes);
    try {
      const { r } = await report(s, 'cat-401');
      expect(r.code, showTool(r)).toBe(2);
      expect(r.stderr.split('\n')[0]).toBe(`layerstore: error: GET ${s.url}/v2/_catalog?n=1000: refused (401) without a usable challenge [E_AUTH]`);
    } finally {
      await s.close();
    }
  });
});
