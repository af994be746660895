import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { LayerstoreError, toLayerstoreError } from '../errors.js';
import { loadImages, type ImageInfo } from '../analysis/load-images.js';
import { selectImages } from '../analysis/select.js';
import { loadBudgetFile } from '../budget/config.js';
import { computeFilesReport, type FilesReport } from '../analysis/files-report.js';
import { evaluateBudgets, matchesRef, type WasteFigures } from '../budget/evaluate.js';
import { loadBaseline } from '../budget/baseline.js';
import { toJUnit } from '../budget/junit.js';
import { ingestPath } from '../ingest/ingest.js';
import { exitCleanlyOnSignal } from './interrupt.js';
import { Store } from '../store/store.js';
import { toJson } from '../report/json.js';
import { info, storeDir } from './context.js';
import { ingestEngineRef, isEngineRef, type EngineOptions } from './engine-inputs.js';
import { printError } from './errors-out.js';
import { junitCases, renderVerdicts, uncheckedLines, verdictRows } from './budget-text.js';
import { appendAll } from '../util/append.js';

export interface BudgetOptions extends EngineOptions {
  config?: string;
  baseline?: string;
  json?: boolean;
  junit?: string;
}

/**
 * Check size budgets. Arguments may be refs in the store or tarballs/layout directories,
 * which are ingested first, so one CI step does it all. Exit 0 all pass, 1 a budget
 * failed, 2 bad budget file or input.
 */
export async function budgetCommand(args: string[], opts: BudgetOptions): Promise<number> {
  const budgets = await loadBudgetFile(opts.config ?? path.resolve('layerstore-budget.json'));
  const baseline = opts.baseline ? await loadBaseline(opts.baseline) : undefined;
  const paths = new Set<string>();
  for (const a of args)
    if (
      isEngineRef(a) ||
      (await fsp.stat(a).then(
        () => true,
        () => false,
      ))
    )
      paths.add(a);
  // A store is created only to receive inputs; checking refs in a store that is not there
  // (a --store typo) must not pass as "nothing to check".
  const store = await Store.open(storeDir(opts), { create: paths.size > 0 });
  const selectors: string[] = [];
  // Stopped while its inputs come in: as ingest, nothing half-staged stays behind.
  const disposeSignals = paths.size > 0 ? exitCleanlyOnSignal(store, 'the inputs ingested so far are in the store whole; no budget was checked') : () => {};
  for (const a of args) {
    if (!paths.has(a)) {
      selectors.push(a);
      continue;
    }
    try {
      const r = isEngineRef(a) ? await ingestEngineRef(store, a, opts) : await ingestPath(store, a);
      if (!isEngineRef(a)) info(opts, `ingested ${a}: ${r.images.length} image(s)`);
      appendAll(
        selectors,
        r.images.map((i) => i.manifestDigest),
      );
    } catch (e) {
      // As ingest does: a failed input leaves no store where there was none.
      await store.discardIfUnused();
      printError(toLayerstoreError(e, a), opts);
      return 2;
    }
  }
  disposeSignals();
  const all = await loadImages(store);
  const images = selectImages(all, selectors);
  for (const b of budgets) if (b.base) selectImages(all, [b.base]); // a missing base is a bad budget file
  // The file-level analysis runs once, for every checked image, and only if a rule needs it.
  let files: Promise<FilesReport> | undefined;
  const waste = async (img: ImageInfo): Promise<WasteFigures | undefined> => {
    files ??= computeFilesReport(store, images, { top: 0 });
    const f = (await files).images.get(img.manifestDigest);
    // A layer that is not a readable tar: the waste rules of this image are skipped, not guessed.
    if (!f) return undefined;
    return { wastedBytes: f.waste.wastedBytes, totalFileBytes: f.waste.totalFileBytes, userFileBytes: f.userFileBytes };
  };
  const verdicts = await evaluateBudgets(images, budgets, { all, baseline, waste });
  // A budget that matches none of the checked images guards nothing: say which, and fail.
  const idle = budgets.filter((b) => !b.optional && !images.some((i) => i.refs.some((r) => matchesRef(r, b.match))));
  if (idle.length) {
    throw new LayerstoreError(
      'E_BUDGET_INVALID',
      `${idle.length === 1 ? 'a budget matches' : `${idle.length} budgets match`} none of the ${images.length} images checked: ${idle.map((b) => JSON.stringify(b.match.length === 1 ? b.match[0] : b.match)).join(', ')}`,
      {
        hint: 'fix the match glob (layerstore ls lists the refs), or add "optional": true to a budget that may match nothing',
      },
    );
  }
  const failed = verdicts.filter((v) => v.pass === false).length;
  const checked = verdicts.filter((v) => v.pass !== null).length;
  const unchecked = images.filter((i) => !verdicts.some((v) => v.manifestDigest === i.manifestDigest));
  if (opts.junit) await fsp.writeFile(opts.junit, toJUnit(junitCases(verdicts)));
  if (opts.json) {
    process.stdout.write(
      toJson({
        schemaVersion: 1,
        passed: failed === 0 && checked > 0,
        summary: {
          images: images.length,
          rules: verdicts.length,
          failed,
          skipped: verdicts.filter((v) => v.pass === null).length,
          unchecked: unchecked.length,
        },
        results: verdictRows(verdicts),
        unchecked: unchecked.map((i) => ({ refs: i.refs, manifestDigest: i.manifestDigest })),
      }),
    );
  } else {
    process.stdout.write(renderVerdicts(verdicts));
    process.stdout.write(uncheckedLines(unchecked));
    if (failed) process.stdout.write(`FAIL: ${failed} of ${verdicts.length} budget rules failed\n`);
    else if (checked > 0)
      process.stdout.write(
        `PASS: ${checked === verdicts.length ? 'all ' : ''}${checked} budget rules passed${checked < verdicts.length ? ` (${verdicts.length - checked} skipped)` : ''}\n`,
      );
  }
  if (failed) return 1;
  if (checked === 0) {
    // Nothing was actually checked (no image, or every rule skipped): a gate that cannot close is not a pass.
    throw new LayerstoreError(
      'E_BUDGET_INVALID',
      verdicts.length
        ? `every one of the ${verdicts.length} budget rules was skipped (${[...new Set(verdictRows(verdicts).map((v) => v.detail))].join('; ')}): nothing was checked`
        : `no budget rule applied to any image (${images.length} images): nothing was checked`,
      {
        hint: verdicts.length ? 'give what the skipped rules need (e.g. --baseline FILE for maxGrowth)' : "check the budgets' match globs and the images given",
      },
    );
  }
  return 0;
}
