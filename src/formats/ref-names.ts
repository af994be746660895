import { LayerstoreError } from '../errors.js';

/**
 * Image references. A store ref is what the user or the source named ("acme/api:1.0",
 * "dive-test:latest", or a bare OCI ref name such as "v1"). When it is a Docker-style
 * repository:tag we also record the fully qualified name ("docker.io/acme/api:1.0"),
 * as containerd does in io.containerd.image.name.
 */

// OCI image-spec grammar for org.opencontainers.image.ref.name
const COMPONENT = '[A-Za-z0-9]+(?:(?:[-._:@+]|--)[A-Za-z0-9]+)*';
const REF_RE = new RegExp(`^${COMPONENT}(?:/${COMPONENT})*$`);

export function isValidRef(ref: string): boolean {
  return ref.length > 0 && ref.length <= 512 && REF_RE.test(ref);
}

export function checkRef(ref: unknown, what: string): string {
  if (typeof ref !== 'string' || !isValidRef(ref)) {
    throw new LayerstoreError(
      'E_MANIFEST_INVALID',
      `${what} ${JSON.stringify(typeof ref === 'string' ? ref.slice(0, 100) : ref)} is not a valid image reference`,
    );
  }
  return ref;
}

/**
 * The distribution spec's grammar, the one source for every reader of refs (normalizeUserRef,
 * parseDockerRef, the registry client and server): a repository path of lowercase components
 * joined by "/", a tag of up to 128 word characters, dots and dashes, not starting with either.
 */
const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const REPOSITORY_PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
/** The spec caps a repository name at 255 characters. */
export const MAX_REPOSITORY_LENGTH = 255;

/** A repository path ("library/alpine", "acme/api"), without host or tag. */
export function isValidRepositoryPath(path: string): boolean {
  return REPOSITORY_PATH_RE.test(path);
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

/** A Docker-style reference split into parts, with Docker's defaults (docker.io, library/). */
export interface DockerRef {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}

/** Split "host:5000/acme/api:1.0@sha256:..." Docker's way; undefined when the repository path is invalid. */
export function parseDockerRef(ref: string): DockerRef | undefined {
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  if (!rest) return undefined;
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  let domain = 'docker.io';
  let path = rest;
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    domain = first === 'index.docker.io' ? 'docker.io' : first; // Docker Hub's legacy name, as docker normalizes it
    path = rest.slice(slash + 1);
  }
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (!isValidRepositoryPath(path)) return undefined;
  return { domain, path, tag, digest };
}

/** "acme/api:1.0" -> "docker.io/acme/api:1.0"; undefined when ref is not repository[:tag]. */
export function fullyQualified(ref: string): string | undefined {
  const p = parseDockerRef(ref);
  if (!p || (!p.tag && !p.digest)) return undefined;
  return `${p.domain}/${p.path}${p.tag ? `:${p.tag}` : ''}${p.digest ? `@${p.digest}` : ''}`;
}

/** "docker.io/library/alpine:3.19" -> "alpine:3.19", as docker shows names. */
export function familiar(fullName: string): string {
  let s = fullName;
  if (s.startsWith('docker.io/')) s = s.slice('docker.io/'.length);
  if (s.startsWith('library/') && s.indexOf('/', 'library/'.length) < 0) s = s.slice('library/'.length);
  return s;
}

/** Repository part of a ref ("acme/api" for "acme/api:1.0"), or undefined for bare tags like "v1". */
export function repositoryOf(ref: string): string | undefined {
  const p = parseDockerRef(ref);
  if (!p?.tag) return undefined;
  const noDigest = ref.includes('@') ? ref.slice(0, ref.indexOf('@')) : ref;
  return noDigest.slice(0, noDigest.length - p.tag.length - 1);
}

/** Repository of a digest ref ("acme/api" for "acme/api@sha256:..."), the ref of a manifest pushed by digest. */
export function repositoryOfDigestRef(ref: string): string | undefined {
  const p = parseDockerRef(ref);
  if (!p || p.tag || !p.digest) return undefined;
  return ref.slice(0, ref.indexOf('@'));
}

