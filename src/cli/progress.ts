import cliProgress from 'cli-progress';
import type { IngestProgress } from '../ingest/ingest.js';
import { humanBytes } from '../report/human.js';

/**
 * A progress bar on stderr (bytes, rate, ETA) while an input is read; only when stderr is a
 * terminal and --quiet is not given, so logs and pipes stay clean.
 */
export class IngestProgressBar {
  private bar: cliProgress.SingleBar | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly t0 = Date.now();

  constructor(
    private readonly label: string,
    private readonly enabled: boolean,
  ) {}

  start(p: IngestProgress): void {
    if (!this.enabled) return;
    const total = Math.max(p.total, 1);
    this.bar = new cliProgress.SingleBar(
      {
        stream: process.stderr,
        format: '{label} [{bar}] {percentage}% | {done}/{size} | {rate} | ETA {eta_formatted}',
        hideCursor: true,
        clearOnComplete: true,
        barsize: 24,
        etaBuffer: 20,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(total, 0, { label: this.label, done: humanBytes(0), size: humanBytes(p.total), rate: '' });
    this.timer = setInterval(() => {
      const n = p.bytesRead();
      const secs = (Date.now() - this.t0) / 1000;
      this.bar?.update(Math.min(n, total), { done: humanBytes(n), rate: secs > 0 ? `${humanBytes(n / secs)}/s` : '' });
    }, 200);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.bar?.stop();
    this.bar = undefined;
  }
}

/** A progress bar for long store-wide work (verify: bytes; file indexing: layers). */
export class ProgressBar {
  private bar: cliProgress.SingleBar | undefined;
  private readonly t0 = Date.now();
  private last = 0;

  constructor(
    private readonly label: string,
    private readonly enabled: boolean,
    private readonly unit: 'bytes' | 'count' = 'bytes',
  ) {}

  private fmt(n: number): string {
    return this.unit === 'bytes' ? humanBytes(n) : String(n);
  }

  update(done: number, total: number): void {
    if (!this.enabled) return;
    const now = Date.now();
    if (this.bar && now - this.last < 200 && done < total) return;
    this.last = now;
    if (!this.bar) {
      this.bar = new cliProgress.SingleBar(
        { stream: process.stderr, format: '{label} [{bar}] {percentage}% | {done}/{size} | ETA {eta_formatted}', hideCursor: true, clearOnComplete: true, barsize: 24 },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(Math.max(total, 1), 0, { label: this.label, done: this.fmt(0), size: this.fmt(total) });
    }
    this.bar.update(Math.min(done, Math.max(total, 1)), { done: this.fmt(done) });
  }

  stop(): void {
    this.bar?.stop();
  }
}
