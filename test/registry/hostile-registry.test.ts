/**
 * pull and report --registry against a hostile registry (a small HTTP server in this process,
 * on 127.0.0.1 only): oversized manifests, blob bodies longer than their descriptors, huge
 * configs, and Link headers that page in a loop. Big bodies are streamed lazily, a chunk at a
 * time as the socket drains, and the server counts what it sent: the client must stop
 * reading early, not merely fail after reading everything.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, listBlobs } from '../helpers/cli.js';
import { digestOf } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { type FakeRegistry, type Handler, recordingServer } from './fake-registry.js';
import { runCliAsync, showTool } from './helpers.js';

const MiB = 1 << 20;
/** What a hostile body offers: far above every limit, small enough for a test to hash. */
const HUGE = 64 * MiB;
/** The most a client that stops early lets through: the 4 MiB limit plus socket buffers. */
const EARLY = 24 * MiB;

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let tmp: string;
const p = (...x: string[]) => path.join(tmp, ...x);

/** What a lazily streamed body got out before the client hung up (or it ended). */
interface Sent {
  bytes: number;
  finished: boolean;
}

/** `prefixLen` bytes of `fill`, then `tail`, written as the socket drains. */
function streamLazily(res: http.ServerResponse, prefixLen: number, fill: number, tail: Buffer, sent: Sent): void {
  const chunk = Buffer.alloc(64 * 1024, fill);
  let left = prefixLen;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(chunk.length, left);
      left -= n;
      sent.bytes += n;
      if (!res.write(chunk.subarray(0, n))) return void res.once('drain', pump);
    }
    res.end(tail, () => (sent.finished = true));
    sent.bytes += tail.length;
  };
  pump();
}

/** sha256 of `prefixLen` bytes of `fill` then `tail`, hashed a chunk at a time. */
function lazyDigest(prefixLen: number, fill: number, tail: Buffer): string {
  const h = createHash('sha256');
  const chunk = Buffer.alloc(64 * 1024, fill);
  for (let left = prefixLen; left > 0; left -= chunk.length) h.update(chunk.subarray(0, Math.min(chunk.length, left)));
  h.update(tail);
  return `sha256:${h.digest('hex')}`;
}

/** One image: a one-file layer, its config, and a manifest, with the descriptors' sizes overridable; a note labels the config and annotates the manifest. */
function image(opts: { configSize?: number; configDigest?: string; note?: string } = {}) {
  const layer = rawTar([{ name: 'hello.txt', body: 'hello\n' }]);
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      ...(opts.note ? { config: { Labels: { note: opts.note } } } : {}),
      rootfs: { type: 'layers', diff_ids: [digestOf(layer)] },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: opts.configDigest ?? digestOf(config), size: opts.configSize ?? config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
      ...(opts.note ? { annotations: { note: opts.note } } : {}),
    }),
  );
  return { layer, config, manifest };
}

/** A registry that answers `routes` (by path without query) and 404 otherwise; logs every request. */
function hostile(routes: Record<string, Handler>): Promise<FakeRegistry> {
  return recordingServer((req, res, pathname) => {
    const route = routes[pathname];
    if (route) return route(req, res);
    res.writeHead(req.url === '/v2/' ? 200 : 404, { 'Content-Type': 'application/json' });
    res.end(req.url === '/v2/' ? '{}' : '{"errors":[{"code":"NOT_FOUND","message":"no"}]}');
  });
}

const send =
  (type: string, body: Buffer, headers: Record<string, string> = {}): Handler =>
  (_req, res) => {
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': String(body.length), ...headers });
    res.end(body);
  };

