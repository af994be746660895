/**
 * Private container engines for tests, each in its own temp directory (see engine-dir.ts for
 * how they are stopped and cleaned up, even when the test process dies):
 * - startDockerd(): Debian's dockerd (20.10) on its own unix socket, with its own data-root,
 *   exec-root, pidfile, an empty daemon.json instead of /etc/docker's, no iptables, no bridge,
 *   overlay2 (vfs when overlay2 does not work on this filesystem), and its own containerd
 *   (Debian's unit runs dockerd the same way, with --containerd), so nothing outside the
 *   directory is touched. The docker CLI gets DOCKER_HOST and a private DOCKER_CONFIG.
 * - startContainerd(): containerd (1.6) with its own root, state, socket and opt dir, the CRI
 *   plugin disabled; driven with `ctr -a SOCKET`.
 * - startPodman(): podman (4.3) as CLI invocations with a private storage.conf (vfs) and
 *   containers.conf (CNI backend, so nothing is created in /run/containers), and optionally
 *   `podman system service --time=0` on a unix socket (the Docker-compatible API).
 * None of them listens on TCP. One trace is left outside: running a container (`docker run`)
 * puts the shim's socket in /run/containerd/s/, a directory containerd 1.6 hardcodes (it stays,
 * empty). Policy (CI=true, as in .ci/run): a missing binary or an engine that fails to start
 * FAILS the tests, with what to install; elsewhere the tests skip and say why.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import type { TestContext } from 'vitest';
import { makeEngineDir, type EngineDir } from './engine-dir.js';

export const IN_CI = /^(1|true|yes)$/i.test(process.env.CI ?? '');

export type EngineName = 'docker' | 'podman' | 'containerd' | 'skopeo';

/** The binaries each engine needs, and the Debian package that has them. */
const NEEDS: Record<EngineName, { bins: string[]; apt: string }> = {
  docker: { bins: ['dockerd', 'docker', 'containerd', 'ctr'], apt: 'docker.io containerd' },
  podman: { bins: ['podman'], apt: 'podman' },
  containerd: { bins: ['containerd', 'ctr'], apt: 'containerd' },
  skopeo: { bins: ['skopeo'], apt: 'skopeo' },
};

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** Why `engine` cannot run on this machine (saying what to install), or undefined when it can. */
export function engineMissing(engine: EngineName): string | undefined {
  const missing = NEEDS[engine].bins.filter((b) => !onPath(b));
  if (missing.length) return `${missing.join(', ')} not found on PATH; install with: apt-get install ${NEEDS[engine].apt} (.ci/run does)`;
  if (engine !== 'skopeo' && process.getuid?.() !== 0) return `${engine} runs here as a private root daemon: run the tests as root`;
  return undefined;
}

/**
 * For describe.skipIf: true (with a warning) when `engine` cannot run here and this is not CI.
 * Under CI it is false, so the block runs and its beforeAll fails saying what to install.
 */
export function skipWithoutEngine(engine: EngineName, file: string): boolean {
  const why = engineMissing(engine);
  if (!why || IN_CI) return false;
  console.warn(`${file}: the ${engine} tests are skipped: ${why}`);
  return true;
}

export interface EngineSlot<T> {
  /**
   * In beforeAll: start the engine (under CI a failure throws, so the tests fail; elsewhere it
   * is remembered and the tests skip), then run `setup` on it (a failure there always throws,
   * after stopping the engine).
   */
  start(fn: () => Promise<T>, setup?: (engine: T) => Promise<void>): Promise<void>;
  /** In a test: the engine, or skip the test saying why it did not start. */
  get(ctx: TestContext): T;
  /** In afterAll. */
  stop(): Promise<void>;
}

