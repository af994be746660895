import { LayerstoreError } from '../errors.js';
import { isDigest, type Digest } from '../digest/digest.js';
import { isLoopback } from './auth.js';

/** A remote image reference: registry host, repository, and a tag or a digest. */
export interface RemoteRef {
  /** host[:port] as written; "docker.io" when none was given. */
  registry: string;
  repository: string;
  tag?: string;
  digest?: Digest;
}

const REPO_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;

/** Parse "host:5000/acme/api:1.0", "localhost/x@sha256:...", "acme/api" (docker.io, :latest). */
export function parseRemoteRef(s: string): RemoteRef {
  let rest = s;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    if (!isDigest(d)) throw new LayerstoreError('E_USAGE', `${JSON.stringify(s)}: ${JSON.stringify(d)} is not a sha256 digest`);
    digest = d;
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  let registry = 'docker.io';
  let repository = rest;
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    registry = first;
    repository = rest.slice(slash + 1);
  }
  if (registry === 'docker.io' && !repository.includes('/')) repository = `library/${repository}`;
  if (!REPO_RE.test(repository)) throw new LayerstoreError('E_USAGE', `${JSON.stringify(s)}: ${JSON.stringify(repository)} is not a valid repository name`);
  if (tag !== undefined && !/^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/.test(tag)) throw new LayerstoreError('E_USAGE', `${JSON.stringify(s)}: ${JSON.stringify(tag)} is not a valid tag`);
  if (!tag && !digest) tag = 'latest';
  return { registry, repository, tag, digest };
}

/** The base URL for a registry: plain http only for loopback or when asked (--insecure). */
export function registryBaseUrl(registry: string, insecure: boolean): string {
  const host = registry === 'docker.io' ? 'registry-1.docker.io' : registry;
  const hostname = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return `${insecure || isLoopback(hostname) ? 'http' : 'https'}://${host}`;
}

export function formatRemoteRef(r: RemoteRef): string {
  return `${r.registry}/${r.repository}${r.tag ? `:${r.tag}` : ''}${r.digest ? `@${r.digest}` : ''}`;
}
