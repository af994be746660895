import { Readable } from 'node:stream';
import { LayerstoreError } from '../errors.js';
import type { Digest } from '../digest/digest.js';
import { INDEX_TYPES, MANIFEST_TYPES, MT } from '../formats/types.js';
import type { Credentials } from './credentials.js';
import { boundedChunks, readBounded, type BodyBound } from './bounded-body.js';
import { RegistryStatusError, RegistryUnreachable } from './client-errors.js';
import { describeFetchFailure, isCertificateFailure } from './fetch-failure.js';
import { nodeRequest, nodeUpload, type TransportOptions, type UploadBody } from './node-transport.js';
import { nextLink } from './link-header.js';
import { fromFetch, type RegistryResponse } from './response.js';
import { RequestPolicy } from './request-policy.js';

/** Largest manifest, image config or token response read from a registry (containers/image's limit for the first two; our server's for manifests). */
export const MAX_REMOTE_JSON_BYTES = 4 * 1024 * 1024;
/** Largest page of a catalog or tags list (a registry that ignores ?n= may send all at once). */
const MAX_LIST_PAGE_BYTES = 16 * 1024 * 1024;
/** The most of an error body read for its message. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;
/** Pages of a catalog or tags list followed at most. */
const MAX_LIST_PAGES = 100_000;

/** Every manifest type we can read, for Accept headers. */
export const MANIFEST_ACCEPT = [MT.ociIndex, MT.ociManifest, MT.dockerManifestList, MT.dockerManifest].join(', ');

interface Challenge {
  scheme: 'bearer' | 'basic';
  params: Record<string, string>;
}

/** Parse `Bearer realm="...",service="...",scope="..."` (quoted values may hold commas). */
export function parseChallenge(h: string | null): Challenge | undefined {
  if (!h) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(h);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'bearer' && scheme !== 'basic') return undefined;
  const params: Record<string, string> = {};
  const re = /(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  let p: RegExpExecArray | null;
  while ((p = re.exec(m[2]!))) params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  return { scheme, params };
}

/**
 * A client for one registry over the OCI distribution API. Authentication follows the
 * registry's challenge: for `Bearer`, a token from the realm for the request's scope
 * (sending basic credentials to the realm when we have them), cached per scope; for
 * `Basic`, the credentials themselves.
 */
export class RegistryClient {
  private readonly tokens = new Map<string, string>();
  private basic = false;
  /** Why https failed before the fallback to http, when it was the certificate (reported if http fails too). */
  private certFailure?: RegistryUnreachable;
  /** Timeouts and retries; by default none (pull and push wait, and never retry). */
  policy = new RequestPolicy();
  /** Requests sent (attempts included), by kind, for reports and benchmarks. */
  readonly sent = { get: 0, head: 0, other: 0 };

  /**
   * `fallbackUrl`: where to go when `baseUrl` cannot be reached at all. A loopback registry
   * is tried over https first and then over plain http, as Docker does for localhost.
   */
  constructor(
    public baseUrl: string,
    private readonly creds?: Credentials,
    private fallbackUrl?: string,
  ) {}

  private authHeader(scope: string): string | undefined {
    const t = this.tokens.get(scope);
    if (t) return `Bearer ${t}`;
    if (this.basic && this.creds) return `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64')}`;
    return undefined;
  }

