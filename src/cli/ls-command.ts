import { loadImages } from '../analysis/load-images.js';
import { imageSizeBytes, renderImageList } from '../report/tables.js';
import { writeJson } from '../report/json.js';
import { platformString } from '../formats/types.js';
import { openForRead, storeDir, type GlobalOptions } from './context.js';

export async function lsCommand(opts: GlobalOptions & { json?: boolean }): Promise<number> {
  const store = await openForRead(opts);
  const images = store ? await loadImages(store) : [];
  if (opts.json) {
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
      })),
    });
    return 0;
  }
  process.stdout.write(`Store: ${storeDir(opts)}\n`);
  if (images.length === 0) {
    process.stdout.write('No images yet. Add some with: layerstore ingest IMAGE.tar\n');
    return 0;
  }
  process.stdout.write(renderImageList(images));
  return 0;
}
