import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import https from 'node:https';
import { isIP } from 'node:net';
import os from 'node:os';
import { pipeline } from 'node:stream/promises';
import { isDigest, type Digest } from '../digest/digest.js';
import { INDEX_TYPES, MANIFEST_TYPES, MAX_JSON_BYTES, MT, type Descriptor } from '../formats/types.js';
import { MAX_REPOSITORY_LENGTH, isValidRepositoryPath, isValidTag } from '../formats/ref-names.js';
import type { Store } from '../store/store.js';
import { RegistryError, sendError } from './errors.js';
import { isLayerstoreError } from '../errors.js';
import { RepositoryIndex } from './repositories.js';
import { Uploads } from './uploads.js';
import { ReceivedBlobs } from './received.js';
import { putManifest, MAX_MANIFEST_BYTES } from './push-manifest.js';
import type { Htpasswd } from './auth.js';
import { DeferredGc, handleDelete } from './deletes.js';
import { sendReferrers } from './referrers.js';

/** Repository names as the distribution spec defines them (255 characters at most, with the registry's host name, as docker counts it). */
const validName = (name: string) => name.length <= MAX_REPOSITORY_LENGTH && isValidRepositoryPath(name);

export interface RegistryServerOptions {
  /** Log one line per request (method, path, status) to this function. */
  log?: (line: string) => void;
  /** Accept pushes (blob uploads, manifest PUT). */
  allowPush?: boolean;
  /** Accept deletes of manifests, tags and uploaded blobs (then gc frees what nothing reaches). */
  allowDelete?: boolean;
  /** When set, every request needs valid basic credentials. */
  auth?: Htpasswd;
  /** TLS: serve https. */
  tls?: { cert: Buffer; key: Buffer };
  /** Where internal errors are logged (default stderr); clients never see a store path. */
  errorLog?: (line: string) => void;
  /** The repositories and tags the server answers from; pass one to share it with `extraRoutes`. */
  repositories?: RepositoryIndex;
  /** The listener is on loopback: refuse requests addressed to another host name (DNS rebinding). */
  loopbackOnly?: boolean;
  /** Host names a loopback listener answers besides IP addresses, localhost and this host's name. */
  allowedHosts?: string[];
  /** Routes served beside the registry API (the web UI), asked first, after the auth check. */
  extraRoutes?: ExtraRoutes;
}

/**
 * A handler for paths outside the registry API: true when it answered the request, false
 * to let the registry handle it. A RegistryError it throws is answered as the spec's JSON error.
 */
export type ExtraRoutes = (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean>;

const defaultErrorLog = (line: string) => process.stderr.write(`layerstore serve: ${line}\n`);

/**
 * A browser lets any page send "simple" cross-origin requests (a POST with a form body) to a
 * registry on loopback, so a web page could push. Registry clients send neither header;
 * browsers send Sec-Fetch-Site (or at least Origin) with every write. Reads stay open: a
 * page cannot read a cross-origin answer without CORS headers, which this server never sends.
 */
function refuseCrossOriginWrite(req: IncomingMessage): void {
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD' || method === 'OPTIONS') return;
  const site = req.headers['sec-fetch-site'];
  const origin = req.headers.origin;
  let cross = site !== undefined && site !== 'same-origin' && site !== 'none';
  if (!cross && origin !== undefined) {
    try {
      cross = new URL(origin).host !== req.headers.host;
    } catch {
      cross = true; // "null" and other opaque origins
    }
  }
  if (cross) {
    req.resume();
    throw new RegistryError(403, 'DENIED', 'cross-origin writes are refused (a web page may not push to this registry)');
  }
}

/**
 * DNS rebinding: a page at http://evil.example:5000 whose name the attacker then points at
 * 127.0.0.1 talks to a loopback registry as its own origin, so neither Origin nor
 * Sec-Fetch-Site gives it away; only the Host header still names the attacker's domain. A
 * listener on loopback therefore answers only requests addressed to an IP address (no
 * rebinding without a name), localhost, *.localhost, this machine's own name, or a name the
 * operator allowed (`--allowed-host`, for a reverse proxy that passes its own Host on), as
 * Vite's dev server does. Registry clients send the host they were given.
 */
function refuseForeignHost(req: IncomingMessage, allowed: ReadonlySet<string>): void {
  const host = req.headers.host;
  if (host === undefined) return; // HTTP/1.0 without Host: no browser sends that
  const name = (/^\[[^\]]*\]/.exec(host)?.[0] ?? host.replace(/:\d*$/, '')).toLowerCase();
  const ip = isIP(name.replace(/^\[|\]$/g, '')) !== 0;
  if (ip || name === 'localhost' || name.endsWith('.localhost') || name === os.hostname().toLowerCase() || allowed.has(name)) return;
  req.resume();
  throw new RegistryError(
    403,
    'DENIED',
    `this registry listens on loopback and does not answer requests addressed to ${JSON.stringify(host)} (serve --allowed-host NAME lets a name in)`,
  );
}

