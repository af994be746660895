import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { LayerstoreError } from '../errors.js';
import { engineGet, engineJson, type EngineEndpoint } from './engine-api.js';

/** `container:NAME` (or an ID): a container of the Docker engine, for `diff IMAGE container:NAME`. */
export const CONTAINER = 'container:';

export function isContainerRef(arg: string): boolean {
  return arg.startsWith(CONTAINER);
}

/**
 * A path a container changed: from the engine (Kind 0 modified, 1 added, 2 deleted), or from
 * overlay2's upper directory, where 'opaque' is a directory that hides what the image has in
 * it (committed as DIR/.wh..wh..opq; it is listed as 'modified' too).
 */
export interface ContainerChange {
  /** Normalized as layer entries are: no leading "/". */
  path: string;
  kind: 'modified' | 'added' | 'deleted' | 'opaque';
}

export interface ContainerInfo {
  id: string;
  name: string;
  /** Image ID (config digest) the container was created from. */
  imageId: string;
  running: boolean;
  paused: boolean;
  /** The engine's storage driver (GraphDriver.Name), e.g. overlay2 or vfs. */
  driver?: string;
  /** overlay2: the container's writable layer on the engine's host (GraphDriver.Data.UpperDir). */
  upperDir?: string;
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
    GraphDriver?: { Name?: unknown; Data?: { UpperDir?: unknown } | null };
  };
  if (typeof doc.Id !== 'string' || typeof doc.Image !== 'string')
    throw new LayerstoreError('E_ENGINE', `the container engine at ${ep.label} described container ${name} without Id or Image`);
  const driver = typeof doc.GraphDriver?.Name === 'string' ? doc.GraphDriver.Name : undefined;
  const upper = doc.GraphDriver?.Data?.UpperDir;
  return {
    id: doc.Id,
    name: (doc.Name ?? name).replace(/^\//, ''),
    imageId: doc.Image,
    running: !!doc.State?.Running,
    paused: !!doc.State?.Paused,
    driver,
    upperDir: driver === 'overlay2' && typeof upper === 'string' ? upper : undefined,
  };
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

/**
 * What `docker commit` on overlay2 writes: every entry of the container's upper directory (it
 * tars the whole directory), so also files overlayfs copied up without changing them (a hard
 * link made to an image's file, a chmod back to the same mode), which /changes leaves out.
 * A whiteout (character device 0/0) is a deletion. An opaque directory carries the xattr
 * trusted.overlay.opaque, which node cannot read, so it is told apart by what /changes says:
 * the image's files in it as deleted (docker 20.10) with no whiteout for them in the upper
 * directory, or the directory itself as deleted while it is there (newer engines), as nothing
 * but an opaque directory hides a lower entry without a whiteout. Undefined when
 * the directory cannot be read (an engine on another host, not root): the caller then has
 * only /changes.
 */
export async function upperDirChanges(upperDir: string, reported: ContainerChange[]): Promise<ContainerChange[] | undefined> {
  const reportedDeleted = new Set(reported.filter((c) => c.kind === 'deleted').map((c) => c.path));
  const out: ContainerChange[] = [];
  const walk = async (dir: string, rel: string): Promise<void> => {
    for (const d of await fsp.readdir(dir, { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      const full = path.join(dir, d.name);
      if (d.isCharacterDevice() && (await fsp.lstat(full)).rdev === 0) {
        out.push({ path: p, kind: 'deleted' });
        continue;
      }
      out.push({ path: p, kind: 'modified' });
      if (d.isDirectory()) {
        dirs.add(p);
        await walk(full, p);
      }
    }
  };
  const dirs = new Set<string>();
  try {
    await walk(upperDir, '');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EPERM') return undefined;
    throw e;
  }
  const whiteouts = new Set(out.filter((c) => c.kind === 'deleted').map((c) => c.path));
  const opaque = new Set([...reportedDeleted].filter((p) => dirs.has(p)));
  for (const p of reportedDeleted) {
    const parent = p.slice(0, Math.max(0, p.lastIndexOf('/')));
    if (!whiteouts.has(p) && dirs.has(parent)) opaque.add(parent);
  }
  for (const p of opaque) out.push({ path: p, kind: 'opaque' });
  return out;
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
