import type { Store } from '../store/store.js';
import { MANIFEST_TYPES, MAX_JSON_BYTES, MT, type Descriptor } from '../formats/types.js';
import type { ImageInfo } from './load-images.js';

/**
 * The descriptor of a stored image picked by manifest digest or image ID, with the media type
 * the store itself gives it: its index.json entry's, else its manifest's own `mediaType`
 * (a Docker schema2 manifest always names itself), else OCI's (an OCI manifest may omit it).
 * Never assumed: a descriptor that misnames its document is what verify calls damage.
 */
export async function imageRoot(store: Store, img: ImageInfo): Promise<Descriptor> {
  const root = (await store.readIndex()).manifests.find((d) => d.digest === img.manifestDigest && MANIFEST_TYPES.has(d.mediaType));
  const mediaType = root?.mediaType ?? (await declaredType(store, img));
  return { mediaType, digest: img.manifestDigest, size: img.manifestSize };
}

async function declaredType(store: Store, img: ImageInfo): Promise<string> {
  const doc = (await store.blobs.readJson(img.manifestDigest, MAX_JSON_BYTES)) as { mediaType?: unknown };
  return typeof doc?.mediaType === 'string' && MANIFEST_TYPES.has(doc.mediaType) ? doc.mediaType : MT.ociManifest;
}
