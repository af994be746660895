import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { LayerstoreError } from '../errors.js';
import { BcryptThread } from './bcrypt-thread.js';

/** What a request's credentials come to. */
export type AuthVerdict = 'ok' | 'denied' | 'throttled';

/** Failed logins to one user from one address per window before it is refused without a check. */
export const AUTH_FAILURES_PER_WINDOW = 10;
/** Failed logins to any users from one address per window (guessing names as well as passwords). */
export const AUTH_FAILURES_PER_ADDRESS = 100;
export const AUTH_WINDOW_MS = 60_000;
/** How long credentials that passed are remembered (clients send them with every request). */
const PASSED_TTL_MS = 5 * 60_000;
const MAX_REMEMBERED = 4096;

/**
 * HTTP basic auth against an htpasswd file of bcrypt hashes, as distribution's htpasswd
 * auth does (`htpasswd -Bbn user password`). Other hash kinds are refused at load time.
 *
 * Against guessing and floods: an unknown user costs a bcrypt check like a known one (no
 * probing names by timing); bcrypt runs on a worker thread, never on the event loop; after
 * AUTH_FAILURES_PER_WINDOW failed logins to one user from one address (or
 * AUTH_FAILURES_PER_ADDRESS to any users) in AUTH_WINDOW_MS, that address is answered
 * "throttled" without a check until the window ends; credentials that passed are
 * remembered (by their sha256) for a few minutes, so a client that authenticated keeps
 * working while another client on its address is throttled.
 */
export class Htpasswd {
  private readonly thread = new BcryptThread();
  private readonly passed = new Map<string, number>(); // sha256 of the header -> expiry
  private readonly failures = new Map<string, { since: number; count: number }>();

  private constructor(private readonly users: Map<string, string>) {}

  static async load(file: string): Promise<Htpasswd> {
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (e) {
      throw new LayerstoreError('E_USAGE', `cannot read htpasswd file ${file}: ${(e as Error).message}`);
    }
    const users = new Map<string, string>();
    for (const [i, raw] of text.split('\n').entries()) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      const colon = line.indexOf(':');
      const hash = line.slice(colon + 1);
      if (colon <= 0 || !/^\$2[aby]\$\d\d\$.{53}$/.test(hash)) {
        throw new LayerstoreError('E_USAGE', `${file} line ${i + 1} is not user:bcrypt-hash (make it with htpasswd -B)`);
      }
      users.set(line.slice(0, colon), hash.replace(/^\$2y\$/, '$2b$'));
    }
    if (users.size === 0) throw new LayerstoreError('E_USAGE', `${file} has no users`);
    return new Htpasswd(users);
  }

  /** Whether the request carries valid basic credentials. */
  async check(req: IncomingMessage): Promise<AuthVerdict> {
    const h = req.headers.authorization;
    const creds = h ? parseBasic(h) : undefined;
    if (!h || !creds) return 'denied'; // malformed: refused without a bcrypt check, so not counted
    const now = Date.now();
    const key = createHash('sha256').update(h).digest('hex');
    if ((this.passed.get(key) ?? 0) > now) return 'ok';
    const address = req.socket.remoteAddress ?? '';
    // Two budgets: guesses at one account from one address, and checks of any name from one address.
    const keys = [`${address} ${creds.user}`, address];
    const limits = [AUTH_FAILURES_PER_WINDOW, AUTH_FAILURES_PER_ADDRESS];
    if (keys.some((k, i) => this.failuresIn(k, now) >= limits[i]!)) return 'throttled';
    const hash = this.users.get(creds.user);
    // An unknown user is checked against a real user's hash (same cost, same time) and denied.
    const match = await this.thread.compare(creds.password, hash ?? this.users.values().next().value!);
    if (match && hash !== undefined) {
      remember(this.passed, key, now + PASSED_TTL_MS, now);
      return 'ok';
    }
    for (const k of keys) {
      const f = this.failures.get(k);
      const counted = f && now - f.since < AUTH_WINDOW_MS ? f : { since: now, count: 0 };
      counted.count++;
      remember(this.failures, k, counted, now);
    }
    return 'denied';
  }

  private failuresIn(key: string, now: number): number {
    const f = this.failures.get(key);
    return f && now - f.since < AUTH_WINDOW_MS ? f.count : 0;
  }

  /** Seconds until a throttled client may try again (for Retry-After). */
  retryAfterSeconds(req: IncomingMessage): number {
    const f = this.failures.get(req.socket.remoteAddress ?? '');
    return f ? Math.max(1, Math.ceil((f.since + AUTH_WINDOW_MS - Date.now()) / 1000)) : 1;
  }

  async close(): Promise<void> {
    await this.thread.close();
  }
}

/** user and password of a Basic Authorization header; undefined when it is not one. */
function parseBasic(header: string): { user: string; password: string } | undefined {
  if (!header.toLowerCase().startsWith('basic ')) return undefined;
  const b64 = header.slice(6).trim();
  // Node's base64 decoder skips characters it does not know and stops at padding; take
  // only canonical base64 (RFC 7617), so "user:pass" followed by junk is not accepted.
  if (b64.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(b64)) return undefined;
  const decoded = Buffer.from(b64, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** Set `key` in a bounded map: expired or oldest entries go first when it is full. */
function remember<V>(map: Map<string, V>, key: string, value: V, now: number): void {
  map.delete(key); // re-inserted last: Map order is insertion order, so the first entry is the oldest
  map.set(key, value);
  if (map.size <= MAX_REMEMBERED) return;
  for (const [k, v] of map) {
    const stale = typeof v === 'number' ? v <= now : now - (v as { since: number }).since >= AUTH_WINDOW_MS;
    if (stale || map.size > MAX_REMEMBERED) map.delete(k);
    if (map.size <= MAX_REMEMBERED / 2) break;
  }
}

/** 127.0.0.0/8, ::1 and "localhost": a listener only this machine can reach. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}
