import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { LayerstoreError } from '../errors.js';
import { ANNOTATION_IMAGE_NAME, ANNOTATION_REF_NAME, MT } from '../formats/types.js';
import { familiar } from '../formats/ref-names.js';
import { findImages, layerChain, readBigData, readStorageDb, type StorageDb, type StorageImage, type StorageLayer } from './storage-images.js';
import { locateStore, parseStorageRef, type StorageLocation, type StorageOptions } from './storage-location.js';
import { rebuildLayerTar } from './tar-split.js';

export { CONTAINERS_STORAGE, isContainersStorageRef, type StorageOptions } from './storage-location.js';

/** One image as it goes out: its config and manifest bytes, its layers bottom first, its names. */
interface OutImage {
  img: StorageImage;
  /** The names it goes out with (FoundImage.names). */
  names: string[];
  config: Buffer;
  manifest: Buffer;
  layers: StorageLayer[];
}

/**
 * The images `containers-storage:...` names, read in place from podman's store (no service,
 * no podman process) and streamed as an OCI archive for ingestStream: each image's config as
 * stored, its manifest as stored when that lists the uncompressed layers (so the manifest
 * digest is podman's), else a new OCI manifest of them (as `podman save --format oci-archive`
 * writes); each layer's tar rebuilt byte for byte from its tar-split and its files. The
 * archive names each layer by the diff digest layers.json records, so the ingest's own hash
 * check refuses a layer whose files changed: nothing is committed and the error names it.
 */
export async function exportFromContainersStorage(arg: string, opts: StorageOptions): Promise<Readable> {
  const { spec, image } = parseStorageRef(arg);
  const loc = locateStore(spec, opts);
  if (!['vfs', 'overlay'].includes(loc.driver)) {
    throw new LayerstoreError('E_UNSUPPORTED', `containers-storage with the ${loc.driver} driver is not read in place (vfs and overlay are)`, {
      hint: `podman --root ${loc.graphroot} save --format oci-archive NAME | layerstore ingest -`,
    });
  }
  const db = await readStorageDb(loc);
  const found = findImages(db, image);
  if (found.length === 0) {
    throw new LayerstoreError(
      'E_REF_NOT_FOUND',
      image
        ? `the containers-storage store at ${loc.graphroot} (${loc.driver}) has no image ${image}`
        : `the containers-storage store at ${loc.graphroot} (${loc.driver}) has no images`,
      {
        hint: `podman --root ${loc.graphroot} --storage-driver ${loc.driver} images lists what it has`,
      },
    );
  }
  const out: OutImage[] = [];
  for (const f of found) out.push({ ...(await describeImage(db, f.img)), names: f.names });
  return packArchive(loc, out);
}

