import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { RegistryBody, RegistryResponse } from './response.js';

// Idle sockets of a keep-alive agent are unref'd: they do not hold the process open.
const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

/** Statuses that have no body. */
const NULL_BODY = new Set([101, 103, 204, 205, 304]);
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** As fetch: more redirects than this is a failure. */
const MAX_REDIRECTS = 20;

/**
 * A bodiless request (GET, HEAD) over node:http(s) with a keep-alive agent. Why not fetch
 * (undici) for these:
 * - it closes the connection after a HEAD response that declares a Content-Length unless the
 *   server says `Connection: keep-alive`, which distribution does not: a HEAD per tag then
 *   cost a TCP connection per tag (1000 HEADs at concurrency 8 on loopback: 1.7-2.0 s with
 *   fetch, 0.8-1.2 s here);
 * - per request it allocates several times more (a 20k-tag scan peaked at ~400 MB RSS with
 *   fetch, of which ~60 MB live): here a timeout is one timer, not an AbortSignal per
 *   request, and the response is the socket's stream, not a Response over a web stream.
 *
 * Redirects are followed as fetch follows them (registries send blob GETs to their storage
 * with a 307), and credentials are not sent to another origin (S3 refuses them, and they are
 * not its business). `timeoutMs` covers each exchange, body included; with `idle` it covers
 * each wait instead (for the headers, then for every chunk of the body), so a big blob takes
 * as long as it needs while a stalled one still fails. Failures look like
 * fetch's: a TypeError "fetch failed" whose cause is the socket's error; a DOMException
 * TimeoutError for the timeout; the signal's reason when `signal` aborts. After the
 * response, they error its body stream.
 */
export async function nodeRequest(
  method: 'GET' | 'HEAD',
  url: string,
  headers: Record<string, string>,
  opts: TransportOptions = {},
): Promise<RegistryResponse> {
  const origin = new URL(url).origin;
  let at = url;
  for (let hops = 0; ; hops++) {
    const res = await exchange(method, at, headers, opts);
    const location = res.headers.get('location');
    if (!REDIRECTS.has(res.status) || location === null) return res;
    await res.body?.cancel().catch(() => {});
    if (hops === MAX_REDIRECTS) throw Object.assign(new TypeError('fetch failed'), { cause: new Error(`more than ${MAX_REDIRECTS} redirects from ${url}`) });
    const next = new URL(location, at);
    if (next.protocol !== 'http:' && next.protocol !== 'https:')
      throw Object.assign(new TypeError('fetch failed'), { cause: new Error(`${at} redirects to ${next.protocol} URL`) });
    if (next.origin !== origin) headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
    at = next.href;
  }
}

export interface TransportOptions {
  timeoutMs?: number;
  /** timeoutMs is the longest silence (headers, each body chunk), not the whole exchange. */
  idle?: boolean;
  signal?: AbortSignal;
  /**
   * Watches `signal` for this request (RequestPolicy.onStop: one listener on a signal that
   * every request in flight shares); without it, a listener of the request's own.
   */
  onStop?: (f: () => void) => () => void;
}

/**
 * A request body sent in chunks, each valid only until the next is asked for (a blob read
 * into reused buffers: util/buffer-pool.ts fileChunks): the next is asked for once the
 * socket has taken the one before (its write callback).
 */
export type UploadBody = AsyncIterable<Buffer>;

/**
 * A request with a streamed body (a blob upload's PUT) over node:http(s). Not fetch: undici
 * takes a body as a web stream and copies every chunk into new memory (Node's Readable.toWeb
 * does as well), and fresh memory costs a page fault per 4 KiB here: pushing an 86 MB blob
 * to docker-registry took 0.78-0.82 s through fetch, 0.43-0.44 s this way (and half the CPU).
 * Failures look like fetch's, as nodeRequest's do; a redirect is returned, not followed
 * (fetch cannot send a streamed body twice either). `signal` bounds the exchange (the
 * caller's idle watch or attempt timeout); an error reading `body` is thrown as it is.
 */
export function nodeUpload(
  method: 'PUT' | 'PATCH' | 'POST',
  url: string,
  headers: Record<string, string>,
  body: UploadBody,
  signal?: AbortSignal,
): Promise<RegistryResponse> {
  return exchange(method, url, headers, { signal }, body);
}