/** Nothing of a refused pull is left: no blob, nothing in staging. */
function expectNothingStored(store: string): void {
  expect(listBlobs(store)).toEqual([]);
  const staging = path.join(store, '.layerstore', 'staging');
  expect(existsSync(staging) ? readdirSync(staging).filter((n) => !n.endsWith('.pin')) : []).toEqual([]);
}

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-hostile-reg-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('pull from a hostile registry', () => {
  it('an oversized manifest: the client stops reading at the 4 MiB limit and names the URL (E_TOO_LARGE)', async () => {
    const { manifest } = image();
    const sent: Sent = { bytes: 0, finished: false };
    const reg = await hostile({
      // valid JSON after 64 MiB of whitespace, no Content-Length (chunked)
      '/v2/big/manifests/latest': (_req, res) => {
        res.writeHead(200, { 'Content-Type': OCI_MANIFEST });
        streamLazily(res, HUGE, 0x20, manifest, sent);
      },
    });
    try {
      const store = p('big-manifest');
      const r = await runCliAsync(['--store', store, 'pull', `${reg.host}/big:latest`]);
      expect(r.code, showTool(r)).toBe(2);
      expect(r.stderr).toContain('[E_TOO_LARGE]');
      expect(r.stderr).toContain(`${reg.url}/v2/big/manifests/latest`);
      expect(sent.finished, 'the whole body was read').toBe(false);
      expect(sent.bytes).toBeLessThan(EARLY);
      expectNothingStored(store);
    } finally {
      await reg.close();
    }
  });

  it('a manifest whose Content-Length is above the limit is refused before its body is read', async () => {
    const sent: Sent = { bytes: 0, finished: false };
    const reg = await hostile({
      '/v2/big/manifests/latest': (_req, res) => {
        res.writeHead(200, { 'Content-Type': OCI_MANIFEST, 'Content-Length': String(HUGE + 2) });
        streamLazily(res, HUGE, 0x20, Buffer.from('{}'), sent);
      },
    });
    try {
      const store = p('big-manifest-cl');
      const r = await runCliAsync(['--store', store, 'pull', `${reg.host}/big:latest`]);
      expect(r.code, showTool(r)).toBe(2);
      expect(r.stderr).toContain('[E_TOO_LARGE]');
      expect(r.stderr).toContain(`declares ${HUGE + 2} bytes`);
      expect(r.stderr).toContain(`${reg.url}/v2/big/manifests/latest`);
      expect(sent.finished).toBe(false);
      expect(sent.bytes).toBeLessThan(EARLY);
    } finally {
      await reg.close();
    }
  });

  it('a layer body longer than its descriptor: refused as soon as it passes the declared size, nothing staged (E_SIZE_MISMATCH)', async () => {
    const { layer, config, manifest } = image();
    const sent = { chunked: { bytes: 0, finished: false }, declared: { bytes: 0, finished: false } };
    const routes: Record<string, Handler> = {};
    for (const repo of ['chunked', 'declared'] as const) {
      routes[`/v2/${repo}/manifests/latest`] = send(OCI_MANIFEST, manifest);
      routes[`/v2/${repo}/blobs/${digestOf(config)}`] = send('application/octet-stream', config);
      // the real layer's bytes, then 64 MiB more: without a length, or with one that says so
      routes[`/v2/${repo}/blobs/${digestOf(layer)}`] = (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream', ...(repo === 'declared' ? { 'Content-Length': String(layer.length + HUGE) } : {}) });
        res.write(layer);
        streamLazily(res, HUGE, 0, Buffer.alloc(0), sent[repo]);
      };
    }
    const reg = await hostile(routes);
    try {
      const store = p('long-layer');
      const r = await runCliAsync(['--store', store, 'pull', `${reg.host}/chunked:latest`]);
      expect(r.code, showTool(r)).toBe(2);
      expect(r.stderr).toContain('[E_SIZE_MISMATCH]');
      expect(r.stderr).toContain(`${reg.url}/v2/chunked/blobs/${digestOf(layer)}`);
      expect(r.stderr).toContain(`longer than the ${layer.length} bytes its descriptor declares`);
      expect(sent.chunked.finished).toBe(false);
      expect(sent.chunked.bytes).toBeLessThan(EARLY);
      expectNothingStored(store);

      const store2 = p('long-layer-cl');
      const r2 = await runCliAsync(['--store', store2, 'pull', `${reg.host}/declared:latest`]);
      expect(r2.code, showTool(r2)).toBe(2);
      expect(r2.stderr).toContain('[E_SIZE_MISMATCH]');
      expect(r2.stderr).toContain(`declares ${layer.length + HUGE} bytes`);
      expect(r2.stderr).toContain(`${reg.url}/v2/declared/blobs/${digestOf(layer)}`);
      expect(sent.declared.finished).toBe(false);
      expect(sent.declared.bytes).toBeLessThan(EARLY);
      expectNothingStored(store2);
    } finally {
      await reg.close();
    }
  });

  it('a config declared above 4 MiB is refused before it is downloaded (E_TOO_LARGE)', async () => {
    // a real config, whitespace-prefixed to 64 MiB, whose descriptor tells its true size and digest
    const tail = image().config;
    const configDigest = lazyDigest(HUGE, 0x20, tail);
    const { manifest } = image({ configSize: HUGE + tail.length, configDigest });
    const sent: Sent = { bytes: 0, finished: false };
    const reg = await hostile({
      '/v2/img/manifests/latest': send(OCI_MANIFEST, manifest),
      [`/v2/img/blobs/${configDigest}`]: (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        streamLazily(res, HUGE, 0x20, tail, sent);
      },
    });
    try {
      const store = p('huge-config');
      const r = await runCliAsync(['--store', store, 'pull', `${reg.host}/img:latest`]);
      expect(r.code, showTool(r)).toBe(2);
      expect(r.stderr).toContain('[E_TOO_LARGE]');
      expect(r.stderr).toContain(configDigest);
      expect(
        reg.seen.filter((s) => s.includes(configDigest) && s.startsWith('GET')),
        'the config was downloaded',
      ).toEqual([]);
      expect(sent.bytes).toBe(0);
      expectNothingStored(store);
    } finally {
      await reg.close();
    }
  });
});

