/**
 * push's remembered mount is only a hint, also behind Bearer token auth: Debian's
 * docker-registry 2.8 with `auth: token`, and a token service (here, on 127.0.0.1) that stops
 * granting pull on the repository the store remembers a blob in. The mount asks for
 * `repository:FROM:pull`; the registry refuses it (401 insufficient_scope) and push uploads
 * the blob instead: exit 0, nothing mounted, the image whole in the new repository.
 */
import { execFileSync } from 'node:child_process';
import { createSign, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobSize, readStoreImages, runCli, show } from '../helpers/cli.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { HAVE_OPENSSL, HAVE_REGISTRY, runCliAsync, showTool, startDockerRegistry, type DockerRegistry } from './helpers.js';

let tmp: string;
let fx: string;
withFixtureTemp('ls-push-mount-token-', (p) => ({ tmp, fx } = p));

const SERVICE = 'layerstore-test-registry';
const ISSUER = 'layerstore-test-issuer';

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/**
 * A token service as distribution's token auth expects one: RS256 JWTs whose x5c header holds
 * the signing certificate (the registry's rootcertbundle), granting each scope asked for
 * except on the repositories in `denied`. Records the scopes it was asked for.
 */
async function startTokenService(keyPem: string, certPem: string) {
  const certDer = Buffer.from(certPem.replace(/-----[^-]+-----|\s/g, ''), 'base64').toString('base64');
  const denied = new Set<string>();
  const asked: string[] = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' '));
    asked.push(...scopes);
    const access = scopes
      .map((s) => /^repository:([^:]+):(.+)$/.exec(s))
      .filter((m): m is RegExpExecArray => m !== null && !denied.has(m[1]!))
      .map((m) => ({ type: 'repository', name: m[1], actions: m[2]!.split(',') }));
    const now = Math.floor(Date.now() / 1000);
    const header = b64url(JSON.stringify({ typ: 'JWT', alg: 'RS256', x5c: [certDer] }));
    const claims = b64url(JSON.stringify({ iss: ISSUER, sub: '', aud: SERVICE, exp: now + 600, nbf: now - 60, iat: now, jti: randomUUID(), access }));
    const signature = createSign('RSA-SHA256').update(`${header}.${claims}`).sign(keyPem).toString('base64url');
    const token = `${header}.${claims}.${signature}`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ token, access_token: token, expires_in: 600 }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    denied,
    asked,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

describe.skipIf(!(HAVE_REGISTRY && HAVE_OPENSSL))('push behind Bearer token auth (docker-registry 2.8)', () => {
  let src: string;
  let registry: DockerRegistry;
  let tokens: Awaited<ReturnType<typeof startTokenService>>;

  beforeAll(async () => {
    const key = path.join(tmp, 'token-key.pem');
    const cert = path.join(tmp, 'token-cert.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=layerstore-token'], {
      stdio: 'ignore',
    });
    tokens = await startTokenService(readFileSync(key, 'utf8'), readFileSync(cert, 'utf8'));
    registry = await startDockerRegistry(path.join(tmp, 'reg'), { token: { realm: tokens.realm, service: SERVICE, issuer: ISSUER, rootCertBundle: cert } });
    src = path.join(tmp, 'src');
    const r = runCli(['--store', src, '-q', 'ingest', path.join(fx, 'family-legacy.tar')]);
    expect(r.code, show(r)).toBe(0);
  }, 90_000);
  afterAll(async () => {
    await Promise.all([registry?.stop(), tokens?.close()]);
  });

  const push = async (ref: string, dest: string) => {
    const r = await runCliAsync(['--store', src, 'push', ref, `${registry.host}/${dest}`, '--json']);
    expect(r.code, `${showTool(r)}\n--- registry log\n${registry.log()}`).toBe(0);
    return JSON.parse(r.stdout);
  };

  it('the remembered repository mounts while the token grants pull on it, and falls back to an upload once the token service refuses it', async () => {
    const a = await push('acme/api:1.0', 'tok/api:1.0');
    expect(a.blobsSent).toBeGreaterThan(0);
    expect(tokens.asked).toContain('repository:tok/api:pull,push');

    // Granted: the base layer is mounted from tok/api, as without auth.
    const b = await push('acme/worker:1.0', 'tok/worker:1.0');
    expect(b.mountedFrom).toEqual({ 'tok/api': 1 });
    const base = JSON.parse(runCli(['--store', src, 'report', '--json', 'acme/worker:1.0', 'acme/api:1.0']).stdout);
    const [api, worker] = ['acme/api:1.0', 'acme/worker:1.0'].map((ref) => base.images.find((i: any) => i.refs.includes(ref)));
    const shared = worker.layers.filter((l: string) => api.layers.includes(l));
    expect(shared).toHaveLength(1);
    expect(b.bytesMounted).toBe(blobSize(src, shared[0]));

    // Refused: the token service no longer grants anything on tok/api and tok/worker (the
    // store now remembers the base in tok/worker, where it was last pushed); the mount's
    // "repository:tok/worker:pull" is not in the token, the registry answers 401, push uploads.
    tokens.denied.add('tok/api');
    tokens.denied.add('tok/worker');
    const asked = tokens.asked.length;
    const c = await push('acme/worker:1.0', 'tok/other:1.0');
    expect(tokens.asked.slice(asked)).toContain('repository:tok/worker:pull');
    expect(c.blobsMounted).toBe(0);
    expect(c.mountedFrom).toEqual({});
    expect(c.blobsSent).toBe(1 + worker.layers.length); // config and every layer, the base included
    expect(c.bytesSent).toBeGreaterThanOrEqual(blobSize(src, shared[0]));

    // The registry holds the image whole in tok/other: a pull into a fresh store verifies every blob.
    const fresh = path.join(tmp, 'fresh');
    const pulled = await runCliAsync(['--store', fresh, 'pull', `${registry.host}/tok/other:1.0`]);
    expect(pulled.code, showTool(pulled)).toBe(0);
    const got = readStoreImages(fresh);
    expect(got.map((i) => i.manifestDigest)).toEqual([worker.manifestDigest]);
    expect(got[0]!.layers).toEqual(worker.layers);
  });

  it('--mount-from a repository the token service refuses uploads instead, with a note, as docker and skopeo do', async () => {
    await push('acme/base:1.0', 'tok/readable:1.0');
    tokens.denied.add('tok/secret');
    const r = await runCliAsync([
      '--store',
      src,
      'push',
      'acme/api:1.0',
      `${registry.host}/tok/third:1.0`,
      '--mount-from',
      'tok/secret',
      'tok/readable',
      '--json',
    ]);
    expect(r.code, `${showTool(r)}\n--- registry log\n${registry.log()}`).toBe(0);
    const j = JSON.parse(r.stdout);
    // The base layer comes from tok/readable; tok/secret's refusal is one note, not one per blob.
    expect(j.mountedFrom).toEqual({ 'tok/readable': 1 });
    expect(j.notes).toHaveLength(1);
    expect(j.notes[0]).toMatch(/could not mount blobs from tok\/secret .*uploaded them instead/);
    const pulled = await runCliAsync(['--store', path.join(tmp, 'fresh-third'), 'pull', `${registry.host}/tok/third:1.0`]);
    expect(pulled.code, showTool(pulled)).toBe(0);
  });
});