export interface RegistryServer {
  server: http.Server;
  /** Stop accepting, drop upload sessions (received blobs stay recorded in the store). */
  close(): Promise<void>;
}

/**
 * The store over the OCI distribution API, read side: /v2/, _catalog and tags/list with
 * n/last paging and Link headers, manifests and blobs by GET and HEAD (blobs streamed, with
 * Range), and the spec's JSON errors.
 */
export function createRegistryServer(store: Store, opts: RegistryServerOptions = {}): RegistryServer {
  const errorLog = opts.errorLog ?? defaultErrorLog;
  const allowedHosts = new Set((opts.allowedHosts ?? []).map((h) => h.toLowerCase()));
  // Read even when pushes are off: blobs an earlier push-enabled run received stay in their repositories.
  const received = new ReceivedBlobs(store);
  const ctx: Ctx = {
    store,
    repos: opts.repositories ?? new RepositoryIndex(store),
    extraRoutes: opts.extraRoutes,
    received,
    uploads: opts.allowPush ? new Uploads(store, received) : undefined,
    gc: opts.allowDelete ? new DeferredGc(store, errorLog) : undefined,
  };
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    const started = Date.now();
    (async () => {
      if (opts.loopbackOnly) refuseForeignHost(req, allowedHosts);
      refuseCrossOriginWrite(req);
      const verdict = opts.auth ? await opts.auth.check(req) : 'ok';
      if (verdict === 'throttled') {
        res.setHeader('Retry-After', String(opts.auth!.retryAfterSeconds(req)));
        req.resume();
        throw new RegistryError(429, 'TOOMANYREQUESTS', 'too many failed logins from this address; try again later');
      }
      if (verdict === 'denied') {
        res.setHeader('WWW-Authenticate', 'Basic realm="layerstore"');
        req.resume();
        throw new RegistryError(401, 'UNAUTHORIZED', 'authentication required');
      }
      await handle(ctx, req, res);
    })()
      .catch((e) => {
        if (res.headersSent) {
          res.destroy(e as Error);
          return;
        }
        // The whole error goes to the server's log. The client gets a layerstore error's text with
        // the store's path taken out (it says what is wrong, e.g. a damaged blob), and nothing of
        // any other error (an OS error names paths).
        if (!(e instanceof RegistryError)) errorLog(`${req.method} ${req.url}: ${(e as Error)?.stack ?? e}`);
        const err =
          e instanceof RegistryError
            ? e
            : new RegistryError(
                500,
                'UNSUPPORTED',
                isLayerstoreError(e) ? `${e.message.split(store.root).join('<store>')} [${e.code}]` : 'internal error (the server log has the details)',
              );
        sendError(res, err, req.method === 'HEAD');
      })
      .finally(() => opts.log?.(`${req.method} ${req.url} ${res.statusCode} ${Date.now() - started}ms`));
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, listener) : http.createServer(listener);
  // Go clients (docker, containerd, skopeo) keep idle connections 90 s and reuse them; Node
  // closes them after 5 s, and a PUT sent as the server closes its connection fails ("unexpected
  // EOF" from ctr push) without a retry, its body being gone. The client must close first.
  server.keepAliveTimeout = IDLE_CONNECTION_MS;
  return {
    server,
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await ctx.gc?.flush();
      await ctx.uploads?.close();
      await opts.auth?.close();
    },
  };
}

/** How long an idle keep-alive connection is kept: past Go's http.Transport IdleConnTimeout (90 s). */
const IDLE_CONNECTION_MS = 100_000;

interface Ctx {
  store: Store;
  repos: RepositoryIndex;
  extraRoutes?: ExtraRoutes;
  /** Blobs pushed into each repository that no manifest there names yet (kept in the store). */
  received: ReceivedBlobs;
  uploads?: Uploads;
  /** Set with allowDelete: the gc that follows deletes. */
  gc?: DeferredGc;
}