/** Write `body` into `req`, each chunk once the one before has been taken; stops when `stop()` says so. */
async function pump(req: http.ClientRequest, body: UploadBody, stop: () => boolean): Promise<void> {
  for await (const chunk of body) {
    if (stop()) return;
    await new Promise<void>((resolve, reject) => req.write(chunk, (e) => (e ? reject(Object.assign(e, { fromSocket: true })) : resolve())));
  }
  if (!stop()) req.end();
}

/** One request and its response (no redirect followed). */
function exchange(method: string, url: string, headers: Record<string, string>, opts: TransportOptions, body?: UploadBody): Promise<RegistryResponse> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  const { signal, timeoutMs } = opts;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    let settled = false;
    let response: IncomingMessage | undefined;
    const req = lib.request(u, { method, headers, agent: agents[u.protocol as 'http:' | 'https:'] });
    const fail = (e: unknown) => {
      cleanup();
      req.destroy(e as Error);
      response?.destroy(e as Error);
      if (!settled) {
        settled = true;
        reject(e);
      }
    };
    const onAbort = () => fail(signal!.reason);
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      if (timeoutMs === undefined) return;
      clearTimeout(timer);
      timer = setTimeout(() => fail(new DOMException(`no answer within ${timeoutMs / 1000} s`, 'TimeoutError')), timeoutMs);
      timer.unref();
    };
    const disarm = () => clearTimeout(timer);
    arm();
    const forget = !signal ? () => {} : opts.onStop ? opts.onStop(onAbort) : listen(signal, onAbort);
    const cleanup = () => {
      disarm();
      forget();
    };
    let sent = !body;
    req.on('response', (res) => {
      response = res;
      res.on('close', cleanup);
      // Answered before the whole body went (pump stops): the socket cannot carry another request.
      if (!sent) res.on('close', () => req.destroy());
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) return fail(Object.assign(new TypeError('fetch failed'), { cause: new Error(`${method} ${url}: status ${status}`) }));
      const bodiless = method === 'HEAD' || NULL_BODY.has(status);
      if (bodiless) res.resume();
      settled = true;
      resolve(new NodeResponse(status, url, res, bodiless, opts.idle ? { arm, disarm } : undefined));
    });
    const failed = (e: unknown) =>
      signal?.aborted ? signal.reason : (e as Error).name === 'TimeoutError' ? e : Object.assign(new TypeError('fetch failed'), { cause: e });
    req.on('error', (e) => {
      cleanup();
      if (settled) return;
      settled = true;
      reject(failed(e));
    });
    if (!body) {
      req.end();
      return;
    }
    // An answer before the whole body (a refusal) ends the sending: the socket is not reused.
    pump(req, body, () => response !== undefined || settled).then(
      () => {
        sent = response === undefined;
      },
      (e: unknown) => {
        if (response !== undefined) return; // answered already: the answer says what happened
        const fromSocket = (e as { fromSocket?: boolean }).fromSocket === true;
        fail(fromSocket ? failed(e) : e);
      },
    );
  });
}

/** `f` once when `signal` aborts; the function returned removes the listener. */
function listen(signal: AbortSignal, f: () => void): () => void {
  signal.addEventListener('abort', f, { once: true });
  return () => signal.removeEventListener('abort', f);
}

/** A response read from the socket's stream: headers as node parsed them (lower-case names, repeats joined). */
class NodeResponse implements RegistryResponse {
  readonly body: RegistryBody | null;

  constructor(
    readonly status: number,
    readonly url: string,
    private readonly res: IncomingMessage,
    bodiless: boolean,
    idle?: { arm: () => void; disarm: () => void },
  ) {
    this.body = bodiless
      ? null
      : {
          [Symbol.asyncIterator]: () => (idle ? idleChunks(res, idle)[Symbol.asyncIterator]() : res[Symbol.asyncIterator]()),
          cancel: async () => void res.destroy(),
        };
  }

  readonly headers = {
    get: (name: string): string | null => {
      const v = this.res.headers[name.toLowerCase()];
      return v === undefined ? null : Array.isArray(v) ? v.join(', ') : v;
    },
  };
}

/** The body's chunks, the idle timer running only while waiting for the next one (not while the reader works). */
async function* idleChunks(res: IncomingMessage, idle: { arm: () => void; disarm: () => void }): AsyncGenerator<Buffer> {
  for await (const c of res) {
    idle.disarm();
    yield c as Buffer;
    idle.arm();
  }
  idle.disarm();
}
