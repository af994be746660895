import { promises as fsp } from 'node:fs';
import { LayerstoreError } from '../errors.js';

/** One image of an earlier `report --json` (its `images` array): what maxGrowth compares against. */
export interface BaselineImage {
  refs: string[];
  sizeBytes: number;
  manifestDigest?: string;
  /** `os/architecture[/variant]`; absent for an image whose config names no platform. */
  platform?: string;
}

/**
 * Which baseline image an image is compared with. A multi-platform ref names one image per
 * platform, so the match is by ref AND platform (variant included): arm/v7 is never measured
 * against amd64. `missing` lists the platforms the baseline has for the ref, when it has any,
 * so the verdict can say the platform is new rather than the ref.
 */
export type BaselineMatch = { found: BaselineImage } | { missing: true; otherPlatforms: string[] } | { ambiguous: number };

export function findBaseline(baseline: BaselineImage[], img: { refs: string[]; manifestDigest: string; platform?: string }): BaselineMatch {
  const sameRef = baseline.filter((b) => b.refs.some((r) => img.refs.includes(r)));
  // A baseline that records no platform for the ref (hand-written, or a report from before
  // `platform` existed) can only be matched by ref: still one image, or the same manifest.
  const unplatformed = sameRef.length > 0 && sameRef.every((b) => b.platform === undefined);
  const same = unplatformed ? sameRef : sameRef.filter((b) => b.platform === img.platform);
  if (same.length === 0) return { missing: true, otherPlatforms: [...new Set(sameRef.map((b) => b.platform ?? 'no platform'))].sort() };
  if (same.length === 1) return { found: same[0]! };
  // Several images of the ref share the platform (an index listing one platform twice, or no
  // platform recorded): the same manifest is the only sure pairing; otherwise any pick could be the wrong one.
  const exact = same.find((b) => b.manifestDigest === img.manifestDigest);
  return exact ? { found: exact } : { ambiguous: same.length };
}

/** The images of a `report --json` file; exit 2 (E_BUDGET_INVALID) when it is not one. */
export async function loadBaseline(file: string): Promise<BaselineImage[]> {
  let doc: unknown;
  try {
    doc = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch (e) {
    throw new LayerstoreError('E_BUDGET_INVALID', `cannot read baseline report ${file}: ${(e as Error).message}`, {
      hint: 'pass a file written by layerstore report --json',
    });
  }
  const images = (doc as { schemaVersion?: unknown; images?: unknown } | null)?.images;
  if ((doc as { schemaVersion?: unknown } | null)?.schemaVersion !== 1 || !Array.isArray(images)) {
    throw new LayerstoreError('E_BUDGET_INVALID', `${file} is not a layerstore report (schemaVersion 1 with images[])`);
  }
  const out: BaselineImage[] = [];
  for (const i of images as unknown[]) {
    if (typeof i !== 'object' || i === null) continue;
    const o = i as Record<string, unknown>;
    if (!Array.isArray(o.refs) || typeof o.sizeBytes !== 'number') continue;
    out.push({
      refs: o.refs.filter((r): r is string => typeof r === 'string'),
      sizeBytes: o.sizeBytes,
      ...(typeof o.manifestDigest === 'string' ? { manifestDigest: o.manifestDigest } : {}),
      ...(typeof o.platform === 'string' ? { platform: o.platform } : {}),
    });
  }
  return out;
}
