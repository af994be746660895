/**
 * Ctrl-C (SIGINT) or SIGTERM while `pull` downloads a layer: like `ingest`, the pull removes
 * its staging files and exits 130 / 143; a store that was there is byte-identical and
 * verifies clean, a store the pull itself created is removed again. The layer comes from a
 * fake registry (127.0.0.1) that sends half of it and then holds the response open, so the
 * signal always lands mid-download; every wait is on a condition, bounded.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT, ensureBuilt, runCli, show, spawnCli } from '../helpers/cli.js';
import { digestOf, fill } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { fakeRegistry, imageRoutes, testImage, type FakeRegistry } from './fake-registry.js';
import { shellStatus } from '../helpers/exit-status.js';

let tmp: string;
const p = (...x: string[]) => path.join(tmp, ...x);

const READY = testImage(['already here\n']);
const SLOW = testImage(['a small first layer\n', fill(512 * 1024, 'slow layer')]);
const SLOW_LAYER = SLOW.layers[1]!;

let reg: FakeRegistry;
/** Responses of the slow layer held open (ended when the registry closes). */
const held: http.ServerResponse[] = [];

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-pull-signal-'));
  const routes = { ...imageRoutes('ready/app', '1', READY), ...imageRoutes('slow/app', '1', SLOW) };
  // half of the layer, then nothing: the download is under way until the client gives up
  routes[`/v2/slow/app/blobs/${digestOf(SLOW_LAYER)}`] = (_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': String(SLOW_LAYER.length) });
    res.write(SLOW_LAYER.subarray(0, SLOW_LAYER.length >> 1));
    held.push(res);
  };
  reg = await fakeRegistry(routes);
});
afterAll(async () => {
  await reg?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const staging = (store: string) => {
  const dir = path.join(store, '.layerstore', 'staging');
  return existsSync(dir) ? readdirSync(dir) : [];
};

/** Poll `cond` every 50 ms, at most `ms` in all (a bound, not a timing assertion). */
async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** `pull` of the slow image into `store`, signalled once the layer is half sent and something is staged. */
async function interruptedPull(store: string, sig: 'SIGINT' | 'SIGTERM') {
  const heldBefore = held.length;
  const env = { ...process.env };
  delete env.LAYERSTORE_STORE;
  const child: ChildProcess = spawn(process.execPath, [CLI, '--store', store, 'pull', '--timeout', '600', `${reg.host}/slow/app:1`], { cwd: REPO_ROOT, env });
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  child.stdout!.resume();
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(shellStatus(code, signal))));
  let gone = false;
  void exited.then(() => (gone = true));
  try {
    await until(() => gone || (held.length > heldBefore && staging(store).some((n) => n.endsWith('.partial'))), 'the layer download to start');
    expect(gone, `the pull ended before the signal:\n${stderr}`).toBe(false);
    child.kill(sig);
    const killer = setTimeout(() => child.kill('SIGKILL'), 60_000); // a bound if the signal is ignored
    const code = await exited;
    clearTimeout(killer);
    return { code, stderr };
  } finally {
    if (!gone) child.kill('SIGKILL');
  }
}

describe('pull interrupted by a signal', () => {
  it('SIGINT into an existing store: exit 130, no staging files left, the store byte-identical and verify clean', async () => {
    const store = p('existing');
    // spawnCli, not runCli: the registry in this process must answer meanwhile
    const first = await spawnCli(['--store', store, 'pull', `${reg.host}/ready/app:1`]);
    expect(first.code, show(first)).toBe(0);
    const before = await snapshotStore(store);

    const { code, stderr } = await interruptedPull(store, 'SIGINT');
    expect(code, stderr).toBe(130);
    expect(stderr).toContain('interrupted (SIGINT)');
    expect(staging(store)).toEqual([]);
    expect(await snapshotStore(store)).toEqual(before);
    const v = runCli(['--store', store, 'verify']);
    expect(v.code, show(v)).toBe(0);
  });

  it('SIGTERM into a store the pull created: exit 143 and no store left behind', async () => {
    const store = p('new-store');
    const { code, stderr } = await interruptedPull(store, 'SIGTERM');
    expect(code, stderr).toBe(143);
    expect(stderr).toContain('interrupted (SIGTERM)');
    expect(existsSync(store), 'the store the pull created').toBe(false);
    expect(readdirSync(tmp).filter((n) => n.startsWith('new-store'))).toEqual([]);
  });
});