/**
 * A ref the user typed, in Docker's grammar and with Docker's defaults, as every command
 * takes it: a lowercase repository (`[registry/]path`), then `:tag` (`latest` when absent) or
 * `@sha256:...`; `docker.io/library/` is dropped ("docker.io/library/alpine" is
 * "alpine:latest"). Returns the familiar form the store keeps; E_USAGE for anything else,
 * so a ref that `serve`, `push` and `_catalog` would refuse never enters the store.
 */
export function normalizeUserRef(input: string, what: string): string {
  const bad = (why: string) =>
    new LayerstoreError('E_USAGE', `${what} ${JSON.stringify(input.slice(0, 200))} is not a valid image reference: ${why}`, {
      hint: 'write it as docker does: [registry/]repository[:tag], lowercase repository, e.g. corp/api:1.0',
    });
  const p = parseDockerRef(input);
  if (!p) {
    throw bad(parseDockerRef(input.toLowerCase()) ? 'repository names are lowercase' : 'the repository name has characters docker does not allow');
  }
  if (p.digest !== undefined && !/^sha256:[0-9a-f]{64}$/.test(p.digest)) throw bad('a digest is sha256: and 64 lowercase hex digits');
  if (p.tag !== undefined && !isValidTag(p.tag)) throw bad('a tag is up to 128 letters, digits, _ . - (not starting with . or -)');
  const repo = familiar(`${p.domain}/${p.path}`);
  if (repo.length > MAX_REPOSITORY_LENGTH) throw bad('the repository name is longer than 255 characters');
  return `${repo}${p.digest === undefined || p.tag !== undefined ? `:${p.tag ?? 'latest'}` : ''}${p.digest !== undefined ? `@${p.digest}` : ''}`;
}

/**
 * The refs a user's selector may name in the store: as typed (a bare OCI ref name such as
 * "v1" stays itself), familiar ("docker.io/acme/api:1" is "acme/api:1") and normalized
 * ("acme/api" is "acme/api:latest").
 */
export function refCandidates(selector: string): string[] {
  const out = new Set([selector, familiar(selector)]);
  try {
    out.add(normalizeUserRef(selector, 'ref'));
  } catch {
    /* not a Docker-style ref: only the exact forms */
  }
  return [...out];
}

/**
 * `--repo NAME` as a user types it: a repository in Docker's grammar (`[registry/]path`,
 * lowercase), without tag or digest; returned in the familiar form the store keeps
 * ("docker.io/library/api" is "api"). E_USAGE for anything else.
 */
export function normalizeRepository(input: string, what: string): string {
  const p = parseDockerRef(input);
  if (p && (p.tag !== undefined || p.digest !== undefined)) {
    throw new LayerstoreError('E_USAGE', `${what} ${JSON.stringify(input.slice(0, 200))} has a tag or digest; give a repository only`, {
      hint: 'e.g. --repo corp/api (the tag comes from the input)',
    });
  }
  const ref = normalizeUserRef(input, what);
  return ref.slice(0, ref.length - ':latest'.length);
}

/** Extensions an input's name sheds before it names a repository ("api.oci.tar.gz" is "api"). */
const INPUT_EXTENSION_RE = /\.(?:tar|tgz|gz|oci|zst|zstd)$/i;

/**
 * A repository named after an input (a layout directory's or archive's basename, extensions
 * dropped, lowercased and reduced to the repository grammar: "My App!.tar" is "my-app"), for
 * the bare OCI ref names it holds, as `ctr images import --base-name` names them. Undefined
 * when nothing valid remains ("!!!.tar").
 */
export function repositoryFromInputName(basename: string): string | undefined {
  let name = basename.replace(/\/+$/, '');
  name = name.slice(name.lastIndexOf('/') + 1);
  for (let i = 0; i < 8 && INPUT_EXTENSION_RE.test(name); i++) name = name.replace(INPUT_EXTENSION_RE, '');
  // Runs of anything but letters and digits become one separator: itself when the grammar
  // allows it (".", "_", "__", dashes), else "-"; none at either end.
  const reduced = name
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, (sep) => (/^(?:[._]|__|-+)$/.test(sep) ? sep : '-'))
    .slice(0, MAX_REPOSITORY_LENGTH)
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return reduced !== '' && isValidRepositoryPath(reduced) ? reduced : undefined;
}
