import { LayerstoreError } from '../errors.js';
import { parseDigest, type Digest } from '../digest/digest.js';

/** OCI and Docker media types this tool reads and writes. */
export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

export const IMAGE_CONFIG_TYPES = new Set<string>([MT.ociConfig, MT.dockerConfig]);
export const INDEX_TYPES = new Set<string>([MT.ociIndex, MT.dockerManifestList]);
export const MANIFEST_TYPES = new Set<string>([MT.ociManifest, MT.dockerManifest]);

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_IMAGE_NAME = 'io.containerd.image.name';

/** Limit for any JSON document we parse (manifests, configs, index.json). */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
  artifactType?: string;
  urls?: string[];
}

export interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  subject?: Descriptor;
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  architecture?: string;
  os?: string;
  variant?: string;
  created?: string;
  rootfs: { type: string; diff_ids: Digest[] };
  history?: unknown[];
}

function invalid(what: string, why: string): LayerstoreError {
  return new LayerstoreError('E_MANIFEST_INVALID', `${what}: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function parseJson(bytes: Buffer, what: string, maxBytes = MAX_JSON_BYTES): unknown {
  if (bytes.length > maxBytes) throw new LayerstoreError('E_TOO_LARGE', `${what} is ${bytes.length} bytes, above the ${maxBytes}-byte limit`);
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    throw invalid(what, `malformed JSON (${(e as Error).message})`);
  }
}

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw invalid(what, 'annotations must be an object');
  for (const [k, x] of Object.entries(v)) if (typeof x !== 'string') throw invalid(what, `annotation ${k} must be a string`);
  return v as Record<string, string>;
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw invalid(what, 'descriptor must be an object');
  if (typeof v.mediaType !== 'string' || v.mediaType === '') throw invalid(what, 'descriptor has no mediaType');
  const size = v.size;
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw invalid(what, 'descriptor size must be a non-negative integer');
  let digest: Digest;
  try {
    digest = parseDigest(v.digest, `${what} digest`);
  } catch (e) {
    throw invalid(what, (e as Error).message);
  }
  const d: Descriptor = { mediaType: v.mediaType, digest, size };
  if (isObject(v.platform)) {
    const p = v.platform;
    if (typeof p.architecture === 'string' && typeof p.os === 'string') {
      d.platform = { architecture: p.architecture, os: p.os };
      if (typeof p.variant === 'string') d.platform.variant = p.variant;
      if (typeof p['os.version'] === 'string') d.platform['os.version'] = p['os.version'];
    }
  }
  const ann = stringMap(v.annotations, what);
  if (ann) d.annotations = ann;
  if (typeof v.artifactType === 'string') d.artifactType = v.artifactType;
  if (Array.isArray(v.urls)) d.urls = v.urls.filter((u): u is string => typeof u === 'string');
  return d;
}

export type DocumentKind = 'index' | 'manifest';

/** The kind of document a media type names: an index's, a manifest's, or neither (undefined). */
function kindOfType(mediaType: unknown): DocumentKind | undefined {
  if (typeof mediaType !== 'string') return undefined;
  return INDEX_TYPES.has(mediaType) ? 'index' : MANIFEST_TYPES.has(mediaType) ? 'manifest' : undefined;
}

/**
 * Whether a descriptor of this media type names a document (an image index or manifest). Only
 * those are read as JSON, at ingest and by every reader of the store; a blob under any other
 * type (a layer, a config) is stored as it is, and an index.json entry must be one of these.
 */
export function isDocumentType(mediaType: string): boolean {
  return kindOfType(mediaType) !== undefined;
}

/** What a JSON document looks like: an index, a manifest, or neither. */
export function kindOfDocument(v: unknown): DocumentKind | 'unknown' {
  if (!isObject(v)) return 'unknown';
  const typed = kindOfType(v.mediaType);
  if (typed) return typed;
  if ('manifests' in v) return 'index';
  if ('config' in v && 'layers' in v) return 'manifest';
  return 'unknown';
}

/** Fields that identify a manifest format (containers/image's ValidateUnambiguousManifestFormat), and those each kind may carry. */
const FORMAT_FIELDS = ['config', 'fsLayers', 'history', 'layers', 'manifests'] as const;
const OWN_FIELDS: Record<DocumentKind, readonly string[]> = { index: ['manifests'], manifest: ['config', 'layers'] };

/**
 * Why `doc` cannot be read as a `kind` document typed `mediaType` (by its descriptor or a
 * Content-Type; undefined when only guessed), or undefined when it can. As containers/image:
 * the document's own mediaType, when it has one, is that type, and it carries no other
 * kind's fields (a manifest sent as an index would otherwise be read as an empty index, its
 * config and layers never checked); an index lists its manifests.
 */
function disagreement(kind: DocumentKind, mediaType: string | undefined, doc: unknown): string | undefined {
  if (!isObject(doc)) return undefined; // parseIndex/parseManifest say what is wrong with it
  if (mediaType !== undefined && doc.mediaType !== undefined && doc.mediaType !== mediaType) {
    return `its descriptor says ${mediaType} but the document's mediaType is ${JSON.stringify(doc.mediaType)}`;
  }
  const foreign = FORMAT_FIELDS.filter((f) => doc[f] !== undefined && doc[f] !== null && !OWN_FIELDS[kind].includes(f));
  if (foreign.length > 0) return `read as ${kind === 'index' ? 'an index' : 'a manifest'}, it has ${foreign.join(' and ')}: ambiguous, refused`;
  if (kind === 'index' && !('manifests' in doc)) return 'read as an index, it has no manifests';
  return undefined;
}

