/**
 * report --registry against the real thing: Debian's docker-registry 2.8 on 127.0.0.1,
 * populated over the distribution API by this test. Requests are counted by a small proxy in
 * front of it (also on 127.0.0.1), which can kill or freeze the registry mid-run. Every
 * expectation is checked against what the test pushed, never against layerstore alone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { digestOf } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { HAVE_REGISTRY, rawRequest, runCliAsync, showTool, startDockerRegistry, uploadBlob, type DockerRegistry } from './helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let tmp: string;
const p = (...x: string[]) => path.join(tmp, ...x);

interface Image {
  layers: Buffer[];
  config: Buffer;
  manifest: Buffer;
  digest: string;
  configDigest: string;
}

/** An image of `n` one-file layers named after `id` (distinct bytes per id), its config and OCI manifest. */
function image(id: string, n = 2): Image {
  const layers = Array.from({ length: n }, (_, i) => rawTar([{ name: `${id}-${i}.txt`, body: `${id} layer ${i}\n` }]));
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: '2025-01-01T00:00:00Z',
      rootfs: { type: 'layers', diff_ids: layers.map((l) => digestOf(l)) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(l), size: l.length })),
    }),
  );
  return { layers, config, manifest, digest: digestOf(manifest), configDigest: digestOf(config) };
}