async function handle(ctx: Ctx, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { store, repos } = ctx;
  const url = new URL(req.url ?? '/', 'http://registry.invalid');
  const path = url.pathname;
  const method = req.method ?? 'GET';
  const read = method === 'GET' || method === 'HEAD';
  // Routes beside the registry API (serve's web UI); auth has been checked already.
  if (ctx.extraRoutes && (await ctx.extraRoutes(req, res, url))) return;
  if (path === '/v2/' || path === '/v2') {
    if (!read) throw new RegistryError(405, 'UNSUPPORTED', `${method} is not supported here`);
    return sendJson(res, {}, method === 'HEAD');
  }
  if (path === '/v2/_catalog') {
    if (!read) throw new RegistryError(405, 'UNSUPPORTED', `${method} is not supported here`);
    const view = await repos.view();
    const page = paginate([...view.repos.keys()].sort(), url);
    if (page.next) res.setHeader('Link', `</v2/_catalog?${page.next}>; rel="next"`);
    return sendJson(res, { repositories: page.items }, method === 'HEAD');
  }
  const m = /^\/v2\/(.+)\/(manifests|blobs|tags|referrers)\/(.*)$/.exec(path);
  if (!m) throw new RegistryError(404, 'UNSUPPORTED', `no such endpoint: ${path}`);
  const [, name, kind, rest] = m as unknown as [string, string, string, string];
  if (!validName(name)) throw new RegistryError(400, 'NAME_INVALID', `invalid repository name ${JSON.stringify(name.slice(0, 300))}`);
  if (kind === 'blobs' && (rest === 'uploads/' || rest === 'uploads' || rest.startsWith('uploads/'))) {
    if (!ctx.uploads) throw new RegistryError(405, 'UNSUPPORTED', 'this registry is read-only (start serve with --allow-push)');
    return handleUpload(ctx, ctx.uploads, name, rest.slice('uploads/'.length), url, req, res);
  }
  if (kind === 'manifests' && method === 'PUT') {
    if (!ctx.uploads) throw new RegistryError(405, 'UNSUPPORTED', 'this registry is read-only (start serve with --allow-push)');
    return handleManifestPut(ctx, name, rest, req, res);
  }
  if (method === 'DELETE' && (kind === 'manifests' || kind === 'blobs')) {
    if (!ctx.gc) throw new RegistryError(405, 'UNSUPPORTED', 'deletes are off (start serve with --allow-delete)');
    req.resume();
    return handleDelete(store, repos, ctx.received, ctx.gc, name, kind, rest, res);
  }
  if (!read) throw new RegistryError(405, 'UNSUPPORTED', `${method} is not supported here`);
  const view = await repos.view();
  if (kind === 'referrers') return sendReferrers(view, name, rest, url, res, method === 'HEAD');
  // The received records are read only when a ref does not already answer: a tag or a reachable
  // digest is served from index.json alone, so a damaged received.json (E_STORE_INVALID) fails
  // only the reads that need it.
  const receivedHas = async (d: Digest) => (await ctx.received.view()).has(name, d);
  const tags = view.repos.get(name) ?? new Map<string, Descriptor>();
  // A repository with no tag yet may still hold blobs and manifests pushed by digest.
  const pushedOnly = () => kind === 'blobs' || (kind === 'manifests' && isDigest(rest) && receivedHas(rest));
  if (!view.repos.has(name) && !(await pushedOnly())) throw new RegistryError(404, 'NAME_UNKNOWN', `repository ${name} is not known`);

  if (kind === 'tags') {
    if (rest !== 'list') throw new RegistryError(404, 'UNSUPPORTED', `no such endpoint: ${path}`);
    const page = paginate([...tags.keys()].sort(), url);
    if (page.next) res.setHeader('Link', `</v2/${name}/tags/list?${page.next}>; rel="next"`);
    return sendJson(res, { name, tags: page.items }, method === 'HEAD');
  }

  const reachable = view.reachable.get(name) ?? new Set<Digest>();
  if (kind === 'manifests') {
    let desc: Descriptor | undefined;
    if (isDigest(rest)) {
      if (reachable.has(rest) || (await receivedHas(rest))) {
        desc = { mediaType: '', digest: rest, size: 0 };
      }
    } else if (isValidTag(rest)) {
      desc = tags.get(rest);
    } else {
      // 400 is for uploads; a read of a reference that cannot exist is simply not found (the spec's 404).
      throw new RegistryError(404, 'MANIFEST_UNKNOWN', `manifest ${JSON.stringify(rest.slice(0, 200))} is not in ${name}`);
    }
    if (!desc || !(await store.blobs.has(desc.digest))) throw new RegistryError(404, 'MANIFEST_UNKNOWN', `manifest ${rest} is not in ${name}`);
    const bytes = await store.blobs.read(desc.digest, MAX_JSON_BYTES);
    res.statusCode = 200;
    res.setHeader('Content-Type', manifestMediaType(desc, bytes));
    res.setHeader('Content-Length', bytes.length);
    res.setHeader('Docker-Content-Digest', desc.digest);
    res.setHeader('ETag', `"${desc.digest}"`);
    res.end(method === 'HEAD' ? undefined : bytes);
    return;
  }

  // blobs
  if (!isDigest(rest)) throw new RegistryError(400, 'DIGEST_INVALID', `invalid digest ${JSON.stringify(rest)} (this registry holds sha256 blobs)`);
  const size = reachable.has(rest) || (await receivedHas(rest)) ? await store.blobs.size(rest) : undefined;
  if (size === undefined) throw new RegistryError(404, 'BLOB_UNKNOWN', `blob ${rest} is not in ${name}`);
  res.setHeader('Docker-Content-Digest', rest);
  res.setHeader('Content-Type', 'application/octet-stream');
  res.setHeader('Accept-Ranges', 'bytes');
  res.setHeader('ETag', `"${rest}"`);
  const range = parseRange(req.headers.range, size);
  if (range === 'invalid') {
    res.statusCode = 416;
    res.setHeader('Content-Range', `bytes */${size}`);
    res.end();
    return;
  }
  const [start, end] = range ?? [0, size - 1];
  res.statusCode = range ? 206 : 200;
  if (range) res.setHeader('Content-Range', `bytes ${start}-${end}/${size}`);
  res.setHeader('Content-Length', size === 0 ? 0 : end - start + 1);
  if (method === 'HEAD' || size === 0) {
    res.end();
    return;
  }
  await pipeline(await store.blobs.open(rest, { start, end }), res);
}