  /**
   * One request, authenticating on a 401 and retrying once. A streaming `body` cannot be
   * sent twice: callers authenticate first with a bodiless request of the same scope.
   * `repeatable`: the request may be sent again as it is (a manifest PUT of the same bytes, a
   * mount, a DELETE), so it is retried like a GET.
   */
  async request(
    method: string,
    path: string,
    opts: { scope: string; headers?: Record<string, string>; body?: Buffer | UploadBody; ok?: number[]; repeatable?: boolean },
  ): Promise<RegistryResponse> {
    // GET and HEAD may be asked again (429, 5xx, a lost connection), and what the caller says
    // is repeatable; never a streaming body.
    const streaming = opts.body !== undefined && !Buffer.isBuffer(opts.body);
    const idempotent = !streaming && (opts.repeatable === true || ((method === 'GET' || method === 'HEAD') && !opts.body));
    // A Location on another host is followed as it is, never with the registry's credentials.
    const absolute = /^https?:\/\//i.test(path);
    const send = async (): Promise<RegistryResponse> => {
      const base = this.baseUrl;
      const url = absolute ? path : base + path;
      const headers: Record<string, string> = { ...(opts.headers ?? {}) };
      const auth = sameOrigin(url, base) ? this.authHeader(opts.scope) : undefined;
      if (auth) headers.Authorization = auth;
      const init: RequestInit & { duplex?: 'half' } = { method, headers };
      // Bodiless requests go over node:http (node-transport.ts says why); uploads over fetch.
      const bodiless = (method === 'GET' || method === 'HEAD') && !opts.body;
      // Under an idle timeout an upload may take as long as the registry keeps taking chunks.
      const watch = !bodiless && this.policy.idle ? this.policy.idleWatch() : undefined;
      // A Blob, not the Buffer: Node 20's fetch fails to send a Buffer body again when it
      // follows a 307/308 ("detached ArrayBuffer"); a Blob it can read twice.
      if (Buffer.isBuffer(opts.body)) init.body = new Blob([opts.body]);
      const signal = bodiless ? undefined : watch ? watch.signal : this.policy.attemptSignal();
      if (signal) init.signal = signal;
      this.sent[method === 'GET' ? 'get' : method === 'HEAD' ? 'head' : 'other']++;
      try {
        let res: RegistryResponse;
        if (bodiless) res = await nodeRequest(method, url, headers, this.transport());
        else if (streaming) {
          const body = watch ? touching(opts.body as UploadBody, watch.touch) : (opts.body as UploadBody);
          res = await nodeUpload(method as 'PUT' | 'PATCH' | 'POST', url, headers, body, signal);
        } else res = fromFetch(await fetch(url, init));
        return await this.httpAfterTls(res, url);
      } catch (e) {
        if (e instanceof LayerstoreError) throw e; // reading the body failed (the store's blob): not the registry's failure
        if (this.policy.signal?.aborted) throw e; // the caller is stopping: not the registry's failure
        if (!absolute && (e as Error)?.name !== 'TimeoutError' && !signal?.aborted) {
          // A concurrent request already fell back to http: follow it.
          if (base !== this.baseUrl && !streaming) return send();
          if (this.fallbackUrl && !streaming) {
            // Kept: if plain http does not work either, this is what the user must hear.
            if (isCertificateFailure(e)) this.certFailure = this.unreachable(e, method, url);
            this.baseUrl = this.fallbackUrl;
            this.fallbackUrl = undefined;
            return send();
          }
        }
        if (this.certFailure && !absolute) throw this.httpFailedToo(`failed too (${describeFetchFailure(e, url, this.policy.timeoutMs).reason})`);
        throw this.unreachable(e, method, url);
      } finally {
        watch?.done();
      }
    };
    let tries = 1;
    const sendPatiently = async () => {
      const r = await this.patiently(idempotent, send);
      tries = r.tries;
      return r.res;
    };
    let res = await sendPatiently();
    await this.refuseForeignChallenge(res, method, absolute ? path : this.baseUrl + path);
    if (res.status === 401 && !streaming) {
      // Named as asked: the catalog refused is not the version check refused.
      const asked = `${method} ${absolute ? path : this.baseUrl + path}`;
      const ch = parseChallenge(res.headers.get('www-authenticate'));
      await res.body?.cancel();
      if (ch?.scheme === 'bearer') await this.fetchToken(ch, opts.scope);
      else if (ch?.scheme === 'basic') {
        if (!this.creds)
          throw new LayerstoreError('E_AUTH', `${asked}: the registry wants credentials`, {
            hint: 'pass --username/--password, set LAYERSTORE_USERNAME/LAYERSTORE_PASSWORD, or docker login',
          });
        this.basic = true;
      } else throw new LayerstoreError('E_AUTH', `${asked}: refused (401) without a usable challenge`);
      res = await sendPatiently();
      await this.refuseForeignChallenge(res, method, absolute ? path : this.baseUrl + path);
    }
    if (res.status === 401 || res.status === 403) {
      await res.body?.cancel();
      throw new LayerstoreError('E_AUTH', `${this.baseUrl}${path}: ${res.status === 401 ? 'unauthorized' : 'denied'} (${res.status})`, {
        hint: this.creds
          ? 'check the credentials and their rights on this repository'
          : 'pass --username/--password, set LAYERSTORE_USERNAME/LAYERSTORE_PASSWORD, or docker login',
      });
    }
    if (opts.ok && !opts.ok.includes(res.status)) throw withTries(await registryError(res, method, absolute ? path : this.baseUrl + path), tries);
    return res;
  }

