import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { LayerstoreError } from '../errors.js';
import { MAX_JSON_BYTES } from '../formats/types.js';
import { parseDockerRef } from '../formats/ref-names.js';
import type { StorageLocation } from './storage-location.js';

/** One layer of containers/storage's layers.json (the fields we read). */
export interface StorageLayer {
  id: string;
  parent?: string;
  'diff-digest'?: string;
  'diff-size'?: number;
}

/** One image of images.json (the fields we read). */
export interface StorageImage {
  id: string;
  digest?: string;
  names?: string[];
  layer?: string;
  'big-data-names'?: string[];
}

/** The store's image and layer records, read once (c/storage replaces each file by rename, so a read sees one whole version). */
export interface StorageDb {
  loc: StorageLocation;
  images: StorageImage[];
  layers: Map<string, StorageLayer>;
}

export async function readStorageDb(loc: StorageLocation): Promise<StorageDb> {
  const imagesFile = path.join(loc.graphroot, `${loc.driver}-images`, 'images.json');
  const layersFile = path.join(loc.graphroot, `${loc.driver}-layers`, 'layers.json');
  const images = await readJsonList<StorageImage>(imagesFile, loc);
  const layers = new Map((await readJsonList<StorageLayer>(layersFile, loc)).map((l) => [l.id, l]));
  return { loc, images, layers };
}

async function readJsonList<T>(file: string, loc: StorageLocation): Promise<T[]> {
  let text: string;
  try {
    const st = await fsp.stat(file);
    if (st.size > 16 * MAX_JSON_BYTES) throw new LayerstoreError('E_TOO_LARGE', `${file} is ${st.size} bytes`);
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    if (e instanceof LayerstoreError) throw e;
    const err = e as NodeJS.ErrnoException;
    throw new LayerstoreError(
      'E_ENGINE',
      `cannot read the containers-storage store (driver ${loc.driver}, root ${loc.graphroot}): ${err.code === 'ENOENT' ? `no ${path.basename(path.dirname(file))}/${path.basename(file)}` : err.message}`,
      {
        hint: 'pass containers-storage:[DRIVER@GRAPHROOT+RUNROOT]NAME, or --storage-root/--storage-driver (podman info shows them)',
      },
    );
  }
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch (e) {
    throw new LayerstoreError('E_ENGINE', `${file} is not JSON: ${(e as Error).message}`);
  }
  if (!Array.isArray(list)) throw new LayerstoreError('E_ENGINE', `${file} is not a list`);
  return list as T[];
}

/** An image `findImages` found, with the names of it that go out with it. */
export interface FoundImage {
  img: StorageImage;
  /**
   * Every name for the whole store; else only the name asked for (as `podman save NAME` and
   * docker-daemon:NAME export it), none when asked by ID or digest. Exporting all the image's
   * names would move unrelated refs of the store onto it when ingested.
   */
  names: string[];
}

/**
 * The images `name` means, as podman resolves a name in local storage: every image for an
 * empty name; else an exact name, the name with docker's defaults (docker.io/, library/,
 * :latest) or localhost/, a unique name ending in "/NAME", an image ID or a unique ID prefix.
 */
export function findImages(db: StorageDb, name: string): FoundImage[] {
  if (name === '') return db.images.map((img) => ({ img, names: img.names ?? [] }));
  const bare = name.replace(/^sha256:/, '');
  const at = name.lastIndexOf('@');
  const byId = /^[0-9a-f]{3,64}$/.test(bare) ? db.images.filter((i) => i.id.startsWith(bare)) : [];
  if (byId.length === 1) return [{ img: byId[0]!, names: [] }];
  if (at > 0 && /^[0-9a-f]{64}$/.test(name.slice(at + 1))) {
    // NAME@ID (c/image's form): the image with that ID, which must carry the name
    const img = db.images.find((i) => i.id === name.slice(at + 1));
    return img ? [{ img, names: [] }] : [];
  }
  const withTag = (n: string) => (parseDockerRef(n)?.tag || n.includes('@') ? n : `${n}:latest`);
  const p = parseDockerRef(name);
  const candidates = new Set([name, withTag(name)]);
  if (p) candidates.add(`${p.domain}/${p.path}${p.digest ? `@${p.digest}` : `:${p.tag ?? 'latest'}`}`);
  if (!name.includes('/') || !/[.:]|^localhost$/.test(name.split('/')[0]!)) candidates.add(`localhost/${withTag(name)}`);
  const exact = db.images.filter((i) => i.names?.some((n) => candidates.has(n)) || (p?.digest && i.digest === p.digest));
  if (exact.length) return [{ img: exact[0]!, names: (exact[0]!.names ?? []).filter((n) => candidates.has(n)).slice(0, 1) }];
  const suffix = `/${withTag(name)}`;
  const loose = db.images.filter((i) => i.names?.some((n) => n.endsWith(suffix)));
  return loose.length === 1 ? [{ img: loose[0]!, names: loose[0]!.names!.filter((n) => n.endsWith(suffix)).slice(0, 1) }] : [];
}

/** The image's layers, bottom first, following `parent` from its top layer. */
export function layerChain(db: StorageDb, img: StorageImage): StorageLayer[] {
  const chain: StorageLayer[] = [];
  let id = img.layer;
  while (id) {
    const l = db.layers.get(id);
    if (!l) throw new LayerstoreError('E_ENGINE', `image ${img.id} of the containers-storage store names layer ${id}, which layers.json lacks`);
    chain.push(l);
    if (chain.length > 10_000) throw new LayerstoreError('E_ENGINE', `image ${img.id}: the layer chain of the containers-storage store loops`);
    id = l.parent;
  }
  return chain.reverse();
}

/**
 * One of the image's big-data items (its config is `sha256:<id>`, its manifest `manifest`):
 * c/storage keeps each in `<driver>-images/<id>/`, under its name if that is only [0-9a-z.], else
 * under "=" + base64(name).
 */
export async function readBigData(db: StorageDb, img: StorageImage, key: string): Promise<Buffer | undefined> {
  const dir = path.join(db.loc.graphroot, `${db.loc.driver}-images`, img.id);
  const plain = /^[0-9a-z.]+$/.test(key); // c/storage's makeBigDataBaseName
  const file = path.join(dir, plain ? key : `=${Buffer.from(key).toString('base64')}`);
  try {
    const st = await fsp.stat(file);
    if (st.size > MAX_JSON_BYTES)
      throw new LayerstoreError('E_TOO_LARGE', `${file} is ${st.size} bytes, above the ${MAX_JSON_BYTES}-byte limit for a JSON document`);
    return await fsp.readFile(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}
