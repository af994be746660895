import http from 'node:http';
import https from 'node:https';

// Idle sockets of a keep-alive agent are unref'd: they do not hold the process open.
const agents = { 'http:': new http.Agent({ keepAlive: true }), 'https:': new https.Agent({ keepAlive: true }) };

/**
 * A HEAD request over node:http(s) with a keep-alive agent, answered as a fetch Response
 * (status and headers, no body). fetch (undici) closes the connection after a HEAD response
 * that declares a Content-Length unless the server says `Connection: keep-alive`, which
 * distribution does not: a HEAD per tag then costs a TCP connection per tag (1000 HEADs at
 * concurrency 8 on loopback: 1.7-2.0 s with fetch, 0.8-1.2 s here).
 *
 * Failures look like fetch's: a TypeError "fetch failed" whose cause is the socket's error,
 * or the signal's reason when it was aborted (a timeout is a TimeoutError).
 */
export function headRequest(url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<Response> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const req = lib.request(u, { method: 'HEAD', headers, agent: agents[u.protocol as 'http:' | 'https:'], signal }, (res) => {
      res.resume();
      const h = new Headers();
      for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 599) return reject(Object.assign(new TypeError('fetch failed'), { cause: new Error(`HEAD ${url}: status ${status}`) }));
      resolve(new Response(null, { status, statusText: res.statusMessage ?? '', headers: h }));
    });
    req.on('error', (e) => reject(signal?.aborted ? signal.reason : Object.assign(new TypeError('fetch failed'), { cause: e })));
    req.end();
  });
}