  /**
   * A 401 or 403 from another origin than the registry's (a redirect's target, an upload URL
   * on another host) is final: its challenge is not answered with the registry's credentials,
   * which are for the registry alone (as docker and containers/image: a storage backend must
   * take the redirected request as it is, e.g. a signed URL).
   */
  private async refuseForeignChallenge(res: RegistryResponse, method: string, url: string): Promise<void> {
    if (res.status !== 401 && res.status !== 403) return;
    const answered = res.url ?? url;
    if (sameOrigin(answered, this.baseUrl)) return;
    await res.body?.cancel().catch(() => {});
    const other = new URL(answered).origin;
    const how = sameOrigin(url, answered) ? `the registry sent it to ${other}` : `the registry redirected it to ${other}`;
    throw new LayerstoreError('E_AUTH', `${method} ${url}: ${how}, which answered ${res.status}; the registry's credentials are not sent to another host`, {
      hint: `${other} must accept the request without credentials (as a signed URL); ask the registry's operator`,
    });
  }

  /**
   * After https failed on a certificate and the client fell back to plain http on the same
   * port, a 400 is the TLS server refusing plain http (Go's "Client sent an HTTP request to an
   * HTTPS server"): the certificate is the problem, and that is the error. Any other answer
   * means plain http works.
   */
  private async httpAfterTls(res: RegistryResponse, url: string): Promise<RegistryResponse> {
    if (!this.certFailure || !url.startsWith(`${this.baseUrl}/`)) return res;
    if (res.status !== 400) {
      this.certFailure = undefined;
      return res;
    }
    await res.body?.cancel().catch(() => {});
    throw this.httpFailedToo('answered 400 (the port speaks TLS)');
  }

  /** The certificate failure, saying what plain http did: the one line the user needs. */
  private httpFailedToo(what: string): RegistryUnreachable {
    const tls = this.certFailure!;
    return new RegistryUnreachable(`${tls.message}; plain http on the same port ${what}`, tls.hint, true);
  }

  /** How nodeRequest runs under the policy. */
  private transport(): TransportOptions {
    const policy = this.policy;
    return { timeoutMs: policy.timeoutMs, idle: policy.idle, signal: policy.signal, onStop: (f) => policy.onStop(f) };
  }

  /**
   * `send` asked again after a wait while the policy allows, when it may be (`idempotent`):
   * a lost or timed-out connection, or a 429/5xx answer. The last failure names how many
   * attempts were made.
   */
  private async patiently(idempotent: boolean, send: () => Promise<RegistryResponse>): Promise<{ res: RegistryResponse; tries: number }> {
    for (let attempt = 0; ; attempt++) {
      let r: RegistryResponse;
      try {
        r = await send();
      } catch (e) {
        if (idempotent && e instanceof RegistryUnreachable && !e.permanent && this.policy.shouldRetryFailure(attempt)) {
          await this.policy.pause(attempt, null);
          continue;
        }
        throw withTries(e, attempt + 1);
      }
      if (!idempotent || !this.policy.shouldRetryStatus(r.status, attempt)) return { res: r, tries: attempt + 1 };
      await r.body?.cancel().catch(() => {});
      await this.policy.pause(attempt, r.headers.get('retry-after'));
    }
  }

