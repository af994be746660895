import { LayerstoreError } from '../errors.js';
import { finishOnClosedOutput } from './closed-output.js';
import { exitCleanlyOnSignal } from './interrupt.js';
import { shortDigest } from '../digest/digest.js';
import { loadImages } from '../analysis/load-images.js';
import { selectImages } from '../analysis/select.js';
import { refCandidates } from '../formats/ref-names.js';
import type { Descriptor } from '../formats/types.js';
import { imageRoot } from '../analysis/image-root.js';
import { parsePlatform, pullImage } from '../registry/pull.js';
import { pushRoot } from '../registry/push.js';
import { formatRemoteRef, parseRemoteRef } from '../registry/reference.js';
import { refOf } from '../store/refs.js';
import { Store } from '../store/store.js';
import { humanBytes } from '../report/human.js';
import { toJson } from '../report/json.js';
import { info, requireStore, storeDir, type GlobalOptions } from './context.js';
import { clientFor, transferPolicy, type RemoteOptions } from './remote.js';

export async function pullCommand(ref: string, opts: GlobalOptions & RemoteOptions & { platform?: string; json?: boolean; timeout?: string }): Promise<number> {
  finishOnClosedOutput(); // the pull lands even when the reader of its output has gone
  const remote = parseRemoteRef(ref);
  const policy = transferPolicy(opts.timeout);
  const client = await clientFor(remote.registry, opts);
  client.policy = policy;
  const store = await Store.open(storeDir(opts), { create: true });
  info(opts, `store: ${store.root}`);
  exitCleanlyOnSignal(store, 'the image is in the store whole or not at all');
  const r = await pullImage(store, client, remote, { platform: opts.platform ? parsePlatform(opts.platform) : undefined }).catch(async (e: unknown) => {
    await store.discardIfUnused(); // a failed pull into a new store leaves none
    throw e;
  });
  if (opts.json) {
    process.stdout.write(
      toJson({
        schemaVersion: 1,
        source: formatRemoteRef(remote),
        images: r.images,
        blobsAdded: r.blobsAdded,
        bytesDownloaded: r.bytesDownloaded,
        bytesSkipped: r.bytesSkipped,
        notes: r.notes,
      }),
    );
    return 0;
  }
  const rate = r.seconds > 0 ? `${humanBytes(r.bytesDownloaded / r.seconds)}/s` : '';
  process.stdout.write(
    `${formatRemoteRef(remote)}: ${r.images.length} image${r.images.length === 1 ? '' : 's'}; downloaded ${humanBytes(r.bytesDownloaded)}, ` +
      `skipped ${humanBytes(r.bytesSkipped)} already stored; ${r.blobsAdded} new blobs; ${r.seconds.toFixed(2)} s (${rate})\n`,
  );
  for (const n of r.notes) info(opts, `  note: ${n}`);
  return 0;
}

/** The store root for SRC: a ref as it is (an index stays an index), else one image's manifest. */
async function sourceRoot(store: Store, src: string): Promise<Descriptor> {
  const names = refCandidates(src);
  const root = (await store.readIndex()).manifests.find((d) => names.includes(refOf(d) ?? ''));
  if (root) return { mediaType: root.mediaType, digest: root.digest, size: root.size };
  const found = selectImages(await loadImages(store), [src]);
  if (found.length !== 1) throw new LayerstoreError('E_USAGE', `${JSON.stringify(src)} names ${found.length} images; name one by its manifest digest`);
  return imageRoot(store, found[0]!);
}

export async function pushCommand(
  src: string,
  dest: string,
  opts: GlobalOptions & RemoteOptions & { mountFrom?: string[]; json?: boolean; timeout?: string },
): Promise<number> {
  const policy = transferPolicy(opts.timeout);
  const store = await requireStore(opts);
  const remote = parseRemoteRef(dest);
  const client = await clientFor(remote.registry, opts);
  client.policy = policy;
  const root = await sourceRoot(store, src);
  const t0 = Date.now();
  const r = await pushRoot(store, client, root, remote, { mountFrom: opts.mountFrom });
  const secs = (Date.now() - t0) / 1000;
  if (opts.json) {
    process.stdout.write(toJson({ schemaVersion: 1, source: src, destination: formatRemoteRef(remote), manifestDigest: root.digest, ...r, seconds: secs }));
    return 0;
  }
  process.stdout.write(
    `${src} -> ${formatRemoteRef(remote)} (${shortDigest(root.digest)}): sent ${r.blobsSent} blobs (${humanBytes(r.bytesSent)}), ` +
      `skipped ${r.blobsSkipped} the registry had (${humanBytes(r.bytesSkipped)})` +
      (r.blobsMounted ? `, mounted ${r.blobsMounted} from ${Object.keys(r.mountedFrom).sort().join(', ')} (${humanBytes(r.bytesMounted)})` : '') +
      `; not sent ${humanBytes(r.bytesNotSent)}; ${r.manifests} manifest${r.manifests === 1 ? '' : 's'}; ${secs.toFixed(2)} s\n`,
  );
  return 0;
}