describe('ingest interrupted by a signal (the same handler as pull)', () => {
  /**
   * `args(fifo)` run against a new store, reading a named pipe by its path whose writer sends
   * half an archive and then nothing, holding the pipe open (the next read waits for good);
   * SIGINT once the input is staging. Resolves with how the process ended and its stderr.
   */
  async function interruptedOnStalledPipe(name: string, args: (fifo: string) => string[]) {
    const store = p(`${name}-new-store`);
    const fifo = p(`${name}.fifo`);
    const half = p(`${name}-half.tar`);
    writeFileSync(half, rawTar([{ name: 'blob.bin', body: fill(1024 * 1024, `${name} archive`) }]).subarray(0, 512 * 1024));
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const writer = spawn('sh', ['-c', 'exec 3>"$1"; cat "$2" >&3; exec sleep 120', 'writer', fifo, half], { stdio: 'ignore' });
    const env = { ...process.env };
    delete env.LAYERSTORE_STORE;
    const child = spawn(process.execPath, [CLI, '--store', store, ...args(fifo)], { cwd: REPO_ROOT, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      child.on('exit', (code, signal) => resolve({ code, signal })),
    );
    let gone = false;
    void exited.then(() => (gone = true));
    try {
      await until(() => gone || staging(store).some((n) => n.endsWith('.partial')), `${name} to stage its input`);
      expect(gone, `${name} ended before the signal:\n${stderr}`).toBe(false);
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 20_000); // it hung here: process.exit waited for the blocked read
      const end = await exited;
      clearTimeout(killer);
      return { ...end, status: shellStatus(end.code, end.signal), stderr, storeLeft: existsSync(store) };
    } finally {
      if (!gone) child.kill('SIGKILL');
      writer.kill('SIGKILL');
    }
  }

  it('SIGINT while a named pipe given by its path sends nothing more: the process dies of SIGINT at once (exit 130), no store left behind', async () => {
    const r = await interruptedOnStalledPipe('ingest', (fifo) => ['ingest', fifo]);
    expect({ code: r.code, signal: r.signal, status: r.status }, r.stderr).toEqual({ code: null, signal: 'SIGINT', status: 130 });
    expect(r.stderr).toContain('interrupted (SIGINT)');
    expect(r.storeLeft, 'the store ingest created').toBe(false);
  });

  it('budget stopped while it ingests its input (a named pipe that sends nothing more): no staging files, no store left behind, exit 130', async () => {
    const config = p('budget.json');
    writeFileSync(config, JSON.stringify({ budgets: [{ match: '*', maxLayers: 9 }] }));
    const r = await interruptedOnStalledPipe('budget', (fifo) => ['budget', '--config', config, fifo]);
    expect(r.status, r.stderr).toBe(130);
    expect(r.stderr).toContain('interrupted (SIGINT)');
    expect(r.storeLeft, 'the store budget created').toBe(false);
  });

  it('SIGINT while an archive on stdin is half read into a new store: exit 130, no store left behind', async () => {
    const store = p('ingest-new-store');
    const archive = rawTar([{ name: 'blob.bin', body: fill(1024 * 1024, 'stdin archive') }]);
    const env = { ...process.env };
    delete env.LAYERSTORE_STORE;
    const child = spawn(process.execPath, [CLI, '--store', store, 'ingest', '-'], { cwd: REPO_ROOT, env, stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code, signal) => resolve(shellStatus(code, signal))));
    let gone = false;
    void exited.then(() => (gone = true));
    try {
      child.stdin!.on('error', () => {}); // the child goes away with the pipe still open
      child.stdin!.write(archive.subarray(0, archive.length >> 1)); // and the rest never comes
      await until(() => gone || staging(store).some((n) => n.endsWith('.partial')), 'ingest to stage the input');
      expect(gone, `ingest ended before the signal:\n${stderr}`).toBe(false);
      child.kill('SIGINT');
      const killer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await exited;
      clearTimeout(killer);
      expect(code, stderr).toBe(130);
      expect(stderr).toContain('interrupted (SIGINT)');
      expect(existsSync(store), 'the store ingest created').toBe(false);
    } finally {
      if (!gone) child.kill('SIGKILL');
    }
  });
});
