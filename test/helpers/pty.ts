/**
 * The CLI on a pseudo-terminal (util-linux `script`; node-pty is not available), for what only
 * a terminal sees: progress bars, the cursor and line-wrap modes they switch, and what a
 * person reads on the screen afterwards.
 */
import { spawn } from 'node:child_process';
import { CLI, REPO_ROOT } from './cli.js';

const quote = (a: string): string => `'${a.replace(/'/g, `'\\''`)}'`;

export interface PtyRun {
  /** The CLI's exit code (script -e passes it on). */
  code: number | null;
  /** Everything written to the terminal, escape sequences included. */
  out: string;
}

/**
 * Run `layerstore ARGS` on a pseudo-terminal (standard input from the file `stdin`, if given)
 * and send it `signal` once its output contains `when` (e.g. the escape that hides the cursor:
 * a bar is drawn). Rejects if `when` has not appeared after `timeoutMs`.
 */
export function interruptOnPty(args: string[], when: string, signal: NodeJS.Signals, opts: { stdin?: string; timeoutMs?: number } = {}): Promise<PtyRun> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  // The shell says its pid, then becomes the CLI: that pid is the one to signal.
  const cmd = `echo PID=$$; exec ${[process.execPath, CLI, ...args].map(quote).join(' ')}${opts.stdin ? ` < ${quote(opts.stdin)}` : ''}`;
  const child = spawn('script', ['-qefc', cmd, '/dev/null'], { cwd: REPO_ROOT, stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  return new Promise((resolve, reject) => {
    let out = '';
    let sent = false;
    const timer = setTimeout(() => {
      process.kill(-child.pid!, 'SIGKILL');
      reject(new Error(`no ${JSON.stringify(when)} in ${timeoutMs} ms; the terminal showed:\n${out}`));
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (c: string) => {
      out += c;
      const pid = /PID=(\d+)/.exec(out)?.[1];
      if (!sent && pid && out.includes(when)) {
        sent = true;
        process.kill(Number(pid), signal);
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.end();
      resolve({ code, out });
    });
  });
}

/** How often `out` switches the cursor and line wrapping off and back on. */
export function terminalModes(out: string): { cursorHidden: number; cursorShown: number; wrapOff: number; wrapOn: number } {
  const count = (s: string) => out.split(s).length - 1;
  return { cursorHidden: count('\x1b[?25l'), cursorShown: count('\x1b[?25h'), wrapOff: count('\x1b[?7l'), wrapOn: count('\x1b[?7h') };
}

/**
 * The lines a person sees once `out` is drawn: text overwritten by carriage returns, cursor
 * moves to a column (CSI n G), saved and restored cursor positions (ESC 7, ESC 8) and line
 * clears (CSI K) is gone, as on the screen. Other escapes are dropped; enough for bars.
 */
export function screenLines(out: string): string[] {
  const lines: string[] = [];
  let line: string[] = [];
  let col = 0;
  let saved = 0;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: escape sequences are what it reads
  const re = /\x1b\[(\d*)([A-Za-z])|\x1b\[\?\d+[hl]|\x1b([78])|\r\n|\n|\r|[^\x1b\r\n]/gu;
  for (const m of out.matchAll(re)) {
    const [all, n, csi, save] = m;
    if (all === '\n' || all === '\r\n') {
      lines.push(line.join('').trimEnd());
      line = [];
      col = 0;
    } else if (all === '\r') col = 0;
    else if (save === '7') saved = col;
    else if (save === '8') col = saved;
    else if (csi === 'G') col = Math.max(0, Number(n || 1) - 1);
    else if (csi === 'K') line = n === '2' ? [] : n === '1' ? line.map((ch, i) => (i <= col ? ' ' : ch)) : line.slice(0, col);
    else if (!all.startsWith('\x1b')) {
      while (line.length < col) line.push(' ');
      line[col++] = all;
    }
  }
  if (line.length) lines.push(line.join('').trimEnd());
  return lines;
}
