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
  const cert = certificateCode(e);
  if (cert) return { ...certificateProblem(cert, firstLine(raw), u.hostname), permanent: true };
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

/**
 * OpenSSL's verification codes as Node names them (DEPTH_ZERO_SELF_SIGNED_CERT,
 * UNABLE_TO_VERIFY_LEAF_SIGNATURE, CERT_HAS_EXPIRED…) and Node's own name check.
 */
const CERT_CODE = /CERT|^UNABLE_TO_|^INVALID_CA$|^HOSTNAME_MISMATCH$|^INVALID_PURPOSE$|^PATH_LENGTH_EXCEEDED$/;

/** The code of a failure to verify the server's certificate, if that is what `e` is. */
function certificateCode(e: unknown): string | undefined {
  const code = (e as { cause?: { code?: unknown } })?.cause?.code ?? (e as { code?: unknown })?.code;
  return typeof code === 'string' && CERT_CODE.test(code) && !/^ERR_(?!TLS_CERT_ALTNAME_INVALID$)/.test(code) ? code : undefined;
}

/** Whether `e` is the server's certificate failing verification: asking again (or over http) will not fix it. */
export function isCertificateFailure(e: unknown): boolean {
  return certificateCode(e) !== undefined;
}

/** What is wrong with the certificate, and what fixes it. */
function certificateProblem(code: string, message: string, host: string): { reason: string; hint: string } {
  const said = `${message.replace(/\.$/, '')} [${code}]`;
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID' || code === 'HOSTNAME_MISMATCH')
    return { reason: `the TLS certificate is not for ${host}: ${said}`, hint: `the registry must present a certificate whose names include ${host}` };
  if (/EXPIRED|NOT_YET_VALID/.test(code))
    return { reason: `the TLS certificate is out of its validity dates: ${said}`, hint: "renew the registry's certificate (or check this machine's clock)" };
  return {
    reason: `the TLS certificate is not trusted: ${said}`,
    hint: 'if you trust this registry, give Node the CA certificate that signed it (a self-signed certificate is its own CA): NODE_EXTRA_CA_CERTS=ca.pem layerstore ...',
  };
}
