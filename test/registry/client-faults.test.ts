/**
 * pull and push against a registry that misbehaves: a real `serve` behind a node:http proxy
 * (in this process, on 127.0.0.1) that injects faults into the first requests it sees: a body
 * cut off mid-blob, 503s and 429s, a token endpoint that never answers, an upload whose
 * connection is reset. pull and push retry what may be retried (GET/HEAD, the token, a whole
 * blob upload from scratch), resume a cut blob with a Range request, and after their retries
 * fail with one line naming the URL and the attempts, exit 2, the store unchanged.
 * No timing is asserted: stalls are forever, and --timeout 1 ends them.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { checkStore, randomLayer, writeArchive } from '../helpers/store-proc.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { runCliAsync, showTool, startServe, type Serve } from './helpers.js';

/** What the proxy does with a request: pass it on, or inject a fault. */
type Fault = 'pass' | '503' | '429' | 'cut-body' | 'stall-body' | 'stall' | 'reset';

interface Proxy {
  host: string;
  /** "METHOD path [range]" of every request seen, in order. */
  log: string[];
  /** Decide the fate of each request (n: how many requests matched `key` so far, from 1). */
  rule: (req: http.IncomingMessage, n: (key: string) => number) => Fault;
  /** Answer /v2/ requests without Authorization with a Bearer challenge whose realm is /token here. */
  bearer: boolean;
  close(): Promise<void>;
}

