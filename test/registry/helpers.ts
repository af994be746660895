/**
 * Servers for the registry tests, all on 127.0.0.1 only:
 * - the distribution registry (Debian's docker-registry 2.8) with filesystem storage in a
 *   temp dir, optionally behind htpasswd auth;
 * - `layerstore serve --listen 127.0.0.1:0 ...` in a child process, its URL read from stdout;
 * plus small tools (skopeo, sha256 of files, raw HTTP) used to check layerstore independently.
 * Every process started here is remembered and killed on exit if a test forgot to stop it.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { CLI, REPO_ROOT } from '../helpers/cli.js';
import { commands, onPath } from '../helpers/peers.js';

export const REGCLIENT_TESTREPO = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures-real', 'regclient', 'testrepo');
/** Loaded with --import into CLI children that must never listen off loopback (see loopback-guard.mjs). */
export const LOOPBACK_GUARD = path.join(REPO_ROOT, 'test', 'registry', 'loopback-guard.mjs');

export const have = onPath;
// Missing under CI=true: the importing test file fails (test/helpers/peers.ts).
export const HAVE_SKOPEO = commands([['skopeo', 'skopeo']]);
export const HAVE_REGISTRY = commands([['docker-registry', 'docker-registry']]);
export const HAVE_HTPASSWD = commands([['htpasswd', 'apache2-utils']]);
export const HAVE_OPENSSL = commands([['openssl', 'openssl']]);

// ---------------------------------------------------------------------------------------------
// processes

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

function track(p: ChildProcess): ChildProcess {
  live.add(p);
  p.on('exit', () => live.delete(p));
  return p;
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves with how the process ended. */
export function stopProcess(p: ChildProcess, graceMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve({ code: p.exitCode, signal: p.signalCode });
    const t = setTimeout(() => p.kill('SIGKILL'), graceMs);
    p.once('exit', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal });
    });
    p.kill('SIGTERM');
  });
}

export interface ToolResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Run a command synchronously (blocks this process: never while an in-process server must answer). */
export function runTool(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): ToolResult {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: opts.env ?? process.env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 120_000, maxBuffer: 256 << 20 });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, ms: performance.now() - t0 };
}

/** Run a command without blocking (in-process servers keep answering); killed after timeoutMs. */
/** A self-signed certificate (and its key) for 127.0.0.1, valid two days, written by openssl. */
export function selfSignedCert(keyFile: string, certFile: string): ToolResult {
  return runTool('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    keyFile,
    '-out',
    certFile,
    '-days',
    '2',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
  ]);
}

export function runToolAsync(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<ToolResult> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const p = track(spawn(cmd, args, { env: opts.env ?? process.env, cwd: opts.cwd }));
    let stdout = '';
    let stderr = '';
    p.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    p.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, ms: performance.now() - t0 });
    });
  });
}

/** The CLI as a child process without blocking (for tests that run servers in this process). */
export function runCliAsync(args: string[], env: Record<string, string | undefined> = {}, timeoutMs = 120_000): Promise<ToolResult> {
  const e: NodeJS.ProcessEnv = { ...process.env };
  delete e.LAYERSTORE_STORE;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete e[k];
    else e[k] = v;
  }
  return runToolAsync(process.execPath, [CLI, ...args], { env: e, timeoutMs, cwd: REPO_ROOT });
}

