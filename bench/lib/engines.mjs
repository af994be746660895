// Private container engines for the bench's engine group: a dockerd and a podman store of
// their own under DIR (as the tests start them, test/helpers/engines.ts), touching nothing
// else, and stopped with whatever they mounted unmounted at the end.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { which } from './proc.mjs';

/** A private dockerd (overlay2, falling back to vfs), or { skip: reason }. */
export async function startDockerd(dir) {
  if (!which('dockerd') || !which('docker')) return { skip: 'dockerd or the docker CLI is not installed (apt-get install docker.io)' };
  if (process.getuid?.() !== 0) return { skip: 'a private dockerd needs root' };
  for (const driver of ['overlay2', 'vfs']) {
    const d = path.join(dir, `dockerd-${driver}`);
    fs.mkdirSync(d, { recursive: true });
    const socket = path.join(d, 'docker.sock');
    const log = fs.openSync(path.join(d, 'log'), 'w');
    const p = spawn(
      'dockerd',
      [
        '--data-root',
        path.join(d, 'root'),
        '--exec-root',
        path.join(d, 'exec'),
        '--pidfile',
        path.join(d, 'pid'),
        '-H',
        `unix://${socket}`,
        '--iptables=false',
        '--ip6tables=false',
        '--bridge=none',
        `--storage-driver=${driver}`,
      ],
      { stdio: ['ignore', log, log] },
    );
    const env = { ...process.env, DOCKER_HOST: `unix://${socket}`, DOCKER_CONFIG: path.join(d, 'cli') };
    delete env.DOCKER_CONTEXT;
    fs.mkdirSync(env.DOCKER_CONFIG, { recursive: true });
    // a bench that fails half-way must not leave a dockerd behind
    const onExit = () => p.exitCode === null && p.kill('SIGTERM');
    process.on('exit', onExit);
    const stop = () => (process.off('exit', onExit), stopDaemon(p, d));
    for (let i = 0; i < 120 && p.exitCode === null; i++) {
      const v = spawnSync('docker', ['version', '--format', '{{.Server.APIVersion}}'], { env, encoding: 'utf8' });
      if (v.status === 0) return { socket, env, driver, stop };
      // a CLI newer than the daemon: pin the daemon's API version
      const m = /Maximum supported API version is ([0-9.]+)/.exec(v.stderr ?? '');
      if (m) env.DOCKER_API_VERSION = m[1];
      await sleep(250);
    }
    await stop();
  }
  return { skip: 'dockerd did not start here (see its log under the workdir)' };
}

async function stopDaemon(p, dir) {
  if (p.exitCode === null) {
    p.kill('SIGTERM');
    for (let i = 0; i < 200 && p.exitCode === null; i++) await sleep(100);
    if (p.exitCode === null) p.kill('SIGKILL');
  }
  const mounts = fs
    .readFileSync('/proc/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1])
    .filter((m) => m && (m === dir || m.startsWith(dir + '/')));
  for (const m of mounts.sort().reverse()) spawnSync('umount', [m]).status === 0 || spawnSync('umount', ['-l', m]);
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A private podman store (vfs): `podman(args)` runs with it; or { skip: reason }. */
export function podmanStore(dir) {
  if (!which('podman')) return { skip: 'podman is not installed (apt-get install podman)' };
  const d = path.join(dir, 'podman');
  for (const s of ['root', 'run', 'tmp']) fs.mkdirSync(path.join(d, s), { recursive: true });
  const where = ['--root', path.join(d, 'root'), '--runroot', path.join(d, 'run'), '--storage-driver', 'vfs'];
  const env = { ...process.env, TMPDIR: path.join(d, 'tmp') };
  const podman = (args) => spawnSync('podman', [...where, ...args], { env, encoding: 'utf8', maxBuffer: 1 << 20 });
  return {
    where,
    env,
    podman,
    spec: `[vfs@${path.join(d, 'root')}+${path.join(d, 'run')}]`,
    stop: () => fs.rmSync(d, { recursive: true, force: true }),
  };
}