describe('report --registry against a hostile registry', () => {
  const catalog =
    (repos: string[], link?: string): Handler =>
    (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'application/json', ...(link ? { Link: link } : {}) });
      res.end(JSON.stringify({ repositories: repos }));
    };

  it('a Link header pointing back at the same page: E_REGISTRY naming the URL after one page, not 100,000 requests', async () => {
    let requests = 0;
    const reg = await hostile({
      '/v2/_catalog': (req, res) => {
        // past 20 pages the server gives up (so the test ends), with a status the client reports differently
        if (++requests > 20) return void res.writeHead(500).end();
        catalog(['loop'], '</v2/_catalog?n=1000>; rel="next"')(req, res);
      },
    });
    try {
      const r = await runCliAsync(['--store', p('unused'), 'report', '--registry', reg.url]);
      expect(r.code, showTool(r)).toBe(2);
      expect(r.stderr).toContain('[E_REGISTRY]');
      expect(r.stderr).toContain(`${reg.url}/v2/_catalog?n=1000`);
      expect(r.stderr).toContain('already');
      expect(requests).toBe(1);
    } finally {
      await reg.close();
    }
  });

  it('pages whose `last` does not advance (each Link a new URL): E_REGISTRY naming the URL', async () => {
    let requests = 0;
    const reg = await hostile({
      '/v2/_catalog': (req, res) => {
        if (++requests > 20) return void res.writeHead(500).end();
        catalog(['a'], `</v2/_catalog?last=a&n=1000&page=${requests}>; rel="next"`)(req, res);
      },
    });
    try {
      const r = await runCliAsync(['--store', p('unused'), 'report', '--registry', reg.url]);
      expect(r.code, showTool(r)).toBe(2);
      expect(r.stderr).toContain('[E_REGISTRY]');
      expect(r.stderr).toContain(`${reg.url}/v2/_catalog?last=a&n=1000&page=2`);
      expect(r.stderr).toContain('does not advance');
      expect(requests).toBe(2);
    } finally {
      await reg.close();
    }
  });

  it('a config declared above 4 MiB is not fetched; one longer than its descriptor stops at its size: both reported, the rest of the registry still is', async () => {
    const good = image();
    const tail = good.config;
    const hugeDigest = lazyDigest(HUGE, 0x20, tail);
    const huge = image({ configSize: HUGE + tail.length, configDigest: hugeDigest });
    // a real config (its true size and digest) whose body goes on for 64 MiB, under its own
    // manifest; its own config too (a scan reads a config once, from whichever repository names it first)
    const long = image({ note: 'long' });
    const longDigest = digestOf(long.config);
    const sentHuge: Sent = { bytes: 0, finished: false };
    const sentLong: Sent = { bytes: 0, finished: false };
    const reg = await hostile({
      '/v2/_catalog': catalog(['good', 'huge', 'long']),
      '/v2/good/tags/list': send('application/json', Buffer.from('{"name":"good","tags":["1"]}')),
      '/v2/huge/tags/list': send('application/json', Buffer.from('{"name":"huge","tags":["1"]}')),
      '/v2/long/tags/list': send('application/json', Buffer.from('{"name":"long","tags":["1"]}')),
      '/v2/good/manifests/1': send(OCI_MANIFEST, good.manifest),
      '/v2/huge/manifests/1': send(OCI_MANIFEST, huge.manifest),
      '/v2/long/manifests/1': send(OCI_MANIFEST, long.manifest),
      [`/v2/good/blobs/${digestOf(good.config)}`]: send('application/octet-stream', good.config),
      [`/v2/huge/blobs/${hugeDigest}`]: (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        streamLazily(res, HUGE, 0x20, tail, sentHuge);
      },
      [`/v2/long/blobs/${longDigest}`]: (_req, res) => {
        res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
        res.write(long.config);
        streamLazily(res, HUGE, 0x20, Buffer.alloc(0), sentLong);
      },
    });
    try {
      const r = await runCliAsync(['--store', p('unused'), 'report', '--registry', reg.url, '--json']);
      expect(r.code, showTool(r)).toBe(4); // a report missing tags: incomplete
      const out = JSON.parse(r.stdout);
      expect(out.complete).toBe(false);
      expect(out.scan).toMatchObject({ tags: 3, tagsRead: 1, tagsFailed: 2, tagsNotReached: 0 });
      expect(out.registry.repositories).toBe(3);
      expect(out.repositories.find((x: any) => x.name === 'good').images).toBe(1);
      const errors: string[] = out.errors;
      expect(errors).toHaveLength(2);
      expect(errors.find((e) => e.startsWith('huge:1'))).toMatch(/above the 4194304-byte limit/);
      expect(sentHuge.bytes).toBe(0);
      expect(errors.find((e) => e.startsWith('long:1'))).toContain(`${reg.url}/v2/long/blobs/${longDigest}`);
      expect(sentLong.finished).toBe(false);
      expect(sentLong.bytes).toBeLessThan(EARLY);
    } finally {
      await reg.close();
    }
  });
});
