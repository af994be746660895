import type { ImageInfo } from '../analysis/load-images.js';
import { platformString } from '../formats/types.js';
import { findBaseline, type BaselineImage } from './baseline.js';
import { selectImages } from '../analysis/select.js';
import { shortDigest, type Digest } from '../digest/digest.js';
import type { Budget } from './config.js';
import type { GrowthLimit } from './sizes.js';
import { matchesRefGlob } from '../util/ref-glob.js';

/**
 * Waste figures from the file-level analysis (see src/analysis/waste.ts), as byte counts: the
 * ratios are computed here exactly (the report's are rounded to 6 decimals, and 0.6666667
 * must not pass a minimum of 0.666667).
 */
export interface WasteFigures {
  wastedBytes: number;
  /** Regular-file bytes over all layers: efficiency = 1 - wastedBytes / totalFileBytes. */
  totalFileBytes: number;
  /** File bytes of every layer above the first: dive's "user wasted percent" = wastedBytes / this. */
  userFileBytes: number;
}

const efficiencyOf = (w: WasteFigures) => (w.totalFileBytes === 0 ? 1 : 1 - w.wastedBytes / w.totalFileBytes);
/** Infinity for waste over no user bytes: dive's wasted / userSize is +Inf there, and fails any limit. */
const userWastedRatioOf = (w: WasteFigures) => (w.userFileBytes > 0 ? w.wastedBytes / w.userFileBytes : w.wastedBytes > 0 ? Infinity : 0);

/**
 * The rules, by what their limit and actual measure: bytes (maxSize, maxLayerSize,
 * maxAddedOverBase, maxWasted), a count (maxLayers), a ratio (minEfficiency,
 * highestUserWastedPercent) or growth in bytes over a baseline (maxGrowth).
 */
export type Rule = 'maxSize' | 'maxLayerSize' | 'maxLayers' | 'maxAddedOverBase' | 'maxWasted' | 'minEfficiency' | 'highestUserWastedPercent' | 'maxGrowth';

/**
 * One rule checked against one image, as data; cli/budget-text.ts words it. `pass` is null
 * when the rule could not apply (no baseline, no waste figures). `limit` is in the actual's
 * units; maxGrowth's is bytes (a percentage made bytes of the baseline's size), so a skipped
 * percentage has none: null (its growth facts keep the percentage).
 */
export type Verdict = VerdictFacts & ({ rule: Exclude<Rule, 'maxGrowth'>; limit: number } | { rule: 'maxGrowth'; limit: number | null });

interface VerdictFacts {
  image: string;
  manifestDigest: string;
  /** `os/architecture[/variant]`: what tells the images of a multi-platform ref apart. */
  platform?: string;
  actual: number | null;
  pass: boolean | null;
  /** maxLayerSize: the largest layer (absent for an image without layers). */
  largestLayer?: Digest;
  /** maxAddedOverBase: the base image's ref. */
  base?: string;
  /** maxGrowth: the limit as the budget wrote it, and the sizes compared. */
  growth?: GrowthFacts;
  /** highestUserWastedPercent with waste over no file bytes above the first layer (actual null, failed). */
  userWaste?: { wastedBytes: number; userFileBytes: 0 };
}

/**
 * `missing`: the baseline has no image of this ref for this platform; `otherPlatforms` are the
 * platforms it has for the ref (empty: the ref is new). `ambiguous`: it has several.
 */
export type GrowthFacts =
  | { limit: GrowthLimit; baseline: 'none' }
  | { limit: GrowthLimit; baseline: 'missing'; platform?: string; otherPlatforms: string[] }
  | { limit: GrowthLimit; baseline: 'ambiguous'; platform?: string; candidates: number }
  | { limit: GrowthLimit; baseline: 'found'; beforeBytes: number; nowBytes: number };

export type { BaselineImage };

export interface EvaluateContext {
  /** Every image in the store, to find bases by ref. */
  all: ImageInfo[];
  /** Images of an earlier `report --json` (its `images` array). */
  baseline?: BaselineImage[];
  /** The image's waste figures; undefined when they cannot be had (a layer is not a readable tar): those rules are skipped. */
  waste?: (img: ImageInfo) => Promise<WasteFigures | undefined>;
}

function distinctLayerBytes(img: ImageInfo, skip: Set<string> = new Set()): number {
  const seen = new Map<string, number>();
  for (const l of img.layers) if (!skip.has(l.digest)) seen.set(l.digest, l.size);
  return [...seen.values()].reduce((n, s) => n + s, 0);
}

function sizeOf(img: ImageInfo): number {
  return img.configSize + distinctLayerBytes(img);
}

/** Ref globs, as util/ref-glob.ts defines them: `*` matches any characters, '/' included. */
export function matchesRef(ref: string, patterns: string[]): boolean {
  return matchesRefGlob(ref, patterns);
}

