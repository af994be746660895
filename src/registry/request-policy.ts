/**
 * How patient a RegistryClient is with a registry: how long one request may take, which
 * answers are worth asking again and how long to wait before that, and an overall stop. The
 * default (no options) waits as long as the connection lives and never retries; pull and push
 * (cli/pull-push-commands.ts) and `report --registry` (cli/registry-report.ts) set the knobs.
 */
export interface RequestPolicyOptions {
  /** One attempt, from sending the request to the last byte of its body (with `idle`: the longest silence). */
  timeoutMs?: number;
  /**
   * timeoutMs is the longest wait for the next thing (the headers, the next body chunk, the
   * registry taking the next upload chunk), not the whole exchange: blobs of any size.
   */
  idle?: boolean;
  /** Further attempts of a GET or HEAD answered 429 or 5xx, or whose connection failed. */
  retries?: number;
  /** First backoff; doubled each attempt (with jitter) up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** The longest Retry-After honoured; a registry asking for more gets this. */
  maxRetryAfterMs?: number;
  /** Aborts every request in flight and every wait: the caller is stopping. */
  signal?: AbortSignal;
}

/** Statuses that say "not now" rather than "no": asked again after a wait. */
const RETRY_STATUSES = new Set([429, 500, 502, 503, 504]);

export class RequestPolicy {
  readonly timeoutMs: number | undefined;
  readonly idle: boolean;
  readonly retries: number;
  private readonly backoffMs: number;
  private readonly maxBackoffMs: number;
  private readonly maxRetryAfterMs: number;
  readonly signal: AbortSignal | undefined;
  /** Attempts made again, for the report's counts. */
  retried = 0;
  /** Who waits on `signal` now (requests and pauses in flight): see onStop. */
  private readonly stopWatchers = new Set<() => void>();

  constructor(o: RequestPolicyOptions = {}) {
    this.timeoutMs = o.timeoutMs;
    this.idle = o.idle ?? false;
    this.retries = o.retries ?? 0;
    this.backoffMs = o.backoffMs ?? 500;
    this.maxBackoffMs = o.maxBackoffMs ?? 10_000;
    this.maxRetryAfterMs = o.maxRetryAfterMs ?? 60_000;
    this.signal = o.signal;
    // One listener for every request in flight, not one each: at --concurrency 256 that many
    // listeners on one signal is what Node's leak warning (past 10) is about.
    this.signal?.addEventListener(
      'abort',
      () => {
        for (const f of [...this.stopWatchers]) f();
        this.stopWatchers.clear();
      },
      { once: true },
    );
  }

  /** Call `f` when the caller stops (once); the function returned forgets it (call it when the request or wait ends). */
  onStop(f: () => void): () => void {
    this.stopWatchers.add(f);
    return () => this.stopWatchers.delete(f);
  }

  /** The signal one attempt runs under: its own timeout and the caller's stop. */
  attemptSignal(): AbortSignal | undefined {
    const signals = [this.timeoutMs !== undefined ? AbortSignal.timeout(this.timeoutMs) : undefined, this.signal].filter(
      (s): s is AbortSignal => s !== undefined,
    );
    return signals.length > 1 ? AbortSignal.any(signals) : signals[0];
  }

  /**
   * For a request with a body under `idle`: a signal that aborts after timeoutMs without
   * touch() (call it for every chunk the request takes), and done() once it is answered.
   */
  idleWatch(): { signal: AbortSignal | undefined; touch: () => void; done: () => void } {
    if (this.timeoutMs === undefined) return { signal: this.signal, touch: () => {}, done: () => {} };
    const ms = this.timeoutMs;
    const ctl = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const touch = () => {
      clearTimeout(timer);
      timer = setTimeout(() => ctl.abort(new DOMException(`no answer within ${ms / 1000} s`, 'TimeoutError')), ms);
      timer.unref();
    };
    touch();
    return { signal: this.signal ? AbortSignal.any([ctl.signal, this.signal]) : ctl.signal, touch, done: () => clearTimeout(timer) };
  }

  /** Whether a status is one retried (429, 5xx): also what restarts a whole blob upload. */
  static retryable(status: number): boolean {
    return RETRY_STATUSES.has(status);
  }

  shouldRetryStatus(status: number, attempt: number): boolean {
    return attempt < this.retries && RETRY_STATUSES.has(status);
  }

  shouldRetryFailure(attempt: number): boolean {
    return attempt < this.retries && !this.signal?.aborted;
  }

  /** Wait before attempt `attempt + 1`: Retry-After when the registry gave one, else exponential backoff with jitter. */
  async pause(attempt: number, retryAfter: string | null): Promise<void> {
    this.retried++;
    const asked = parseRetryAfter(retryAfter, Date.now());
    const ms =
      asked !== undefined ? Math.min(asked, this.maxRetryAfterMs) : Math.min(this.maxBackoffMs, this.backoffMs * 2 ** attempt) * (0.5 + Math.random() / 2);
    await sleep(ms, this);
  }
}

/** Retry-After as milliseconds from `now`: delta-seconds or an HTTP date (RFC 9110 10.2.3). */
export function parseRetryAfter(v: string | null, now: number): number | undefined {
  if (v === null) return undefined;
  const s = v.trim();
  if (/^\d+$/.test(s)) return Number(s) * 1000;
  const t = Date.parse(s);
  return Number.isNaN(t) ? undefined : Math.max(0, t - now);
}

/** `ms`, or less when the policy's caller stops. */
function sleep(ms: number, policy: RequestPolicy): Promise<void> {
  return new Promise((resolve) => {
    if (policy.signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      forget();
      resolve();
    };
    const t = setTimeout(done, ms);
    const forget = policy.onStop(done);
  });
}
