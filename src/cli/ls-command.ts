import { printable } from '../report/printable.js';
import { loadStore } from '../analysis/load-images.js';
import { shortDigest } from '../digest/digest.js';
import type { Descriptor } from '../formats/types.js';
import { untaggedLine } from './untagged-line.js';
import { notImagesNotes } from './not-images-line.js';
import { humanBytes } from '../report/human.js';
import { IMAGE_LIST_FIELDS, imageListRows, imageSizeBytes, renderImageList } from '../report/tables.js';
import { renderRows } from '../report/row-format.js';
import { outputFormat } from './output-format.js';
import { writeJson } from '../report/json.js';
import { platformString } from '../formats/types.js';
import { openForRead, storeDir, type GlobalOptions } from './context.js';

export async function lsCommand(opts: GlobalOptions & { json?: boolean; format?: string; trunc?: boolean }): Promise<number> {
  const format = outputFormat(opts, IMAGE_LIST_FIELDS);
  const store = await openForRead(opts);
  const { images, referrers, notImages } = store ? await loadStore(store) : { images: [], referrers: new Map<string, Descriptor[]>(), notImages: [] };
  // One readdir: which images name a config or layer the store no longer has (quarantined by
  // verify --fix, or lost). ls answers from manifests, so it still lists them, and says so.
  const present = store ? await store.blobs.regularFiles() : new Set<string>();
  const missing = new Map(images.map((i) => [i, [i.configDigest, ...i.layers.map((l) => l.digest)].filter((d) => !present.has(d))]));
  if (format.kind === 'json') {
    await writeJson(process.stdout, {
      schemaVersion: 1,
      store: storeDir(opts),
      images: images.map((i) => ({
        refs: i.refs,
        manifestDigest: i.manifestDigest,
        configDigest: i.configDigest,
        platform: i.platform ? platformString(i.platform) : null,
        layers: i.layers.length,
        sizeBytes: imageSizeBytes(i),
        created: i.created ?? null,
        unverified: i.unverified ?? null,
        missingBlobs: [...new Set(missing.get(i))],
        referrers: (referrers.get(i.manifestDigest) ?? []).map((d: Descriptor) => ({ digest: d.digest, artifactType: d.artifactType ?? null, size: d.size })),
      })),
      notImages: notImages.map((n) => ({
        ref: n.ref ?? null,
        digest: n.descriptor.digest,
        mediaType: n.descriptor.mediaType,
        size: n.descriptor.size,
        artifactType: n.artifactType ?? null,
        subject: n.subject ?? null,
        damaged: n.damaged ?? null,
      })),
    });
    return 0;
  }
  if (format.kind === 'template') {
    process.stdout.write(renderRows(format.template, imageListRows(images)));
    return 0;
  }
  process.stdout.write(`Store: ${storeDir(opts)}\n`);
  const notes = notImagesNotes(notImages);
  process.stderr.write(notes.warning);
  if (images.length === 0) {
    process.stdout.write(notImages.length ? `No images. ${notes.out}` : 'No images yet. Add some with: layerstore ingest IMAGE.tar\n');
    return 0;
  }
  // commander's --no-trunc sets trunc: false; on a terminal long refs are cut, elsewhere never.
  process.stdout.write(renderImageList(images, { truncate: opts.trunc === false ? false : process.stdout.isTTY ? true : undefined }));
  for (const img of images) {
    const refs = referrers.get(img.manifestDigest) as Descriptor[] | undefined;
    if (!refs?.length) continue;
    const what = refs.map((d) => `${printable(d.artifactType ?? d.mediaType)} ${shortDigest(d.digest)} (${humanBytes(d.size)})`).join(', ');
    process.stdout.write(`${img.refs[0] ?? shortDigest(img.manifestDigest)}: ${refs.length} attached (referrers): ${what}\n`);
  }
  process.stdout.write(untaggedLine(images));
  process.stdout.write(notes.out);
  const damaged = images.filter((i) => missing.get(i)!.length > 0);
  if (damaged.length) {
    const names = damaged.map((i) => i.refs[0] ?? i.manifestDigest);
    process.stderr.write(
      `layerstore: warning: ${damaged.length === 1 ? '1 image needs' : `${damaged.length} images need`} blobs missing from the store: ${names.join(', ')}; report and diff on ${damaged.length === 1 ? 'it' : 'them'} exit 3 (layerstore verify names the blobs; ingest the image again to restore them)\n`,
    );
  }
  return 0;
}
