import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import type { ContainerChange } from '../engines/container-changes.js';
import { indexLayerStream, type FileIndex } from './file-index.js';
import type { ImageInfo } from './load-images.js';
import { imageLayerIndexes, stackImage, WHITEOUT_PREFIX, type Change, type LayerChanges } from './overlay.js';

/** What `docker commit` of a container would add on top of its image (`diff IMAGE container:NAME`). */
export interface CommitPreview {
  /** The would-be layer as report --files counts a layer: what it adds, replaces and deletes. */
  layer: {
    /** Regular-file bytes the layer would hold. */
    fileBytes: number;
    addedBytes: number;
    /** Bytes of the lower copies it overwrites (they stay in the image's lower layers). */
    replacedBytes: number;
    /** Bytes of the lower copies it deletes (they stay too). */
    deletedBytes: number;
    /** replacedBytes + deletedBytes: the waste the commit would bake in. */
    wasteBytes: number;
    entries: number;
    whiteouts: number;
  };
  added: Change[];
  replaced: Change[];
  deleted: Change[];
}

const norm = (name: string) => name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');

/**
 * The layer `docker commit` would write, as a file index: the engine's list of changes says
 * which paths (`GET /containers/ID/changes`: paths and kinds, no sizes), and the container's
 * exported file system (`GET /containers/ID/export`) gives their bytes. We take the export
 * rather than one `archive?path=` per change because it is one stream whatever the number of
 * changes, and an archive of a changed directory would carry its unchanged files too; nor do
 * we read overlay2's upper directory, which exists only for that driver and only on the
 * engine's host. The entries are re-packed as a layer tar (deleted paths as `.wh.` whiteouts,
 * as commit writes them) and indexed as they stream: nothing is buffered or written to disk.
 */
export async function previewLayerIndex(changes: ContainerChange[], exported: Readable): Promise<FileIndex> {
  const written = new Set(changes.filter((c) => c.kind !== 'deleted').map((c) => c.path));
  const deleted = new Set(changes.filter((c) => c.kind === 'deleted').map((c) => c.path));
  const underDeleted = (p: string) => {
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) if (deleted.has(p.slice(0, i))) return true;
    return false;
  };
  const pack = tar.pack();
  const indexing = indexLayerStream(Readable.from(pack), 'none');
  indexing.catch(() => undefined); // observed below
  const extract = tar.extract();
  extract.on('entry', (h, body, next) => {
    const p = norm(h.name);
    if (!written.has(p)) {
      body.on('end', next).resume();
      return;
    }
    const out = pack.entry({ ...h, name: h.type === 'directory' ? `${p}/` : p }, (err) => next(err ?? undefined));
    body.pipe(out);
  });
  try {
    await pipeline(exported, extract);
    for (const p of [...deleted].sort()) {
      if (underDeleted(p)) continue; // one whiteout hides the whole directory
      const slash = p.lastIndexOf('/');
      pack.entry({ name: `${p.slice(0, slash + 1)}${WHITEOUT_PREFIX}${p.slice(slash + 1)}`, type: 'file' }, Buffer.alloc(0));
    }
    pack.finalize();
  } catch (e) {
    pack.destroy(e as Error);
    throw e;
  }
  const { index, blobDigest } = await indexing;
  return Object.assign(index, { digest: blobDigest as Digest }) as FileIndex;
}

/** Stack the would-be layer on the image's layers: its changes, counted as report --files counts a layer's. */
export async function commitPreview(store: Store, image: ImageInfo, layer: FileIndex): Promise<CommitPreview> {
  const layers = await imageLayerIndexes(store, image);
  const overlay = stackImage(image, [...layers, { digest: layer.digest, index: layer }]);
  const top: LayerChanges = overlay.layers.at(-1)!;
  return {
    layer: {
      fileBytes: top.fileBytes,
      addedBytes: top.addedBytes,
      replacedBytes: top.replacedBytes,
      deletedBytes: top.deletedBytes,
      wasteBytes: top.replacedBytes + top.deletedBytes,
      entries: layer.totals.entries,
      whiteouts: top.whiteouts,
    },
    added: top.added,
    replaced: top.replaced,
    deleted: top.deleted,
  };
}