async function startProxy(target: Serve): Promise<Proxy> {
  const counts = new Map<string, number>();
  const n = (key: string) => {
    const v = (counts.get(key) ?? 0) + 1;
    counts.set(key, v);
    return v;
  };
  const stalled: http.ServerResponse[] = [];
  const proxy: Proxy = { host: '', log: [], rule: () => 'pass', bearer: false, close: async () => {} };
  const server = http.createServer((req, res) => {
    proxy.log.push(`${req.method} ${req.url}${req.headers.range ? ` ${req.headers.range}` : ''}`);
    if (proxy.bearer && req.url!.startsWith('/token')) {
      stalled.push(res); // never answered
      return;
    }
    if (proxy.bearer && !req.headers.authorization) {
      req.resume();
      res.writeHead(401, { 'WWW-Authenticate': `Bearer realm="http://${proxy.host}/token",service="faults"`, 'Content-Length': '0' });
      return res.end();
    }
    const fault = proxy.rule(req, n);
    if (fault === '503' || fault === '429') {
      req.resume();
      res.writeHead(Number(fault), { 'Retry-After': '0', 'Content-Length': '0' });
      return res.end();
    }
    if (fault === 'stall') return void stalled.push(res);
    if (fault === 'reset') {
      // Take some of the upload, then drop the connection.
      let got = 0;
      req.on('data', (c: Buffer) => {
        got += c.length;
        if (got > 64 * 1024) req.socket.destroy();
      });
      req.on('end', () => req.socket.destroy());
      return;
    }
    const headers = { ...req.headers, host: target.host };
    delete headers.authorization;
    const up = http.request({ host: '127.0.0.1', port: target.port, method: req.method, path: req.url, headers }, (ur) => {
      res.writeHead(ur.statusCode!, ur.headers);
      if (fault !== 'cut-body' && fault !== 'stall-body') return void ur.pipe(res);
      // Half the body, then the connection closes (or stays open, silent).
      const half = Math.floor(Number(ur.headers['content-length']) / 2);
      let sent = 0;
      ur.on('data', (c: Buffer) => {
        if (sent >= half) return;
        const part = c.subarray(0, Math.max(0, Math.min(c.length, half - sent)));
        sent += part.length;
        // Once the part is on the wire, drop the connection.
        if (sent < half || fault === 'stall-body') res.write(part);
        else
          res.write(part, () => {
            ur.destroy();
            res.socket?.end(); // a FIN after the bytes (a destroy may reset them away unread)
          });
      });
    });
    up.on('error', () => res.socket?.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  proxy.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  proxy.close = () =>
    new Promise((r) => {
      for (const s of stalled) s.socket?.destroy();
      server.closeAllConnections();
      server.close(() => r());
    });
  return proxy;
}

let tmp: string;
let source: string;
/** The 1.5 MB layer's digest: the blob whose body is cut (mid-stream, after many chunks). */
let big: string;
let serve: Serve;

/** Run `fn` with a fault-injecting proxy in front of the test's serve, closed whatever happens. */
async function withProxy(fn: (proxy: Proxy) => Promise<void>): Promise<void> {
  const proxy = await startProxy(serve);
  try {
    await fn(proxy);
  } finally {
    await proxy.close();
  }
}
let sink: Serve;
const stores: string[] = [];
const p = (...x: string[]) => path.join(tmp, ...x);
const newStore = () => {
  const s = p(`store-${stores.length}`);
  stores.push(s);
  return s;
};
const blobNames = (s: string) => readdirSync(path.join(s, 'blobs', 'sha256')).sort();

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-client-faults-'));
  source = p('source');
  const tar = p('image.tar');
  writeFileSync(
    tar,
    await writeArchive('oci', [{ repoTags: ['acme/fault:1'], layers: [await randomLayer('fault-big', 1_500_000), await randomLayer('fault-small', 20_000)] }]),
  );
  const r = await runCliAsync(['--store', source, '-q', 'ingest', tar]);
  expect(r.code, showTool(r)).toBe(0);
  big = blobNames(source).sort((a, b) => statSync(path.join(source, 'blobs', 'sha256', b)).size - statSync(path.join(source, 'blobs', 'sha256', a)).size)[0]!;
  expect(statSync(path.join(source, 'blobs', 'sha256', big)).size).toBeGreaterThan(1_000_000);
  serve = await startServe(source);
  sink = await startServe(p('sink'), ['--allow-push']);
}, 120_000);
afterAll(async () => {
  await serve?.stop();
  await sink?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('pull through faults', () => {
  it('a blob GET cut off mid-body resumes with a Range request; the pull is byte-identical to the source', async () => {
    await withProxy(async (proxy) => {
      proxy.rule = (req, n) => (req.method === 'GET' && req.url!.endsWith(big) && n('big') === 1 ? 'cut-body' : 'pass');
      const S = newStore();
      const r = await runCliAsync(['--store', S, '-q', 'pull', `${proxy.host}/acme/fault:1`, '--timeout', '10']);
      expect(r.code, showTool(r)).toBe(0);
      const ranged = proxy.log.filter((l) => / bytes=\d+-$/.test(l));
      expect(ranged, proxy.log.join('\n')).toHaveLength(1);
      const [cutUrl] = ranged[0]!.split(' ').slice(1);
      expect(
        proxy.log.filter((l) => l.startsWith(`GET ${cutUrl}`)),
        'the cut blob was asked for twice',
      ).toHaveLength(2);
      expect(cutUrl).toBe(`/v2/acme/fault/blobs/sha256:${big}`);
      expect(Number(/bytes=(\d+)-/.exec(ranged[0]!)![1])).toBeGreaterThan(0);
      expect(checkStore(S).badBlobs).toEqual([]);
      expect(blobNames(S)).toEqual(blobNames(source));
    });
  });

  it('a blob body that goes silent halfway: --timeout 1 ends the wait, the rest comes with a Range request, the pull is byte-identical', async () => {
    await withProxy(async (proxy) => {
      proxy.rule = (req, n) => (req.method === 'GET' && req.url!.endsWith(big) && n('big') === 1 ? 'stall-body' : 'pass');
      const S = newStore();
      const r = await runCliAsync(['--store', S, '-q', 'pull', `${proxy.host}/acme/fault:1`, '--timeout', '1']);
      expect(r.code, showTool(r)).toBe(0);
      expect(
        proxy.log.filter((l) => / bytes=[1-9]\d*-$/.test(l)),
        proxy.log.join('\n'),
      ).toHaveLength(1);
      expect(checkStore(S).badBlobs).toEqual([]);
      expect(blobNames(S)).toEqual(blobNames(source));
    });
  });

  it('503 twice and a 429 (Retry-After), then the answer: the pull succeeds', async () => {
    await withProxy(async (proxy) => {
      proxy.rule = (req, n) => {
        if (/\/manifests\//.test(req.url!)) return n('manifest') <= 2 ? '503' : 'pass';
        if (/\/blobs\//.test(req.url!) && n('blob') === 1) return '429';
        return 'pass';
      };
      const S = newStore();
      const r = await runCliAsync(['--store', S, '-q', 'pull', `${proxy.host}/acme/fault:1`]);
      expect(r.code, showTool(r)).toBe(0);
      expect(proxy.log.filter((l) => l.startsWith('GET /v2/acme/fault/manifests/1')).length).toBe(3);
      expect(blobNames(S)).toEqual(blobNames(source));
    });
  });

  it('a registry that keeps answering 503: one line naming the URL and the attempts, exit 2, the store byte-identical', async () => {
    await withProxy(async (proxy) => {
      proxy.rule = (req) => (req.method === 'GET' && /\/blobs\//.test(req.url!) ? '503' : 'pass');
      const S = newStore();
      const pre = await runCliAsync(['--store', S, '-q', 'pull', `${serve.host}/acme/fault:1`]);
      expect(pre.code, showTool(pre)).toBe(0);
      const rm = await runCliAsync(['--store', S, '-q', 'rm', `${serve.host}/acme/fault:1`]);
      expect(rm.code, showTool(rm)).toBe(0);
      const gc = await runCliAsync(['--store', S, '-q', 'gc']);
      expect(gc.code, showTool(gc)).toBe(0);
      const before = await snapshotStore(S);
      const r = await runCliAsync(['--store', S, '-q', 'pull', `${proxy.host}/acme/fault:1`]);
      expect(r.code, showTool(r)).toBe(2);
      const lines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => !/^\s*hint:/.test(l));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toMatch(new RegExp(`GET http://${proxy.host.replace(/\./g, '\\.')}/v2/acme/fault/blobs/sha256:[0-9a-f]{64}: 503 \\(4 attempts\\)`));
      expect(await snapshotStore(S)).toEqual(before);
    });
  });

  it('a token endpoint that never answers: --timeout 1 gives up with one line naming the token service, exit 2, the store byte-identical', async () => {
    await withProxy(async (proxy) => {
      proxy.bearer = true;
      const S = newStore();
      const pre = await runCliAsync(['--store', S, '-q', 'pull', `${serve.host}/acme/fault:1`]);
      expect(pre.code, showTool(pre)).toBe(0);
      const before = await snapshotStore(S);
      const r = await runCliAsync(['--store', S, '-q', 'pull', `${proxy.host}/acme/fault:1`, '--timeout', '1'], {}, 120_000);
      expect(r.code, showTool(r)).toBe(2);
      const lines = r.stderr
        .trim()
        .split('\n')
        .filter((l) => !/^\s*hint:/.test(l));
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain(`GET http://${proxy.host}/token: no answer within 1 s (4 attempts)`);
      expect(proxy.log.filter((l) => l.startsWith('GET /token')).length).toBe(4);
      expect(await snapshotStore(S)).toEqual(before);
    });
  });

  it('a manifest GET that stalls forever: --timeout 1 gives up after its retries, exit 2', async () => {
    await withProxy(async (proxy) => {
      proxy.rule = (req) => (/\/manifests\//.test(req.url!) ? 'stall' : 'pass');
      const r = await runCliAsync(['--store', newStore(), '-q', 'pull', `${proxy.host}/acme/fault:1`, '--timeout', '1']);
      expect(r.code, showTool(r)).toBe(2);
      expect(r.stderr).toContain(`GET http://${proxy.host}/v2/acme/fault/manifests/1: no answer within 1 s (4 attempts)`);
    });
  });
});

describe('push through faults', () => {
  it('an upload whose connection is reset mid-body starts again from scratch (a new session) and the push succeeds', async () => {
    const proxy = await startProxy(sink);
    try {
      proxy.rule = (req, n) => (req.method === 'PUT' && /\/blobs\/uploads\//.test(req.url!) && n('put') === 1 ? 'reset' : 'pass');
      const r = await runCliAsync(['--store', source, '-q', 'push', 'acme/fault:1', `${proxy.host}/acme/pushed:1`, '--timeout', '10']);
      expect(r.code, showTool(r)).toBe(0);
      const posts = proxy.log.filter((l) => l.startsWith('POST /v2/acme/pushed/blobs/uploads/'));
      const puts = proxy.log.filter((l) => l.startsWith('PUT /v2/acme/pushed/blobs/uploads/'));
      expect(puts.length, proxy.log.join('\n')).toBe(posts.length);
      expect(posts.length).toBe(blobNames(source).length - 1 + 1); // every blob but the manifest (a PUT of its own), one of them twice
      const back = newStore();
      const pull = await runCliAsync(['--store', back, '-q', 'pull', `${sink.host}/acme/pushed:1`]);
      expect(pull.code, showTool(pull)).toBe(0);
      expect(blobNames(back)).toEqual(blobNames(source));
    } finally {
      await proxy.close();
    }
  });
  it('a manifest PUT answered 503 then cut off, and a mount answered 429: each is sent again and the push succeeds', async () => {
    const proxy = await startProxy(sink);
    try {
      // First push: the manifest PUT fails twice (503, then a reset connection) before it lands.
      proxy.rule = (req, n) => {
        if (req.method === 'PUT' && /\/manifests\//.test(req.url!)) {
          const k = n('manifest');
          return k === 1 ? '503' : k === 2 ? 'reset' : 'pass';
        }
        return 'pass';
      };
      const r = await runCliAsync(['--store', source, '-q', 'push', 'acme/fault:1', `${proxy.host}/acme/retried:1`, '--timeout', '10']);
      expect(r.code, showTool(r)).toBe(0);
      expect(proxy.log.filter((l) => l.startsWith('PUT /v2/acme/retried/manifests/')).length, proxy.log.join('\n')).toBe(3);
      // Second push to another repository of the same registry: its blobs are mounted; the first mount is answered 429.
      proxy.log.length = 0;
      proxy.rule = (req, n) => (req.method === 'POST' && /mount=/.test(req.url!) && n('mount') === 1 ? '429' : 'pass');
      const again = await runCliAsync(['--store', source, '-q', 'push', 'acme/fault:1', `${proxy.host}/acme/mounted:1`, '--timeout', '10']);
      expect(again.code, showTool(again)).toBe(0);
      const mounts = proxy.log.filter((l) => l.startsWith('POST /v2/acme/mounted/blobs/uploads/?mount='));
      expect(mounts.length, proxy.log.join('\n')).toBe(blobNames(source).length - 1 + 1); // every blob but the manifest, one of them twice
      expect(
        proxy.log.some((l) => l.startsWith('PUT /v2/acme/mounted/blobs/uploads/')),
        proxy.log.join('\n'),
      ).toBe(false); // all mounted, none uploaded
      const back = newStore();
      const pull = await runCliAsync(['--store', back, '-q', 'pull', `${sink.host}/acme/mounted:1`]);
      expect(pull.code, showTool(pull)).toBe(0);
      expect(blobNames(back)).toEqual(blobNames(source));
    } finally {
      await proxy.close();
    }
  });
});
