import { promises as fsp } from 'node:fs';
import { LayerstoreError } from '../errors.js';
import { parseGrowth, parseRatio, parseSize, type GrowthLimit } from './sizes.js';

/**
 * A budget file (default ./layerstore-budget.json):
 *
 *   { "budgets": [ { "match": "acme/*", "maxSize": "250MB", ... } ] }
 *
 * Every budget whose `match` glob (or list of globs) matches one of an image's refs applies
 * to it. dive's .dive-ci rule names are accepted as aliases so dive users can switch.
 */
export interface Budget {
  match: string[];
  /** A budget that matches no checked image is an error (exit 2) unless it says it may. */
  optional?: boolean;
  maxSize?: number;
  maxLayerSize?: number;
  maxLayers?: number;
  maxAddedOverBase?: number;
  base?: string;
  maxWasted?: number;
  minEfficiency?: number;
  maxUserWastedRatio?: number;
  maxGrowth?: GrowthLimit;
}

const KNOWN = new Set([
  'match',
  'optional',
  'maxSize',
  'maxLayerSize',
  'maxLayers',
  'maxAddedOverBase',
  'base',
  'maxWasted',
  'minEfficiency',
  'maxGrowth',
  // dive's .dive-ci names
  'lowestEfficiency',
  'highestWastedBytes',
  'highestUserWastedPercent',
  'description',
]);

export async function loadBudgetFile(file: string): Promise<Budget[]> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (e) {
    throw new LayerstoreError('E_BUDGET_INVALID', `cannot read budget file ${file} (${(e as NodeJS.ErrnoException).code ?? e})`, {
      hint: 'write layerstore-budget.json in this directory, or pass --config FILE (README, "Size budgets")',
    });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new LayerstoreError('E_BUDGET_INVALID', `budget file ${file} is not valid JSON (${(e as Error).message})`);
  }
  return parseBudgets(doc, file);
}

export function parseBudgets(doc: unknown, file = 'budget file'): Budget[] {
  const bad = (why: string) => new LayerstoreError('E_BUDGET_INVALID', `${file}: ${why}`);
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { budgets?: unknown }).budgets)) throw bad('must be {"budgets": [...]}');
  // As for a rule: a misspelt or misplaced key (a rule written beside "budgets") must not be ignored.
  for (const k of Object.keys(doc)) if (k !== 'budgets') throw bad(`has an unknown key ${JSON.stringify(k)} (the file is {"budgets": [...]})`);
  return (doc as { budgets: unknown[] }).budgets.map((b, i) => {
    const at = `budgets[${i}]`;
    if (typeof b !== 'object' || b === null || Array.isArray(b)) throw bad(`${at} must be an object`);
    const o = b as Record<string, unknown>;
    for (const k of Object.keys(o)) if (!KNOWN.has(k)) throw bad(`${at} has an unknown rule ${JSON.stringify(k)}`);
    const match =
      typeof o.match === 'string' ? [o.match] : Array.isArray(o.match) && o.match.every((m) => typeof m === 'string') ? (o.match as string[]) : undefined;
    if (!match || match.length === 0) throw bad(`${at}.match must be a ref glob or a list of them`);
    const budget: Budget = { match };
    if (o.optional !== undefined) {
      if (typeof o.optional !== 'boolean') throw bad(`${at}.optional must be true or false`);
      budget.optional = o.optional;
    }
    if (o.maxSize !== undefined) budget.maxSize = parseSize(o.maxSize, `${at}.maxSize`);
    if (o.maxLayerSize !== undefined) budget.maxLayerSize = parseSize(o.maxLayerSize, `${at}.maxLayerSize`);
    if (o.maxLayers !== undefined) {
      if (typeof o.maxLayers !== 'number' || !Number.isInteger(o.maxLayers) || o.maxLayers < 0) throw bad(`${at}.maxLayers must be a whole number`);
      budget.maxLayers = o.maxLayers;
    }
    if (o.maxAddedOverBase !== undefined) {
      if (typeof o.base !== 'string') throw bad(`${at}.maxAddedOverBase needs "base": the ref of the base image`);
      budget.maxAddedOverBase = parseSize(o.maxAddedOverBase, `${at}.maxAddedOverBase`);
      budget.base = o.base;
    }
    const wasted = o.maxWasted ?? o.highestWastedBytes;
    if (wasted !== undefined) budget.maxWasted = parseSize(wasted, `${at}.maxWasted`);
    const eff = o.minEfficiency ?? o.lowestEfficiency;
    if (eff !== undefined) budget.minEfficiency = parseRatio(eff, `${at}.minEfficiency`);
    if (o.highestUserWastedPercent !== undefined) budget.maxUserWastedRatio = parseRatio(o.highestUserWastedPercent, `${at}.highestUserWastedPercent`);
    if (o.maxGrowth !== undefined) budget.maxGrowth = parseGrowth(o.maxGrowth, `${at}.maxGrowth`);
    return budget;
  });
}
