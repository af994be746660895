import type { Digest } from '../digest/digest.js';
import { getFileIndex, type FileIndex } from '../analysis/file-index.js';
import { isUnreadableLayerError } from '../analysis/files-report.js';
import { wellKnownLayer } from '../analysis/ledger.js';
import type { ImageInfo } from '../analysis/load-images.js';
import { stackImage } from '../analysis/overlay.js';
import { MAX_JSON_BYTES, parseImageConfig, platformString, type Descriptor } from '../formats/types.js';
import type { RepositoryView } from '../registry/repositories.js';
import type { Store } from '../store/store.js';
import { computeReport, reportJson } from '../report/report-json.js';

/**
 * The data behind the HTML report and the web UI of `serve`:
 *
 * - `report`: exactly the object `report --files --json` prints (schemaVersion 1), built the
 *   same way (src/report/report-json.ts), so every number the page shows is a number
 *   of that JSON; the browser tests compare the two.
 * - `stacks`: for each image (by manifest digest), its layers bottom to top as overlayfs stacks
 *   them (stackLayers): bytes each layer adds, replaces and deletes. Not in the JSON report.
 * - `repositories` (served UI only): the registry's repositories and tags.
 */
export interface PageData {
  schemaVersion: 1;
  report: ReportJson;
  stacks: Record<string, StackRow[]>;
  repositories?: RepositoriesJson;
}

/** `report --json` (with `--files`: the additive fields too). Loosely typed: the page reads it as JSON. */
export type ReportJson = Record<string, unknown> & { schemaVersion: 1 };

/** One layer of an image as overlayfs stacks it (README, "Pictures"). */
export interface StackRow {
  /** Position, bottom = 0. */
  index: number;
  digest: Digest;
  diffId: Digest;
  /** Bytes of the blob (compressed for gzip/zstd layers). */
  sizeBytes: number;
  /** Regular-file bytes the layer writes at paths new to the image. */
  addedBytes: number;
  /** Regular-file bytes of lower copies the layer overwrites. */
  replacedBytes: number;
  /** Regular-file bytes of lower copies its whiteouts and opaque markers remove. */
  deletedBytes: number;
  /** Regular-file bytes of all the layer's entries. */
  fileBytes: number;
  addedEntries: number;
  replacedEntries: number;
  deletedEntries: number;
  whiteouts: number;
  /** The config history's `created_by` for this layer (non-empty history entries, in order). */
  createdBy?: string;
  /** A label when the layer is a well-known empty layer. */
  wellKnown?: string;
}

export interface RepositoriesJson {
  schemaVersion: 1;
  /** HOST[:PORT] the commands use: the request's Host header. */
  registry: string;
  /** Whether the registry was reached over https. */
  tls: boolean;
  repositories: Array<{ name: string; tags: TagJson[] }>;
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
  images: Array<{
    manifestDigest: Digest;
    configDigest: Digest;
    platform: string | null;
    sizeBytes: number;
    layers: number;
    created: string | null;
    history: HistoryEntry[];
  }>;
  pull: { docker: string; skopeo: string };
}

export interface HistoryEntry {
  created?: string;
  createdBy?: string;
  comment?: string;
  emptyLayer?: boolean;
}

export function platformOf(img: ImageInfo): string | null {
  return img.platform ? platformString(img.platform) : null;
}

/** The `report --json` object (with `--files` when a store is given), built by the same code as the CLI's. */
export async function buildReportJson(
  store: Store | undefined,
  images: ImageInfo[],
  opts: { top?: number; onProgress?: (done: number, total: number) => void; universe?: ImageInfo[]; referrers?: Map<Digest, Descriptor[]> } = {},
): Promise<ReportJson> {
  return reportJson(await computeReport(store, images, { files: !!store, ...opts }));
}

/** History entries of a config, as the page shows them. */
async function historyOf(store: Store, configDigest: Digest): Promise<HistoryEntry[]> {
  const config = parseImageConfig(await store.blobs.readJson(configDigest, MAX_JSON_BYTES), `config ${configDigest}`);
  const out: HistoryEntry[] = [];
  for (const h of config.history ?? []) {
    if (typeof h !== 'object' || h === null) continue;
    const x = h as Record<string, unknown>;
    const e: HistoryEntry = {};
    if (typeof x.created === 'string') e.created = x.created;
    if (typeof x.created_by === 'string') e.createdBy = x.created_by;
    if (typeof x.comment === 'string') e.comment = x.comment;
    if (x.empty_layer === true) e.emptyLayer = true;
    out.push(e);
  }
  return out;
}

