import { findCredentials } from '../registry/credentials.js';
import { RegistryClient } from '../registry/client.js';
import { registryBaseUrl } from '../registry/reference.js';

export interface RemoteOptions {
  insecure?: boolean;
  username?: string;
  password?: string;
}

/** A client for `registry` (host[:port], or a URL with its scheme) with the credentials found for it. */
export async function clientFor(registry: string, opts: RemoteOptions): Promise<RegistryClient> {
  const explicit = /^https?:\/\//.exec(registry);
  const url = explicit ? { base: registry.replace(/\/+$/, '') } : registryBaseUrl(registry, !!opts.insecure);
  const host = explicit ? new URL(registry).host : registry;
  return new RegistryClient(url.base, await findCredentials(host, opts), url.fallback);
}
