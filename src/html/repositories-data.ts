import type { Digest } from '../digest/digest.js';
import type { ImageInfo } from '../analysis/load-images.js';
import { platformString } from '../formats/types.js';
import type { RepositoryView } from '../registry/repositories.js';
import { CREATED_MAX, clipText, type ConfigHistory } from './config-history.js';

/**
 * The repositories and tags a registry client sees (RepositoryView), with what each tag
 * holds and the commands that pull it: serve's /api/repositories (schemaVersion 2).
 *
 * Made in two steps: the tags, from the view and the images (once per state of index.json),
 * then the JSON of one request (the commands name the host the browser used). Each config's
 * history is sent once, in `histories` by config digest, however many tags name it: 25 tags
 * of one image sent its history 25 times.
 */
export interface RepositoriesJson {
  schemaVersion: 2;
  /** HOST[:PORT] the commands use: the request's Host header. */
  registry: string;
  /** Whether the registry was reached over https. */
  tls: boolean;
  repositories: Array<{ name: string; tags: TagJson[] }>;
  /** The bounded history of each config the tags' images have (config-history.ts). */
  histories: Record<string, ConfigHistory>;
}

export interface TagJson {
  tag: string;
  ref: string;
  /** The manifest (or index) digest the tag names. */
  digest: Digest;
  mediaType: string;
  /** Config + distinct layer blobs of every image under the tag (as `ls` counts an image). */
  sizeBytes: number;
  /** The newest `created` of its images' configs. */
  created: string | null;
  platforms: string[];
  images: TagImage[];
  pull: { docker: string; skopeo: string };
}

export interface TagImage {
  manifestDigest: Digest;
  /** Its history: histories[configDigest]. */
  configDigest: Digest;
  platform: string | null;
  sizeBytes: number;
  layers: number;
  created: string | null;
}

/** The tags, without what depends on the request. */
export interface RepositoryTags {
  repositories: Array<{ name: string; tags: Array<Omit<TagJson, 'pull'> & { pullRef: string }> }>;
  /** The configs of the tags' images, each once. */
  configs: Digest[];
}

function sizeOf(images: ImageInfo[]): number {
  const blobs = new Map<string, number>();
  for (const img of images) {
    blobs.set(img.configDigest, img.configSize);
    for (const l of img.layers) blobs.set(l.digest, l.size);
  }
  let n = 0;
  for (const s of blobs.values()) n += s;
  return n;
}

/** A config's `created` as sent: a timestamp, or what a config put there, clipped. */
const createdOf = (img: ImageInfo) => (img.created ? clipText(img.created, CREATED_MAX) : null);

export function repositoryTags(view: RepositoryView, images: ImageInfo[]): RepositoryTags {
  const byRef = new Map<string, ImageInfo[]>();
  for (const img of images) {
    for (const r of img.refs) {
      const list = byRef.get(r);
      if (list) list.push(img);
      else byRef.set(r, [img]);
    }
  }
  const configs = new Set<Digest>();
  const repositories: RepositoryTags['repositories'] = [];
  for (const name of [...view.repos.keys()].sort()) {
    const tags: RepositoryTags['repositories'][number]['tags'] = [];
    const byTag = view.repos.get(name)!;
    for (const tag of [...byTag.keys()].sort()) {
      const desc = byTag.get(tag)!;
      // The store ref behind the tag (a pulled "host:port/NAME:tag" is served as NAME:tag).
      const ref = view.tagRefs.get(name)?.get(tag) ?? `${name}:${tag}`;
      const under = byRef.get(ref) ?? [];
      const rows: TagImage[] = under.map((img) => {
        configs.add(img.configDigest);
        return {
          manifestDigest: img.manifestDigest,
          configDigest: img.configDigest,
          platform: img.platform ? platformString(img.platform) : null,
          sizeBytes: sizeOf([img]),
          layers: img.layers.length,
          created: createdOf(img),
        };
      });
      const created = rows
        .map((r) => r.created)
        .filter((c): c is string => !!c)
        .sort();
      tags.push({
        tag,
        ref,
        digest: desc.digest,
        mediaType: desc.mediaType,
        sizeBytes: sizeOf(under),
        created: created[created.length - 1] ?? null,
        platforms: [...new Set(rows.map((r) => r.platform).filter((p): p is string => !!p))].sort(),
        images: rows,
        pullRef: `${name}:${tag}`,
      });
    }
    repositories.push({ name, tags });
  }
  return { repositories, configs: [...configs] };
}

/** The JSON of one request: the tags with commands that pull them from `host`, and the histories of their configs. */
export function repositoriesJson(t: RepositoryTags, histories: Map<Digest, ConfigHistory>, host: string, tls: boolean): RepositoriesJson {
  const repositories = t.repositories.map(({ name, tags }) => ({
    name,
    tags: tags.map(({ pullRef, ...tag }) => {
      const base = name.split('/').pop() ?? name;
      return {
        ...tag,
        pull: {
          docker: `docker pull ${host}/${pullRef}`,
          skopeo: `skopeo copy ${tls ? '' : '--src-tls-verify=false '}docker://${host}/${pullRef} oci:${base}:${tag.tag}`,
        },
      };
    }),
  }));
  const out: Record<string, ConfigHistory> = {};
  for (const d of t.configs) {
    const h = histories.get(d);
    if (h) out[d] = h;
  }
  return { schemaVersion: 2, registry: host, tls, repositories, histories: out };
}