export function engineSlot<T extends { stop(): Promise<void> }>(name: string): EngineSlot<T> {
  let engine: T | undefined;
  let why = `${name} was not started`;
  return {
    async start(fn, setup) {
      let started: T;
      try {
        started = await fn();
      } catch (e) {
        if (IN_CI) throw e;
        const msg = (e as Error).message;
        why = msg.startsWith(name) ? msg : `${name}: ${msg}`;
        console.warn(`${why}\n(the tests that need ${name} are skipped; with CI=true they fail)`);
        return;
      }
      try {
        await setup?.(started);
      } catch (e) {
        await started.stop().catch(() => undefined);
        throw e; // a failing setup is a failing test, never a skip
      }
      engine = started;
    },
    get(ctx) {
      if (engine === undefined) ctx.skip(why);
      return engine as T;
    },
    async stop() {
      await engine?.stop();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// commands and the API socket

export interface CmdResult {
  code: number | null;
  /** stdout as bytes (docker save, docker cp write tarballs there) */
  out: Buffer;
  stdout: string;
  stderr: string;
}

export interface RunOpts {
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
  /** Throw on a non-zero exit (default true). */
  check?: boolean;
}

/** Run a command without blocking the event loop; killed after timeoutMs (default 120 s). */
export function runCmd(cmd: string, args: string[], opts: RunOpts = {}): Promise<CmdResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    p.stdout.on('data', (c: Buffer) => out.push(c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timeoutMs = opts.timeoutMs ?? 120_000;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, timeoutMs);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (code) => {
      clearTimeout(timer);
      const bytes = Buffer.concat(out);
      const r: CmdResult = { code, out: bytes, stdout: bytes.toString('utf8'), stderr };
      if ((opts.check ?? true) && code !== 0) {
        const why = timedOut ? `was killed after ${timeoutMs} ms` : `exited ${code}`;
        reject(new Error(`${cmd} ${args.join(' ')} ${why}\n--- stdout\n${r.stdout.slice(0, 4000)}\n--- stderr\n${stderr.slice(0, 8000)}`));
      } else resolve(r);
    });
  });
}

export interface ApiResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** One HTTP request over a unix socket (the Docker Engine API of dockerd or podman's service). */
export function unixRequest(socket: string, urlPath: string, opts: { method?: string; timeoutMs?: number } = {}): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, host: 'engine', path: urlPath, method: opts.method ?? 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 60_000, () => req.destroy(new Error(`timeout: ${urlPath} on ${socket}`)));
    req.on('error', reject);
    req.end();
  });
}

// ---------------------------------------------------------------------------------------------
// processes

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

/** Start a daemon in `ed` with stdout and stderr appended to `logFile`; cleanup stops it. */
function spawnDaemon(ed: EngineDir, cmd: string, args: string[], logFile: string, env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const fd = openSync(logFile, 'a');
  let p: ChildProcess;
  try {
    p = spawn(cmd, args, { stdio: ['ignore', fd, fd], env });
  } finally {
    closeSync(fd);
  }
  if (p.pid !== undefined) ed.addPid(p.pid);
  p.on('error', (e) => writeFileSync(logFile, `\nspawn ${cmd}: ${e.message}\n`, { flag: 'a' }));
  return p;
}

/** Poll `ready` every 100 ms until it is true, the process has exited, or timeoutMs passes. */
async function waitReady(p: ChildProcess, ready: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && alive(p)) {
    try {
      if (await ready()) return true;
    } catch {
      /* not yet */
    }
    await sleep(100);
  }
  return false;
}

/** A unix socket path must fit in sun_path (108 bytes, with ".ttrpc" added for containerd's second socket). */
function socketPath(dir: string, name: string): string {
  const p = path.join(dir, name);
  if (Buffer.byteLength(p) > 100) throw new Error(`socket path too long for a unix socket (${p}): set TMPDIR to a shorter directory`);
  return p;
}

function readLog(file: string): string {
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
}

/** The error lines of a daemon log (its info lines are many) and its last lines. */
function logExcerpt(text: string): string {
  const lines = text.trimEnd().split('\n');
  const errors = lines.filter((l) => /level=(error|fatal)|^(failed|error)\b/i.test(l)).slice(-10);
  return [...errors, ...lines.slice(-4).filter((l) => !errors.includes(l))].join('\n');
}