async function describeImage(db: StorageDb, img: StorageImage): Promise<Omit<OutImage, 'names'>> {
  const what = `image ${img.id.slice(0, 12)} (${img.names?.[0] ?? 'no name'}) of the containers-storage store`;
  const config = await readBigData(db, img, `sha256:${img.id}`);
  if (!config) throw new LayerstoreError('E_ENGINE', `${what} has no config (big-data sha256:${img.id})`);
  const layers = layerChain(db, img);
  let diffIds: unknown;
  try {
    diffIds = (JSON.parse(config.toString('utf8')) as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
  } catch {
    throw new LayerstoreError('E_MANIFEST_INVALID', `${what}: its config is not JSON`);
  }
  const chain = layers.map((l) => l['diff-digest']);
  if (!Array.isArray(diffIds) || diffIds.join() !== chain.join()) {
    throw new LayerstoreError(
      'E_DIFFID_MISMATCH',
      `${what}: its layers in layers.json (${chain.length}) are not the config's diff_ids (${Array.isArray(diffIds) ? diffIds.length : 'none'})`,
    );
  }
  const stored = await readBigData(db, img, 'manifest');
  const manifest = stored && listsUncompressed(stored, img, layers) ? stored : ociManifest(config, img, layers);
  return { img, config, manifest, layers };
}

/** A stored manifest whose config is the image and whose layers are the uncompressed diffs, in order. */
function listsUncompressed(bytes: Buffer, img: StorageImage, layers: StorageLayer[]): boolean {
  try {
    const m = JSON.parse(bytes.toString('utf8')) as {
      schemaVersion?: number;
      config?: { digest?: string };
      layers?: Array<{ digest?: string; mediaType?: string }>;
    };
    return (
      m.schemaVersion === 2 &&
      m.config?.digest === `sha256:${img.id}` &&
      Array.isArray(m.layers) &&
      m.layers.length === layers.length &&
      m.layers.every(
        (d, i) => d.digest === layers[i]!['diff-digest'] && (d.mediaType === MT.ociLayer || d.mediaType === 'application/vnd.docker.image.rootfs.diff.tar'),
      )
    );
  } catch {
    return false;
  }
}

function ociManifest(config: Buffer, img: StorageImage, layers: StorageLayer[]): Buffer {
  const m = {
    schemaVersion: 2,
    mediaType: MT.ociManifest,
    config: { mediaType: MT.ociConfig, digest: `sha256:${img.id}`, size: config.length },
    layers: layers.map((l) => ({ mediaType: MT.ociLayer, digest: l['diff-digest'], size: l['diff-size'] })),
  };
  return Buffer.from(JSON.stringify(m));
}

function sha256Hex(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** The OCI archive: oci-layout, configs and manifests, each layer once, index.json last. */
function packArchive(loc: StorageLocation, images: OutImage[]): Readable {
  const pack = tar.pack();
  const blob = (hex: string, body: Buffer) => pack.entry({ name: `blobs/sha256/${hex}`, size: body.length, mode: 0o644 }, body);
  void (async () => {
    pack.entry({ name: 'oci-layout' }, '{"imageLayoutVersion":"1.0.0"}');
    const manifests: object[] = [];
    const written = new Set<string>();
    for (const o of images) {
      if (!written.has(o.img.id)) blob(o.img.id, o.config);
      written.add(o.img.id);
      const hex = sha256Hex(o.manifest);
      if (!written.has(hex)) blob(hex, o.manifest);
      written.add(hex);
      const mediaType = (JSON.parse(o.manifest.toString('utf8')) as { mediaType?: string }).mediaType ?? MT.ociManifest;
      const desc = { mediaType, digest: `sha256:${hex}`, size: o.manifest.length };
      if (o.names.length === 0) manifests.push(desc);
      for (const n of o.names) manifests.push({ ...desc, annotations: { [ANNOTATION_REF_NAME]: familiar(n), [ANNOTATION_IMAGE_NAME]: n } });
    }
    for (const o of images) {
      for (const l of o.layers) {
        const digest = l['diff-digest']!;
        if (written.has(digest)) continue;
        written.add(digest);
        await packLayer(pack, loc, l);
      }
    }
    pack.entry({ name: 'index.json' }, JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests }));
    pack.finalize();
  })().catch((e: unknown) => pack.destroy(e as Error));
  // A failure before the reader starts stays on the stream for its iterator (see containerd.ts).
  pack.on('error', () => {});
  return pack as unknown as Readable;
}

async function packLayer(pack: tar.Pack, loc: StorageLocation, l: StorageLayer): Promise<void> {
  const digest = l['diff-digest']!;
  const size = l['diff-size'];
  if (!/^sha256:[0-9a-f]{64}$/.test(digest) || typeof size !== 'number' || size < 0) {
    throw new LayerstoreError('E_ENGINE', `layer ${l.id} of the containers-storage store has no diff-digest/diff-size in layers.json`);
  }
  const tarSplit = path.join(loc.graphroot, `${loc.driver}-layers`, `${l.id}.tar-split.gz`);
  const filesDir = loc.driver === 'vfs' ? path.join(loc.graphroot, 'vfs', 'dir', l.id) : path.join(loc.graphroot, 'overlay', l.id, 'diff');
  await fsp.access(tarSplit).catch(() => {
    throw new LayerstoreError(
      'E_UNSUPPORTED',
      `layer ${l.id} of the containers-storage store has no ${path.basename(tarSplit)}, so its tar cannot be rebuilt in place`,
      { hint: 'podman save --format oci-archive NAME | layerstore ingest -' },
    );
  });
  const entry = pack.entry({ name: `blobs/sha256/${digest.slice(7)}`, size, mode: 0o644 });
  let n = 0;
  const bytes = rebuildLayerTar(tarSplit, filesDir);
  const counted = async function* () {
    for await (const b of bytes) {
      n += b.length;
      if (n > size) break;
      yield b;
    }
    if (n !== size) {
      throw new LayerstoreError(
        'E_DIFFID_MISMATCH',
        `layer ${l.id} rebuilt from containers-storage is ${n > size ? 'more than' : 'only'} ${n} bytes, not the ${size} layers.json records: its files changed`,
        {
          hint: 'the image in containers-storage is damaged; podman pull or load it again',
        },
      );
    }
  };
  await pipeline(Readable.from(counted()), entry);
}