/** Check every budget that matches an image (by any of its refs) against it. */
export async function evaluateBudgets(images: ImageInfo[], budgets: Budget[], ctx: EvaluateContext): Promise<Verdict[]> {
  const out: Verdict[] = [];
  for (const img of images) {
    const name = img.refs[0] ?? `<none>@${shortDigest(img.manifestDigest)}`;
    const platform = img.platform ? platformString(img.platform) : undefined;
    const applicable = budgets.filter((b) => img.refs.some((r) => matchesRef(r, b.match)));
    let waste: WasteFigures | undefined;
    const getWaste = async () => (waste ??= ctx.waste ? await ctx.waste(img) : undefined);
    for (const b of applicable) {
      const facts0 = { image: name, manifestDigest: img.manifestDigest, ...(platform ? { platform } : {}) };
      const v = (
        rule: Exclude<Rule, 'maxGrowth'>,
        limit: number,
        actual: number | null,
        pass: boolean | null,
        facts: Pick<Verdict, 'largestLayer' | 'base' | 'userWaste'> = {},
      ) => out.push({ ...facts0, rule, limit, actual, pass, ...facts });
      const grew = (limit: number | null, actual: number | null, pass: boolean | null, growth: GrowthFacts) =>
        out.push({ ...facts0, rule: 'maxGrowth', limit, actual, pass, growth });
      if (b.maxSize !== undefined) {
        const s = sizeOf(img);
        v('maxSize', b.maxSize, s, s <= b.maxSize);
      }
      if (b.maxLayerSize !== undefined) {
        const big = img.layers.reduce<{ size: number; digest?: Digest }>((m, l) => (l.size > m.size ? l : m), { size: 0 });
        v('maxLayerSize', b.maxLayerSize, big.size, big.size <= b.maxLayerSize, big.digest ? { largestLayer: big.digest } : {});
      }
      if (b.maxLayers !== undefined) v('maxLayers', b.maxLayers, img.layers.length, img.layers.length <= b.maxLayers);
      if (b.maxAddedOverBase !== undefined && b.base) {
        const [base] = selectImages(ctx.all, [b.base]);
        const added = distinctLayerBytes(img, new Set(base!.layers.map((l) => l.digest)));
        v('maxAddedOverBase', b.maxAddedOverBase, added, added <= b.maxAddedOverBase, { base: b.base });
      }
      if (b.maxWasted !== undefined || b.minEfficiency !== undefined || b.maxUserWastedRatio !== undefined) {
        const w = await getWaste();
        if (b.maxWasted !== undefined) v('maxWasted', b.maxWasted, w?.wastedBytes ?? null, w ? w.wastedBytes <= b.maxWasted : null);
        if (b.minEfficiency !== undefined) {
          const e = w ? efficiencyOf(w) : null;
          v('minEfficiency', b.minEfficiency, e, e === null ? null : e >= b.minEfficiency);
        }
        if (b.maxUserWastedRatio !== undefined) {
          const u = w ? userWastedRatioOf(w) : null;
          // An infinite ratio has no JSON number: actual null, and the facts say why it failed.
          if (u === Infinity)
            v('highestUserWastedPercent', b.maxUserWastedRatio, null, false, { userWaste: { wastedBytes: w!.wastedBytes, userFileBytes: 0 } });
          else v('highestUserWastedPercent', b.maxUserWastedRatio, u, u === null ? null : u <= b.maxUserWastedRatio);
        }
      }
      if (b.maxGrowth !== undefined) {
        const now = sizeOf(img);
        const m = ctx.baseline ? findBaseline(ctx.baseline, { refs: img.refs, manifestDigest: img.manifestDigest, platform }) : undefined;
        // Skipped: a limit in bytes is still those bytes; a percentage is bytes only of a baseline size, so none.
        const skippedLimit = 'bytes' in b.maxGrowth ? b.maxGrowth.bytes : null;
        if (!m) grew(skippedLimit, null, null, { limit: b.maxGrowth, baseline: 'none' });
        else if ('missing' in m) grew(skippedLimit, null, null, { limit: b.maxGrowth, baseline: 'missing', platform, otherPlatforms: m.otherPlatforms });
        else if ('ambiguous' in m) grew(skippedLimit, null, null, { limit: b.maxGrowth, baseline: 'ambiguous', platform, candidates: m.ambiguous });
        else {
          const before = m.found;
          const growth = now - before.sizeBytes;
          // Percentages in millionths, so "0.7%" of 116000 is exactly 812 (floating point gives 811.99...).
          const limit = 'ratio' in b.maxGrowth ? Math.floor((before.sizeBytes * Math.round(b.maxGrowth.ratio * 1e6)) / 1e6) : b.maxGrowth.bytes;
          grew(limit, growth, growth <= limit, { limit: b.maxGrowth, baseline: 'found', beforeBytes: before.sizeBytes, nowBytes: now });
        }
      }
    }
  }
  return out;
}
