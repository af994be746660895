import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { RegistryError } from '../registry/errors.js';
import type { RepositoryView } from '../registry/repositories.js';
import { toJson } from '../report/json.js';
import type { Store } from '../store/store.js';
import { RepositoriesCache } from './repositories-cache.js';
import { reportInThread, type ReportResult } from './report-thread.js';
import { renderReportPage, type RenderedPage } from './report-page.js';

/**
 * The read-only web UI of `serve`, beside the registry API:
 *
 *   GET /                  the report page (the same page as `report --html`, fetching its data)
 *   GET /api/report        `report --files --json` for every image of the store (same bytes)
 *   GET /api/layers        {schemaVersion, images: {<manifest digest>: [layer rows, bottom to top]}}
 *   GET /api/repositories  repositories and tags: digest, size, created, platforms, pull commands; each config's history
 *
 * The listener's auth check runs before these, as for /v2/. The analysis is computed once per
 * state of index.json (its mtime, size and inode) and shared by concurrent requests; file
 * indexes of layers are cached on disk by the report code itself. The report and layer
 * stacks are computed on their own thread (report-thread.ts), one at a time: a request for
 * another state of the store while one runs gets 503 with Retry-After. /api/repositories is
 * made once per state of index.json too, the images and their configs' histories read on a
 * thread of their own (repositories-cache.ts): nothing here parses an image config where the
 * registry answers.
 */
interface Analysis {
  key: string;
  /** The report and stacks, computed on first use (they read every layer's file index). */
  full?: Promise<ReportResult>;
}

const cache = new WeakMap<Store, Analysis>();
let page: RenderedPage | undefined;

async function indexKey(store: Store): Promise<string> {
  return store.indexStamp();
}

/** A failed computation is forgotten, so the next request tries again. */
function forgetOnFailure(store: Store, entry: Analysis, p: Promise<unknown>): void {
  p.catch(() => {
    if (cache.get(store) === entry) cache.delete(store);
  });
}

async function analysis(store: Store): Promise<Analysis> {
  const key = await indexKey(store);
  const hit = cache.get(store);
  if (hit?.key === key) return hit;
  const entry: Analysis = { key };
  cache.set(store, entry);
  return entry;
}

/** The analysis whose report thread is running (at most one per process). */
let running: Analysis | undefined;

/** Seconds a client is told to wait when the report thread is busy with another state of the store. */
const RETRY_AFTER_SECONDS = 5;

async function full(store: Store, res: ServerResponse): Promise<ReportResult> {
  const entry = await analysis(store);
  if (!entry.full) {
    if (running && running !== entry) {
      res.setHeader('Retry-After', String(RETRY_AFTER_SECONDS));
      throw new RegistryError(503, 'TOOMANYREQUESTS', 'a report of an earlier state of the store is being computed; try again in a few seconds');
    }
    running = entry;
    entry.full = reportInThread(store.root).finally(() => {
      if (running === entry) running = undefined;
    });
    forgetOnFailure(store, entry, entry.full);
  }
  return entry.full;
}

/** HOST[:PORT] for commands: the request's Host header when it is a plain host name or address, else the socket's own address. */
function hostOf(req: IncomingMessage): string {
  const h = req.headers.host;
  if (h && /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/.test(h)) return h;
  const a = req.socket.localAddress ?? '127.0.0.1';
  return `${a.includes(':') ? `[${a}]` : a}:${req.socket.localPort ?? 5000}`;
}

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean, headers: Record<string, string> = {}): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  res.end(head ? undefined : body);
}

/** What the UI reads of the registry it runs beside: the repositories and tags it serves now. */
export interface RepositorySource {
  view(): Promise<RepositoryView>;
}

/**
 * The UI as routes to mount beside the registry API (`serve` composes the two): the handler
 * answers a UI path and returns true, or returns false for any other path.
 */
export function uiRoutes(store: Store, repos: RepositorySource): (req: IncomingMessage, res: ServerResponse, url: URL) => Promise<boolean> {
  const repositories = new RepositoriesCache(store, () => repos.view());
  return (req, res, url) => handleUi(store, repositories, req, res, url);
}

/** Serve a UI route; false when the path is not one (the registry API handles it). */
async function handleUi(store: Store, repositories: RepositoriesCache, req: IncomingMessage, res: ServerResponse, url: URL): Promise<boolean> {
  const path = url.pathname;
  if (path !== '/' && path !== '/index.html' && path !== '/api' && !path.startsWith('/api/')) return false;
  const method = req.method ?? 'GET';
  if (method !== 'GET' && method !== 'HEAD') throw new RegistryError(405, 'UNSUPPORTED', `${method} is not supported here (the web UI is read-only)`);
  const head = method === 'HEAD';
  req.resume();
  if (path === '/' || path === '/index.html') {
    page ??= renderReportPage({ title: 'layerstore' });
    send(res, 200, 'text/html; charset=utf-8', page.html, head, {
      'Content-Security-Policy': `${page.csp}; frame-ancestors 'none'`,
      'Referrer-Policy': 'no-referrer',
    });
    return true;
  }
  if (path === '/api/report') {
    send(res, 200, 'application/json', (await full(store, res)).report, head);
    return true;
  }
  if (path === '/api/layers') {
    send(res, 200, 'application/json', toJson({ schemaVersion: 1, images: (await full(store, res)).stacks }), head);
    return true;
  }
  if (path === '/api/repositories') {
    const tls = (req.socket as TLSSocket).encrypted === true;
    send(res, 200, 'application/json', await repositories.body(hostOf(req), tls), head);
    return true;
  }
  throw new RegistryError(404, 'UNSUPPORTED', `no such endpoint: ${path} (the web UI serves /, /api/report, /api/layers and /api/repositories)`);
}
