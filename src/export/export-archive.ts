import { LayerstoreError } from '../errors.js';
import { hexOf, type Digest } from '../digest/digest.js';
import { createHasher } from '../digest/hasher.js';
import { fullyQualified, normalizeUserRef } from '../formats/ref-names.js';
import {
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_REF_NAME,
  INDEX_TYPES,
  MANIFEST_TYPES,
  MAX_JSON_BYTES,
  MT,
  documentKind,
  isImageManifest,
  parseIndex,
  parseManifest,
  type Descriptor,
} from '../formats/types.js';
import type { Store } from '../store/store.js';
import { resolveOutputTarget } from './output-target.js';
import { TarWriter } from '../archive/tar-writer.js';
import { ExportPins } from './pins.js';

/** A root to export: a descriptor from the store and the ref it goes out under (if any). */
export interface ExportRoot {
  descriptor: Descriptor;
  ref?: string;
}

export interface ExportResult {
  /** The path written, or "standard output". */
  file: string;
  /** The tarball went to stdout, so messages must not. */
  toStdout: boolean;
  images: number;
  /** Manifest digests of the images written. */
  manifests: Digest[];
  blobs: number;
  bytes: number;
}

interface ImageEntry {
  config: Digest;
  layers: Digest[];
  repoTags: string[];
  platform?: string;
}

const MTIME = 0;

/**
 * Write a tarball in the Docker 25+ `docker save` shape: an OCI image layout (oci-layout,
 * index.json, blobs/sha256/*) plus a manifest.json whose Config/Layers point into blobs/,
 * so both `docker load` (old and new) and OCI tools read it. Blobs shared by several refs
 * are written once. Each blob is streamed from the store and re-hashed on the way, so a
 * damaged store cannot produce a damaged archive. Where it goes is output-target.ts's
 * decision (a file appears only when complete; devices and FIFOs are written in place).
 */
export async function exportArchive(store: Store, roots: ExportRoot[], outFile: string): Promise<ExportResult> {
  // Every blob is held from the walk that finds it to the end, so an rm + gc meanwhile cannot
  // take what the tarball still needs (pins.ts).
  const pins = new ExportPins(store);
  try {
    return await exportHeld(store, pins, roots, outFile);
  } finally {
    await pins.release();
  }
}

