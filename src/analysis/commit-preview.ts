import { Readable } from 'node:stream';
import { once } from 'node:events';
import tar from 'tar-stream';
import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import type { ContainerChange } from '../engines/container-changes.js';
import { indexLayerStream, type FileIndex } from './file-index.js';
import { readLayerEntries } from './layer-tar.js';
import type { ImageInfo } from './load-images.js';
import { imageLayerIndexes, OPAQUE_MARKER, stackImage, WHITEOUT_PREFIX, type Change, type LayerChanges } from './overlay.js';

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

/** tar-stream's names for the engine's entry types; a special file (device, FIFO) is indexed as "other" whatever its kind. */
const PACK_TYPE = { file: 'file', directory: 'directory', symlink: 'symlink', link: 'link', other: 'fifo' } as const;

const norm = (name: string) => name.replace(/^(\.\/|\/)+/, '').replace(/\/+$/, '');

/**
 * The layer `docker commit` would write, as a file index: the engine's list of changes says
 * which paths (`GET /containers/ID/changes`: paths and kinds, no sizes), and the container's
 * exported file system (`GET /containers/ID/export`) gives their bytes. We take the export
 * rather than one `archive?path=` per change because it is one stream whatever the number of
 * changes, and an archive of a changed directory would carry its unchanged files too. On
 * overlay2 the paths come from the upper directory instead when it can be read
 * (upperDirChanges: /changes misses files copied up unchanged). The entries are re-packed as a layer tar (deleted paths as `.wh.` whiteouts,
 * as commit writes them) and indexed as they stream: nothing is buffered or written to disk.
 */
export async function previewLayerIndex(changes: ContainerChange[], exported: Readable): Promise<FileIndex> {
  const written = new Set(changes.filter((c) => c.kind === 'modified' || c.kind === 'added').map((c) => c.path));
  const deleted = new Set(changes.filter((c) => c.kind === 'deleted').map((c) => c.path));
  const opaque = changes.filter((c) => c.kind === 'opaque').map((c) => c.path);
  const underDeleted = (p: string) => {
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) if (deleted.has(p.slice(0, i))) return true;
    return false;
  };
  const pack = tar.pack();
  const indexing = indexLayerStream(Readable.from(pack), 'none');
  indexing.catch(() => undefined); // observed below
  try {
    // The export is read by the tar engine, as a layer is (names as written, anything after the end marker ignored).
    for await (const e of readLayerEntries(exported)) {
      const p = norm(e.name);
      if (!written.has(p)) continue; // its body is skipped by the reader
      const out = pack.entry({
        name: e.type === 'directory' ? `${p}/` : p,
        type: PACK_TYPE[e.type],
        size: e.type === 'file' ? e.size : 0,
        mode: e.mode,
        uid: e.uid,
        gid: e.gid,
        linkname: e.linkname,
      });
      for await (const chunk of e.body) if (!out.write(chunk)) await once(out, 'drain');
      await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
    }
    for (const p of [...deleted].sort()) {
      if (underDeleted(p)) continue; // one whiteout hides the whole directory
      const slash = p.lastIndexOf('/');
      pack.entry({ name: `${p.slice(0, slash + 1)}${WHITEOUT_PREFIX}${p.slice(slash + 1)}`, type: 'file' }, Buffer.alloc(0));
    }
    for (const p of opaque.sort()) pack.entry({ name: `${p}/${OPAQUE_MARKER}`, type: 'file' }, Buffer.alloc(0));
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