  private async fetchToken(ch: Challenge, scope: string): Promise<void> {
    const realm = ch.params.realm;
    if (!realm) throw new LayerstoreError('E_AUTH', 'the registry sent a Bearer challenge without a realm');
    const url = new URL(realm);
    if (ch.params.service) url.searchParams.set('service', ch.params.service);
    url.searchParams.set('scope', scope);
    const headers: Record<string, string> = {};
    if (this.creds) headers.Authorization = `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64')}`;
    // Under the same timeout and retries as the registry's own requests; named without the query.
    const named = `${url.origin}${url.pathname}`;
    const ask = async (): Promise<RegistryResponse> => {
      const { res, tries } = await this.patiently(true, async () => {
        this.sent.get++;
        try {
          return await nodeRequest('GET', url.href, headers, this.transport());
        } catch (e) {
          if (this.policy.signal?.aborted) throw e;
          throw this.unreachable(e, 'GET', named, 'the token service');
        }
      });
      if (res.status < 200 || res.status > 299) {
        await res.body?.cancel();
        const why = RequestPolicy.retryable(res.status) ? `answered ${res.status}` : `refused (${res.status})`;
        throw withTries(new LayerstoreError('E_AUTH', `the token service ${named} ${why}`, { hint: 'check the credentials' }), tries);
      }
      return res;
    };
    let bytes: Buffer;
    try {
      // A token whose body is cut off is asked for again, as a manifest is (getWhole).
      ({ bytes } = await this.wholly(() => ({ url: named, limit: MAX_REMOTE_JSON_BYTES, what: 'token response' }), ask));
    } catch (e) {
      if (!(e instanceof LayerstoreError) || e instanceof RegistryUnreachable || e.code === 'E_AUTH') throw e;
      throw new LayerstoreError('E_AUTH', `the token service ${url.origin}: ${(e as Error).message}`);
    }
    let body: { token?: string; access_token?: string };
    try {
      body = JSON.parse(bytes.toString('utf8')) as typeof body;
    } catch {
      throw new LayerstoreError('E_AUTH', `the token service ${url.origin} did not answer JSON`);
    }
    const token = body.token ?? body.access_token;
    if (!token) throw new LayerstoreError('E_AUTH', `the token service ${url.origin} returned no token`);
    this.tokens.set(scope, token);
  }

  /** The error for a request that got no answer: one line naming the URL, and a hint that fits. */
  private unreachable(e: unknown, method: string, url: string, what = 'the registry'): RegistryUnreachable {
    const { reason, hint, permanent } = describeFetchFailure(e, url, this.policy.timeoutMs);
    return new RegistryUnreachable(
      (e as Error)?.name === 'TimeoutError' ? `${method} ${url}: ${reason}` : `${method} ${url}: cannot reach ${what} (${reason})`,
      hint,
      permanent,
    );
  }

  /**
   * GET `path` and read its whole body within `bound`: a manifest, a config, a list page. A
   * body cut off midway (the connection lost, or silent past the timeout) is asked for again
   * whole, as a request whose connection fails is, while the policy allows. Not asked again:
   * the caller stopping (--max-time, SIGINT) and a body past its bound (a LayerstoreError).
   */
  async getWhole(
    path: string,
    opts: { scope: string; headers?: Record<string, string>; ok?: number[] },
    bound: (url: string) => BodyBound,
  ): Promise<{ res: RegistryResponse; bytes: Buffer; url: string }> {
    let url = '';
    const got = await this.wholly(
      () => bound(url),
      async () => {
        const res = await this.request('GET', path, opts);
        url = this.baseUrl + path; // after the request: a loopback registry may have moved to http
        return res;
      },
    );
    return { ...got, url };
  }

