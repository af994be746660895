import { LayerstoreError, isLayerstoreError } from '../errors.js';
import { hexOf, type Digest } from '../digest/digest.js';
import type { SourceFile, SourceView } from './source.js';
import type { ImagePlan, PlannedImage } from './plan.js';
import {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  configPlatform,
  documentKind,
  isDocumentType,
  isImageManifest,
  parseImageConfig,
  parseIndex,
  parseManifest,
  platformString,
  type Descriptor,
  type ImageConfig,
  type Platform,
} from './types.js';
import { checkRef, familiar, fullyQualified, isValidRef, isValidTag, normalizeUserRef } from './ref-names.js';
import type { SourceReader } from './readers.js';
import { appendAll } from '../util/append.js';

/** An OCI image layout: a directory, an oci-archive, or a registry pull seen as one. */
export const ociLayoutReader: SourceReader = {
  name: 'oci-layout',
  detect: async (view) => (await view.has('index.json')) && (await view.has('oci-layout')),
  open: async (view, plan) => {
    await resolveOciLayout(view, plan);
    return 'oci-layout';
  },
};

/**
 * Reads an OCI image layout (a directory, an oci-archive, or the OCI half of a Docker 25+
 * save): index.json roots, nested indexes (multi-platform), image manifests, configs and
 * layers, each checked against its descriptor. Non-image manifests (artifacts, build
 * attestations) are stored but not analysed; index children absent from the input (Docker
 * saves only the platforms it has) are skipped with a note. An index.json entry must name an
 * image manifest or index: a ref on anything else would be unreadable to every command.
 */
export async function resolveOciLayout<F extends SourceFile>(view: SourceView<F>, plan: ImagePlan<F>): Promise<void> {
  const layout = await view.readJson('oci-layout', 'oci-layout');
  if (typeof layout !== 'object' || layout === null || typeof (layout as { imageLayoutVersion?: unknown }).imageLayoutVersion !== 'string') {
    throw new LayerstoreError('E_MANIFEST_INVALID', 'oci-layout has no imageLayoutVersion', { entry: 'oci-layout' });
  }
  const index = parseIndex(await view.readJson('index.json', 'index.json'), 'index.json');
  const walker = new LayoutWalker(view, plan);
  for (const [i, desc] of index.manifests.entries()) {
    const what = `index.json manifests[${i}]`;
    if (!isDocumentType(desc.mediaType)) {
      throw new LayerstoreError('E_MANIFEST_INVALID', `${what}: media type ${desc.mediaType} is not an image manifest's or index's`, { entry: 'index.json' });
    }
    const images = await walker.walk(desc, what, true);
    if (images === undefined) continue;
    const refs = rootRefs(desc, what, plan);
    const descriptor: Descriptor = { mediaType: desc.mediaType, digest: desc.digest, size: desc.size };
    if (desc.platform) descriptor.platform = desc.platform;
    if (refs.length === 0) plan.roots.push({ descriptor });
    for (const ref of refs) plan.roots.push({ descriptor, ref, fullName: fullyQualified(ref) });
    plan.claimRefs(refs, images);
  }
}

/**
 * The store ref for an index.json entry. A bare tag in ref.name ("latest", as Docker and
 * buildx write it) next to a full io.containerd.image.name is replaced by the familiar form
 * of that name ("acme/api:latest"), so two images tagged "latest" do not collide. A bare
 * name alone ("api-1.1", as skopeo and umoci write it) goes under the plan's
 * bareRefRepository ("api-layout:api-1.1"), which serve, push and _catalog can see.
 */
export function rootRefs(desc: Descriptor, what: string, plan: Pick<ImagePlan, 'bareRefRepository' | 'notes'>): string[] {
  const refName = desc.annotations?.[ANNOTATION_REF_NAME];
  const imageName = desc.annotations?.[ANNOTATION_IMAGE_NAME];
  const named = imageName && isValidRef(familiar(imageName)) ? familiar(imageName) : undefined;
  if (refName !== undefined && refName !== '') {
    checkRef(refName, `${what} ${ANNOTATION_REF_NAME}`);
    const bare = !refName.includes('/') && !refName.includes(':');
    if (named && bare) return [named];
    if (bare) return [underRepository(refName, plan)];
    return [dockerStyle(refName, plan)];
  }
  return named ? [named] : [];
}

