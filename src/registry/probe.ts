import { LayerstoreError } from '../errors.js';
import type { BodyBound } from './bounded-body.js';
import type { RegistryClient } from './client.js';
import { RegistryStatusError } from './client-errors.js';
import type { RegistryResponse } from './response.js';

export interface RegistryProbe {
  /** Docker-Distribution-API-Version as sent by GET /v2/ (registry/2.0), if any. */
  apiVersion?: string;
}

/**
 * GET /v2/ before anything else: a registry answers 200 (after authentication) with JSON or
 * nothing, and usually `Docker-Distribution-API-Version: registry/2.0`. A web page, a 404, or
 * another API version is not a registry, and saying so here beats a confusing error (or an
 * empty report) later. The header alone is not required (the OCI spec does not demand it);
 * a server without it must still answer the catalog like a registry (client.listAll).
 */
export async function probeRegistry(client: RegistryClient): Promise<RegistryProbe> {
  const bound = (url: string): BodyBound => ({ url, limit: 64 * 1024, what: 'version check answer' });
  let res: RegistryResponse;
  let body: Buffer;
  let url: string;
  try {
    ({ res, bytes: body, url } = await client.getWhole('/v2/', { scope: 'registry:catalog:*', ok: [200] }, bound));
  } catch (e) {
    if (e instanceof RegistryStatusError) throw notARegistry(`${client.baseUrl}/v2/`, `it answered ${e.status}`);
    throw e;
  }
  const apiVersion = res.headers.get('docker-distribution-api-version') ?? undefined;
  const type = res.headers.get('content-type') ?? '';
  const text = body.toString('utf8').trim();
  if (/html/i.test(type) || text.startsWith('<')) throw notARegistry(url, 'it answered a web page');
  if (apiVersion !== undefined && !/^registry\/2\./.test(apiVersion.trim()))
    throw notARegistry(url, `it speaks ${JSON.stringify(apiVersion)}, not registry/2.0`);
  return { apiVersion };
}

function notARegistry(url: string, why: string): LayerstoreError {
  return new LayerstoreError('E_REGISTRY', `GET ${url}: not a registry (${why})`, {
    hint: "pass the registry's base URL, e.g. https://registry.example.com or 127.0.0.1:5000",
  });
}