  /** `get()`'s response and its whole body, `get()` asked again when the body is cut off (getWhole). */
  private async wholly(boundOf: () => BodyBound, get: () => Promise<RegistryResponse>): Promise<{ res: RegistryResponse; bytes: Buffer }> {
    for (let attempt = 0; ; attempt++) {
      const res = await get();
      const bound = boundOf();
      const chunks: Buffer[] = [];
      let got = 0;
      try {
        for await (const c of boundedChunks(res, bound)) {
          chunks.push(c);
          got += c.length;
        }
        return { res, bytes: Buffer.concat(chunks) };
      } catch (e) {
        if (e instanceof LayerstoreError || this.policy.signal?.aborted) throw e;
        if (!this.policy.shouldRetryFailure(attempt)) throw withTries(this.cutOff(e, bound.url, got, res.headers.get('content-length')), attempt + 1);
      }
      await this.policy.pause(attempt, null);
    }
  }

  /** A body that stopped coming: silence past the timeout, or the connection broken after `got` bytes. */
  private cutOff(e: unknown, url: string, got: number, length: string | null): RegistryUnreachable {
    const lost = this.unreachable(e, 'GET', url);
    if ((e as Error)?.name !== 'TimeoutError') {
      const of = length !== null && /^\d+$/.test(length) ? ` of ${length}` : '';
      // Node's "aborted" is the peer closing early: the bytes say that better.
      const { reason } = describeFetchFailure(e, url);
      lost.message = `GET ${url}: the connection broke after ${got}${of} bytes of the body${reason === 'aborted' ? '' : ` (${reason})`}`;
    }
    return lost;
  }

