import { isLoopback } from './auth.js';

/**
 * One line saying why a request got no HTTP answer, a hint that fits the target, and whether
 * asking again could help (not for TLS spoken to plain http, nor an unknown host). fetch's
 * own message is "fetch failed"; the reason is in its cause, and for TLS it is OpenSSL's
 * multi-line "…:error:0A00010B:SSL routines:ssl3_get_record:wrong version number:../deps/…".
 */
export function describeFetchFailure(e: unknown, url: string, timeoutMs?: number): { reason: string; hint?: string; permanent?: boolean } {
  const err = e as Error & { cause?: Error & { code?: string } };
  if (err?.name === 'TimeoutError') {
    return {
      reason: `no answer within ${timeoutMs !== undefined ? `${timeoutMs / 1000} s` : 'the timeout'}`,
      hint: 'the registry may be down, frozen or overloaded; --timeout SECONDS waits longer',
    };
  }
  const cause = err?.cause;
  const raw = cause?.message ?? err?.message ?? String(e);
  const u = new URL(url);
  const ssl = /SSL routines:[^:\n]*:([^:\n]+)/.exec(raw);
  if (u.protocol === 'https:' && (ssl || /EPROTO|wrong version number|packet length too long/i.test(raw))) {
    const plainHttp = /wrong version number|packet length too long|http request/i.test(raw);
    const reason = plainHttp ? 'the server does not speak TLS (a plain-http registry?)' : `TLS failed: ${ssl ? ssl[1]!.trim() : firstLine(raw)}`;
    const http = `http://${u.host}`;
    return {
      reason,
      hint: plainHttp ? (isLoopback(u.hostname) ? `use ${http}` : `use ${http} (or a host without a scheme and --insecure)`) : undefined,
      permanent: true,
    };
  }
  const code = cause?.code;
  // A name that does not resolve will not resolve on a retry either; a refused or reset connection may (a restart).
  return { reason: code && !raw.includes(code) ? `${code}: ${firstLine(raw)}` : firstLine(raw), permanent: code === 'ENOTFOUND' };
}

function firstLine(s: string): string {
  return s.split(/\r?\n/)[0]!.trim().replace(/:$/, '');
}