/**
 * A ref name with a repository ("docker.io/library/busybox:latest", "corp/app", as skopeo's
 * oci:DIR:NAME writes it) in the familiar form with its default tag, as a docker save's
 * RepoTags and a user's typed ref are kept: one image name is one store ref whatever the input
 * format ("busybox:latest", "corp/app:latest"). One that is not a Docker-style name stays as it is.
 */
function dockerStyle(refName: string, plan: Pick<ImagePlan, 'notes'>): string {
  try {
    return normalizeUserRef(refName, 'ref');
  } catch {
    plan.notes.push(
      `ref ${refName} is not a Docker-style name (lowercase [registry/]repository[:tag]), so it is stored as it is; layerstore tag gives it a servable name`,
    );
    return refName;
  }
}

/** A bare ref name as REPOSITORY:NAME when there is a repository and NAME is a valid tag; else as it is, with a note why. */
function underRepository(refName: string, plan: Pick<ImagePlan, 'bareRefRepository' | 'notes'>): string {
  const where = plan.bareRefRepository;
  if (!where) {
    plan.notes.push(
      `ref ${refName} has no repository, so serve, push and _catalog do not see it; ingest again with --repo NAME to store it as NAME:${refName}`,
    );
    return refName;
  }
  if (!isValidTag(refName)) {
    plan.notes.push(`ref ${refName} is not a valid tag (letters, digits, _ . -), so it is stored as it is; layerstore tag gives it a servable name`);
    return refName;
  }
  const ref = `${where.repository}:${refName}`;
  const choose = where.from === '--repo' ? 'from --repo' : "from the input's name; --repo NAME picks another";
  plan.notes.push(`ref ${refName} (a bare OCI ref name) stored as ${ref} (repository ${where.repository}, ${choose})`);
  return ref;
}

/** Why a config cannot describe `layers` layers (undefined when it can): one diff_id per layer. */
export function diffIdCountProblem(layers: number, config: ImageConfig): string | undefined {
  const n = config.rootfs.diff_ids.length;
  return n === layers ? undefined : `the manifest lists ${layers} layers but its config has ${n} diff_ids`;
}

/**
 * Why an image config disagrees with the layers it describes (undefined when it agrees), by
 * the checks this reader makes of an image: not an image config, another number of diff_ids
 * than layers (diffIdCountProblem), or a layer whose bytes do not decompress to its diff_id
 * (ImagePlan.checkDiffId). For a registry push, which keeps such an image as unverified
 * instead of refusing it.
 */
export function imageDisagreement(plan: ImagePlan<SourceFile>, configDoc: unknown, layers: SourceFile[]): string | undefined {
  try {
    const cfg = parseImageConfig(configDoc, 'config');
    const countProblem = diffIdCountProblem(layers.length, cfg);
    if (countProblem) return countProblem;
    for (const [i, f] of layers.entries()) plan.checkDiffId(f, cfg.rootfs.diff_ids[i]!, `layer ${i}`);
    return undefined;
  } catch (e) {
    if (isLayerstoreError(e)) return e.message;
    throw e;
  }
}

/**
 * The name a layout gives the blob a descriptor names: an OCI layout's `blobs/sha256/<hex>`;
 * skopeo's dir: has its own (dir-transport.ts). The walk is the same, and so are its checks.
 */
export type BlobName = (desc: Pick<Descriptor, 'digest' | 'mediaType'>) => string;

const ociBlobName: BlobName = (desc) => `blobs/sha256/${hexOf(desc.digest)}`;

/** Walks an image layout down from a root descriptor: indexes, manifests, configs and layers, each checked against its descriptor. */
export class LayoutWalker<F extends SourceFile> {
  /**
   * Images found under each descriptor already walked, by "<mediaType> <digest>" (the type
   * decides how the blob is read, so the same blob under another type is checked again);
   * `null` while a walk is in progress (cycles).
   */
  private readonly seen = new Map<string, PlannedImage[] | null>();

  constructor(
    private readonly view: SourceView<F>,
    private readonly plan: ImagePlan<F>,
    private readonly nameOf: BlobName = ociBlobName,
  ) {}