  /**
   * GET a manifest or index: its bytes, media type and the digest the registry says it has.
   * `size`: what the descriptor naming it declares (none for a tag): the most that is read.
   */
  async getManifest(repo: string, reference: string, size?: number): Promise<{ bytes: Buffer; mediaType: string; digest?: string; url: string }> {
    const path = `/v2/${repo}/manifests/${reference}`;
    if (size !== undefined && size > MAX_REMOTE_JSON_BYTES) {
      throw new LayerstoreError('E_TOO_LARGE', `${repo}@${reference}: the manifest is ${size} bytes, above the ${MAX_REMOTE_JSON_BYTES}-byte limit`);
    }
    const bound = (url: string): BodyBound => (size !== undefined ? { url, declared: size } : { url, limit: MAX_REMOTE_JSON_BYTES, what: 'manifest' });
    const { res, bytes, url } = await this.getWhole(path, { scope: pullScope(repo), headers: { Accept: MANIFEST_ACCEPT }, ok: [200] }, bound);
    const ct = res.headers.get('content-type')?.split(';')[0]?.trim() ?? '';
    let mediaType = ct;
    if (!INDEX_TYPES.has(ct) && !MANIFEST_TYPES.has(ct)) {
      try {
        const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown };
        mediaType = doc.mediaType ?? (doc.manifests ? MT.ociIndex : MT.ociManifest);
      } catch {
        /* verified later */
      }
    }
    // `url`: the one asked (by tag or digest), for errors about what came back.
    return { bytes, mediaType, digest: res.headers.get('docker-content-digest') ?? undefined, url };
  }

  /**
   * HEAD a manifest: the digest the registry says the reference names (Docker-Content-Digest;
   * undefined when it sends none) without its bytes. What an incremental scan asks per tag.
   */
  async headManifest(repo: string, reference: string): Promise<{ digest?: string; size?: number }> {
    const path = `/v2/${repo}/manifests/${reference}`;
    const res = await this.request('HEAD', path, { scope: pullScope(repo), headers: { Accept: MANIFEST_ACCEPT }, ok: [200] });
    await res.body?.cancel().catch(() => {});
    const length = res.headers.get('content-length');
    return { digest: res.headers.get('docker-content-digest') ?? undefined, size: length !== null && /^\d+$/.test(length) ? Number(length) : undefined };
  }

  /** A small blob (an image config) as bytes, at most `size` (its descriptor's). */
  async getBlobBytes(repo: string, d: Digest, size: number): Promise<Buffer> {
    const path = `/v2/${repo}/blobs/${d}`;
    return (await this.getWhole(path, { scope: pullScope(repo), ok: [200] }, (url) => ({ url, declared: size }))).bytes;
  }

  async hasManifest(repo: string, reference: string): Promise<boolean> {
    const res = await this.request('HEAD', `/v2/${repo}/manifests/${reference}`, { scope: pullScope(repo), headers: { Accept: MANIFEST_ACCEPT } });
    return res.status === 200;
  }

  async hasBlob(repo: string, d: Digest, scope = pullScope(repo)): Promise<boolean> {
    const res = await this.request('HEAD', `/v2/${repo}/blobs/${d}`, { scope });
    await res.body?.cancel();
    if (res.status === 200) return true;
    if (res.status === 404) return false;
    throw await registryError(res, 'HEAD', `${this.baseUrl}/v2/${repo}/blobs/${d}`);
  }

  /**
   * A blob's bytes, at most the `size` its descriptor declares (a longer body is refused). A
   * body cut off (a lost connection, silence past the timeout) is asked for again, while the
   * policy allows: from where it stopped (Range) when the registry answers 206, else whole,
   * its first bytes (already handed on) skipped. The caller hashes what it gets, so a
   * registry that sends other bytes the second time is caught by the digest.
   */
  async getBlob(repo: string, d: Digest, size: number): Promise<Readable> {
    const path = `/v2/${repo}/blobs/${d}`;
    const res = await this.request('GET', path, { scope: pullScope(repo), ok: [200] });
    if (!res.body) throw new LayerstoreError('E_REGISTRY', `blob ${d}: empty response`);
    return Readable.from(this.resumingChunks(res, path, pullScope(repo), size), { objectMode: false });
  }

  private async *resumingChunks(first: RegistryResponse, path: string, scope: string, size: number): AsyncGenerator<Buffer> {
    const url = this.baseUrl + path;
    let res = first;
    let got = 0;
    for (let attempt = 0; ; attempt++) {
      // A 206 carries the rest; a 200 the whole blob again, whose first `got` bytes were handed on.
      let skip = res.status === 206 ? 0 : got;
      try {
        for await (let c of boundedChunks(res, { url, declared: res.status === 206 ? size - got : size })) {
          if (skip > 0) {
            const n = Math.min(skip, c.length);
            skip -= n;
            c = c.subarray(n);
            if (c.length === 0) continue;
          }
          got += c.length;
          yield c;
        }
        return;
      } catch (e) {
        if (e instanceof LayerstoreError || this.policy.signal?.aborted) throw e;
        if (!this.policy.shouldRetryFailure(attempt)) {
          const lost = this.unreachable(e, 'GET', url);
          if ((e as Error)?.name !== 'TimeoutError') lost.message = `GET ${url}: the connection broke after ${got} of ${size} bytes (${(e as Error)?.message})`;
          throw withTries(lost, attempt + 1);
        }
      }
      await this.policy.pause(attempt, null);
      res = await this.request('GET', path, { scope, headers: got > 0 ? { Range: `bytes=${got}-` } : {}, ok: [200, 206] });
      if (res.status === 206 && !new RegExp(`^bytes ${got}-\\d+/(\\d+|\\*)$`).test(res.headers.get('content-range')?.trim() ?? '')) {
        await res.body?.cancel().catch(() => {});
        throw new LayerstoreError(
          'E_REGISTRY',
          `GET ${url}: asked for bytes ${got}- of the blob, the registry sent ${res.headers.get('content-range') ?? 'no Content-Range'}`,
        );
      }
    }
  }

  /** Cross-repository mount; true when the registry mounted it (201). */
  async mountBlob(repo: string, d: Digest, from: string): Promise<boolean> {
    // Repeatable: a second mount of the same blob mounts it again (201) or opens a session (202).
    const res = await this.request('POST', `/v2/${repo}/blobs/uploads/?mount=${d}&from=${from}`, {
      scope: `${pushScope(repo)} repository:${from}:pull`,
      headers: { 'Content-Length': '0' },
      repeatable: true,
    });
    await res.body?.cancel();
    if (res.status === 201) return true;
    if (res.status === 202) {
      // Not mounted: the registry opened an upload session instead; close it.
      const loc = res.headers.get('location');
      if (loc)
        await this.request('DELETE', this.target(loc), { scope: pushScope(repo), repeatable: true })
          .then((r) => r.body?.cancel())
          .catch(() => {});
      return false;
    }
    throw await registryError(res, 'POST', `${this.baseUrl}/v2/${repo}/blobs/uploads/`);
  }

  /**
   * Upload a blob: POST a session, then one PUT with the whole body and ?digest=. An upload
   * whose connection is lost, times out or is answered 429/5xx starts again from scratch (a
   * new session, the body from its first byte) while the policy allows: the state a broken
   * session was left in is never trusted.
   */
  async uploadBlob(repo: string, d: Digest, size: number, body: () => UploadBody): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.uploadOnce(repo, d, size, body);
      } catch (e) {
        const again = (e instanceof RegistryUnreachable && !e.permanent) || (e instanceof RegistryStatusError && RequestPolicy.retryable(e.status));
        if (!again || !this.policy.shouldRetryFailure(attempt)) throw withTries(e, attempt + 1);
        await this.policy.pause(attempt, null);
      }
    }
  }

  private async uploadOnce(repo: string, d: Digest, size: number, body: () => UploadBody): Promise<void> {
    const start = await this.request('POST', `/v2/${repo}/blobs/uploads/`, { scope: pushScope(repo), headers: { 'Content-Length': '0' }, ok: [202] });
    await start.body?.cancel();
    const loc = start.headers.get('location');
    if (!loc) throw new LayerstoreError('E_REGISTRY', `${this.baseUrl} opened an upload without a Location`);
    const url = new URL(loc, this.baseUrl);
    url.searchParams.set('digest', d);
    const res = await this.request('PUT', this.target(url), {
      scope: pushScope(repo),
      headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(size) },
      body: body(),
      ok: [201, 204],
    });
    await res.body?.cancel();
  }

  async putManifest(repo: string, reference: string, bytes: Buffer, mediaType: string): Promise<void> {
    // Repeatable: the same bytes under the same reference (a PUT that landed before its answer was lost lands again).
    const res = await this.request('PUT', `/v2/${repo}/manifests/${reference}`, {
      scope: pushScope(repo),
      headers: { 'Content-Type': mediaType },
      body: bytes,
      ok: [200, 201, 202],
      repeatable: true,
    });
    await res.body?.cancel();
  }

  /**
   * Every page of a paginated list (_catalog, tags/list), following Link rel="next". A Link
   * back to a page already read, or to one after a `last` already asked for, is a loop: the
   * listing does not advance, and following it would never end. A registry whose page size
   * is below `pageSize` (distribution's catalog.maxentries: 400 PAGINATION_NUMBER_INVALID)
   * is asked again without `n`, for pages of its own size.
   */
  async listAll(path: string, key: 'repositories' | 'tags', scope: string, pageSize = 1000): Promise<string[]> {
    const out: string[] = [];
    const visited = new Set<string>();
    const lasts = new Set<string>();
    let next: string | undefined = `${path}?n=${pageSize}`;
    let ownSize = false;
    for (let pages = 0; next && pages < MAX_LIST_PAGES; pages++) {
      visited.add(next);
      let res: RegistryResponse;
      let bytes: Buffer;
      let url: string;
      try {
        ({ res, bytes, url } = await this.getWhole(next, { scope, ok: [200] }, (u) => ({ url: u, limit: MAX_LIST_PAGE_BYTES, what: `${key} page` })));
      } catch (e) {
        if (!ownSize && pages === 0 && e instanceof RegistryStatusError && e.status === 400) {
          ownSize = true;
          next = path;
          pages--;
          continue;
        }
        throw e;
      }
      let body: unknown;
      try {
        body = JSON.parse(bytes.toString('utf8'));
      } catch (e) {
        throw new LayerstoreError('E_REGISTRY', `GET ${url}: not JSON, so not a registry's ${key} list (${(e as Error).message})`);
      }
      // {} (or anything without the list) is not an empty registry: it is not a registry. A
      // repository with no tags left may answer "tags": null.
      const items = body !== null && typeof body === 'object' ? (body as Record<string, unknown>)[key] : undefined;
      if (!Array.isArray(items) && !(key === 'tags' && items === null)) {
        throw new LayerstoreError('E_REGISTRY', `GET ${url}: not a registry's ${key} list (no "${key}" array in the answer)`);
      }
      // One by one: push(...items) passes each as an argument, past the stack at ~120k names.
      if (items) for (const x of items) if (typeof x === 'string') out.push(x);
      const link = res.headers.get('link');
      // Relative to the page's own URL (RFC 8288 §3.2), not the registry's root.
      const to: URL | null | undefined = link === null ? null : nextLink(link, url);
      // A Link we cannot read may be a next page: stopping there would report a part as the whole.
      if (to === undefined) throw new LayerstoreError('E_REGISTRY', `GET ${url}: its Link header cannot be read: ${JSON.stringify(link)}`);
      const following: string | undefined = to === null ? undefined : to.pathname + to.search;
      if (following !== undefined) {
        const here = `GET ${url}: its Link header asks for ${this.baseUrl}${following}`;
        if (visited.has(following)) throw new LayerstoreError('E_REGISTRY', `${here}, a page already read: the listing loops`);
        const last = new URL(following, 'http://x').searchParams.get('last');
        if (last !== null && lasts.has(last))
          throw new LayerstoreError('E_REGISTRY', `${here}, after ${JSON.stringify(last)} again: the listing does not advance`);
        if (last !== null) lasts.add(last);
      }
      next = following;
    }
    if (next) throw new LayerstoreError('E_REGISTRY', `GET ${this.baseUrl}${path}: more than ${MAX_LIST_PAGES} pages; the rest is not read`);
    return out;
  }

  /**
   * Where an upload Location points: a path on the registry, or (the OCI spec lets it be
   * opaque and absolute, e.g. on a storage host) the whole URL of another origin, which
   * request() reaches without the registry's credentials.
   */
  private target(loc: string | URL): string {
    const u = new URL(loc, this.baseUrl);
    return sameOrigin(u.href, this.baseUrl) ? u.pathname + u.search : u.href;
  }
}

