import { LayerstoreError, isLayerstoreError } from '../errors.js';
import type { Digest } from '../digest/digest.js';
import { claimedDigest, type SourceFile, type SourceView } from './source.js';
import { ImagePlan, type PlannedImage } from './plan.js';
import { resolveOciLayout } from './oci.js';
import type { SourceReader } from './readers.js';
import { checkRef, familiar, fullyQualified, repositoryOf } from './ref-names.js';
import { MT, configPlatform, ociLayerMediaType, parseImageConfig, type Descriptor } from './types.js';
import { normalizeEntryName } from '../archive/entry-name.js';
import { sha256Of as sha256 } from '../digest/hasher.js';
import { appendAll } from '../util/append.js';

/** A docker save (manifest.json), and Docker 25+ saves that also hold an OCI layout. */
export const dockerSaveReader: SourceReader = {
  name: 'docker-save',
  detect: (view) => view.has('manifest.json'),
  open: async (view, plan) => {
    await resolveDockerArchive(view, plan);
    return (await view.has('index.json')) && (await view.has('oci-layout')) ? 'docker-save-oci' : 'docker-save';
  },
};

interface SaveItem {
  config: string;
  layers: string[];
  repoTags: string[];
}

/**
 * Reads a `docker save` archive: legacy (manifest.json, <v1id>/layer.tar, symlinked shared
 * layers), skopeo/podman hybrids, ggcr/kaniko tarballs (gzip layers, config named
 * "sha256:<hex>"), and Docker 25+ saves that also carry an OCI layout. For the latter the
 * OCI view supplies the exact manifest bytes and both views must agree; when the OCI view
 * is unusable (moby#47210 null manifests, moby#47065 empty layers) manifest.json is used.
 * A legacy image has no manifest blob: we write a deterministic OCI manifest that depends
 * only on the config bytes and the layer blobs.
 */
export async function resolveDockerArchive<F extends SourceFile>(view: SourceView<F>, plan: ImagePlan<F>): Promise<void> {
  const raw = await view.readJson('manifest.json', 'manifest.json');
  const hasOci = (await view.has('index.json')) && (await view.has('oci-layout'));
  // An empty manifest.json beside an OCI layout (layerstore export of artifacts only: nothing
  // docker load could load) leaves the layout as the whole archive, as without manifest.json.
  if (hasOci && Array.isArray(raw) && raw.length === 0) return resolveOciLayout(view, plan);
  const items = parseSaveManifest(raw);
  const oci = hasOci ? await tryOciView(view, plan) : undefined;
  let usedOci = false;
  for (const [i, item] of items.entries()) {
    const what = `manifest.json[${i}]`;
    const configFile = await view.file(item.config, `${what} Config`, { json: true });
    const configDigest = plan.useBlob(configFile, claimOf(configFile), `${what} Config`);
    const config = parseImageConfig(await view.readJson(item.config, `${what} Config`), `${what} Config ${item.config}`);
    if (config.rootfs.diff_ids.length !== item.layers.length) {
      throw new LayerstoreError(
        'E_MANIFEST_INVALID',
        `${what} lists ${item.layers.length} layers but its config has ${config.rootfs.diff_ids.length} diff_ids`,
        {
          entry: 'manifest.json',
        },
      );
    }
    const layerFiles: F[] = [];
    // The diff_ids name the uncompressed layers: a view may take a stored one for its entry.
    const diffIds = config.rootfs.diff_ids;
    view.prefetch(item.layers.map((name, j) => ({ name, why: `${what} Layers[${j}]`, diffId: diffIds[j] })));
    for (const [j, name] of item.layers.entries()) {
      const lw = `${what} Layers[${j}]`;
      const f = await view.file(name, lw, { diffId: diffIds[j] });
      plan.useBlob(f, claimOf(f), lw);
      plan.checkDiffId(f, config.rootfs.diff_ids[j]!, lw);
      layerFiles.push(f);
    }
    const layers = layerFiles.map((f) => f.blob.digest);
    const refs = item.repoTags.map((t) => withDefaultTag(familiar(checkRef(t, `${what} RepoTags`))));

    const fromOci = oci?.images.find((img) => img.configDigest === configDigest);
    if (fromOci && sameList(fromOci.layers, layers)) {
      for (const r of refs) if (!fromOci.refs.includes(r)) fromOci.refs.push(r);
      usedOci = true;
      continue;
    }
    if (fromOci && fromOci.layers.length > 0) {
      throw new LayerstoreError('E_MANIFEST_INVALID', `manifest.json and index.json disagree about the layers of image ${configDigest}`, {
        entry: 'manifest.json',
      });
    }
    const manifest = synthesizeManifest(configFile, layerFiles);
    const manifestDesc: Descriptor = { mediaType: MT.ociManifest, digest: manifest.digest, size: manifest.bytes.length };
    plan.synthesized.set(manifest.digest, manifest.bytes);
    const img: PlannedImage = { manifestDigest: manifest.digest, configDigest, layers, refs: [] };
    const platform = configPlatform(config);
    if (platform) img.platform = platform;
    plan.addImage(img);
    // The image added (or the same one listed before, which then holds these refs too).
    const added = plan.images.find((i) => i.manifestDigest === manifest.digest)!;
    plan.claimRefs(refs, [added]);
    if (refs.length === 0) plan.roots.push({ descriptor: manifestDesc });
    for (const ref of refs) plan.roots.push({ descriptor: manifestDesc, ref, fullName: fullyQualified(ref) });
  }
  if (oci && usedOci) mergeOciPlan(oci, plan);
}

