import { shortDigest } from '../digest/digest.js';
import type { GrowthLimit } from '../budget/sizes.js';
import type { GrowthFacts, Verdict } from '../budget/evaluate.js';
import { humanBytes } from '../report/human.js';
import { table } from '../report/tables.js';

/**
 * The words of `budget`: a verdict (data, from budget/evaluate.ts) as the row that the
 * table, `--json` and `--junit` print. The one place budget numbers become text.
 */
export interface VerdictRow {
  image: string;
  manifestDigest: string;
  /** `os/architecture[/variant]`, null when the image's config names none. */
  platform: string | null;
  rule: string;
  /** In the actual's units; null for a percentage maxGrowth skipped for want of a baseline size (limitText has it). */
  limit: number | null;
  actual: number | null;
  limitText: string;
  actualText: string;
  pass: boolean | null;
  /** Always present (docs/COMMANDS.md lists it): null when there is nothing to add. */
  detail: string | null;
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

function growthText(g: GrowthLimit): string {
  return 'ratio' in g ? `+${pct(g.ratio)}` : `+${humanBytes(g.bytes)}`;
}

const signed = (n: number, text: string) => `${n >= 0 ? '+' : ''}${text}`;

/** Why a waste rule has no actual: its image has a layer that is not a readable tar. */
const NOT_ANALYSED = 'not analysed: a layer is not a readable tar (report --files names it)';

/** LIMIT, ACTUAL and the detail of one verdict. */
export function verdictText(v: Verdict): { limitText: string; actualText: string; detail?: string } {
  switch (v.rule) {
    case 'maxLayers':
      return { limitText: String(v.limit), actualText: String(v.actual) };
    case 'minEfficiency':
    case 'highestUserWastedPercent': {
      if (v.userWaste)
        return {
          limitText: pct(v.limit),
          actualText: 'infinite',
          detail: `${humanBytes(v.userWaste.wastedBytes)} wasted, no file bytes above the first layer`,
        };
      if (v.actual === null) return { limitText: pct(v.limit), actualText: 'n/a', detail: NOT_ANALYSED };
      const [limitText, actualText] = pctPair(v.limit, v.actual);
      return { limitText, actualText };
    }
    case 'maxGrowth':
      return growthVerdictText(v);
    default: {
      const limitText = humanBytes(v.limit);
      const actualText = v.actual === null ? 'n/a' : humanBytes(v.actual);
      if (v.rule === 'maxLayerSize' && v.largestLayer) return { limitText, actualText, detail: `largest layer ${shortDigest(v.largestLayer)}` };
      if (v.rule === 'maxAddedOverBase') return { limitText, actualText, detail: `layers not in ${v.base}` };
      if (v.rule === 'maxWasted' && v.actual === null) return { limitText, actualText, detail: NOT_ANALYSED };
      return { limitText, actualText };
    }
  }
}

/** Why maxGrowth had nothing to compare with. */
function noBaselineDetail(g: Exclude<GrowthFacts, { baseline: 'found' }>): string {
  if (g.baseline === 'none') return 'no --baseline given';
  const what = g.platform ?? 'the image without a platform';
  if (g.baseline === 'ambiguous') return `the baseline report has ${g.candidates} images of this ref for ${what}: cannot tell which to compare with`;
  if (g.otherPlatforms.length === 0) return 'not in the baseline report';
  return `${what} not in the baseline report (it has this ref for ${g.otherPlatforms.join(', ')})`;
}

/** maxGrowth: both forms on both sides (a % limit also in bytes, the growth also as a %). */
function growthVerdictText(v: Verdict): { limitText: string; actualText: string; detail?: string } {
  const g = v.growth!;
  if (g.baseline !== 'found') return { limitText: growthText(g.limit), actualText: 'n/a', detail: noBaselineDetail(g) };
  // Compared with a baseline, so the limit is bytes (null only when skipped).
  const limit = v.limit ?? 0;
  const growth = v.actual!;
  const before = g.beforeBytes;
  const limitText = 'ratio' in g.limit ? `${growthText(g.limit)} (${humanBytes(limit)})` : growthText(g.limit);
  const grew = before > 0 ? ` (${signed(growth, pctPair('ratio' in g.limit ? g.limit.ratio : limit / before, growth / before)[1])})` : '';
  return { limitText, actualText: `${signed(growth, humanBytes(growth))}${grew}`, detail: `${humanBytes(before)} -> ${humanBytes(g.nowBytes)}` };
}

/** The rows `budget --json` prints in `results` (in this key order) and `--junit` writes. */
export function verdictRows(vs: Verdict[]): VerdictRow[] {
  return vs.map((v) => {
    const { limitText, actualText, detail } = verdictText(v);
    return {
      image: v.image,
      manifestDigest: v.manifestDigest,
      platform: v.platform ?? null,
      rule: v.rule,
      limit: v.limit,
      actual: v.actual,
      limitText,
      actualText,
      pass: v.pass,
      detail: detail ?? null,
    };
  });
}

/**
 * What names each checked image in the table and the JUnit suites: its ref, and when that ref
 * names several of the images (a multi-platform ref) its platform too, e.g.
 * `testrepo:b1 (linux/arm/v7)`; the manifest's short digest where even that does not tell them apart.
 */
export function imageLabels(images: Array<{ image: string; manifestDigest: string; platform?: string | null }>): Map<string, string> {
  const byName = new Map<string, Map<string, string | undefined>>();
  for (const i of images) {
    const m = byName.get(i.image) ?? new Map<string, string | undefined>();
    m.set(i.manifestDigest, i.platform ?? undefined);
    byName.set(i.image, m);
  }
  const labels = new Map<string, string>();
  for (const [name, digests] of byName) {
    const platforms = [...digests.values()];
    for (const [digest, platform] of digests) {
      let label = name;
      if (digests.size > 1) {
        const unique = platform !== undefined && platforms.filter((p) => p === platform).length === 1;
        label = `${name} (${unique ? platform : [platform, shortDigest(digest)].filter(Boolean).join(' ')})`;
      }
      labels.set(digest, label);
    }
  }
  return labels;
}

/** The JUnit cases: one per verdict, its suite named by imageLabels (one suite per image). */
export function junitCases(vs: Verdict[]): VerdictRow[] {
  const rows = verdictRows(vs);
  const labels = imageLabels(rows);
  return rows.map((r) => ({ ...r, image: labels.get(r.manifestDigest) ?? r.image }));
}

/** The table `budget` prints. */
export function renderVerdicts(vs: Verdict[]): string {
  const t = table(['IMAGE', 'RULE', 'LIMIT', 'ACTUAL', 'RESULT'], ['left', 'left', 'right', 'right', 'left']);
  const rows = verdictRows(vs);
  const labels = imageLabels(rows);
  for (const v of rows)
    t.push([labels.get(v.manifestDigest) ?? v.image, v.rule, v.limitText, v.actualText, v.pass === null ? `SKIP (${v.detail})` : v.pass ? 'PASS' : 'FAIL']);
  return t.toString() + '\n';
}

/** "no budget matches REF" once per ref, however many platform images the ref names. */
export function uncheckedLines(images: Array<{ refs: string[]; manifestDigest: string }>): string {
  const count = new Map<string, number>();
  for (const i of images) {
    const name = i.refs[0] ?? i.manifestDigest;
    count.set(name, (count.get(name) ?? 0) + 1);
  }
  return [...count].map(([name, n]) => `no budget matches ${name}${n > 1 ? ` (${n} images)` : ''}\n`).join('');
}