export function showTool(r: ToolResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

/** skopeo with its own policy (accept anything), never touching the user's config; throws on failure. */
export function skopeo(args: string[], env: NodeJS.ProcessEnv = process.env): string {
  const r = runTool('skopeo', args, { env, timeoutMs: 180_000 });
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

// ---------------------------------------------------------------------------------------------
// ports and HTTP

/** A port that was free a moment ago (listen on 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/**
 * One HTTP request with node:http (no URL normalisation, exact headers, exact path). `body`
 * may be a Buffer; bounded by `timeoutMs`.
 */
export function rawRequest(
  url: string,
  opts: { method?: string; path?: string; headers?: Record<string, string | number>; body?: Buffer; timeoutMs?: number } = {},
): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: u.hostname, port: Number(u.port), method: opts.method ?? 'GET', path: opts.path ?? u.pathname + u.search, headers: opts.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.setTimeout(opts.timeoutMs ?? 30_000, () => req.destroy(new Error(`timeout: ${opts.method ?? 'GET'} ${url}`)));
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Parse a distribution-spec error body; [] when it is not one. */
export function errorCodes(body: Buffer): string[] {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { errors?: Array<{ code?: string }> };
    return (doc.errors ?? []).map((e) => String(e.code));
  } catch {
    return [];
  }
}

/** GET url until it answers with one of `statuses` (bounded: attempts x delayMs). */
export async function waitForHttp(
  url: string,
  statuses: number[],
  opts: { attempts?: number; delayMs?: number; alive?: () => boolean } = {},
): Promise<boolean> {
  const attempts = opts.attempts ?? 150;
  for (let i = 0; i < attempts; i++) {
    if (opts.alive && !opts.alive()) return false;
    try {
      const r = await rawRequest(url, { timeoutMs: 2000 });
      if (statuses.includes(r.status)) return true;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, opts.delayMs ?? 100));
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// the distribution registry

export interface DockerRegistry {
  port: number;
  /** "127.0.0.1:PORT", for docker:// references and our pull/push. */
  host: string;
  url: string;
  /** storage.filesystem.rootdirectory */
  root: string;
  proc: ChildProcess;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Start `docker-registry serve CONFIG` on 127.0.0.1 with a free port, filesystem storage under
 * `dir/storage` (or `storageRoot`: another registry's, to serve it differently), deletes enabled,
 * optionally htpasswd auth and a catalog page limit (catalog.maxentries: a bigger ?n= is 400
 * PAGINATION_NUMBER_INVALID); resolves once GET /v2/ answers
 * 200 or 401. A port taken between picking and binding (EADDRINUSE) is retried with another.
 */
export async function startDockerRegistry(
  dir: string,
  opts: {
    htpasswd?: string;
    catalogMaxEntries?: number;
    storageRoot?: string;
    /** Bearer token auth: the token service's realm, the service and issuer names, and the PEM certificate that signs tokens. */
    token?: { realm: string; service: string; issuer: string; rootCertBundle: string };
  } = {},
): Promise<DockerRegistry> {
  mkdirSync(dir, { recursive: true });
  const root = opts.storageRoot ?? path.join(dir, 'storage');
  let lastLog = '';
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const config = [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${root}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...(opts.htpasswd ? ['auth:', '  htpasswd:', '    realm: test-realm', `    path: ${opts.htpasswd}`] : []),
      ...(opts.token
        ? [
            'auth:',
            '  token:',
            `    realm: ${opts.token.realm}`,
            `    service: ${opts.token.service}`,
            `    issuer: ${opts.token.issuer}`,
            `    rootcertbundle: ${opts.token.rootCertBundle}`,
          ]
        : []),
      ...(opts.catalogMaxEntries ? ['catalog:', `  maxentries: ${opts.catalogMaxEntries}`] : []),
      '',
    ].join('\n');
    const cfgFile = path.join(dir, `config-${port}.yml`);
    writeFileSync(cfgFile, config);
    const proc = track(spawn('docker-registry', ['serve', cfgFile], { stdio: ['ignore', 'pipe', 'pipe'] }));
    let log = '';
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => (log += c));
    proc.stderr!.setEncoding('utf8').on('data', (c: string) => (log += c));
    const alive = () => proc.exitCode === null && proc.signalCode === null;
    const up = await waitForHttp(`http://127.0.0.1:${port}/v2/`, [200, 401], { alive });
    if (up && alive()) {
      return {
        port,
        host: `127.0.0.1:${port}`,
        url: `http://127.0.0.1:${port}`,
        root,
        proc,
        log: () => log,
        stop: async () => {
          await stopProcess(proc);
        },
      };
    }
    lastLog = log;
    await stopProcess(proc, 2000);
    if (!/address already in use|EADDRINUSE/i.test(log) && attempt > 0) break;
  }
  throw new Error(`docker-registry did not start:\n${lastLog}`);
}

/** Blob data files of a distribution filesystem store: digest -> size. */
export function registryBlobFiles(root: string): Map<string, number> {
  const out = new Map<string, number>();
  const base = path.join(root, 'docker', 'registry', 'v2', 'blobs', 'sha256');
  if (!existsSync(base)) return out;
  for (const two of readdirSync(base)) {
    for (const hex of readdirSync(path.join(base, two))) {
      const data = path.join(base, two, hex, 'data');
      if (existsSync(data)) out.set(`sha256:${hex}`, statSync(data).size);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// layerstore serve

export interface Serve {
  /** "http://127.0.0.1:PORT" (or https) as printed on stdout. */
  url: string;
  /** "127.0.0.1:PORT" */
  host: string;
  port: number;
  proc: ChildProcess;
  stderr(): string;
  stop(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** `layerstore --store STORE serve --listen 127.0.0.1:0 EXTRA...`, resolved with the URL it prints. */
export function startServe(store: string, extra: string[] = [], env: Record<string, string | undefined> = {}): Promise<Serve> {
  const e: NodeJS.ProcessEnv = { ...process.env };
  delete e.LAYERSTORE_STORE;
  for (const [k, v] of Object.entries(env)) {
    if (v === undefined) delete e[k];
    else e[k] = v;
  }
  const proc = track(
    spawn(process.execPath, [CLI, '--store', store, 'serve', '--listen', '127.0.0.1:0', ...extra], {
      env: e,
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  let stdout = '';
  let stderr = '';
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`serve printed no URL in 30 s\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
    }, 30_000);
    proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
      const m = /listening on (https?:\/\/(127\.0\.0\.1):(\d+))\s*$/m.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve({ url: m[1]!, host: `${m[2]}:${m[3]}`, port: Number(m[3]), proc, stderr: () => stderr, stop: () => stopProcess(proc) });
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code} before listening\n--- stdout\n${stdout}\n--- stderr\n${stderr}`));
    });
  });
}

// ---------------------------------------------------------------------------------------------
// files

export function sha256File(p: string): string {
  return `sha256:${createHash('sha256').update(readFileSync(p)).digest('hex')}`;
}

/** The Accept header a client sends for a single-image manifest, OCI or Docker. */
export const MANIFEST_ACCEPT = 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json';

export function sha256Hex(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Every blob of an OCI layout dir: name -> sha256 of its bytes (should be the name). */
export function layoutBlobHashes(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const base = path.join(dir, 'blobs', 'sha256');
  for (const n of readdirSync(base)) out.set(`sha256:${n}`, sha256File(path.join(base, n)));
  return out;
}

/** A text file of an htpasswd entry made by Apache's htpasswd (-B: bcrypt). */
export function makeHtpasswd(file: string, users: Array<[string, string]>): void {
  const lines = users.map(([u, p]) => {
    const r = runTool('htpasswd', ['-Bbn', u, p]);
    if (r.code !== 0) throw new Error(`htpasswd failed: ${r.stderr}`);
    return r.stdout.trim();
  });
  writeFileSync(file, lines.join('\n') + '\n');
}

export function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
}

/**
 * Upload a blob the way the distribution spec's two-step flow does: POST a session, then one
 * PUT of the whole body to its Location with ?digest=. Returns the final status.
 */
export async function uploadBlob(baseUrl: string, repo: string, bytes: Buffer, headers: Record<string, string> = {}): Promise<number> {
  const start = await rawRequest(`${baseUrl}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers: { 'Content-Length': 0, ...headers } });
  if (start.status !== 202) return start.status;
  const loc = new URL(String(start.headers.location), baseUrl);
  loc.searchParams.set('digest', `sha256:${sha256Hex(bytes)}`);
  const put = await rawRequest(`${baseUrl}${loc.pathname}${loc.search}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length, ...headers },
    body: bytes,
  });
  return put.status;
}

export interface CapturingProxy {
  host: string;
  port: number;
  /** Requests the backend answered with 5xx: method, url, status, body. */
  serverErrors: Array<{ method: string; url: string; status: number; body: string }>;
  close(): Promise<void>;
}

/**
 * A transparent HTTP proxy on 127.0.0.1 in front of `backendPort` that records every 5xx
 * answer with its body (clients such as skopeo print only the status), for diagnosis.
 */
export async function startCapturingProxy(backendPort: number): Promise<CapturingProxy> {
  const serverErrors: CapturingProxy['serverErrors'] = [];
  const server = http.createServer((req, res) => {
    const up = http.request({ host: '127.0.0.1', port: backendPort, method: req.method, path: req.url, headers: req.headers }, (ur) => {
      if ((ur.statusCode ?? 0) >= 500) {
        const chunks: Buffer[] = [];
        ur.on('data', (c: Buffer) => chunks.push(c));
        ur.on('end', () => {
          const body = Buffer.concat(chunks);
          serverErrors.push({ method: req.method ?? '', url: req.url ?? '', status: ur.statusCode ?? 0, body: body.toString('utf8') });
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          res.end(body);
        });
        return;
      }
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.setTimeout(60_000, () => up.destroy());
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as net.AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    port,
    serverErrors,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