/** The OCI half of a Docker 25+ save, or undefined when it is one of Docker's broken shapes. */
async function tryOciView<F extends SourceFile>(view: SourceView<F>, plan: ImagePlan<F>): Promise<ImagePlan<F> | undefined> {
  const oci = new ImagePlan<F>();
  oci.bareRefRepository = plan.bareRefRepository;
  try {
    await resolveOciLayout(view, oci);
  } catch (e) {
    if (isLayerstoreError(e) && (e.code === 'E_MANIFEST_INVALID' || e.code === 'E_BLOB_MISSING')) {
      plan.notes.push(`the archive's index.json is unusable (${e.message}); using manifest.json`);
      return undefined;
    }
    throw e;
  }
  if (oci.images.length === 0) plan.notes.push("the archive's index.json lists no images (moby#47210?); using manifest.json");
  return oci;
}

/** Take the OCI view's blobs, images and roots; refs gathered from manifest.json go to the roots holding those images. */
function mergeOciPlan<F extends SourceFile>(oci: ImagePlan<F>, plan: ImagePlan<F>): void {
  for (const [d, f] of oci.blobs) plan.blobs.set(d, f);
  appendAll(plan.notes, oci.notes);
  appendAll(plan.artifacts, oci.artifacts);
  for (const img of oci.images) plan.addImage(img);
  const seen = new Set<string>();
  for (const root of oci.roots) {
    const key = `${root.descriptor.digest} ${root.ref ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    plan.roots.push(root);
  }
  for (const img of oci.images) {
    for (const ref of img.refs) {
      if (plan.roots.some((r) => r.ref === ref)) continue;
      const root = oci.roots.find((r) => r.descriptor.digest === img.manifestDigest) ?? oci.roots.find((r) => r.descriptor.mediaType !== MT.ociManifest);
      const descriptor = root?.descriptor ?? { mediaType: MT.ociManifest, digest: img.manifestDigest, size: oci.blobs.get(img.manifestDigest)?.blob.size ?? 0 };
      plan.roots.push({ descriptor, ref, fullName: fullyQualified(ref) });
    }
  }
  // Drop ref-less roots for digests that now have a ref.
  for (let i = plan.roots.length - 1; i >= 0; i--) {
    const r = plan.roots[i]!;
    if (!r.ref && plan.roots.some((o) => o.ref && o.descriptor.digest === r.descriptor.digest)) plan.roots.splice(i, 1);
  }
}

/** docker load tags "name" as "name:latest"; so do we. */
function withDefaultTag(ref: string): string {
  return repositoryOf(ref) === undefined && !ref.includes('@') && fullyQualified(`${ref}:latest`) ? `${ref}:latest` : ref;
}

function claimOf(f: SourceFile): Pick<Descriptor, 'digest' | 'size'> | undefined {
  // A "blobs/sha256/<hex>" name is a claim about the content; legacy "<hex>.json" names are not
  // (hand-edited configs keep their old names), so those are content-addressed by hashing.
  const d = claimedDigest(f.name);
  return d ? { digest: d, size: f.blob.size } : undefined;
}

function sameList(a: Digest[], b: Digest[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function parseSaveManifest(raw: unknown): SaveItem[] {
  const bad = (why: string) => new LayerstoreError('E_MANIFEST_INVALID', `manifest.json ${why}`, { entry: 'manifest.json' });
  if (raw === null) throw bad('is null');
  if (!Array.isArray(raw)) throw bad('must be a JSON array of images');
  if (raw.length === 0) throw bad('lists no images');
  return raw.map((item, i) => {
    if (typeof item !== 'object' || item === null) throw bad(`[${i}] must be an object`);
    const o = item as Record<string, unknown>;
    if (typeof o.Config !== 'string' || o.Config === '') throw bad(`[${i}] has no Config`);
    const layers = o.Layers === null || o.Layers === undefined ? [] : o.Layers;
    if (!Array.isArray(layers) || !layers.every((l): l is string => typeof l === 'string')) throw bad(`[${i}].Layers must be an array of names`);
    const tags = o.RepoTags === null || o.RepoTags === undefined ? [] : o.RepoTags;
    if (!Array.isArray(tags) || !tags.every((t): t is string => typeof t === 'string')) throw bad(`[${i}].RepoTags must be an array of strings or null`);
    // Names are archive keys: refuse absolute and escaping ones here, before any lookup.
    return { config: normalizeEntryName(o.Config), layers: layers.map((l) => normalizeEntryName(l)), repoTags: tags };
  });
}

/**
 * The OCI manifest for a legacy image: canonical JSON (fixed key order, no whitespace)
 * from the config blob and the layer blobs only, so the same image always gets the same
 * manifest digest, whatever archive, path or tag it came with. Layer media types follow
 * the sniffed compression, and the config type is OCI's: skopeo and umoci refuse a Docker
 * config type inside an OCI manifest.
 */
export function synthesizeManifest(config: SourceFile, layers: SourceFile[]): { digest: Digest; bytes: Buffer } {
  const doc = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: config.blob.digest, size: config.blob.size },
    layers: layers.map((l) => ({ mediaType: ociLayerMediaType(l.compression), digest: l.blob.digest, size: l.blob.size })),
  };
  const bytes = Buffer.from(JSON.stringify(doc));
  return { digest: sha256(bytes), bytes };
}
