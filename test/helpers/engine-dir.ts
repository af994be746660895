/**
 * A private directory for a container engine (dockerd, containerd, podman) and the one way it
 * is cleaned up: stop the processes started in it (last started first: SIGTERM, up to 20 s,
 * then SIGKILL), unmount whatever is still mounted under it (per /proc/mounts, deepest first),
 * and remove it.
 *
 * The cleanup is a shell script run by a detached watchdog that waits on a pipe from this
 * process. `cleanup()` writes to the pipe and waits for the watchdog; if this process ends in
 * any way (a failed test, process.exit, SIGKILL), the pipe closes and the watchdog cleans up
 * on its own, so no engine outlives the test process and no overlay mount is left behind.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

// $1: the directory. A process counts as ours only while its command line names the directory,
// so a pid reused by an unrelated process (or one of ours that has become a zombie) is left alone.
const REAP = String.raw`
dir=$1
read -r _ || true
owned() { [ -r "/proc/$1/cmdline" ] && tr '\0' '\n' < "/proc/$1/cmdline" | grep -qF "$dir"; }
for p in $(tac "$dir/.pids" 2>/dev/null); do
  owned "$p" || continue
  kill -TERM "$p" 2>/dev/null
  i=0
  while owned "$p" && [ "$i" -lt 200 ]; do sleep 0.1; i=$((i + 1)); done
  owned "$p" && kill -KILL "$p" 2>/dev/null
done
awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
  umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
done
rm -rf "$dir"
echo reaped
`;

export interface EngineDir {
  /** Absolute path (short: unix socket paths are limited to 107 bytes). */
  dir: string;
  /** Remember a process started for this engine; cleanup stops it (last added first). */
  addPid(pid: number): void;
  /** Stop the processes, unmount, remove the directory; resolves when done (bounded). */
  cleanup(): Promise<void>;
}

/** mkdtemp under the temp dir, with its watchdog already waiting. */
export function makeEngineDir(prefix: string): EngineDir {
  const dir = mkdtempSync(path.join(tmpdir(), `${prefix}-`));
  const watchdog: ChildProcess = spawn('sh', ['-c', REAP, 'engine-reaper', dir], { detached: true, stdio: ['pipe', 'pipe', 'ignore'] });
  let out = '';
  watchdog.stdout!.setEncoding('utf8').on('data', (c: string) => (out += c));
  // Neither the watchdog nor its pipes keep this process alive.
  watchdog.unref();
  (watchdog.stdin as unknown as { unref(): void }).unref();
  (watchdog.stdout as unknown as { unref(): void }).unref();
  let done: Promise<void> | undefined;
  return {
    dir,
    addPid: (pid) => appendFileSync(path.join(dir, '.pids'), `${pid}\n`),
    cleanup: () =>
      (done ??= new Promise<void>((resolve, reject) => {
        if (watchdog.exitCode !== null || watchdog.signalCode !== null) {
          return out.includes('reaped') ? resolve() : reject(new Error(`engine cleanup of ${dir}: the watchdog had already ended`));
        }
        watchdog.ref();
        const timer = setTimeout(() => reject(new Error(`engine cleanup of ${dir} did not finish in 120 s`)), 120_000);
        watchdog.once('exit', () => {
          clearTimeout(timer);
          if (out.includes('reaped')) resolve();
          else reject(new Error(`engine cleanup of ${dir} failed`));
        });
        watchdog.stdin!.end('stop\n');
      })),
  };
}
