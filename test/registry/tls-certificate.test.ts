/**
 * A registry whose TLS certificate is not trusted (self-signed, made here by openssl for
 * 127.0.0.1). The server, in this process on 127.0.0.1, reads the first byte of each
 * connection: a TLS handshake goes to an https server; plain http is answered as Go's
 * registry answers it ("400 Client sent an HTTP request to an HTTPS server"), or the
 * connection is dropped (as Node's https server does). The certificate is the error the user
 * sees, with its fix (NODE_EXTRA_CA_CERTS), after the loopback fallback to http fails too; it is
 * not asked again, since asking again cannot help.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { HAVE_OPENSSL, runCliAsync, selfSignedCert, showTool } from './helpers.js';

interface TlsOnly {
  host: string;
  /** TLS handshakes begun (each a connection). */
  handshakes: number;
  /** Plain http connections. */
  plain: number;
  close(): Promise<void>;
}

/** A registry on https only; plain http is answered 400 (`plain: '400'`) or dropped (`'drop'`). */
async function tlsOnly(cert: Buffer, key: Buffer, plain: '400' | 'drop'): Promise<TlsOnly> {
  const inner = https.createServer({ cert, key }, (req, res) => {
    const body = req.url === '/v2/_catalog?n=1000' ? '{"repositories":[]}' : '{}';
    res.writeHead(200, { 'Content-Type': 'application/json', 'Docker-Distribution-API-Version': 'registry/2.0' });
    res.end(body);
  });
  const sockets = new Set<net.Socket>();
  const t: TlsOnly = { host: '', handshakes: 0, plain: 0, close: async () => {} };
  const outer = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    socket.once('data', (first: Buffer) => {
      if (first[0] === 0x16) {
        t.handshakes++;
        // Handed on as a stream that starts with the byte read (tls reads a net.Socket's
        // handle directly, so an unshift would be lost).
        const rest = new Duplex({
          read: () => void socket.resume(),
          write: (c, _e, cb) => void socket.write(c, cb),
          final: (cb) => void socket.end(cb),
          destroy: (err, cb) => {
            socket.destroy();
            cb(err);
          },
        });
        rest.push(first);
        socket.on('data', (c: Buffer) => {
          if (!rest.push(c)) socket.pause();
        });
        socket.on('end', () => rest.push(null));
        socket.on('close', () => rest.destroy());
        inner.emit('connection', rest);
        return;
      }
      t.plain++;
      if (plain === 'drop') return void socket.destroy();
      socket.end(
        'HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\nClient sent an HTTP request to an HTTPS server.\n',
      );
    });
  });
  await new Promise<void>((r) => outer.listen(0, '127.0.0.1', r));
  t.host = `127.0.0.1:${(outer.address() as net.AddressInfo).port}`;
  t.close = () =>
    new Promise((r) => {
      for (const s of sockets) s.destroy();
      outer.close(() => r());
    });
  return t;
}

let tmp: string;
let certFile: string;
let cert: Buffer;
let key: Buffer;
const p = (...x: string[]) => path.join(tmp, ...x);
const env = () => ({ NODE_EXTRA_CA_CERTS: undefined, LAYERSTORE_USERNAME: undefined, LAYERSTORE_PASSWORD: undefined, DOCKER_CONFIG: p('none'), HOME: tmp });
const errorLines = (stderr: string) =>
  stderr
    .trim()
    .split('\n')
    .filter((l) => !/^\s*hint:/.test(l) && !/^store:/.test(l));

describe.skipIf(!HAVE_OPENSSL)('a registry whose certificate is not trusted', () => {
  beforeAll(() => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'ls-tls-cert-'));
    certFile = p('cert.pem');
    const keyFile = p('key.pem');
    const r = selfSignedCert(keyFile, certFile);
    expect(r.code, r.stderr).toBe(0);
    cert = readFileSync(certFile);
    key = readFileSync(keyFile);
  }, 60_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  for (const plain of ['400', 'drop'] as const) {
    it(`pull HOST/NAME (plain http there ${plain === '400' ? 'answers 400' : 'is dropped'}): the certificate error and its fix, once, exit 2, no store left`, async () => {
      const srv = await tlsOnly(cert, key, plain);
      try {
        const store = p(`pull-${plain}`);
        const r = await runCliAsync(['--store', store, 'pull', `${srv.host}/acme/api:1.0`], env());
        expect(r.code, showTool(r)).toBe(2);
        const lines = errorLines(r.stderr);
        expect(lines, r.stderr).toHaveLength(1);
        expect(lines[0]).toContain(`GET https://${srv.host}/v2/`);
        expect(lines[0]).toContain('the TLS certificate is not trusted');
        expect(lines[0]).toContain('DEPTH_ZERO_SELF_SIGNED_CERT');
        expect(lines[0]).not.toMatch(/attempts\)/);
        expect(r.stderr).toContain('NODE_EXTRA_CA_CERTS=');
        expect(srv.handshakes).toBe(1);
        expect(srv.plain).toBe(1);
        expect(existsSync(store)).toBe(false);
      } finally {
        await srv.close();
      }
    });
  }

  it('report --registry HOST: the certificate error, not "not a registry (it answered 400)"', async () => {
    const srv = await tlsOnly(cert, key, '400');
    try {
      const r = await runCliAsync(['--store', p('report-host'), 'report', '--registry', srv.host], env());
      expect(r.code, showTool(r)).toBe(2);
      const lines = errorLines(r.stderr);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain('DEPTH_ZERO_SELF_SIGNED_CERT');
      expect(lines[0]).not.toContain('not a registry');
    } finally {
      await srv.close();
    }
  });

  it('report --registry https://...: one attempt (a certificate does not get better with retries); trusted with NODE_EXTRA_CA_CERTS it works', async () => {
    const srv = await tlsOnly(cert, key, '400');
    try {
      const r = await runCliAsync(['--store', p('report-https'), 'report', '--registry', `https://${srv.host}`], env());
      expect(r.code, showTool(r)).toBe(2);
      const lines = errorLines(r.stderr);
      expect(lines, r.stderr).toHaveLength(1);
      expect(lines[0]).toContain('the TLS certificate is not trusted');
      expect(r.stderr).toContain('NODE_EXTRA_CA_CERTS=');
      expect(srv.handshakes).toBe(1);
      expect(srv.plain).toBe(0);

      const trusted = await runCliAsync(['--store', p('report-trusted'), 'report', '--registry', `https://${srv.host}`, '--json'], {
        ...env(),
        NODE_EXTRA_CA_CERTS: certFile,
      });
      expect(trusted.code, showTool(trusted)).toBe(0);
    } finally {
      await srv.close();
    }
  });
});