function startFailed(what: string, p: ChildProcess, logFile: string, timeoutMs: number): Error {
  const how = alive(p) ? `did not answer in ${timeoutMs / 1000} s` : `exited (${p.exitCode ?? p.signalCode})`;
  return new Error(`${what} ${how}; from its log:\n${logExcerpt(readLog(logFile))}`);
}

/** Run `launch` in a new engine directory, which is cleaned up if it fails. */
async function inEngineDir<T>(prefix: string, launch: (ed: EngineDir) => Promise<T>): Promise<T> {
  const ed = makeEngineDir(prefix);
  try {
    return await launch(ed);
  } catch (e) {
    await ed.cleanup().catch(() => undefined);
    throw e;
  }
}

// ---------------------------------------------------------------------------------------------
// containerd

export interface Containerd {
  dir: string;
  socket: string;
  /** root/io.containerd.content.v1.content/blobs/sha256: one file per blob, named by its sha256 */
  contentDir: string;
  /** `ctr -a SOCKET [-n NAMESPACE] ARGS`; namespace defaults to ctr's ("default"). */
  ctr(args: string[], opts?: RunOpts & { namespace?: string }): Promise<CmdResult>;
  log(): string;
  stop(): Promise<void>;
}

const STARTUP_MS = 30_000;

/** containerd in `base` (inside `ed`), ready when `ctr version` answers. */
async function launchContainerd(ed: EngineDir, base: string): Promise<Containerd> {
  mkdirSync(base, { recursive: true });
  const socket = socketPath(base, 'containerd.sock');
  const config = path.join(base, 'config.toml');
  const logFile = path.join(base, 'containerd.log');
  const q = (s: string) => JSON.stringify(s); // a TOML basic string
  writeFileSync(
    config,
    [
      'version = 2',
      `root = ${q(path.join(base, 'root'))}`,
      `state = ${q(path.join(base, 'state'))}`,
      '[grpc]',
      `  address = ${q(socket)}`,
      '[plugins."io.containerd.grpc.v1.cri"]',
      '  disable = true',
      // its default is /opt/containerd
      '[plugins."io.containerd.internal.v1.opt"]',
      `  path = ${q(path.join(base, 'opt'))}`,
      '',
    ].join('\n'),
  );
  const p = spawnDaemon(ed, 'containerd', ['--config', config], logFile);
  const ctr = (args: string[], opts: RunOpts & { namespace?: string } = {}) =>
    runCmd('ctr', ['-a', socket, ...(opts.namespace ? ['-n', opts.namespace] : []), ...args], opts);
  const up = await waitReady(p, async () => existsSync(socket) && (await ctr(['version'], { check: false, timeoutMs: 10_000 })).code === 0, STARTUP_MS);
  if (!up) throw startFailed('containerd', p, logFile, STARTUP_MS);
  return {
    dir: base,
    socket,
    contentDir: path.join(base, 'root', 'io.containerd.content.v1.content', 'blobs', 'sha256'),
    ctr,
    log: () => readLog(logFile),
    stop: () => ed.cleanup(),
  };
}

export async function startContainerd(): Promise<Containerd> {
  const why = engineMissing('containerd');
  if (why) throw new Error(`containerd: ${why}`);
  return inEngineDir('ls-containerd', (ed) => launchContainerd(ed, ed.dir));
}

// ---------------------------------------------------------------------------------------------
// dockerd

export interface Dockerd {
  dir: string;
  socket: string;
  /** The environment for the docker CLI: DOCKER_HOST, a private DOCKER_CONFIG, maybe DOCKER_API_VERSION. */
  env: NodeJS.ProcessEnv;
  storageDriver: 'overlay2' | 'vfs';
  /** The daemon's own containerd. */
  containerd: Containerd;
  /** `docker ARGS` against this daemon. */
  docker(args: string[], opts?: RunOpts): Promise<CmdResult>;
  /** One Engine API request on the socket, e.g. api('/v1.41/images/json'). */
  api(urlPath: string, opts?: { method?: string; timeoutMs?: number }): Promise<ApiResponse>;
  log(): string;
  stop(): Promise<void>;
}

