import { LayerstoreError } from '../errors.js';
import { hexOf, type Digest } from '../digest/digest.js';
import { sha256Of } from '../digest/hasher.js';
import type { SourceFile, SourceView } from './source.js';
import type { ImagePlan } from './plan.js';
import { LayoutWalker, type BlobName } from './oci.js';
import type { SourceReader } from './readers.js';
import { MT, isDocumentType, kindOfDocument, type Descriptor } from './types.js';

/**
 * containers/image's "dir" transport: `skopeo copy ... dir:D`, `podman save --format
 * docker-dir` or `oci-dir`. A `version` file, `manifest.json` (one image's manifest, or with
 * `--all` the index, its manifests beside it as `<hex>.manifest.json`) and every other blob
 * named by its bare hex digest. A docker save has manifest.json too, never a top-level `version`.
 */
export const dirTransportReader: SourceReader = {
  name: 'dir',
  detect: async (view) => (await view.has('version')) && (await view.has('manifest.json')),
  open: async (view, plan) => {
    await resolveDirTransport(view, plan);
    return 'dir';
  },
};

/** The text of the version file of the layout read here (1.0 named blobs `<hex>.tar`). */
const VERSION = 'Directory Transport Version: 1.1\n';
const VERSION_DIGEST = sha256Of(Buffer.from(VERSION));

/** Where the dir transport keeps what `desc` names: the top document is manifest.json. */
function dirBlobName(top: Digest): BlobName {
  return (desc) => {
    if (!isDocumentType(desc.mediaType)) return hexOf(desc.digest);
    return desc.digest === top ? 'manifest.json' : `${hexOf(desc.digest)}.manifest.json`;
  };
}

/**
 * Read a dir transport directory: its one root (an image, or an index with --all) walked as an
 * OCI layout's, every blob checked against the digest and size its descriptor gives. The
 * format carries no image name: the root is stored untagged unless ingest --tag names it.
 */
export async function resolveDirTransport<F extends SourceFile>(view: SourceView<F>, plan: ImagePlan<F>): Promise<void> {
  // The view hands out files, not text; the version's text is fixed, so its digest says which it is.
  // Held to the small-document cap by its size before a byte is staged (a 50 GB `version` was copied whole).
  const version = await view.file('version', 'version', { json: true });
  if (version.blob.digest !== VERSION_DIGEST) {
    throw new LayerstoreError('E_UNSUPPORTED', `a dir: directory (containers/image) whose version file does not say ${JSON.stringify(VERSION.trim())}`, {
      entry: 'version',
      hint: 'copy it to an OCI layout with the skopeo that wrote it: skopeo copy dir:DIR oci:LAYOUT',
    });
  }
  const top = await view.file('manifest.json', 'manifest.json', { json: true });
  const descriptor: Descriptor = {
    mediaType: topMediaType(await view.readJson('manifest.json', 'manifest.json')),
    digest: top.blob.digest,
    size: top.blob.size,
  };
  await new LayoutWalker(view, plan, dirBlobName(top.blob.digest)).walk(descriptor, 'manifest.json', true);
  plan.roots.push({ descriptor });
  plan.namelessNote = 'a dir: directory carries no image name, so its image is stored untagged; ingest --tag REPO[:TAG] names it';
}

/** The media type manifest.json is read as: its own, else an index's or a manifest's by its fields. */
function topMediaType(doc: unknown): string {
  const o = typeof doc === 'object' && doc !== null && !Array.isArray(doc) ? (doc as Record<string, unknown>) : undefined;
  if (o?.schemaVersion === 1) {
    throw new LayerstoreError('E_UNSUPPORTED', 'manifest.json is a Docker schema 1 manifest, which names no image config', {
      entry: 'manifest.json',
      hint: 'convert it: skopeo copy --format oci dir:DIR oci:LAYOUT',
    });
  }
  if (typeof o?.mediaType === 'string') {
    if (isDocumentType(o.mediaType)) return o.mediaType;
    throw new LayerstoreError('E_MANIFEST_INVALID', `manifest.json: media type ${o.mediaType} is not an image manifest's or index's`, {
      entry: 'manifest.json',
    });
  }
  const kind = kindOfDocument(doc);
  if (kind === 'unknown')
    throw new LayerstoreError('E_MANIFEST_INVALID', 'manifest.json is neither an image manifest nor an index', { entry: 'manifest.json' });
  return kind === 'index' ? MT.ociIndex : MT.ociManifest;
}