/** POST starts an upload (or mounts, or takes a monolithic body); PATCH appends; PUT finishes; GET tells the offset; DELETE cancels. */
async function handleUpload(ctx: Ctx, uploads: Uploads, name: string, id: string, url: URL, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET';
  const location = (sid: string) => `/v2/${name}/blobs/uploads/${sid}`;
  const done = (d: Digest) => {
    res.statusCode = 201;
    res.setHeader('Location', `/v2/${name}/blobs/${d}`);
    res.setHeader('Docker-Content-Digest', d);
    res.setHeader('Content-Length', 0);
    res.end();
  };
  const progress = (sid: string, offset: number, status: number) => {
    res.statusCode = status;
    res.setHeader('Location', location(sid));
    res.setHeader('Docker-Upload-UUID', sid);
    res.setHeader('Range', `0-${Math.max(0, offset - 1)}`);
    res.setHeader('Content-Length', 0);
    res.end();
  };
  const digestParam = (): Digest => {
    const d = url.searchParams.get('digest');
    if (!d || !isDigest(d)) throw new RegistryError(400, 'DIGEST_INVALID', `digest ${JSON.stringify(d)} is missing or not a sha256 digest`);
    return d;
  };
  const client = req.socket.remoteAddress ?? '';
  if (method === 'POST' && id === '') {
    const mount = url.searchParams.get('mount');
    const from = url.searchParams.get('from');
    if (mount && isDigest(mount) && from && validName(from)) {
      const view = await ctx.repos.view();
      const received = await ctx.received.view();
      // A blob gone since (gc) is not mounted: the client uploads it (202 below).
      if ((view.reachable.get(from)?.has(mount) || received.has(from, mount)) && (await uploads.mount(mount, name, client))) {
        req.resume();
        return done(mount);
      }
    }
    const s = await uploads.start(name, client);
    if (url.searchParams.has('digest')) {
      const d = digestParam();
      await uploads.append(s, req);
      await uploads.complete(s, d);
      return done(d);
    }
    req.resume();
    return progress(s.id, 0, 202);
  }
  if (id === '') throw new RegistryError(405, 'UNSUPPORTED', `${method} is not supported here`);
  const s = uploads.get(name, id);
  if (method === 'GET') return progress(s.id, s.offset, 204);
  if (method === 'DELETE') {
    await uploads.cancel(s);
    req.resume();
    res.statusCode = 204;
    res.end();
    return;
  }
  if (method === 'PATCH' || method === 'PUT') {
    const cr = req.headers['content-range'];
    const start = cr ? Number(/^(?:bytes )?(\d+)-\d+/.exec(cr)?.[1] ?? NaN) : undefined;
    if (start !== undefined && Number.isNaN(start)) throw new RegistryError(400, 'BLOB_UPLOAD_INVALID', `bad Content-Range ${JSON.stringify(cr)}`);
    if (method === 'PATCH') {
      await uploads.append(s, req, start);
      return progress(s.id, s.offset, 202);
    }
    const d = digestParam();
    await uploads.append(s, req, start);
    await uploads.complete(s, d);
    return done(d);
  }
  throw new RegistryError(405, 'UNSUPPORTED', `${method} is not supported here`);
}