async function launchDockerd(ed: EngineDir, driver: 'overlay2' | 'vfs'): Promise<Dockerd> {
  const { dir } = ed;
  const containerd = await launchContainerd(ed, path.join(dir, 'containerd'));
  const socket = socketPath(dir, 'docker.sock');
  const logFile = path.join(dir, 'dockerd.log');
  const daemonJson = path.join(dir, 'daemon.json');
  writeFileSync(daemonJson, '{}\n');
  const args = [
    '--config-file',
    daemonJson,
    '--containerd',
    containerd.socket,
    '--data-root',
    path.join(dir, 'root'),
    '--exec-root',
    path.join(dir, 'exec'),
    '--pidfile',
    path.join(dir, 'dockerd.pid'),
    '-H',
    `unix://${socket}`,
    '--iptables=false',
    '--ip6tables=false',
    '--bridge=none',
    `--storage-driver=${driver}`,
  ]; // prettier-ignore
  const p = spawnDaemon(ed, 'dockerd', args, logFile);
  let apiVersion = '';
  const up = await waitReady(
    p,
    async () => {
      const r = await unixRequest(socket, '/_ping', { timeoutMs: 2000 });
      apiVersion = String(r.headers['api-version'] ?? '');
      return r.status === 200;
    },
    STARTUP_MS,
  );
  if (!up) throw startFailed(`dockerd (--storage-driver=${driver})`, p, logFile, STARTUP_MS);

  const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(dir, 'cli') };
  delete env.DOCKER_CONTEXT;
  delete env.DOCKER_TLS_VERIFY;
  mkdirSync(env.DOCKER_CONFIG!, { recursive: true });
  // The docker CLI on PATH may be newer than this daemon: it negotiates the API version, and
  // where it does not, DOCKER_API_VERSION pins the daemon's.
  let info = await runCmd('docker', ['info', '--format', '{{.Driver}}'], { env, check: false, timeoutMs: 30_000 });
  if (info.code !== 0 && apiVersion) {
    env.DOCKER_API_VERSION = apiVersion;
    info = await runCmd('docker', ['info', '--format', '{{.Driver}}'], { env, check: false, timeoutMs: 30_000 });
  }
  if (info.code !== 0 || info.stdout.trim() !== driver) {
    throw new Error(`dockerd answers but \`docker info\` says ${JSON.stringify(info.stdout.trim())} (exit ${info.code}): ${info.stderr.trim()}`);
  }
  return {
    dir,
    socket,
    env,
    storageDriver: driver,
    containerd,
    docker: (a, opts = {}) => runCmd('docker', a, { ...opts, env: { ...env, ...opts.env } }),
    api: (urlPath, opts) => unixRequest(socket, urlPath, opts),
    log: () => readLog(logFile),
    stop: () => ed.cleanup(),
  };
}

/**
 * A private dockerd, ready when `docker info` answers. Without `storageDriver` it tries
 * overlay2 first and falls back to vfs (saying so) when overlay2 does not start here, e.g. on
 * a filesystem that is itself overlayfs.
 */
