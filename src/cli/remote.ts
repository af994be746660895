import { LayerstoreError } from '../errors.js';
import { findCredentials } from '../registry/credentials.js';
import { RequestPolicy } from '../registry/request-policy.js';
import { RegistryClient } from '../registry/client.js';
import { registryBaseUrl } from '../registry/reference.js';

export interface RemoteOptions {
  insecure?: boolean;
  username?: string;
  password?: string;
}

/** pull and push: attempts after the first of a request that may be repeated (and of a blob upload). */
export const TRANSFER_RETRIES = 3;
/** pull and push: the longest silence (headers, the next chunk) before a request is given up, in seconds. */
export const DEFAULT_TRANSFER_TIMEOUT_S = 30;

/**
 * How patient pull and push are: --timeout SECONDS of silence per request (not of the whole
 * transfer: a big layer takes what it takes), TRANSFER_RETRIES more attempts with backoff
 * (Retry-After honoured up to 60 s).
 */
export function transferPolicy(timeout: string | undefined): RequestPolicy {
  const s = parseSeconds(timeout, '--timeout') ?? DEFAULT_TRANSFER_TIMEOUT_S;
  return new RequestPolicy({ timeoutMs: s * 1000, idle: true, retries: TRANSFER_RETRIES });
}

/** A --timeout style option: a number of seconds above 0. */
export function parseSeconds(v: string | undefined, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!/^\d+(\.\d+)?$/.test(v.trim()) || !(n > 0)) throw new LayerstoreError('E_USAGE', `${flag} ${JSON.stringify(v)}: expected a number of seconds above 0`);
  return n;
}

/** A client for `registry` (host[:port], or a URL with its scheme) with the credentials found for it. */
export async function clientFor(registry: string, opts: RemoteOptions): Promise<RegistryClient> {
  const explicit = /^https?:\/\//.exec(registry);
  const url = explicit ? { base: registry.replace(/\/+$/, '') } : registryBaseUrl(registry, !!opts.insecure);
  const host = explicit ? new URL(registry).host : registry;
  return new RegistryClient(url.base, await findCredentials(host, opts), url.fallback);
}