/**
 * Why the document a descriptor typed `mediaType` names is not what that type says, or
 * undefined when it is (or the type names no document). For readers of the store, which
 * skip such a document (verify reports it) rather than fail on it.
 */
export function kindMismatch(mediaType: string, doc: unknown): string | undefined {
  const kind = kindOfType(mediaType);
  return kind && disagreement(kind, mediaType, doc);
}

/**
 * How to read a document a descriptor points at: as the descriptor's media type says when it
 * names an index or a manifest, else by the document's own content (kindOfDocument). Throws
 * E_MANIFEST_INVALID when the document disagrees with that kind (see disagreement).
 */
export function documentKind(mediaType: string, doc: unknown, what = 'document'): DocumentKind | 'unknown' {
  const typed = kindOfType(mediaType);
  const kind = typed ?? kindOfDocument(doc);
  if (kind === 'unknown') return kind;
  const why = disagreement(kind, typed ? mediaType : undefined, doc);
  if (why) throw invalid(what, why);
  return kind;
}

/** A container image (an image config and layers), as opposed to an artifact. */
export function isImageManifest(m: Manifest): boolean {
  return IMAGE_CONFIG_TYPES.has(m.config.mediaType) && m.layers.every((l) => isLayerMediaType(l.mediaType));
}

export function parseIndex(v: unknown, what: string): Index {
  if (!isObject(v)) throw invalid(what, 'must be a JSON object');
  if (v.schemaVersion !== 2) throw invalid(what, 'schemaVersion must be 2');
  // Docker 25 wrote "manifests": null (moby#47210); treat it as empty.
  const list = v.manifests === null || v.manifests === undefined ? [] : v.manifests;
  if (!Array.isArray(list)) throw invalid(what, 'manifests must be an array');
  const idx: Index = { schemaVersion: 2, manifests: list.map((m, i) => parseDescriptor(m, `${what} manifests[${i}]`)) };
  if (typeof v.mediaType === 'string') idx.mediaType = v.mediaType;
  const ann = stringMap(v.annotations, what);
  if (ann) idx.annotations = ann;
  return idx;
}

export function parseManifest(v: unknown, what: string): Manifest {
  if (!isObject(v)) throw invalid(what, 'must be a JSON object');
  if (v.schemaVersion !== 2) throw invalid(what, 'schemaVersion must be 2');
  const layersRaw = v.layers === null || v.layers === undefined ? [] : v.layers;
  if (!Array.isArray(layersRaw)) throw invalid(what, 'layers must be an array');
  const m: Manifest = {
    schemaVersion: 2,
    config: parseDescriptor(v.config, `${what} config`),
    layers: layersRaw.map((l, i) => parseDescriptor(l, `${what} layers[${i}]`)),
  };
  if (typeof v.mediaType === 'string') m.mediaType = v.mediaType;
  if (typeof v.artifactType === 'string') m.artifactType = v.artifactType;
  if (v.subject !== undefined) m.subject = parseDescriptor(v.subject, `${what} subject`);
  return m;
}

/** "os/architecture[/variant]", as docker and the OCI image index spell a platform. */
export function platformString(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** The platform an image config declares, when it names both its OS and architecture. */
export function configPlatform(config: ImageConfig): Platform | undefined {
  if (!config.architecture || !config.os) return undefined;
  return { architecture: config.architecture, os: config.os, ...(config.variant ? { variant: config.variant } : {}) };
}

export function parseImageConfig(v: unknown, what: string): ImageConfig {
  if (!isObject(v)) throw invalid(what, 'must be a JSON object');
  const rootfs = v.rootfs;
  if (!isObject(rootfs)) throw invalid(what, 'has no rootfs');
  const ids = rootfs.diff_ids === null || rootfs.diff_ids === undefined ? [] : rootfs.diff_ids;
  if (!Array.isArray(ids)) throw invalid(what, 'rootfs.diff_ids must be an array');
  const diffIds = ids.map((d, i) => {
    try {
      return parseDigest(d, `rootfs.diff_ids[${i}]`);
    } catch (e) {
      throw invalid(what, (e as Error).message);
    }
  });
  const c: ImageConfig = { rootfs: { type: typeof rootfs.type === 'string' ? rootfs.type : 'layers', diff_ids: diffIds } };
  if (typeof v.architecture === 'string') c.architecture = v.architecture;
  if (typeof v.os === 'string') c.os = v.os;
  if (typeof v.variant === 'string') c.variant = v.variant;
  if (typeof v.created === 'string') c.created = v.created;
  if (Array.isArray(v.history)) c.history = v.history;
  return c;
}

/** Media types of layers that hold a (possibly compressed) tar. */
export function isLayerMediaType(mt: string): boolean {
  return /^application\/vnd\.(oci\.image\.layer\.(nondistributable\.)?v1\.tar|docker\.image\.rootfs\.(foreign\.)?diff\.tar)/.test(mt);
}

/**
 * Media types of non-distributable layers (OCI `nondistributable`, Docker `foreign`): their
 * publishers ask registries not to hold them (descriptors name other `urls`), yet many do.
 */
export function isNonDistributable(mt: string): boolean {
  return /^application\/vnd\.(oci\.image\.layer\.nondistributable\.|docker\.image\.rootfs\.foreign\.)/.test(mt);
}

/** The OCI layer media type for what the bytes actually are. */
export function ociLayerMediaType(compression: 'none' | 'gzip' | 'zstd'): string {
  return compression === 'gzip' ? MT.ociLayerGzip : compression === 'zstd' ? MT.ociLayerZstd : MT.ociLayer;
}
