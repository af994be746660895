/**
 * Blob uploads go over node:http with a chunked body whose chunks come from reused buffers
 * (registry/node-transport.ts nodeUpload): each chunk is asked for only once the socket has
 * taken the one before, so what arrives is what was read, byte for byte. An answer before the
 * whole body, a connection cut mid-body and a body that fails to read each end the upload the
 * way the client expects (the answer; a fetch-like TypeError; the body's own error).
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LayerstoreError } from '../../src/errors.js';
import { nodeUpload } from '../../src/registry/node-transport.js';

let server: http.Server | undefined;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function listen(handler: http.RequestListener): Promise<string> {
  server = http.createServer(handler);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/upload`;
}

/** `n` chunks of `size` bytes, all in one buffer refilled for each (as fileChunks reuses its buffers). */
function refilled(n: number, size: number, closed: { value: boolean }): AsyncGenerator<Buffer> {
  const buf = Buffer.alloc(size);
  return (async function* () {
    try {
      for (let i = 0; i < n; i++) {
        buf.fill(i % 251);
        yield buf;
      }
    } finally {
      closed.value = true;
    }
  })();
}

function expectedSha(n: number, size: number): string {
  const h = createHash('sha256');
  for (let i = 0; i < n; i++) h.update(Buffer.alloc(size, i % 251));
  return h.digest('hex');
}

describe('nodeUpload', () => {
  it('the server receives every chunk as it was when handed over, though one buffer is refilled for each', async () => {
    const url = await listen((req, res) => {
      const h = createHash('sha256');
      let n = 0;
      req.on('data', (c: Buffer) => {
        h.update(c);
        n += c.length;
      });
      req.on('end', () => {
        res.statusCode = 201;
        res.end(JSON.stringify({ n, sha: h.digest('hex') }));
      });
    });
    const closed = { value: false };
    const res = await nodeUpload('PUT', url, { 'Content-Length': String(40 * 65536) }, refilled(40, 65536, closed));
    expect(res.status).toBe(201);
    const parts: Uint8Array[] = [];
    for await (const c of res.body!) parts.push(c);
    expect(JSON.parse(Buffer.concat(parts).toString())).toEqual({ n: 40 * 65536, sha: expectedSha(40, 65536) });
    expect(closed.value).toBe(true);
  });

  it('an answer before the whole body: that answer, and the body is not read further', async () => {
    const url = await listen((_req, res) => {
      res.statusCode = 413;
      res.setHeader('Connection', 'close');
      res.end('too big');
    });
    const closed = { value: false };
    const res = await nodeUpload('PUT', url, { 'Content-Length': String(4000 * 65536) }, refilled(4000, 65536, closed));
    expect(res.status).toBe(413);
    await res.body?.cancel();
    await new Promise((r) => setTimeout(r, 50));
    expect(closed.value).toBe(true);
  });

  it('a connection cut mid-body: a TypeError "fetch failed" with the socket error as its cause', async () => {
    const url = await listen((req) => {
      let n = 0;
      req.on('data', (c: Buffer) => {
        n += c.length;
        if (n > 1024 * 1024) req.socket.destroy();
      });
    });
    const closed = { value: false };
    const p = nodeUpload('PUT', url, { 'Content-Length': String(400 * 65536) }, refilled(400, 65536, closed));
    await expect(p).rejects.toMatchObject({ name: 'TypeError', message: 'fetch failed' });
    await expect(p).rejects.toHaveProperty('cause');
  });

  it('a body that fails to read: its own error, not a network failure', async () => {
    const url = await listen((req, res) => {
      req.resume();
      req.on('end', () => res.end());
    });
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(1000);
      throw new LayerstoreError('E_STORE_INVALID', 'stored blob is damaged');
    }
    await expect(nodeUpload('PUT', url, { 'Content-Length': '5000' }, failing())).rejects.toMatchObject({ code: 'E_STORE_INVALID' });
  });

  it('an aborted signal ends the upload with its reason', async () => {
    const url = await listen((req) => req.resume()); // takes the body, never answers
    const ctl = new AbortController();
    const p = nodeUpload('PUT', url, { 'Content-Length': String(10 * 65536) }, refilled(10, 65536, { value: false }), ctl.signal);
    setTimeout(() => ctl.abort(new DOMException('no answer within 0.1 s', 'TimeoutError')), 100);
    await expect(p).rejects.toMatchObject({ name: 'TimeoutError' });
  });
});
