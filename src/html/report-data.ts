import type { Digest } from '../digest/digest.js';
import { getFileIndex, type FileIndex } from '../analysis/file-index.js';
import { isUnreadableLayerError } from '../analysis/files-report.js';
import { wellKnownLayer } from '../analysis/ledger.js';
import type { ImageInfo } from '../analysis/load-images.js';
import { stackImage } from '../analysis/overlay.js';
import type { Descriptor } from '../formats/types.js';
import type { Store } from '../store/store.js';
import { computeReport, reportJson } from '../report/report-json.js';
import { readConfigHistory } from './config-history.js';
import type { RepositoriesJson } from './repositories-data.js';

/**
 * The data behind the HTML report and the web UI of `serve`:
 *
 * - `report`: exactly the object `report --files --json` prints (schemaVersion 1), built the
 *   same way (src/report/report-json.ts), so every number the page shows is a number
 *   of that JSON; the browser tests compare the two.
 * - `stacks`: for each image (by manifest digest), its layers bottom to top as overlayfs stacks
 *   them (stackLayers): bytes each layer adds, replaces and deletes. Not in the JSON report.
 * - `repositories` (served UI only): the registry's repositories and tags (repositories-data.ts).
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
  /** The config history's `created_by` for this layer (non-empty history entries, in order), clipped (config-history.ts). */
  createdBy?: string;
  /** Length of `createdBy` before it was clipped; only when it was. */
  createdByLength?: number;
  /** A label when the layer is a well-known empty layer. */
  wellKnown?: string;
}

/** The `report --json` object (with `--files` when a store is given), built by the same code as the CLI's. */
export async function buildReportJson(
  store: Store | undefined,
  images: ImageInfo[],
  opts: { top?: number; onProgress?: (done: number, total: number) => void; universe?: ImageInfo[]; referrers?: Map<Digest, Descriptor[]> } = {},
): Promise<ReportJson> {
  return reportJson(await computeReport(store, images, { files: !!store, ...opts }));
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
    const steps = (await readConfigHistory(store, img.configDigest)).entries.filter((h) => !h.emptyLayer);
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
      const step = steps[i];
      if (step?.createdBy !== undefined) row.createdBy = step.createdBy;
      if (step?.createdByLength !== undefined) row.createdByLength = step.createdByLength;
      const label = wellKnownLayer(l);
      if (label) row.wellKnown = label;
      return row;
    });
  }
  return out;
}
