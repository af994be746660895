import type { Readable } from 'node:stream';
import { LayerstoreError } from '../errors.js';
import { engineGet, engineJson, type EngineEndpoint } from './engine-api.js';

/** `container:NAME` (or an ID): a container of the Docker engine, for `diff IMAGE container:NAME`. */
export const CONTAINER = 'container:';

export function isContainerRef(arg: string): boolean {
  return arg.startsWith(CONTAINER);
}

/** What the engine says a container changed: Kind 0 modified, 1 added, 2 deleted. */
export interface ContainerChange {
  /** Normalized as layer entries are: no leading "/". */
  path: string;
  kind: 'modified' | 'added' | 'deleted';
}

export interface ContainerInfo {
  id: string;
  name: string;
  /** Image ID (config digest) the container was created from. */
  imageId: string;
  running: boolean;
  paused: boolean;
}

const notFound = (ep: EngineEndpoint, name: string) => (message: string) =>
  new LayerstoreError('E_REF_NOT_FOUND', `the container engine at ${ep.label} has no container ${name} (${message})`, { hint: 'docker ps -a lists them' });

export async function inspectContainer(ep: EngineEndpoint, arg: string): Promise<ContainerInfo> {
  const name = arg.slice(CONTAINER.length);
  if (!name) throw new LayerstoreError('E_USAGE', `${JSON.stringify(arg)} names no container`, { hint: 'container:NAME or container:ID' });
  const doc = (await engineJson(ep, `/containers/${encodeURIComponent(name)}/json`, notFound(ep, name))) as {
    Id?: string;
    Name?: string;
    Image?: string;
    State?: { Running?: boolean; Paused?: boolean };
  };
  if (typeof doc.Id !== 'string' || typeof doc.Image !== 'string')
    throw new LayerstoreError('E_ENGINE', `the container engine at ${ep.label} described container ${name} without Id or Image`);
  return { id: doc.Id, name: (doc.Name ?? name).replace(/^\//, ''), imageId: doc.Image, running: !!doc.State?.Running, paused: !!doc.State?.Paused };
}

export async function containerChanges(ep: EngineEndpoint, c: ContainerInfo): Promise<ContainerChange[]> {
  const list = await engineJson(ep, `/containers/${c.id}/changes`);
  if (list === null) return []; // the engine's answer for no change at all
  if (!Array.isArray(list)) throw new LayerstoreError('E_ENGINE', `the container engine at ${ep.label} answered /changes with something that is not a list`);
  const kinds = ['modified', 'added', 'deleted'] as const;
  return (list as Array<{ Path?: unknown; Kind?: unknown }>).flatMap((x) =>
    typeof x.Path === 'string' && typeof x.Kind === 'number' && kinds[x.Kind] ? [{ path: x.Path.replace(/^\/+/, ''), kind: kinds[x.Kind]! }] : [],
  );
}

/** The container's whole file system as one tar stream (`docker export`). */
export function exportContainer(ep: EngineEndpoint, c: ContainerInfo): Promise<Readable> {
  return engineGet(ep, `/containers/${c.id}/export`, notFound(ep, c.name));
}

/**
 * Run `fn` with the container paused when it runs, as `docker commit` does by default, so the
 * list of changes and the bytes read after it describe one moment; unpaused afterwards,
 * whatever happened (a container the user had paused stays paused).
 */
export async function whilePaused<T>(ep: EngineEndpoint, c: ContainerInfo, fn: () => Promise<T>): Promise<T> {
  const pause = c.running && !c.paused;
  if (pause) (await engineGet(ep, `/containers/${c.id}/pause`, notFound(ep, c.name), 'POST')).resume();
  try {
    return await fn();
  } finally {
    if (pause) (await engineGet(ep, `/containers/${c.id}/unpause`, notFound(ep, c.name), 'POST')).resume();
  }
}
