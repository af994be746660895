import type { ImageInfo } from '../analysis/load-images.js';
import { selectImages } from '../analysis/select.js';
import { shortDigest } from '../digest/digest.js';
import { humanBytes } from '../report/human.js';
import type { Budget } from './config.js';
import { matchesRefGlob } from '../util/ref-glob.js';

/** Waste figures from the file-level analysis (see src/analysis/waste.ts). */
export interface WasteFigures {
  wastedBytes: number;
  efficiency: number;
  /** dive's "user wasted percent": wasted bytes / bytes of every layer above the first. */
  userWastedRatio: number;
}

/** One rule checked against one image. `pass` is null when the rule could not apply (no baseline). */
export interface Verdict {
  image: string;
  manifestDigest: string;
  rule: string;
  limit: number;
  actual: number | null;
  limitText: string;
  actualText: string;
  pass: boolean | null;
  detail?: string;
}

export interface BaselineImage {
  refs: string[];
  sizeBytes: number;
}

export interface EvaluateContext {
  /** Every image in the store, to find bases by ref. */
  all: ImageInfo[];
  /** Images of an earlier `report --json` (its `images` array). */
  baseline?: BaselineImage[];
  waste?: (img: ImageInfo) => Promise<WasteFigures>;
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

const pct = (r: number, decimals = 1) => `${(r * 100).toFixed(decimals)}%`;

/**
 * A limit and an actual ratio as percentages with enough decimals that they differ when the
 * numbers do: 95.0% vs 94.97% rather than "95.0%" vs "95.0%" for a FAIL.
 */
function pctPair(limit: number, actual: number): [string, string] {
  let d = 1;
  while (d < 6 && limit !== actual && pct(limit, d) === pct(actual, d)) d++;
  return [pct(limit, d), pct(actual, d)];
}

/** Check every budget that matches an image (by any of its refs) against it. */
export async function evaluateBudgets(images: ImageInfo[], budgets: Budget[], ctx: EvaluateContext): Promise<Verdict[]> {
  const out: Verdict[] = [];
  for (const img of images) {
    const name = img.refs[0] ?? `<none>@${shortDigest(img.manifestDigest)}`;
    const applicable = budgets.filter((b) => img.refs.some((r) => matchesRef(r, b.match)));
    let waste: WasteFigures | undefined;
    const getWaste = async () => (waste ??= ctx.waste ? await ctx.waste(img) : undefined);
    for (const b of applicable) {
      const v = (rule: string, limit: number, actual: number | null, limitText: string, actualText: string, pass: boolean | null, detail?: string) =>
        out.push({ image: name, manifestDigest: img.manifestDigest, rule, limit, actual, limitText, actualText, pass, ...(detail ? { detail } : {}) });
      if (b.maxSize !== undefined) {
        const s = sizeOf(img);
        v('maxSize', b.maxSize, s, humanBytes(b.maxSize), humanBytes(s), s <= b.maxSize);
      }
      if (b.maxLayerSize !== undefined) {
        const big = img.layers.reduce((m, l) => (l.size > m.size ? l : m), { size: 0, digest: '' });
        v('maxLayerSize', b.maxLayerSize, big.size, humanBytes(b.maxLayerSize), humanBytes(big.size), big.size <= b.maxLayerSize, big.digest ? `largest layer ${shortDigest(big.digest)}` : undefined);
      }
      if (b.maxLayers !== undefined) v('maxLayers', b.maxLayers, img.layers.length, String(b.maxLayers), String(img.layers.length), img.layers.length <= b.maxLayers);
      if (b.maxAddedOverBase !== undefined && b.base) {
        const [base] = selectImages(ctx.all, [b.base]);
        const added = distinctLayerBytes(img, new Set(base!.layers.map((l) => l.digest)));
        v('maxAddedOverBase', b.maxAddedOverBase, added, humanBytes(b.maxAddedOverBase), humanBytes(added), added <= b.maxAddedOverBase, `layers not in ${b.base}`);
      }
      if (b.maxWasted !== undefined || b.minEfficiency !== undefined || b.maxUserWastedRatio !== undefined) {
        const w = await getWaste();
        if (b.maxWasted !== undefined) {
          v('maxWasted', b.maxWasted, w?.wastedBytes ?? null, humanBytes(b.maxWasted), w ? humanBytes(w.wastedBytes) : 'n/a', w ? w.wastedBytes <= b.maxWasted : null);
        }
        if (b.minEfficiency !== undefined) {
          const [limitText, actualText] = w ? pctPair(b.minEfficiency, w.efficiency) : [pct(b.minEfficiency), 'n/a'];
          v('minEfficiency', b.minEfficiency, w?.efficiency ?? null, limitText, actualText, w ? w.efficiency >= b.minEfficiency : null);
        }
        if (b.maxUserWastedRatio !== undefined) {
          const [limitText, actualText] = w ? pctPair(b.maxUserWastedRatio, w.userWastedRatio) : [pct(b.maxUserWastedRatio), 'n/a'];
          v('highestUserWastedPercent', b.maxUserWastedRatio, w?.userWastedRatio ?? null, limitText, actualText, w ? w.userWastedRatio <= b.maxUserWastedRatio : null);
        }
      }
      if (b.maxGrowth !== undefined) {
        const before = ctx.baseline?.find((bi) => bi.refs.some((r) => img.refs.includes(r)));
        const now = sizeOf(img);
        if (!before) {
          v('maxGrowth', 0, null, growthText(b.maxGrowth), 'n/a', null, ctx.baseline ? 'not in the baseline report' : 'no --baseline given');
        } else {
          const growth = now - before.sizeBytes;
          // Percentages in millionths, so "0.7%" of 116000 is exactly 812 (floating point gives 811.99...).
          const limit = 'ratio' in b.maxGrowth ? Math.floor((before.sizeBytes * Math.round(b.maxGrowth.ratio * 1e6)) / 1e6) : b.maxGrowth.bytes;
          // Both forms on both sides: a % limit is also shown in bytes, and the growth also as a %.
          const limitText = 'ratio' in b.maxGrowth ? `${growthText(b.maxGrowth)} (${humanBytes(limit)})` : growthText(b.maxGrowth);
          const grew = before.sizeBytes > 0 ? ` (${growth >= 0 ? '+' : ''}${pctPair('ratio' in b.maxGrowth ? b.maxGrowth.ratio : limit / before.sizeBytes, growth / before.sizeBytes)[1]})` : '';
          v('maxGrowth', limit, growth, limitText, `${growth >= 0 ? '+' : ''}${humanBytes(growth)}${grew}`, growth <= limit, `${humanBytes(before.sizeBytes)} -> ${humanBytes(now)}`);
        }
      }
    }
  }
  return out;
}

function growthText(g: NonNullable<Budget['maxGrowth']>): string {
  return 'ratio' in g ? `+${pct(g.ratio)}` : `+${humanBytes(g.bytes)}`;
}
