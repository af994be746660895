import { createRequire } from 'node:module';
import type cliProgressTypes from 'cli-progress';
import type { IngestProgress } from '../ingest/ingest.js';
import { humanBytes } from '../report/human.js';
import { drawing, undrawn } from './terminal-restore.js';

/**
 * A progress bar on stderr for long work: bytes (with a rate) or a count, with an ETA. Drawn
 * only when `enabled` (callers pass: stderr is a terminal and --quiet is not given), so logs
 * and pipes stay clean. While drawn it is known to terminal-restore.ts, which stops it on every
 * way out; stop() is final.
 */
// Loaded when a bar is first drawn: runs without a terminal (CI, pipes) never pay for it.
const requireHere = createRequire(import.meta.url);

export class ProgressBar {
  private bar: cliProgressTypes.SingleBar | undefined;
  private readonly t0 = Date.now();
  private last = 0;
  private stopped = false;

  constructor(
    private readonly label: string,
    private readonly enabled: boolean,
    private readonly unit: 'bytes' | 'count' = 'bytes',
  ) {}

  private fmt(n: number): string {
    return this.unit === 'bytes' ? humanBytes(n) : String(n);
  }

  private rate(done: number): string {
    const secs = (Date.now() - this.t0) / 1000;
    return this.unit === 'bytes' && secs > 0 ? ` | ${humanBytes(done / secs)}/s` : '';
  }

  update(done: number, total: number): void {
    // Once stopped (also by restoreTerminal, while the command still runs) it is never drawn again.
    if (!this.enabled || this.stopped) return;
    const now = Date.now();
    if (this.bar && now - this.last < 200 && done < total) return;
    this.last = now;
    if (!this.bar) {
      const cliProgress = requireHere('cli-progress') as typeof cliProgressTypes;
      this.bar = new cliProgress.SingleBar(
        {
          stream: process.stderr,
          format: '{label} [{bar}] {percentage}% | {done}/{size}{rate} | ETA {eta_text}',
          hideCursor: true,
          clearOnComplete: true,
          barsize: 24,
          etaBuffer: 20,
        },
        cliProgress.Presets.shades_classic,
      );
      drawing(this);
      this.bar.start(Math.max(total, 1), 0, { label: this.label, done: this.fmt(0), size: this.fmt(total), rate: '', eta_text: etaText(0, total, 0) });
    }
    this.bar.update(Math.min(done, Math.max(total, 1)), { done: this.fmt(done), rate: this.rate(done), eta_text: etaText(done, total, now - this.t0) });
  }

  stop(): void {
    this.stopped = true;
    this.bar?.stop();
    this.bar = undefined;
    undrawn(this);
  }
}

/**
 * Time left, from the rate so far: "--" until there is a rate to go by (cli-progress's own
 * ETA printed "NULL"/"INF" then, cut to "LLs"/"NFs" on narrow terminals), then "42s",
 * "3m05s" or "2h10m".
 */
export function etaText(done: number, total: number, elapsedMs: number): string {
  if (done >= total && total > 0) return '0s';
  if (done <= 0 || elapsedMs < 500 || !(total > 0)) return '--';
  const secs = Math.round(((total - done) * elapsedMs) / done / 1000);
  if (!Number.isFinite(secs)) return '--';
  if (secs < 60) return `${secs}s`;
  if (secs < 3600) return `${Math.floor(secs / 60)}m${String(secs % 60).padStart(2, '0')}s`;
  return `${Math.floor(secs / 3600)}h${String(Math.floor((secs % 3600) / 60)).padStart(2, '0')}m`;
}

/** The bar of one ingest: polls the input's bytes read while the ingest runs. */
export class IngestProgressBar {
  private readonly bar: ProgressBar;
  private timer: NodeJS.Timeout | undefined;

  constructor(label: string, enabled: boolean) {
    this.bar = new ProgressBar(label, enabled);
  }

  start(p: IngestProgress): void {
    this.bar.update(0, p.total);
    this.timer = setInterval(() => this.bar.update(p.bytesRead(), p.total), 200);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.bar.stop();
  }
}
