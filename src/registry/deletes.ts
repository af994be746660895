import type { ServerResponse } from 'node:http';
import { isDigest } from '../digest/digest.js';
import { fullyQualified } from '../formats/ref-names.js';
import { gcStore } from '../store/gc.js';
import { refOf } from '../store/refs.js';
import type { Store } from '../store/store.js';
import { RegistryError } from './errors.js';
import { servedRepository, type RepositoryIndex } from './repositories.js';
import type { ReceivedBlobs } from './received.js';

/**
 * Deletes (serve --allow-delete), with distribution's meaning in a store of refs:
 * - DELETE manifests/TAG removes the tag; the manifest stays in the repository by digest
 *   (kept under "repo@digest") until it is deleted by digest, as distribution keeps it;
 * - DELETE manifests/DIGEST removes every ref of the repository that names it;
 * - DELETE blobs/DIGEST drops a blob uploaded (or mounted) into the repository that no
 *   manifest names yet; a blob a manifest of the repository still uses is refused (405),
 *   since the store shares bytes between repositories and images.
 * Bytes are freed by the store's own gc, run soon after (DeferredGc): what no ref reaches
 * is swept, and what a push delivered that no manifest names yet is kept while its record
 * lasts (store/received.ts); an upload in flight is never lost (gc leaves live staging alone).
 */
export async function handleDelete(
  store: Store,
  repos: RepositoryIndex,
  received: ReceivedBlobs,
  gc: DeferredGc,
  name: string,
  kind: string,
  reference: string,
  res: ServerResponse,
): Promise<void> {
  const view = await repos.view();
  if (kind === 'manifests') {
    if (isDigest(reference)) {
      // Every ref served under this repository (also "host:port/NAME:tag" refs a pull kept).
      const mine = (ref: string | undefined) => ref !== undefined && servedRepository(ref) === name;
      const removed = await store.removeRoots((d) => d.digest === reference && mine(refOf(d)));
      if (!removed.length) {
        if (view.reachable.get(name)?.has(reference)) {
          throw new RegistryError(405, 'UNSUPPORTED', `manifest ${reference} is part of an index in ${name}; delete the index instead`);
        }
        throw new RegistryError(404, 'MANIFEST_UNKNOWN', `manifest ${reference} is not in ${name}`);
      }
    } else {
      const tagged = view.repos.get(name)?.get(reference);
      const storeRef = view.tagRefs.get(name)?.get(reference);
      if (!tagged || !storeRef) throw new RegistryError(404, 'MANIFEST_UNKNOWN', `tag ${reference} is not in ${name}`);
      await store.transaction(async (tx) => {
        // The ref that serves the tag (for a pulled image, "host:port/NAME:tag").
        const removed = await tx.removeRoots((d) => refOf(d) === storeRef);
        // Still in the repository by digest, unless another tag of it names the manifest.
        const index = await tx.readIndex();
        const stillNamed = index.manifests.some((d) => {
          const ref = refOf(d);
          return d.digest === tagged.digest && ref !== undefined && !ref.includes('@') && servedRepository(ref) === name;
        });
        if (removed.length && !stillNamed) {
          const ref = `${name}@${tagged.digest}`;
          await tx.updateRefs([{ descriptor: { mediaType: tagged.mediaType, digest: tagged.digest, size: tagged.size }, ref, fullName: fullyQualified(ref) }]);
        }
      });
    }
  } else if (kind === 'blobs') {
    if (!isDigest(reference)) throw new RegistryError(400, 'DIGEST_INVALID', `invalid digest ${JSON.stringify(reference.slice(0, 200))}`);
    if ((await received.view()).has(name, reference)) await received.forget(name, [reference]);
    else if (view.reachable.get(name)?.has(reference)) {
      throw new RegistryError(405, 'UNSUPPORTED', `blob ${reference} is used by a manifest in ${name}; delete the manifest first`);
    } else throw new RegistryError(404, 'BLOB_UNKNOWN', `blob ${reference} is not in ${name}`);
  } else {
    throw new RegistryError(405, 'UNSUPPORTED', 'DELETE is not supported here');
  }
  repos.invalidate();
  gc.schedule();
  res.statusCode = 202;
  res.setHeader('Content-Length', 0);
  res.end();
}

/**
 * One store gc shortly after the last of a run of deletes (a client deleting a hundred
 * tags causes one mark and sweep, not a hundred), never two at once.
 */
export class DeferredGc {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly store: Store,
    private readonly log: (line: string) => void,
    private readonly delayMs = 1000,
  ) {}

  schedule(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, this.delayMs);
  }

  private async run(): Promise<void> {
    while (this.running) await this.running;
    this.running = gcStore(this.store).then(
      () => undefined,
      (e: unknown) => this.log(`gc after delete: ${(e as Error)?.message ?? e}`),
    );
    await this.running;
    this.running = undefined;
  }

  /** Run a scheduled gc now (server shutdown). */
  async flush(): Promise<void> {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
      await this.run();
    }
    while (this.running) await this.running;
  }
}
