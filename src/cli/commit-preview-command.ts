import { printable } from '../report/printable.js';
import { LayerstoreError } from '../errors.js';
import { shortDigest } from '../digest/digest.js';
import type { ImageInfo } from '../analysis/load-images.js';
import { commitPreview, previewLayerIndex, type CommitPreview } from '../analysis/commit-preview.js';
import type { Change } from '../analysis/overlay.js';
import { engineEndpoint } from '../engines/engine-api.js';
import { containerChanges, exportContainer, inspectContainer, upperDirChanges, whilePaused } from '../engines/container-changes.js';
import { humanBytes } from '../report/human.js';
import { table } from '../report/tables.js';
import { toJson } from '../report/json.js';
import type { Store } from '../store/store.js';
import type { EngineOptions } from './engine-inputs.js';

/**
 * `diff IMAGE container:NAME`: what `docker commit NAME` would add on top of IMAGE, with the
 * waste it would bake in. The container must have been created from IMAGE.
 */
export async function commitPreviewCommand(
  store: Store,
  image: ImageInfo,
  arg: string,
  opts: EngineOptions & { json?: boolean; all?: boolean },
): Promise<number> {
  const ep = engineEndpoint(opts);
  const c = await inspectContainer(ep, arg);
  if (c.imageId !== image.configDigest) {
    throw new LayerstoreError(
      'E_USAGE',
      `container ${c.name} was created from image ${shortDigest(c.imageId)}, not ${image.refs[0] ?? shortDigest(image.configDigest)} (${shortDigest(image.configDigest)})`,
      {
        hint: `diff docker-daemon:${c.imageId} ${arg}`,
      },
    );
  }
  // overlay2's commit tars the whole upper directory; /changes, all other drivers have, misses
  // the files in it that overlayfs copied up unchanged. Read the upper directory when we can.
  let basis: 'upperdir' | 'changes' = 'changes';
  const layer = await whilePaused(ep, c, async () => {
    const reported = await containerChanges(ep, c);
    const upper = c.upperDir ? await upperDirChanges(c.upperDir, reported) : undefined;
    if (upper) basis = 'upperdir';
    return previewLayerIndex(upper ?? reported, await exportContainer(ep, c));
  });
  const p = await commitPreview(store, image, layer);
  // Only overlay2 copies files up; there, without its upper directory the preview may fall short.
  const short = basis === 'changes' && c.driver === 'overlay2';
  if (opts.json) {
    process.stdout.write(
      toJson({
        schemaVersion: 1,
        image: { manifestDigest: image.manifestDigest, configDigest: image.configDigest, refs: image.refs },
        container: { id: c.id, name: c.name },
        basis,
        layer: p.layer,
        added: p.added.map((x) => ({ path: x.path, type: x.type, bytes: x.bytes })),
        replaced: p.replaced.map((x) => ({ path: x.path, type: x.type, bytes: x.bytes, hiddenBytes: x.hiddenBytes })),
        deleted: p.deleted.map((x) => ({ path: x.path, type: x.type, hiddenBytes: x.hiddenBytes, ...(x.cause ? { cause: x.cause } : {}) })),
      }),
    );
    return 0;
  }
  process.stdout.write(renderPreview(p, c.name, image.refs[0] ?? shortDigest(image.manifestDigest), opts.all ? Number.MAX_SAFE_INTEGER : 30));
  if (short)
    process.stdout.write(
      `note: from the engine's list of changes (the overlay2 upper directory ${c.upperDir ?? ''} cannot be read here): files overlayfs copied up unchanged, which the commit holds too, are not counted; run as root on the engine's host\n`,
    );
  return 0;
}

function renderPreview(p: CommitPreview, name: string, imageName: string, max: number): string {
  const l = p.layer;
  const out = [
    `docker commit ${name} would add a layer of ${humanBytes(l.fileBytes)} in files on ${imageName}:`,
    `  ${p.added.length} added (+${humanBytes(l.addedBytes)}), ${p.replaced.length} replaced (${humanBytes(l.replacedBytes)} below), ${p.deleted.length} deleted (${humanBytes(l.deletedBytes)} below)`,
    `  waste it would bake in: ${humanBytes(l.wasteBytes)} (replaced and deleted bytes that stay in the lower layers)`,
    '',
  ];
  const t = table(['CHANGE', 'PATH', 'BYTES', 'HIDDEN BELOW'], ['left', 'left', 'right', 'right']);
  const rows: Array<[string, Change]> = [
    ...p.added.map((x) => ['added', x] as [string, Change]),
    ...p.replaced.map((x) => ['replaced', x] as [string, Change]),
    ...p.deleted.map((x) => ['deleted', x] as [string, Change]),
  ];
  rows.sort((a, b) => b[1].bytes + b[1].hiddenBytes - (a[1].bytes + a[1].hiddenBytes) || (a[1].path < b[1].path ? -1 : 1));
  for (const [kind, x] of rows.slice(0, max))
    t.push([kind, printable(x.path) + (x.type === 'dir' ? '/' : ''), humanBytes(x.bytes), x.hiddenBytes ? humanBytes(x.hiddenBytes) : '']);
  out.push(t.toString());
  if (rows.length > max) out.push(`(${rows.length - max} more; --all lists every one)`);
  return out.join('\n') + '\n';
}