/**
 * Each image's layers as overlayfs stacks them, with the history line that made each. An image
 * with a layer that is not a readable tar has no stack (as `report --files` leaves it out of the
 * file figures: the report's unreadableLayers names it), rather than failing the whole page.
 */
export async function buildStacks(store: Store | undefined, images: ImageInfo[]): Promise<Record<string, StackRow[]>> {
  const out: Record<string, StackRow[]> = {};
  if (!store) return out;
  const byDiffId = new Map<Digest, FileIndex | null>();
  const indexOf = async (digest: Digest): Promise<FileIndex | null> => {
    try {
      return await getFileIndex(store, digest);
    } catch (e) {
      if (isUnreadableLayerError(e)) return null;
      throw e;
    }
  };
  for (const img of images) {
    for (const l of img.layers) if (!byDiffId.has(l.diffId)) byDiffId.set(l.diffId, await indexOf(l.digest));
    if (img.layers.some((l) => byDiffId.get(l.diffId) === null)) continue;
    const overlay = stackImage(
      img,
      img.layers.map((l) => ({ digest: l.digest, index: byDiffId.get(l.diffId)! })),
    );
    const steps = (await historyOf(store, img.configDigest)).filter((h) => !h.emptyLayer);
    out[img.manifestDigest] = overlay.layers.map((c, i) => {
      const l = img.layers[i]!;
      const row: StackRow = {
        index: i,
        digest: l.digest,
        diffId: l.diffId,
        sizeBytes: l.size,
        addedBytes: c.addedBytes,
        replacedBytes: c.replacedBytes,
        deletedBytes: c.deletedBytes,
        fileBytes: c.fileBytes,
        addedEntries: c.addedRefs.length,
        replacedEntries: c.replaced.length,
        deletedEntries: c.deleted.length,
        whiteouts: c.whiteouts,
      };
      const by = steps[i]?.createdBy;
      if (by !== undefined) row.createdBy = by;
      const label = wellKnownLayer(l);
      if (label) row.wellKnown = label;
      return row;
    });
  }
  return out;
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

/**
 * The repositories and tags a registry client sees (RepositoryView), with what each tag
 * holds and the commands that pull it from `host`.
 */
export async function buildRepositories(store: Store, view: RepositoryView, images: ImageInfo[], host: string, tls: boolean): Promise<RepositoriesJson> {
  const history = new Map<Digest, HistoryEntry[]>();
  const repositories: RepositoriesJson['repositories'] = [];
  for (const name of [...view.repos.keys()].sort()) {
    const tags: TagJson[] = [];
    const byTag = view.repos.get(name)!;
    for (const tag of [...byTag.keys()].sort()) {
      const desc = byTag.get(tag)!;
      // The store ref behind the tag (a pulled "host:port/NAME:tag" is served as NAME:tag).
      const ref = view.tagRefs.get(name)?.get(tag) ?? `${name}:${tag}`;
      const pullRef = `${name}:${tag}`;
      const under = images.filter((i) => i.refs.includes(ref));
      const rows: TagJson['images'] = [];
      for (const img of under) {
        if (!history.has(img.configDigest)) history.set(img.configDigest, await historyOf(store, img.configDigest));
        rows.push({
          manifestDigest: img.manifestDigest,
          configDigest: img.configDigest,
          platform: platformOf(img),
          sizeBytes: sizeOf([img]),
          layers: img.layers.length,
          created: img.created ?? null,
          history: history.get(img.configDigest)!,
        });
      }
      const created = under
        .map((i) => i.created)
        .filter((c): c is string => !!c)
        .sort();
      const base = name.split('/').pop() ?? name;
      tags.push({
        tag,
        ref,
        digest: desc.digest,
        mediaType: desc.mediaType,
        sizeBytes: sizeOf(under),
        created: created[created.length - 1] ?? null,
        platforms: [...new Set(rows.map((r) => r.platform).filter((p): p is string => !!p))].sort(),
        images: rows,
        pull: {
          docker: `docker pull ${host}/${pullRef}`,
          skopeo: `skopeo copy ${tls ? '' : '--src-tls-verify=false '}docker://${host}/${pullRef} oci:${base}:${tag}`,
        },
      });
    }
    repositories.push({ name, tags });
  }
  return { schemaVersion: 1, registry: host, tls, repositories };
}