async function handleManifestPut(ctx: Ctx, name: string, reference: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (!isDigest(reference) && !isValidTag(reference)) throw new RegistryError(400, 'MANIFEST_INVALID', `invalid reference ${JSON.stringify(reference)}`);
  // Read the whole body even when it is too big (up to a bound), so the client gets the 413
  // instead of a connection reset from unread bytes.
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_MANIFEST_BYTES * 16) {
      req.destroy();
      break;
    }
    if (n <= MAX_MANIFEST_BYTES) chunks.push(c as Buffer);
  }
  if (n > MAX_MANIFEST_BYTES) throw new RegistryError(413, 'SIZE_INVALID', `manifests are limited to ${MAX_MANIFEST_BYTES} bytes`);
  const view = await ctx.repos.view();
  const received = await ctx.received.view();
  const visible = (d: Digest) => (view.reachable.get(name)?.has(d) ?? false) || received.has(name, d);
  const { digest, uses, subject } = await putManifest(ctx.store, name, reference, Buffer.concat(chunks), req.headers['content-type'], visible);
  // The manifest now names these blobs in this repository (by tag or by its "repo@digest"
  // ref), which keeps them: this repository's records are no longer needed; other
  // repositories keep theirs (a push of one image to several names at once).
  await ctx.received.forget(name, uses);
  ctx.repos.invalidate();
  res.statusCode = 201;
  // OCI 1.1: this registry keeps referrers itself, so clients need not maintain a fallback tag.
  if (subject) res.setHeader('OCI-Subject', subject);
  res.setHeader('Location', `/v2/${name}/manifests/${digest}`);
  res.setHeader('Docker-Content-Digest', digest);
  res.setHeader('Content-Length', 0);
  res.end();
}

function sendJson(res: ServerResponse, body: unknown, headOnly: boolean): void {
  const text = JSON.stringify(body);
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(headOnly ? undefined : text);
}

/** `n` and `last` paging of a sorted list, as the spec's catalog and tags/list define it. */
function paginate(all: string[], url: URL): { items: string[]; next?: string } {
  const last = url.searchParams.get('last');
  const nRaw = url.searchParams.get('n');
  const from = last === null ? 0 : all.findIndex((x) => x > last);
  const rest = from < 0 ? [] : all.slice(from);
  if (nRaw === null) return { items: rest };
  const n = Number(nRaw);
  if (!Number.isInteger(n) || n < 0) throw new RegistryError(400, 'UNSUPPORTED', `invalid n=${JSON.stringify(nRaw)}`);
  const items = rest.slice(0, n);
  if (rest.length > n && items.length > 0) return { items, next: `n=${n}&last=${encodeURIComponent(items[items.length - 1]!)}` };
  return { items };
}

/**
 * A single `bytes=a-b` range (or suffix `bytes=-n`); undefined for none, 'invalid' for
 * unsatisfiable. A multi-range request is answered whole (200), which RFC 9110 allows: a
 * server may ignore Range, and registry clients never ask for several ranges.
 */
function parseRange(h: string | undefined, size: number): [number, number] | undefined | 'invalid' {
  if (!h || h.includes(',')) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  let start: number;
  let end: number;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0) return 'invalid';
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  if (start >= size || start > end) return 'invalid';
  return [start, end];
}

function manifestMediaType(desc: Descriptor, bytes: Buffer): string {
  if (desc.mediaType && (INDEX_TYPES.has(desc.mediaType) || MANIFEST_TYPES.has(desc.mediaType))) return desc.mediaType;
  try {
    const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: unknown; manifests?: unknown };
    if (typeof doc.mediaType === 'string') return doc.mediaType;
    return doc.manifests !== undefined ? MT.ociIndex : MT.ociManifest;
  } catch {
    return MT.ociManifest;
  }
}
