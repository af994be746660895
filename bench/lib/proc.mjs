// Timing whole processes: wall time from process.hrtime, peak RSS from GNU time -v
// ("Maximum resident set size"), or by polling /proc/<pid>/status VmHWM when GNU time is absent.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const GNU_TIME = fs.existsSync('/usr/bin/time') && spawnSync('/usr/bin/time', ['-v', 'true']).status === 0 ? '/usr/bin/time' : undefined;

export function which(cmd) {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return undefined;
}

let seq = 0;

/**
 * Run `cmd args` to completion with stdout to /dev/null (or `stdoutFile`), stderr captured.
 * Resolves {seconds, cpuSeconds (user + sys, GNU time only), rssMB, code, stderr}. Rejects on a non-zero exit unless allowFail.
 */
export function timeProcess(cmd, args, { cwd, env, stdoutFile, allowFail = false } = {}) {
  const timeOut = path.join(os.tmpdir(), `layerstore-bench-time-${process.pid}-${seq++}.txt`);
  const argv = GNU_TIME ? ['-v', '-o', timeOut, cmd, ...args] : args;
  const exe = GNU_TIME ?? cmd;
  const out = stdoutFile ? fs.openSync(stdoutFile, 'w') : 'ignore';
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(exe, argv, { cwd, env: env ? { ...process.env, ...env } : process.env, stdio: ['ignore', out, 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => {
      if (stderr.length < 20000) stderr += d;
    });
    let hwmKB = 0;
    const poll = GNU_TIME
      ? undefined
      : setInterval(() => {
          try {
            const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'));
            if (m) hwmKB = Math.max(hwmKB, Number(m[1]));
          } catch {}
        }, 5);
    child.on('error', reject);
    child.on('close', (code) => {
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      if (poll) clearInterval(poll);
      if (typeof out === 'number') fs.closeSync(out);
      let rssMB;
      let cpuSeconds;
      if (GNU_TIME) {
        try {
          const t = fs.readFileSync(timeOut, 'utf8');
          fs.rmSync(timeOut, { force: true });
          const m = /Maximum resident set size \(kbytes\): (\d+)/.exec(t);
          if (m) rssMB = Number(m[1]) / 1024;
          const u = /User time \(seconds\): ([\d.]+)/.exec(t);
          const sy = /System time \(seconds\): ([\d.]+)/.exec(t);
          if (u && sy) cpuSeconds = Number(u[1]) + Number(sy[1]);
          const s = /Exit status: (\d+)/.exec(t);
          if (s) code = Number(s[1]);
        } catch {}
      } else if (hwmKB) rssMB = hwmKB / 1024; // polled: a lower bound for very short processes
      if (code !== 0 && !allowFail) {
        reject(new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${stderr.slice(0, 4000)}`));
        return;
      }
      resolve({ seconds, cpuSeconds, rssMB, code, stderr });
    });
  });
}

/** `sync`: flush dirty pages so one case's writeback does not land in the next one's time. */
export function syncDisks() {
  spawnSync('sync');
}

/** Busy and total jiffies of all CPUs (/proc/stat's first line). */
function cpuJiffies() {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = f.reduce((a, b) => a + b, 0);
  const idle = f[3] + (f[4] ?? 0); // idle + iowait
  return { busy: total - idle, total };
}

/**
 * Wait until the machine is quiet: the CPUs less than `busyBelow` busy over a 250 ms window,
 * for at most `maxMs`. A daemon a case left working (dockerd removing the layers `docker rmi`
 * let go) took CPU from the next case's process; returns the ms waited.
 */
export async function settle({ busyBelow = 0.15, maxMs = 5000 } = {}) {
  const t0 = Date.now();
  for (;;) {
    const a = cpuJiffies();
    await new Promise((r) => setTimeout(r, 250));
    const b = cpuJiffies();
    const busy = (b.busy - a.busy) / Math.max(1, b.total - a.total);
    if (busy < busyBelow || Date.now() - t0 >= maxMs) return Date.now() - t0;
  }
}

export function median(xs) {
  const v = xs.filter((x) => x !== undefined && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
}

export const fmt = (x, d = 2) => (x === undefined || !Number.isFinite(x) ? '-' : x.toFixed(d));

/** A plain-text table (right-aligned numbers). */
export function table(header, rows) {
  const all = [header, ...rows].map((r) => r.map((c) => String(c ?? '')));
  const w = header.map((_, i) => Math.max(...all.map((r) => r[i].length)));
  const line = (r) => r.map((c, i) => (i === 0 ? c.padEnd(w[i]) : c.padStart(w[i]))).join('  ');
  return [line(all[0]), w.map((n) => '-'.repeat(n)).join('  '), ...all.slice(1).map(line)].join('\n');
}

/** Read whole files once so later runs find them in the page cache. */
export function warmPageCache(files) {
  const buf = Buffer.allocUnsafe(8 * 1024 * 1024);
  for (const f of files) {
    const fd = fs.openSync(f, 'r');
    try {
      while (fs.readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      fs.closeSync(fd);
    }
  }
}
