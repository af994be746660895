/**
 * serve stopped by a signal while clients are in the middle of transfers: it stops taking
 * connections, gives transfers under way a few seconds, then drops them, cancels the upload
 * sessions (their staging files go) and exits 0. It used to wait for every transfer to end:
 * a slow download kept a Ctrl-C'd serve running without a word, for as long as the client
 * took.
 */
import { readdirSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { startServe } from './helpers.js';

let tmp: string;
withFixtureTemp('ls-serve-stop-', (p) => ({ tmp } = p));

/** A raw request on its own connection that sends `head` and `body`, then stays open sending nothing more. */
function stalledRequest(port: number, head: string, body = ''): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write(head + body);
      resolve(s);
    });
    s.on('error', reject);
  });
}

const partials = (store: string) => readdirSync(path.join(store, '.layerstore', 'staging')).filter((n) => n.endsWith('.partial'));

describe('serve stopped by a signal during transfers', () => {
  it.each([
    ['SIGTERM', 'after the grace', false],
    ['SIGHUP', 'after the grace', false],
    ['SIGINT', 'at a second Ctrl-C', true],
  ] as const)(
    '%s: says so, drops a stalled upload %s, removes its staging file, exits 0',
    async (sig, _when, twice) => {
      ensureBuilt();
      const store = path.join(tmp, `store-${sig}`);
      const srv = await startServe(store, ['--allow-push']);
      let socket: net.Socket | undefined;
      try {
        const start = await fetch(`${srv.url}/v2/stop/test/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': '0' } });
        expect(start.status).toBe(202);
        const location = new URL(start.headers.get('location')!, srv.url);
        // A PATCH that announces 1 MiB and sends 4 KiB: the upload is under way, and stalls.
        socket = await stalledRequest(
          srv.port,
          `PATCH ${location.pathname}${location.search} HTTP/1.1\r\nHost: ${srv.host}\r\nContent-Type: application/octet-stream\r\nContent-Length: ${1 << 20}\r\n\r\n`,
          'x'.repeat(4096),
        );
        const deadline = Date.now() + 20_000;
        while (partials(store).length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        expect(partials(store).length, 'the upload is staging').toBeGreaterThan(0);
        srv.proc.kill(sig);
        const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
          srv.proc.once('exit', (code, signal) => resolve({ code, signal })),
        );
        const killer = setTimeout(() => srv.proc.kill('SIGKILL'), 30_000); // it waited for the client for good here
        if (twice) {
          while (!srv.stderr().includes('stopping (') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
          srv.proc.kill(sig);
        }
        const end = await exited;
        clearTimeout(killer);
        expect(end, srv.stderr()).toEqual({ code: 0, signal: null });
        expect(srv.stderr()).toMatch(new RegExp(`stopping \\(${sig}\\): transfers under way get 5 s to finish`));
        expect(partials(store)).toEqual([]);
      } finally {
        socket?.destroy();
        if (srv.proc.exitCode === null && srv.proc.signalCode === null) srv.proc.kill('SIGKILL');
      }
    },
    60_000,
  );
});
