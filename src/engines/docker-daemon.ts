import type { Readable } from 'node:stream';
import { LayerstoreError } from '../errors.js';
import { engineGet, engineJson, type EngineEndpoint } from './engine-api.js';
import { DOCKER_DAEMON } from './engine-refs.js';
import { appendAll } from '../util/append.js';

/**
 * The engine's own export (`docker save`) of the images `arg` names, as a stream: one image
 * (`docker-daemon:acme/api:1.0`, a name without a tag meaning :latest as docker takes it, or
 * an image ID), or with nothing after the prefix every image of the engine (each tagged image
 * by its tags, each untagged one by its ID). Nothing is buffered: the caller ingests it as it
 * arrives (ingestStream), so a daemon that dies mid-export leaves the store unchanged.
 */
export async function exportFromEngine(ep: EngineEndpoint, arg: string): Promise<Readable> {
  const name = withDefaultTag(arg.slice(DOCKER_DAEMON.length));
  const names = name ? [name] : await everyImage(ep);
  if (names.length === 0) throw new LayerstoreError('E_REF_NOT_FOUND', `the container engine at ${ep.label} has no images`);
  const query = names.map((n) => `names=${encodeURIComponent(n)}`).join('&');
  return engineGet(
    ep,
    `/images/get?${query}`,
    (message) =>
      new LayerstoreError('E_REF_NOT_FOUND', `the container engine at ${ep.label} has no image ${name || names.join(', ')} (${message})`, {
        hint: 'docker images lists what it has',
      }),
  );
}

/**
 * `name` with `:latest` when it has neither tag nor digest. The engine's export of a bare
 * repository name (`docker save acme/a`, /images/get?names=acme/a) brings every tag of it,
 * while docker run, skopeo's docker-daemon: transport and our docs take it as :latest. Image
 * IDs (`sha256:…`, or a bare hex short ID, which the engine looks up as an ID) stay as they
 * are. The tag is looked for after the last "/" only, so a registry port
 * (`localhost:5000/acme/a`) is not taken for one.
 */
export function withDefaultTag(name: string): string {
  if (name === '' || name.includes('@') || name.startsWith('sha256:') || /^[0-9a-f]{1,64}$/.test(name)) return name;
  return name.slice(name.lastIndexOf('/') + 1).includes(':') ? name : `${name}:latest`;
}

/** Every image of the engine: its tags, or its ID when it has none. */
async function everyImage(ep: EngineEndpoint): Promise<string[]> {
  const list = await engineJson(ep, '/images/json');
  if (!Array.isArray(list))
    throw new LayerstoreError('E_ENGINE', `the container engine at ${ep.label} answered /images/json with something that is not a list`);
  const names: string[] = [];
  for (const img of list as Array<{ Id?: unknown; RepoTags?: unknown }>) {
    const tags = Array.isArray(img.RepoTags) ? img.RepoTags.filter((t): t is string => typeof t === 'string' && t !== '<none>:<none>') : [];
    if (tags.length) appendAll(names, tags);
    else if (typeof img.Id === 'string') names.push(img.Id);
  }
  return [...new Set(names)];
}
