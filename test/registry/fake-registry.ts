/**
 * A small fake registry for pull tests: an HTTP server in the test process on 127.0.0.1 (an
 * ephemeral port) that answers GET /v2/ and the routes given (by path, without the query),
 * 404 BLOB_UNKNOWN / MANIFEST_UNKNOWN otherwise, and logs every request.
 */
import http from 'node:http';
import type net from 'node:net';
import { digestOf } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface FakeRegistry {
  /** "127.0.0.1:PORT" */
  host: string;
  url: string;
  /** "METHOD /path?query" of every request, in order. */
  seen: string[];
  close(): Promise<void>;
}

/**
 * An HTTP server on 127.0.0.1 (an ephemeral port) that logs "METHOD /path?query" of every
 * request and hands it to `handle` with its path (no query); close() ends open connections too.
 */
export async function recordingServer(handle: (req: http.IncomingMessage, res: http.ServerResponse, pathname: string) => void): Promise<FakeRegistry> {
  const seen: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    handle(req, res, new URL(req.url ?? '/', 'http://x').pathname);
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    host,
    url: `http://${host}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

export function fakeRegistry(routes: Record<string, Handler>): Promise<FakeRegistry> {
  return recordingServer((req, res, pathname) => {
    const route = routes[pathname];
    if (route) return route(req, res);
    if (pathname === '/v2/') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Docker-Distribution-API-Version': 'registry/2.0' });
      return res.end('{}');
    }
    const code = pathname.includes('/blobs/') ? 'BLOB_UNKNOWN' : 'MANIFEST_UNKNOWN';
    res.writeHead(404, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ errors: [{ code, message: 'unknown' }] }));
  });
}

/** A whole body with its Content-Length (headers only for HEAD). */
export const send =
  (type: string, body: Buffer, headers: Record<string, string> = {}): Handler =>
  (req, res) => {
    res.writeHead(200, { 'Content-Type': type, 'Content-Length': String(body.length), 'Docker-Content-Digest': digestOf(body), ...headers });
    res.end(req.method === 'HEAD' ? undefined : body);
  };

export interface TestImage {
  layers: Buffer[];
  config: Buffer;
  manifest: Buffer;
}

/** An OCI image of one-file layers with `bodies`, its config and manifest (layer media types overridable per layer). */
export function testImage(bodies: Array<string | Buffer>, layerDescriptors: Array<Record<string, unknown>> = []): TestImage {
  const layers = bodies.map((b, i) => rawTar([{ name: `f${i}.txt`, body: b }]));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => digestOf(l)) } }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: layers.map((l, i) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(l), size: l.length, ...layerDescriptors[i] })),
    }),
  );
  return { layers, config, manifest };
}

/** Routes serving `img` as REPO:TAG (manifest by tag and by digest, config and layer blobs). */
export function imageRoutes(repo: string, tag: string, img: TestImage): Record<string, Handler> {
  const mt = 'application/vnd.oci.image.manifest.v1+json';
  const routes: Record<string, Handler> = {
    [`/v2/${repo}/manifests/${tag}`]: send(mt, img.manifest),
    [`/v2/${repo}/manifests/${digestOf(img.manifest)}`]: send(mt, img.manifest),
    [`/v2/${repo}/blobs/${digestOf(img.config)}`]: send('application/octet-stream', img.config),
  };
  for (const l of img.layers) routes[`/v2/${repo}/blobs/${digestOf(l)}`] = send('application/octet-stream', l);
  return routes;
}