  /** Returns the images under `desc`, or undefined when it is absent and may be skipped. */
  async walk(desc: Descriptor, what: string, top: boolean): Promise<PlannedImage[] | undefined> {
    const key = `${desc.mediaType} ${desc.digest}`;
    const prior = this.seen.get(key);
    if (prior !== undefined) return prior ?? [];
    const name = this.nameOf(desc);
    if (!(await this.view.has(name))) {
      if (top) throw new LayerstoreError('E_BLOB_MISSING', `${what} names ${desc.digest}, which is not in the input`, { entry: name });
      this.plan.notes.push(`${desc.digest}${desc.platform ? ` (${platformString(desc.platform)})` : ''} is listed by an index but not in the input; skipped`);
      return undefined;
    }
    this.seen.set(key, null);
    // A document's size is checked from the header before a byte is copied (json: true).
    const file = await this.view.file(name, what, { json: isDocumentType(desc.mediaType) });
    let images: PlannedImage[] | undefined;
    if (!isDocumentType(desc.mediaType)) {
      // Only an index's or a manifest's type names a document, here as for every reader of
      // the store; anything else an index lists (a layer, say) is stored as it is.
      this.plan.useBlob(file, desc, what);
      this.plan.notes.push(`${desc.digest} (${desc.mediaType}) is not an image manifest or index; stored, not analysed`);
      images = [];
    } else {
      const doc = await this.view.readJson(name, what);
      const kind = documentKind(desc.mediaType, doc, what);
      this.plan.useBlob(file, desc, what);
      if (kind === 'index') {
        const idx = parseIndex(doc, what);
        images = [];
        for (const [j, child] of idx.manifests.entries()) {
          const found = await this.walk(child, `${what} > manifests[${j}]`, false);
          if (found) appendAll(images, found);
        }
      } else {
        images = await this.manifest(desc, parseManifest(doc, what), what);
      }
    }
    this.seen.set(key, images ?? []);
    return images;
  }

  private async manifest(desc: Descriptor, m: Parameters<typeof isImageManifest>[0], what: string): Promise<PlannedImage[] | undefined> {
    if (!isImageManifest(m)) {
      // An artifact (SBOM, signature, attestation): keep its blobs when all are present.
      const blobs = [m.config, ...m.layers];
      for (const b of blobs) {
        if (!(await this.view.has(this.nameOf(b)))) {
          this.plan.blobs.delete(desc.digest);
          this.plan.notes.push(`artifact ${desc.digest} lacks blob ${b.digest} in the input; skipped`);
          return undefined;
        }
      }
      for (const [k, b] of blobs.entries()) this.plan.useBlob(await this.view.file(this.nameOf(b), `${what} blob ${k}`), b, `${what} blob ${k}`);
      this.plan.artifacts.push({ digest: desc.digest, type: m.artifactType ?? m.config.mediaType });
      return [];
    }
    const configFile = await this.view.file(this.nameOf(m.config), `${what} config`, { json: true });
    const configDigest = this.plan.useBlob(configFile, m.config, `${what} config`);
    const config = parseImageConfig(await this.view.readJson(configFile.name, `${what} config`), `config ${m.config.digest}`);
    const countProblem = diffIdCountProblem(m.layers.length, config);
    if (countProblem) throw new LayerstoreError('E_MANIFEST_INVALID', `${what}: ${countProblem}`, { entry: this.nameOf(desc) });
    const layers: Digest[] = [];
    this.view.prefetch(m.layers.map((l, i) => ({ name: this.nameOf(l), why: `${what} layer ${i}` })));
    for (const [i, l] of m.layers.entries()) {
      const lw = `${what} layer ${i}`;
      const f = await this.view.file(this.nameOf(l), lw);
      layers.push(this.plan.useBlob(f, l, lw));
      this.plan.checkDiffId(f, config.rootfs.diff_ids[i]!, lw);
    }
    const platform: Platform | undefined = desc.platform ?? configPlatform(config);
    const img: PlannedImage = { manifestDigest: desc.digest, configDigest, layers, refs: [], ...(platform ? { platform } : {}) };
    this.plan.addImage(img);
    return [this.plan.images.find((x) => x.manifestDigest === desc.digest)!];
  }
}
