import { LayerstoreError } from '../errors.js';
import { createRegistryServer } from '../registry/server.js';
import { openForRead, storeDir, info, type GlobalOptions } from './context.js';
import { Store } from '../store/store.js';

export interface ServeOptions extends GlobalOptions {
  listen?: string;
  log?: boolean;
}

/** Parse HOST:PORT ("127.0.0.1:5000", "[::1]:5000", ":5000" = loopback). */
export function parseListen(s: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(s);
  if (!m) throw new LayerstoreError('E_USAGE', `--listen ${JSON.stringify(s)} is not HOST:PORT`);
  const port = Number(m[3]);
  if (port > 65535) throw new LayerstoreError('E_USAGE', `--listen port ${port} is out of range`);
  return { host: m[1] ?? (m[2] || '127.0.0.1'), port };
}

export async function serveCommand(opts: ServeOptions): Promise<number> {
  const { host, port } = parseListen(opts.listen ?? '127.0.0.1:5000');
  const store = (await openForRead(opts)) ?? (await Store.open(storeDir(opts), { create: true }));
  const server = createRegistryServer(store, { log: opts.log ? (l) => process.stderr.write(l + '\n') : undefined });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e) => reject(new LayerstoreError('E_USAGE', `cannot listen on ${host}:${port}: ${(e as Error).message}`)));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const shown = typeof addr === 'object' && addr ? `${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}` : `${host}:${port}`;
  info(opts, `store: ${store.root}`);
  // stdout carries the URL alone so scripts (and tests) can read the port chosen for :0.
  process.stdout.write(`listening on http://${shown}\n`);
  await new Promise<void>((resolve) => {
    const stop = () => server.close(() => resolve());
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  return 0;
}