/** Same scheme, host and port (credentials and challenges belong to an origin). */
function sameOrigin(a: string, b: string): boolean {
  return new URL(a).origin === new URL(b).origin;
}

export const pullScope = (repo: string) => `repository:${repo}:pull`;
export const pushScope = (repo: string) => `repository:${repo}:pull,push`;

async function registryError(res: RegistryResponse, method: string, url: string): Promise<RegistryStatusError> {
  let detail = '';
  let codes: string[] = [];
  try {
    const bytes = await readBounded(res, { url, limit: MAX_ERROR_BODY_BYTES, what: 'error body' });
    const body = JSON.parse(bytes.toString('utf8')) as { errors?: Array<{ code?: string; message?: string }> };
    const errors = Array.isArray(body?.errors) ? body.errors : [];
    codes = errors.map((e) => String(e?.code));
    detail = errors.map((e) => `${e?.code}: ${e?.message}`).join('; ');
  } catch {
    /* not JSON */
  }
  return new RegistryStatusError(`${method} ${url}: ${res.status}${detail ? ` ${detail}` : ''}`, res.status, codes);
}

/** A failure after more than one attempt says how many were made (a retry was not forgotten). */
function withTries<E>(e: E, tries: number): E {
  if (tries > 1 && e instanceof Error && !/ \(\d+ attempts\)$/.test(e.message)) e.message += ` (${tries} attempts)`;
  return e;
}

/** `body`'s chunks, calling `touch` as the request takes each (the idle timer of an upload). */
async function* touching(body: UploadBody, touch: () => void): AsyncGenerator<Buffer> {
  for await (const c of body) {
    touch();
    yield c;
  }
  touch();
}
