import { promises as fsp } from 'node:fs';
import { LayerstoreError } from '../errors.js';
import { createRegistryServer } from '../registry/server.js';
import { RepositoryIndex } from '../registry/repositories.js';
import { uiRoutes } from '../html/ui-routes.js';
import { Htpasswd, isLoopback } from '../registry/auth.js';
import { openForRead, requireStore, storeDir, info, type GlobalOptions } from './context.js';
import { Store } from '../store/store.js';

export interface ServeOptions extends GlobalOptions {
  listen?: string;
  log?: boolean;
  allowPush?: boolean;
  allowDelete?: boolean;
  htpasswd?: string;
  allowedHost?: string[];
  tlsCert?: string;
  tlsKey?: string;
}

/** Parse HOST:PORT ("127.0.0.1:5000", "[::1]:5000", ":5000" = loopback). */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s);
  if (!m) throw new LayerstoreError('E_USAGE', `--listen ${JSON.stringify(s)} is not HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw new LayerstoreError('E_USAGE', `--listen port ${port} is out of range`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

/**
 * Serve the store as a registry. Loopback by default. Pushes are off unless --allow-push;
 * a push-enabled listener that other machines can reach must have credentials (--htpasswd).
 */
export async function serveCommand(opts: ServeOptions): Promise<number> {
  const { host, port } = parseListen(opts.listen ?? '127.0.0.1:5000');
  const loopback = isLoopback(host);
  for (const [flag, on] of [
    ['--allow-push', opts.allowPush],
    ['--allow-delete', opts.allowDelete],
  ] as const) {
    if (on && !loopback && !opts.htpasswd)
      throw new LayerstoreError('E_USAGE', `${flag} on ${host} (not loopback) needs --htpasswd FILE: writes need credentials off loopback`);
  }
  if (!!opts.tlsCert !== !!opts.tlsKey) throw new LayerstoreError('E_USAGE', '--tls-cert and --tls-key go together');
  const auth = opts.htpasswd ? await Htpasswd.load(opts.htpasswd) : undefined;
  const tls = opts.tlsCert && opts.tlsKey ? { cert: await fsp.readFile(opts.tlsCert), key: await fsp.readFile(opts.tlsKey) } : undefined;
  if (auth && !tls && !loopback) info(opts, 'warning: credentials travel in clear text without --tls-cert/--tls-key');
  // Read-only, a missing store is a mistyped --store, as for every command that reads: serving
  // an empty registry made for it would hide that. Pushes may fill a new one.
  const existing = await openForRead(opts);
  const store = existing ?? (opts.allowPush ? await Store.open(storeDir(opts), { create: true }) : await requireStore(opts));
  // The registry API and the read-only web UI (/, /api/*) on one listener, over one view of the repositories.
  const repositories = new RepositoryIndex(store);
  const registry = createRegistryServer(store, {
    log: opts.log ? (l) => process.stderr.write(l + '\n') : undefined,
    allowPush: opts.allowPush,
    allowDelete: opts.allowDelete,
    auth,
    tls,
    loopbackOnly: loopback,
    allowedHosts: opts.allowedHost,
    repositories,
    extraRoutes: uiRoutes(store, repositories),
  });
  await new Promise<void>((resolve, reject) => {
    registry.server.once('error', (e) => reject(new LayerstoreError('E_USAGE', `cannot listen on ${host}:${port}: ${(e as Error).message}`)));
    registry.server.listen(port, host, () => resolve());
  });
  const addr = registry.server.address();
  const shown = typeof addr === 'object' && addr ? `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : `${host}:${port}`;
  const writes = [opts.allowPush && 'push', opts.allowDelete && 'delete'].filter(Boolean).join(' and ');
  const state = [existing ? '' : 'new and empty', writes ? `${writes} enabled` : 'read-only'].filter(Boolean).join('; ');
  info(opts, `store: ${store.root} (${state})${auth ? ', basic auth' : ''}`);
  // stdout carries the URL alone so scripts (and tests) can read the port chosen for :0.
  process.stdout.write(`listening on ${tls ? 'https' : 'http'}://${shown}\n`);
  await new Promise<void>((resolve) => {
    // SIGINT, SIGTERM or SIGHUP: stop taking connections and let transfers under way finish
    // for a few seconds; then (or at a second signal) drop them. Upload sessions are cancelled
    // and their staging files removed either way; the store keeps only what was committed.
    const stop = (sig: NodeJS.Signals) => {
      for (const s of STOP_SIGNALS) process.off(s, stop);
      const dropAll = () => registry.server.closeAllConnections();
      const grace = setTimeout(dropAll, STOP_GRACE_MS);
      for (const s of STOP_SIGNALS) process.once(s, dropAll);
      info(
        opts,
        `stopping (${sig}): transfers under way get ${STOP_GRACE_MS / 1000} s to finish; ${sig === 'SIGINT' ? 'Ctrl-C' : 'a signal'} again stops at once`,
      );
      void registry.close().then(() => {
        clearTimeout(grace);
        resolve();
      });
    };
    for (const s of STOP_SIGNALS) process.once(s, stop);
  });
  return 0;
}

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** How long a stopping serve lets transfers under way finish before it drops them. */
const STOP_GRACE_MS = 5000;
