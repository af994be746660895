import type { Readable } from 'node:stream';
import { ingestStream, type IngestResult } from '../ingest/ingest.js';
import type { Store } from '../store/store.js';
import { humanBytes } from '../report/human.js';
import { isContainerdRef, isDockerDaemonRef } from '../engines/engine-refs.js';
import type { StorageOptions } from '../engines/containers-storage.js';
import { isContainersStorageRef } from '../engines/storage-location.js';
import { LayerstoreError, toLayerstoreError } from '../errors.js';
import { info, type GlobalOptions } from './context.js';
import { appendAll } from '../util/append.js';
import { exitCleanlyOnSignal } from './interrupt.js';

/** The options that say where the engines answer (report, diff, budget and ingest take them). */
export interface EngineOptions extends GlobalOptions, StorageOptions {
  /** The Docker Engine API socket for docker-daemon: (else $DOCKER_HOST, else /var/run/docker.sock). */
  engineSocket?: string;
  /** containerd's socket for containerd:. */
  containerdSocket?: string;
}

/** `docker-daemon:...`, `containerd:...` or `containers-storage:...`: an image that lives in an engine, not in the store. */
export function isEngineRef(arg: string): boolean {
  return isDockerDaemonRef(arg) || isContainerdRef(arg) || isContainersStorageRef(arg);
}

/** The engine's own export of `arg` as an archive stream (containers-storage: is rebuilt from podman's store in place). */
export async function engineExport(arg: string, opts: EngineOptions): Promise<Readable> {
  // Each engine's client is loaded only for its own inputs: they pull in node:http,
  // node:child_process and (containers-storage) tar-stream, start-up time of every run.
  if (isDockerDaemonRef(arg)) {
    const [{ engineEndpoint }, { exportFromEngine }] = await Promise.all([import('../engines/engine-api.js'), import('../engines/docker-daemon.js')]);
    return exportFromEngine(engineEndpoint(opts), arg);
  }
  if (isContainersStorageRef(arg)) {
    const { exportFromContainersStorage } = await import('../engines/containers-storage.js');
    return exportFromContainersStorage(arg, opts);
  }
  const { exportFromContainerd } = await import('../engines/containerd.js');
  return exportFromContainerd(arg, opts);
}

/**
 * Stream the engine's own export of `arg` into the store (the same transaction as
 * `ingest docker-daemon:...`) and say on stderr what came in. The store is the cache: blobs
 * it already holds are not written again, so a second run on the same engine is fast.
 */
export async function ingestEngineRef(store: Store, arg: string, opts: EngineOptions): Promise<IngestResult> {
  let r: IngestResult;
  try {
    r = await ingestStream(store, await engineExport(arg, opts), arg);
  } catch (e) {
    // As ingest does: a failed input leaves no store where there was none (report, diff and
    // budget open it with create), and its error line names the input it came from.
    await store.discardIfUnused();
    throw toLayerstoreError(e, arg);
  }
  info(
    opts,
    `ingested ${arg} into ${store.root}: ${r.images.length} image${r.images.length === 1 ? '' : 's'}, ${r.blobsAdded} new blob${r.blobsAdded === 1 ? '' : 's'} (${humanBytes(r.bytesAdded)}), ${r.blobsPresent} already stored`,
  );
  return r;
}

/**
 * The selectors `args` mean once each engine ref is ingested: an engine ref becomes the
 * manifest digests of the images it brought in, anything else stays as given.
 */
export async function ingestEngineArgs(
  store: Store,
  args: string[],
  opts: EngineOptions,
): Promise<{ selectors: string[]; results: Map<string, IngestResult> }> {
  const selectors: string[] = [];
  const results = new Map<string, IngestResult>();
  // Stopped while an engine's images come in: as ingest, nothing half-staged stays behind.
  const disposeSignals = exitCleanlyOnSignal(store, 'the images brought in so far are in the store whole; nothing was reported');
  try {
    for (const a of args) {
      if (!isEngineRef(a)) {
        selectors.push(a);
        continue;
      }
      const r = results.get(a) ?? (await ingestEngineRef(store, a, opts));
      results.set(a, r);
      appendAll(
        selectors,
        r.images.map((i) => i.manifestDigest),
      );
    }
  } finally {
    disposeSignals();
  }
  return { selectors, results };
}

/**
 * The one image an engine ref of diff (or the commit preview) brought in, by manifest digest.
 * An argument that names several (`docker-daemon:` alone, a multi-platform image) is refused
 * as a store ref naming several is: diffing the first two of a combined list compares the
 * wrong images without a word.
 */
export function theOneImage(arg: string, r: IngestResult): string {
  if (r.images.length !== 1)
    throw new LayerstoreError('E_USAGE', `${JSON.stringify(arg)} names ${r.images.length} images; diff compares one image with one`, {
      hint: 'name one image: NAME:TAG, an image ID, or (in the store) its manifest digest (layerstore ls)',
    });
  return r.images[0]!.manifestDigest;
}
