/**
 * Go clients (docker, containerd's ctr, skopeo, regclient) keep an idle connection for 90 s
 * (net/http's IdleConnTimeout) and send the next request on it. Node's server closes idle
 * keep-alive connections after 5 s by default: a PUT sent as the server closes the connection
 * fails ("unexpected EOF", seen from `ctr images push` under load) and is not retried, since
 * its body cannot be sent again. serve keeps idle connections longer than Go's clients do.
 */
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { startServe, type Serve } from './helpers.js';

let tmp: string;
withFixtureTemp('ls-idle-connections-', (p) => ({ tmp } = p));

/** Send `GET /v2/` on `socket` and resolve with the status line of the answer (or why none came). */
function ask(socket: net.Socket, host: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('\r\n\r\n')) done(got.split('\r\n\r\n')[0]!);
    };
    const done = (what: string) => {
      socket.off('data', onData);
      socket.off('close', onClose);
      resolve(what);
    };
    const onClose = () => done(`closed by the server${got ? ` after ${JSON.stringify(got.slice(0, 40))}` : ''}`);
    socket.on('data', onData);
    socket.on('close', onClose);
    if (socket.destroyed) return done('closed by the server');
    socket.write(`GET /v2/ HTTP/1.1\r\nHost: ${host}\r\nConnection: keep-alive\r\n\r\n`);
  });
}

describe('serve and idle keep-alive connections', () => {
  let srv: Serve;
  beforeAll(async () => {
    ensureBuilt();
    srv = await startServe(path.join(tmp, 'store'), ['--allow-push']); // the pushes of Go clients are what this protects
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
  });

  it('a connection idle for 6 s (past the 5 s Node closes at) still takes the next request; Keep-Alive says more than 90 s', async () => {
    const socket = net.connect(srv.port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    try {
      const first = await ask(socket, srv.host);
      expect(first.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
      const keep = /^keep-alive: timeout=(\d+)/im.exec(first);
      expect(Number(keep?.[1]), first).toBeGreaterThan(90);
      await new Promise((r) => setTimeout(r, 6000));
      expect((await ask(socket, srv.host)).split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    } finally {
      socket.destroy();
    }
  }, 30_000);
});