async function exportHeld(store: Store, pins: ExportPins, roots: ExportRoot[], outFile: string): Promise<ExportResult> {
  const blobs = new Map<Digest, number>(); // digest -> size, in first-seen order
  const images = new Map<Digest, ImageEntry>(); // by manifest digest
  // A stored document that is not what its descriptor says is damage to the store (exit 3, as
  // verify reports it), not a bad input.
  const walk = async (d: Descriptor, tags: string[], isRoot: boolean): Promise<void> => {
    try {
      await walkDoc(d, tags, isRoot);
    } catch (e) {
      if (!(e instanceof LayerstoreError) || e.code !== 'E_MANIFEST_INVALID') throw e;
      throw new LayerstoreError('E_STORE_INVALID', `stored document ${d.digest} is damaged: ${e.message}`, { hint: 'run layerstore verify' });
    }
  };
  const walkDoc = async (d: Descriptor, tags: string[], isRoot: boolean): Promise<void> => {
    const present = await pins.hold(d.digest);
    if (!present) {
      if (isRoot || !(INDEX_TYPES.has(d.mediaType) || MANIFEST_TYPES.has(d.mediaType))) {
        throw new LayerstoreError('E_STORE_INVALID', `blob ${d.digest} is missing from the store`, { hint: 'run layerstore verify' });
      }
      return; // a platform the store never had
    }
    if (!blobs.has(d.digest)) blobs.set(d.digest, d.size);
    if (!(INDEX_TYPES.has(d.mediaType) || MANIFEST_TYPES.has(d.mediaType) || isRoot)) return;
    const doc = await pins.readJson(d.digest, MAX_JSON_BYTES);
    const kind = documentKind(d.mediaType, doc);
    if (kind === 'index') {
      const idx = parseIndex(doc, d.digest);
      // docker load tags one image per tag: the host's platform if stored, else the first
      // stored image (never an attestation, whose platform is unknown/unknown). Only stored
      // children count: a tag given to a platform the store never had would be lost.
      const host = process.arch === 'x64' ? 'amd64' : process.arch;
      const platforms: Descriptor[] = [];
      for (const m of idx.manifests) if (!isAttestation(m) && (await pins.hold(m.digest))) platforms.push(m);
      const pick = platforms.find((m) => m.platform?.architecture === host && m.platform.os === 'linux') ?? platforms[0];
      for (const child of idx.manifests) await walk(child, child === pick ? tags : [], false);
      return;
    }
    if (kind !== 'manifest') return;
    const m = parseManifest(doc, d.digest);
    for (const b of [m.config, ...m.layers]) {
      if (!(await pins.hold(b.digest)))
        throw new LayerstoreError('E_STORE_INVALID', `blob ${b.digest} is missing from the store`, { hint: 'run layerstore verify' });
      if (!blobs.has(b.digest)) blobs.set(b.digest, b.size);
    }
    // manifest.json lists what docker load can load: images, not attestations or other artifacts
    // (they stay in the OCI part, index.json and blobs/, for OCI tools).
    if (isAttestation(d) || !isImageManifest(m)) return;
    const entry = images.get(d.digest) ?? { config: m.config.digest, layers: m.layers.map((l) => l.digest), repoTags: [] };
    for (const t of tags) if (!entry.repoTags.includes(t)) entry.repoTags.push(t);
    images.set(d.digest, entry);
  };
  for (const r of roots) {
    // RepoTags are what docker would call the ref: "acme/api:1.0" as it is, a bare OCI ref
    // name such as "v1" as docker reads it ("v1:latest"); anything docker cannot name, none.
    const tags = r.ref ? dockerName(r.ref) : [];
    await walk(r.descriptor, tags, true);
  }

  const index = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: roots.map((r) => {
      const d: Descriptor = { mediaType: r.descriptor.mediaType, digest: r.descriptor.digest, size: r.descriptor.size };
      if (r.ref) {
        d.annotations = { [ANNOTATION_REF_NAME]: r.ref };
        const full = fullyQualified(r.ref);
        if (full) d.annotations[ANNOTATION_IMAGE_NAME] = full;
      }
      return d;
    }),
  };
  const manifestJson = [...images.values()].map((i) => ({
    Config: `blobs/sha256/${hexOf(i.config)}`,
    RepoTags: i.repoTags.length ? i.repoTags : null,
    Layers: i.layers.map((l) => `blobs/sha256/${hexOf(l)}`),
  }));

  const target = await resolveOutputTarget(outFile, store.root);
  const out = await target.open();
  // A failed write reaches the export through that write's callback (TarWriter rejects, the
  // catch below aborts the target); the 'error' event the stream emits as well would, with
  // no listener, end the process with a stack trace and leave the temp file behind.
  out.on('error', () => {});
  const tar = new TarWriter(out, MTIME);
  let bytes = 0;
  try {
    await tar.directory('blobs');
    await tar.directory('blobs/sha256');
    for (const [digest, size] of blobs) {
      await writeBlob(pins, tar, digest, size);
      bytes += size;
    }
    await tar.file('oci-layout', ...sized(Buffer.from('{"imageLayoutVersion":"1.0.0"}')));
    await tar.file('index.json', ...sized(Buffer.from(JSON.stringify(index))));
    await tar.file('manifest.json', ...sized(Buffer.from(JSON.stringify(manifestJson))));
    await tar.finish();
    await target.commit();
  } catch (e) {
    out.destroy();
    await target.abort();
    throw e;
  }
  return { file: target.name, toStdout: target.toStdout, images: images.size, manifests: [...images.keys()], blobs: blobs.size, bytes };
}

function sized(b: Buffer): [number, Buffer] {
  return [b.length, b];
}

/**
 * One blob into the tarball, read into reused buffers (fileChunks) and hashed on the way: a
 * blob that is not `size` bytes or does not hash to its name fails the export, so a damaged
 * store cannot produce a damaged archive.
 */
async function writeBlob(pins: ExportPins, tar: TarWriter, digest: Digest, size: number): Promise<void> {
  const damaged = (why: string) =>
    new LayerstoreError('E_STORE_INVALID', `stored blob ${digest} is damaged (${why})`, {
      hint: 'run layerstore verify --fix, then ingest its source again',
    });
  const h = createHasher();
  async function* hashed(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of pins.chunks(digest, size)) {
        h.update(chunk);
        yield chunk;
      }
    } catch (e) {
      // Shorter than its size while read (fs-safe's E_IO): the store's blob is damaged. Only
      // the reading is caught here: a failed write of the tarball (ENOSPC) is the output's
      // E_IO, thrown where tar.file writes, and never blames the blob.
      if (e instanceof LayerstoreError && e.code === 'E_IO') throw damaged(e.message);
      throw e;
    }
  }
  await tar.file(`blobs/sha256/${hexOf(digest)}`, size, hashed());
  const actual = h.digest();
  if (actual !== digest) throw damaged(`its bytes hash to ${actual}`);
}

/** The RepoTag docker load would give `ref`, if docker can name it at all. */
function dockerName(ref: string): string[] {
  try {
    const name = normalizeUserRef(ref, 'ref');
    return name.includes('@') ? [] : [name];
  } catch {
    return [];
  }
}

/** buildx's attestation manifests: platform unknown/unknown (and a reference-type annotation). */
function isAttestation(d: Descriptor): boolean {
  return (d.platform?.os === 'unknown' && d.platform.architecture === 'unknown') || d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest';
}