/** Push `img` as repo:tag (blobs first; the registry checks them). */
async function push(url: string, repo: string, tag: string, img: Image): Promise<void> {
  for (const b of [img.config, ...img.layers]) {
    const head = await rawRequest(`${url}/v2/${repo}/blobs/${digestOf(b)}`, { method: 'HEAD' });
    if (head.status !== 200) expect(await uploadBlob(url, repo, b)).toBe(201);
  }
  const r = await rawRequest(`${url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': OCI_MANIFEST, 'Content-Length': img.manifest.length },
    body: img.manifest,
  });
  expect(r.status, r.body.toString()).toBe(201);
}

interface Proxy {
  url: string;
  /** "METHOD /path" of every request, in order. */
  seen: string[];
  /** TCP connections accepted. */
  connections: number;
  close(): Promise<void>;
}

/**
 * A counting proxy on 127.0.0.1 in front of `backend`. `onRequest` runs before each request
 * is forwarded (with the count so far) and may stop or freeze the registry, or close the proxy.
 */
async function countingProxy(backend: DockerRegistry, onRequest?: (n: number, line: string, proxy: Proxy) => void): Promise<Proxy> {
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const line = `${req.method} ${req.url}`;
    proxy.seen.push(line);
    onRequest?.(proxy.seen.length, line, proxy);
    const up = http.request({ host: '127.0.0.1', port: backend.port, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s) => {
    proxy.connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const proxy: Proxy = {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen: [],
    connections: 0,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  return proxy;
}

const kinds = (seen: string[]) => {
  const k = { version: 0, catalog: 0, tagLists: 0, manifestGets: 0, manifestHeads: 0, blobGets: 0, other: 0 };
  for (const s of seen) {
    if (s === 'GET /v2/') k.version++;
    else if (s.startsWith('GET /v2/_catalog')) k.catalog++;
    else if (/^GET \/v2\/.+\/tags\/list/.test(s)) k.tagLists++;
    else if (/^GET \/v2\/.+\/manifests\//.test(s)) k.manifestGets++;
    else if (/^HEAD \/v2\/.+\/manifests\//.test(s)) k.manifestHeads++;
    else if (/^GET \/v2\/.+\/blobs\//.test(s)) k.blobGets++;
    else k.other++;
  }
  return k;
};

// What the test pushes: alias tags of one image (12 in one repository, plus a retag in
// another), a second image, and a third repository.
const X = image('x');
const Y = image('y');
const W = image('w', 3);
const ALIASES = ['1.0', '1', 'latest', 'stable', 'prod', 'a', 'b', 'c', 'd', 'e', 'f', 'g'];
const TAGS: Array<[string, string, Image]> = [
  ...ALIASES.map((t): [string, string, Image] => ['alias/app', t, X]),
  ['alias/app', '2.0', Y],
  ['alias/app', 'next', Y],
  ['promoted/app', 'released', X],
  ['worker', '1', W],
  ['worker', '2', Y],
];
const REPOS = [...new Set(TAGS.map(([r]) => r))].sort();

/** refs of each manifest digest, as pushed. */
function expectedRefs(tags: Array<[string, string, Image]>): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (const [repo, tag, img] of tags) m.set(img.digest, [...(m.get(img.digest) ?? []), `${repo}:${tag}`].sort());
  return m;
}

const json = (r: { stdout: string }) => JSON.parse(r.stdout);
/** The report without what differs between runs by design (counts of requests and documents). */
const stable = (rep: any) => ({ ...rep, scan: { ...rep.scan, requests: undefined, documents: undefined } });

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-reg-scan-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!HAVE_REGISTRY)('report --registry on docker-registry 2.8', () => {
  let reg: DockerRegistry;
  beforeAll(async () => {
    reg = await startDockerRegistry(p('registry'));
    for (const [repo, tag, img] of TAGS) await push(reg.url, repo, tag, img);
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('alias tags naming one digest all appear in images[].refs, and each config is fetched once', async () => {
    const proxy = await countingProxy(reg);
    try {
      const r = await runCliAsync(['--store', p('store-alias'), 'report', '--registry', proxy.url, '--json', '--concurrency', '16']);
      expect(r.code, showTool(r)).toBe(0);
      const rep = json(r);
      const got = new Map<string, string[]>(rep.images.map((i: any) => [i.manifestDigest, i.refs]));
      expect(got).toEqual(expectedRefs(TAGS));
      expect(rep.registry.tags).toBe(TAGS.length);
      // one config GET per distinct config, however many tags name its image
      const configGets = proxy.seen.filter((s) => s.startsWith('GET') && /\/blobs\//.test(s));
      expect(configGets.filter((s) => s.endsWith(X.configDigest))).toHaveLength(1);
      expect(configGets).toHaveLength(3);
    } finally {
      await proxy.close();
    }
  });

  it('a second run asks only the catalog, the tags lists and one HEAD per tag, fetches nothing and reports the same; a moved tag costs its manifest and config', async () => {
    const store = p('store-incremental');
    const proxy = await countingProxy(reg);
    try {
      const first = await runCliAsync(['--store', store, 'report', '--registry', proxy.url, '--json']);
      expect(first.code, showTool(first)).toBe(0);
      expect(kinds(proxy.seen)).toMatchObject({ manifestGets: TAGS.length, blobGets: 3, manifestHeads: 0 });

      proxy.seen.length = 0;
      proxy.connections = 0;
      const second = await runCliAsync(['--store', store, 'report', '--registry', proxy.url, '--json', '--concurrency', '4']);
      expect(second.code, showTool(second)).toBe(0);
      expect(kinds(proxy.seen)).toEqual({ version: 1, catalog: 1, tagLists: REPOS.length, manifestGets: 0, manifestHeads: TAGS.length, blobGets: 0, other: 0 });
      // the HEADs keep their connections alive (fetch would open one per HEAD): 4 at a time, plus the GETs' own
      expect(proxy.connections).toBeLessThanOrEqual(8);
      const a = json(first);
      const b = json(second);
      expect(stable(b)).toEqual(stable(a));
      expect(b.scan.documents).toEqual({ manifestsCached: 3, manifestsFetched: 0, configsCached: 3, configsFetched: 0 });

      // worker:2 now names a new image: exactly its manifest and its config are fetched
      const Z = image('z');
      await push(reg.url, 'worker', '2', Z);
      proxy.seen.length = 0;
      const third = await runCliAsync(['--store', store, 'report', '--registry', proxy.url, '--json']);
      expect(third.code, showTool(third)).toBe(0);
      const k = kinds(proxy.seen);
      expect({ manifestGets: k.manifestGets, blobGets: k.blobGets, manifestHeads: k.manifestHeads }).toEqual({
        manifestGets: 1,
        blobGets: 1,
        manifestHeads: TAGS.length,
      });
      expect(proxy.seen).toContain(`GET /v2/worker/manifests/${Z.digest}`);
      expect(proxy.seen).toContain(`GET /v2/worker/blobs/${Z.configDigest}`);
      const moved: Array<[string, string, Image]> = TAGS.map(([r, t, img]) => (r === 'worker' && t === '2' ? [r, t, Z] : [r, t, img]));
      expect(new Map(json(third).images.map((i: any) => [i.manifestDigest, i.refs]))).toEqual(expectedRefs(moved));
      await push(reg.url, 'worker', '2', Y); // as it was, for the tests after this one
    } finally {
      await proxy.close();
    }
  });

  it('a loopback HOST:PORT without a scheme (https tried, then http) finds its cache on the second run, and still sees a moved tag', async () => {
    const store = p('store-loopback-host');
    const proxy = await countingProxy(reg);
    const host = proxy.url.replace('http://', '');
    try {
      const first = await runCliAsync(['--store', store, 'report', '--registry', host, '--json']);
      expect(first.code, showTool(first)).toBe(0);
      expect(json(first).registry.url).toBe(proxy.url); // it fell back to http
      expect(json(first).scan.documents).toMatchObject({ manifestsCached: 0, manifestsFetched: 3 });

      proxy.seen.length = 0;
      const second = await runCliAsync(['--store', store, 'report', '--registry', host, '--json']);
      expect(second.code, showTool(second)).toBe(0);
      expect(json(second).scan.documents).toEqual({ manifestsCached: 3, manifestsFetched: 0, configsCached: 3, configsFetched: 0 });
      expect(kinds(proxy.seen)).toMatchObject({ manifestGets: 0, blobGets: 0, manifestHeads: TAGS.length });
      expect(stable(json(second))).toEqual(stable(json(first)));

      // the cache is by digest: a tag moved in the registry is read again
      const Z = image('zz');
      await push(reg.url, 'worker', '2', Z);
      try {
        proxy.seen.length = 0;
        const third = await runCliAsync(['--store', store, 'report', '--registry', host, '--json']);
        expect(third.code, showTool(third)).toBe(0);
        expect(json(third).scan.documents).toMatchObject({ manifestsFetched: 1, configsFetched: 1 });
        expect(proxy.seen).toContain(`GET /v2/worker/manifests/${Z.digest}`);
        const moved: Array<[string, string, Image]> = TAGS.map(([r, t, img]) => (r === 'worker' && t === '2' ? [r, t, Z] : [r, t, img]));
        expect(new Map(json(third).images.map((i: any) => [i.manifestDigest, i.refs]))).toEqual(expectedRefs(moved));
      } finally {
        await push(reg.url, 'worker', '2', Y); // as it was, for the tests after this one
      }
    } finally {
      await proxy.close();
    }
  });

  it('a --repo run keeps the cache of the other repositories: the next full run still fetches nothing', async () => {
    const store = p('store-repo-filter');
    const proxy = await countingProxy(reg);
    try {
      for (const args of [[], ['--repo', 'worker']]) {
        const r = await runCliAsync(['--store', store, 'report', '--registry', proxy.url, '--json', ...args]);
        expect(r.code, showTool(r)).toBe(0);
      }
      proxy.seen.length = 0;
      const full = await runCliAsync(['--store', store, 'report', '--registry', proxy.url, '--json']);
      expect(full.code, showTool(full)).toBe(0);
      expect(kinds(proxy.seen)).toMatchObject({ manifestGets: 0, blobGets: 0, manifestHeads: TAGS.length });
      expect(new Map(json(full).images.map((i: any) => [i.manifestDigest, i.refs]))).toEqual(expectedRefs(TAGS));
    } finally {
      await proxy.close();
    }
  });

  it('a repository with only blobs (404 NAME_UNKNOWN on tags/list) is skipped and counted; the report is complete', async () => {
    expect(await uploadBlob(reg.url, 'blobs/only', Buffer.from('an aborted push\n'))).toBe(201);
    const catalog = JSON.parse((await rawRequest(`${reg.url}/v2/_catalog`)).body.toString());
    expect(catalog.repositories).toContain('blobs/only'); // the registry lists it...
    expect((await rawRequest(`${reg.url}/v2/blobs/only/tags/list`)).status).toBe(404); // ...without tags
    const r = await runCliAsync(['--store', p('store-blobs-only'), 'report', '--registry', reg.url, '--json']);
    expect(r.code, showTool(r)).toBe(0);
    const rep = json(r);
    expect(rep.complete).toBe(true);
    expect(rep.scan.repositoriesWithoutTags).toBe(1);
    expect(rep.repositories.map((x: any) => x.name)).toEqual(REPOS);
    expect(rep.errors).toEqual([]);
    const text = await runCliAsync(['--store', p('store-blobs-only'), 'report', '--registry', reg.url]);
    expect(text.code, showTool(text)).toBe(0);
    expect(text.stdout.split('\n')[0]).toContain('1 repository without tags skipped');
  });

  it("the text report speaks of the registry: an image's UNIQUE is what removing it from the registry frees, not from the store", async () => {
    const r = await runCliAsync(['--store', p('store-words'), 'report', '--registry', reg.url]);
    expect(r.code, showTool(r)).toBe(0);
    expect(r.stdout).toContain('Images (unique = what removing the image from the registry would free)');
    expect(r.stdout).not.toMatch(/\bstore\b/);
  });

  it("--format TEMPLATE prints one line per image, as the store's report does, the same figures as --json", async () => {
    const store = p('store-format');
    const j = await runCliAsync(['--store', store, 'report', '--registry', reg.url, '--json']);
    expect(j.code, showTool(j)).toBe(0);
    const want = json(j).images.map((i: any) => `${i.refs[0]}\t${i.uniqueBytes}`);
    const r = await runCliAsync(['--store', store, 'report', '--registry', reg.url, '--format', '{{.Ref}}\\t{{.UniqueBytes}}']);
    expect(r.code, showTool(r)).toBe(0);
    expect(r.stdout.trimEnd().split('\n')).toEqual(want);
  });

  it('a registry whose catalog pages are smaller than n=1000 (catalog.maxentries 2: 400 PAGINATION_NUMBER_INVALID) is read page by page', async () => {
    // a second registry process over the same storage, with a page limit
    const small = await startDockerRegistry(p('registry-small'), { catalogMaxEntries: 2, storageRoot: reg.root });
    try {
      const probe = await rawRequest(`${small.url}/v2/_catalog?n=1000`);
      expect(probe.status).toBe(400);
      expect(probe.body.toString()).toContain('PAGINATION_NUMBER_INVALID');
      const r = await runCliAsync(['--store', p('store-small-pages'), 'report', '--registry', small.url, '--json']);
      expect(r.code, showTool(r)).toBe(0);
      const rep = json(r);
      expect(rep.repositories.map((x: any) => x.name)).toEqual(REPOS);
      expect(new Map(rep.images.map((i: any) => [i.manifestDigest, i.refs]))).toEqual(expectedRefs(TAGS));
    } finally {
      await small.stop();
    }
  });
});

describe.skipIf(!HAVE_REGISTRY)('report --registry when docker-registry dies or freezes mid-run', () => {
  // 3 repositories x 20 tags over 12 images
  const imgs = Array.from({ length: 12 }, (_, i) => image(`m${i}`));
  const tags: Array<[string, string, Image]> = ['one', 'two', 'three'].flatMap((repo, r) =>
    Array.from({ length: 20 }, (_, t): [string, string, Image] => [repo, `t${t}`, imgs[(r * 5 + t) % imgs.length]!]),
  );
  let root: string;
  let n = 0;
  const fresh = () => startDockerRegistry(p(`registry-mid-${n++}`), { storageRoot: root });

  beforeAll(async () => {
    const reg = await startDockerRegistry(p('registry-mid'));
    root = reg.root;
    try {
      for (const [repo, tag, img] of tags) await push(reg.url, repo, tag, img);
    } finally {
      await reg.stop();
    }
  }, 60_000);

  /** Run the report through a proxy that calls `act` at the 15th manifest request (GET or HEAD). */
  async function runUntil(act: (reg: DockerRegistry, proxy: Proxy) => void, args: string[]) {
    const reg = await fresh();
    let manifests = 0;
    const proxy = await countingProxy(reg, (_n, line, px) => {
      if (/\/manifests\//.test(line) && ++manifests === 15) act(reg, px);
    });
    try {
      return { r: await runCliAsync(['report', '--registry', proxy.url, '--concurrency', '4', ...args], {}, 60_000), proxy };
    } finally {
      await proxy.close();
      reg.proc.kill('SIGCONT');
      await reg.stop();
    }
  }

  /** The registry process is killed and its port closes (the proxy goes away with it). */
  const kill = (reg: DockerRegistry, proxy: Proxy) => {
    reg.proc.kill('SIGKILL');
    void proxy.close();
  };

  it('killed: the report says INCOMPLETE on its first line, with counts, one summary instead of a warning per tag, exit 4', async () => {
    const { r } = await runUntil(kill, ['--store', p('store-killed-text')]);
    expect(r.code, showTool(r)).toBe(4);
    const first = r.stdout.split('\n')[0]!;
    expect(first).toMatch(/^INCOMPLETE: \d+ of 60 tags read \(\d+ failed, \d+ not reached\)/);
    expect(first).toContain('the registry stopped answering');
    expect(r.stderr.split('\n').filter((l) => l.startsWith('layerstore: warning')).length).toBeLessThanOrEqual(11);
  });

  it('killed, --json: complete false, and the counts add up to the tags listed', async () => {
    const { r } = await runUntil(kill, ['--store', p('store-killed-json'), '--json']);
    expect(r.code, showTool(r)).toBe(4);
    const rep = json(r);
    expect(rep.complete).toBe(false);
    const s = rep.scan;
    expect(s.tags).toBe(60);
    expect(s.tagsRead + s.tagsFailed + s.tagsNotReached).toBe(60);
    expect(s.tagsNotReached).toBeGreaterThan(0);
    expect(s.tagsRead).toBeLessThan(60);
    expect(s.stoppedBy).toContain('the registry stopped answering');
    expect(s.stoppedBy).toContain('http://127.0.0.1:');
    expect(rep.totals.images).toBe(rep.images.length);
    expect(rep.errors.length).toBeLessThan(10);
  });

  it('frozen (SIGSTOP): every request waits at most --timeout, the run ends with an incomplete report, exit 4', async () => {
    const { r } = await runUntil((reg) => reg.proc.kill('SIGSTOP'), ['--store', p('store-frozen'), '--json', '--timeout', '1']);
    expect(r.code, showTool(r)).toBe(4);
    const rep = json(r);
    expect(rep.complete).toBe(false);
    expect(rep.scan.stoppedBy).toMatch(/the registry stopped answering: (GET|HEAD) http:\/\/127\.0\.0\.1:\d+\/v2\/.+: no answer within 1 s/);
    expect(rep.scan.tagsNotReached).toBeGreaterThan(0);
  });
});