export async function startDockerd(opts: { storageDriver?: 'overlay2' | 'vfs' } = {}): Promise<Dockerd> {
  const why = engineMissing('docker');
  if (why) throw new Error(`dockerd: ${why}`);
  const drivers = opts.storageDriver ? [opts.storageDriver] : (['overlay2', 'vfs'] as const);
  const failures: string[] = [];
  for (const driver of drivers) {
    try {
      const d = await inEngineDir('ls-dockerd', (ed) => launchDockerd(ed, driver));
      if (failures.length) console.warn(`dockerd: overlay2 did not work here, using vfs instead:\n${failures.join('\n')}`);
      return d;
    } catch (e) {
      failures.push((e as Error).message);
    }
  }
  throw new Error(`dockerd did not start:\n${failures.join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// podman

export interface PodmanService {
  socket: string;
  /** One request to its Docker-compatible API, e.g. api('/v1.41/images/json'). */
  api(urlPath: string, opts?: { method?: string; timeoutMs?: number }): Promise<ApiResponse>;
}

export interface Podman {
  dir: string;
  /** CONTAINERS_CONF, CONTAINERS_STORAGE_CONF, REGISTRY_AUTH_FILE and TMPDIR, all private. */
  env: NodeJS.ProcessEnv;
  /** `podman ARGS` with the private configuration. */
  podman(args: string[], opts?: RunOpts): Promise<CmdResult>;
  /** `podman system service --time=0 unix://DIR/podman.sock`, started on first call. */
  service(): Promise<PodmanService>;
  stop(): Promise<void>;
}

export async function startPodman(): Promise<Podman> {
  const why = engineMissing('podman');
  if (why) throw new Error(`podman: ${why}`);
  return inEngineDir('ls-podman', launchPodman);
}

async function launchPodman(ed: EngineDir): Promise<Podman> {
  const { dir } = ed;
  const q = (s: string) => JSON.stringify(s);
  const sub = (n: string) => {
    const p = path.join(dir, n);
    mkdirSync(p, { recursive: true });
    return p;
  };
  const storageConf = path.join(dir, 'storage.conf');
  writeFileSync(storageConf, ['[storage]', 'driver = "vfs"', `graphroot = ${q(sub('root'))}`, `runroot = ${q(sub('run'))}`, ''].join('\n'));
  const containersConf = path.join(dir, 'containers.conf');
  writeFileSync(
    containersConf,
    [
      '[engine]',
      `tmp_dir = ${q(sub('tmp'))}`,
      `image_copy_tmp_dir = ${q(sub('tmp'))}`,
      'events_logger = "none"',
      'cgroup_manager = "cgroupfs"',
      '[network]',
      // netavark (the default) always creates /run/containers/networks when run as root
      'network_backend = "cni"',
      `network_config_dir = ${q(sub('networks'))}`,
      '',
    ].join('\n'),
  );
  // podman login writes here; push and pull want it to exist
  writeFileSync(path.join(dir, 'auth.json'), '{"auths":{}}\n');
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_CONF: containersConf,
    CONTAINERS_STORAGE_CONF: storageConf,
    REGISTRY_AUTH_FILE: path.join(dir, 'auth.json'),
    TMPDIR: path.join(dir, 'tmp'),
  };
  delete env.CONTAINER_HOST;
  delete env.CONTAINER_CONNECTION;
  const podman = (args: string[], opts: RunOpts = {}) => runCmd('podman', args, { ...opts, env: { ...env, ...opts.env } });
  const info = await podman(['info', '--format', '{{.Store.GraphDriverName}} {{.Store.GraphRoot}}'], { check: false, timeoutMs: 60_000 });
  if (info.code !== 0 || info.stdout.trim() !== `vfs ${path.join(dir, 'root')}`) {
    throw new Error(`podman info does not show the private vfs store (exit ${info.code}): ${info.stdout.trim()} ${info.stderr.trim()}`);
  }
  let service: Promise<PodmanService> | undefined;
  return {
    dir,
    env,
    podman,
    service: () =>
      (service ??= (async () => {
        const socket = socketPath(dir, 'podman.sock');
        const logFile = path.join(dir, 'service.log');
        const p = spawnDaemon(ed, 'podman', ['system', 'service', '--time=0', `unix://${socket}`], logFile, env);
        const up = await waitReady(p, async () => (await unixRequest(socket, '/_ping', { timeoutMs: 2000 })).status === 200, STARTUP_MS);
        if (!up) throw startFailed('podman system service', p, logFile, STARTUP_MS);
        return { socket, api: (urlPath, opts) => unixRequest(socket, urlPath, opts) };
      })()),
    stop: () => ed.cleanup(),
  };
}
