import { LayerstoreError } from '../errors.js';
import { isDigest, type Digest } from '../digest/digest.js';
import { isLoopback } from './auth.js';
import { isValidTag, parseDockerRef } from '../formats/ref-names.js';

/** A remote image reference: registry host, repository, and a tag or a digest. */
export interface RemoteRef {
  /** host[:port] as written; "docker.io" when none was given. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: Digest;
}

/** Parse "host:5000/acme/api:1.0", "localhost/x@sha256:...", "acme/api" (docker.io, :latest). */
export function parseRemoteRef(s: string): RemoteRef {
  const p = parseDockerRef(s);
  if (!p) throw new LayerstoreError('E_USAGE', `${JSON.stringify(s)} is not REGISTRY/NAME[:TAG|@DIGEST] with a valid repository name`);
  if (p.digest !== undefined && !isDigest(p.digest))
    throw new LayerstoreError('E_USAGE', `${JSON.stringify(s)}: ${JSON.stringify(p.digest)} is not a sha256 digest`);
  if (p.tag !== undefined && !isValidTag(p.tag)) throw new LayerstoreError('E_USAGE', `${JSON.stringify(s)}: ${JSON.stringify(p.tag)} is not a valid tag`);
  const digest = p.digest as Digest | undefined;
  return { registry: p.domain, repository: p.path, tag: p.tag ?? (digest ? undefined : 'latest'), digest };
}

/**
 * Where to reach a registry: https, except plain http when asked (--insecure); a loopback
 * registry is tried over https and then http (`fallback`), as Docker does for localhost.
 */
export function registryBaseUrl(registry: string, insecure: boolean): { base: string; fallback?: string } {
  const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
  const hostname = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  if (insecure) return { base: `http://${host}` };
  return isLoopback(hostname) ? { base: `https://${host}`, fallback: `http://${host}` } : { base: `https://${host}` };
}

export function formatRemoteRef(r: RemoteRef): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}
