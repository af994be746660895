import type { Digest } from '../digest/digest.js';
import type { Compression } from '../archive/compression.js';
import { loadStore, type ImageInfo } from '../analysis/load-images.js';
import { computeSharing, type LayerSharing, type SharingReport } from '../analysis/sharing.js';
import { computeFilesReport, type FilesReport } from '../analysis/files-report.js';
import { ledgerFrom, wellKnownLayer } from '../analysis/ledger.js';
import type { Store } from '../store/store.js';
import type { Descriptor } from '../formats/types.js';

/** What is attached to an image (a signature, an SBOM, an attestation), as report shows it. */
export interface ReferrerJson {
  digest: Digest;
  artifactType: string | null;
  mediaType: string;
  size: number;
}

/** The data behind `report`: sharing (well-known empty layers flagged) and, with `files`, the inside-the-layers analysis. */
export interface ComputedReport {
  sharing: SharingReport & { layers: Array<LayerSharing & { wellKnown?: string }> };
  files?: FilesReport;
  /** Referrers of the reported images, by image manifest digest. */
  referrers: Map<Digest, ReferrerJson[]>;
}

export async function computeReport(
  store: Store | undefined,
  images: ImageInfo[],
  opts: {
    files?: boolean;
    top?: number;
    onProgress?: (done: number, total: number) => void;
    universe?: ImageInfo[];
    /** What is attached to the store's images (loadStore); read from the store when not given. */
    referrers?: Map<Digest, Descriptor[]>;
  } = {},
): Promise<ComputedReport> {
  const compression = new Map<Digest, Compression>();
  if (store) {
    for (const img of images)
      for (const l of img.layers) if (!compression.has(l.digest)) compression.set(l.digest, l.compression ?? (await store.blobs.compression(l.digest)));
  }
  const report = computeSharing(images, (d) => compression.get(d) ?? 'none', opts.universe);
  // Flagged so their "sharing" is not read as a real saving.
  const layers = report.layers.map((l) => {
    const label = wellKnownLayer(l);
    return label ? { ...l, wellKnown: label } : l;
  });
  const out: ComputedReport = {
    sharing: { ...report, layers },
    referrers: store ? referrersOf(opts.referrers ?? (await loadStore(store)).referrers, images) : new Map(),
  };
  if (opts.files) {
    // No store yet: the same JSON shape as an empty store.
    // An unverified image (pushed with a config that disagrees with its layers) may not even have tar layers.
    const verified = images.filter((i) => !i.unverified);
    out.files = store
      ? await computeFilesReport(store, verified, { top: opts.top ?? 10, onProgress: opts.onProgress, universe: opts.universe })
      : { ledger: ledgerFrom([], new Map()), images: new Map(), duplicateFiles: [], unreadableLayers: [] };
  }
  return out;
}

function referrersOf(all: Map<Digest, Descriptor[]>, images: ImageInfo[]): Map<Digest, ReferrerJson[]> {
  const out = new Map<Digest, ReferrerJson[]>();
  const row = (d: Descriptor): ReferrerJson => ({ digest: d.digest, artifactType: d.artifactType ?? null, mediaType: d.mediaType, size: d.size });
  for (const img of images) {
    const list = all.get(img.manifestDigest);
    // Sorted: the same store always gives byte-identical JSON.
    if (list?.length)
      out.set(
        img.manifestDigest,
        list.map(row).sort((a, b) => (a.digest < b.digest ? -1 : a.digest > b.digest ? 1 : 0)),
      );
  }
  return out;
}

/** The `report --json` object (schemaVersion 1), with the additive `--files` fields when computed. */
export function reportJson(r: ComputedReport): Record<string, unknown> & { schemaVersion: 1 } {
  const { files } = r;
  const sharing = { ...r.sharing, images: r.sharing.images.map((img) => ({ ...img, referrers: r.referrers.get(img.manifestDigest) ?? [] })) };
  if (!files) return { ...sharing };
  const l = files.ledger;
  const level = (x: { logicalBytes: number; storedBytes: number; savedBytes: number }) => ({
    logicalBytes: x.logicalBytes,
    storedBytes: x.storedBytes,
    savedBytes: x.savedBytes,
  });
  return {
    ...sharing,
    totals: {
      ...sharing.totals,
      levels: { blob: level(l.blob), diffId: level(l.diffId), file: l.file ? level(l.file) : null },
      wellKnown: l.wellKnown,
    },
    images: sharing.images.map((img) => {
      const x = files.images.get(img.manifestDigest);
      if (!x) return { ...img, marginalBytes: null, waste: null, wastedFiles: [] }; // unverified, or a layer unreadable: not analysed inside
      return { ...img, marginalBytes: x.marginalBytes, waste: x.waste, wastedFiles: x.topWasted };
    }),
    layers: sharing.layers,
    duplicateFiles: files.duplicateFiles,
    unreadableLayers: files.unreadableLayers,
  };
}
