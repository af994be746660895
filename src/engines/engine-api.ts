import http, { type IncomingMessage } from 'node:http';
import { LayerstoreError } from '../errors.js';

/**
 * Where a Docker Engine API answers: `--engine-socket PATH`, else $DOCKER_HOST (unix:// or
 * tcp://), else /var/run/docker.sock. podman's Docker-compatible service
 * (`podman system service unix://...`) answers the same requests.
 */
export interface EngineEndpoint {
  socketPath?: string;
  host?: string;
  port?: number;
  /** How messages name it: the socket path or host:port. */
  label: string;
}

export function engineEndpoint(opts: { engineSocket?: string }, env: NodeJS.ProcessEnv = process.env): EngineEndpoint {
  if (opts.engineSocket) return { socketPath: opts.engineSocket, label: opts.engineSocket };
  const host = env.DOCKER_HOST;
  if (host) {
    if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length), label: host.slice('unix://'.length) };
    // tcp://HOST without a port is port 2375, as the docker CLI takes it
    const m = /^tcp:\/\/([^:/[\]]+|\[[^\]]+\])(?::(\d+))?\/?$/.exec(host);
    if (m) {
      const port = m[2] ?? '2375';
      return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(port), label: `${m[1]}:${port}` };
    }
    throw new LayerstoreError('E_USAGE', `DOCKER_HOST=${JSON.stringify(host)} is neither unix://PATH nor tcp://HOST[:PORT]`, {
      hint: 'or pass --engine-socket PATH',
    });
  }
  return { socketPath: '/var/run/docker.sock', label: '/var/run/docker.sock' };
}

/** Largest error or JSON answer read from the engine (its lists of images are small documents). */
const MAX_JSON_ANSWER = 64 * 1024 * 1024;

/**
 * GET `path` from the engine; resolves with the response once the status is 200 (the body
 * not yet read, so an export streams). A socket that is missing, refuses or is not ours to
 * open is one E_ENGINE line naming it; an answer other than 200 is E_ENGINE with the
 * engine's own message, or `notFound()` for a 404.
 */
export function engineGet(
  ep: EngineEndpoint,
  path: string,
  notFound?: (message: string) => LayerstoreError,
  method: 'GET' | 'POST' = 'GET',
): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const req = http.request({ method, socketPath: ep.socketPath, host: ep.host, port: ep.port, path, headers: { Host: 'docker' } }, (res) => {
      // 204 No Content: a POST that worked (pause, unpause)
      if (res.statusCode === 200 || (method === 'POST' && res.statusCode === 204)) return resolve(res);
      readAll(res, 64 * 1024).then((body) => {
        let message = body.toString('utf8').trim();
        try {
          message = String((JSON.parse(message) as { message?: unknown }).message ?? message);
        } catch {
          /* not JSON: the text as it is */
        }
        if (res.statusCode === 404 && notFound) reject(notFound(message));
        else
          reject(
            new LayerstoreError('E_ENGINE', `the container engine at ${ep.label} answered ${res.statusCode} to ${method} ${path}: ${message.slice(0, 300)}`),
          );
      }, reject);
    });
    req.on('error', (e: NodeJS.ErrnoException) => reject(unreachable(ep, e)));
    req.end();
  });
}

/** GET a JSON document from the engine (bounded). */
export async function engineJson(ep: EngineEndpoint, path: string, notFound?: (message: string) => LayerstoreError): Promise<unknown> {
  const res = await engineGet(ep, path, notFound);
  const body = await readAll(res, MAX_JSON_ANSWER);
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new LayerstoreError('E_ENGINE', `the container engine at ${ep.label} answered GET ${path} with something that is not JSON`);
  }
}

function unreachable(ep: EngineEndpoint, e: NodeJS.ErrnoException): LayerstoreError {
  // node's HTTP parser errors (HPE_*): the connection worked and something answered, but not
  // in HTTP (containerd's gRPC socket, an SSH server): the wrong socket, not a missing engine.
  if (e.code?.startsWith('HPE_'))
    return new LayerstoreError('E_ENGINE', `something answers at ${ep.label}, but not as a Docker Engine API (not HTTP: ${e.code})`, {
      hint: "is it the Docker (or podman service) socket? containerd's own socket is for containerd:NAME",
    });
  const why =
    e.code === 'ENOENT'
      ? 'no such socket (is the engine running?)'
      : e.code === 'ECONNREFUSED'
        ? 'nothing answers there (is the engine running?)'
        : e.code === 'EACCES'
          ? 'permission denied (run as a user in the docker group, or root)'
          : (e.code ?? e.message); // prettier-ignore
  return new LayerstoreError('E_ENGINE', `cannot reach the container engine at ${ep.label}: ${why}`, {
    hint: 'pass --engine-socket PATH or set DOCKER_HOST (podman: podman system service unix://PATH)',
  });
}

async function readAll(res: IncomingMessage, max: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of res) {
    n += (c as Buffer).length;
    if (n > max) {
      res.destroy();
      throw new LayerstoreError('E_ENGINE', `the container engine's answer is larger than ${max} bytes`);
    }
    parts.push(c as Buffer);
  }
  return Buffer.concat(parts);
}
