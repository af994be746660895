// Shared driver for the benny micro suites.
//
// benny (benchmark.js underneath) runs case A to the end, then B, ... On a shared, noisy
// machine that lets drift land on one case, so each suite runs `--rounds` times (default 3)
// with the case order reversed on every other round, and the verdict is the median over rounds
// of each case's ops/s and of its ratio to the reference (the first case) measured in the
// same round. benny's own JSON is saved per round
// (bench/results/micro/<suite>.round<k>.json) and its HTML chart once (<suite>.chart.html); the summary over rounds goes to
// bench/results/micro/<suite>.summary.json and is printed as a table.
//
// A benny quirk handled here: to tell sync from async cases, benny calls the case function
// (and the function it returns) once before measuring, without awaiting it. For a 256 MiB
// I/O case that stray call would overlap the first measured ones, so async bodies go through
// probeSafe(), which answers that first call with an already-resolved promise.
import b from 'benny';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RESULTS = path.join(ROOT, 'bench', 'results', 'micro');
export const MiB = 1024 * 1024;

export function microArgs(extra = {}) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '3' },
      'max-time': { type: 'string', default: '3' },
      'min-samples': { type: 'string', default: '5' },
      ...extra,
    },
    allowPositionals: true,
  });
  return values;
}

/** The body benny should time; its first call (benny's type probe) does nothing. */
export function probeSafe(body) {
  let probed = false;
  return () => {
    if (!probed) {
      probed = true;
      return Promise.resolve();
    }
    return body();
  };
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  const m = v.length >> 1;
  return v.length % 2 ? v[m] : (v[m - 1] + v[m]) / 2;
};

/**
 * Run a suite. cases: [{name, fn}] where fn is a sync function or an async one (wrapped with
 * probeSafe here); the first case is the reference. bytesPerOp turns ops/s into MB/s.
 */
export async function runSuite({ id, title, cases, bytesPerOp, opts }) {
  const rounds = Number(opts.rounds);
  const perRound = [];
  for (let r = 0; r < rounds; r++) {
    // Fresh probe guards each round: benny probes every case again in every suite.
    const bodies = new Map(cases.map((c) => [c.name, c.async ? probeSafe(c.fn) : c.fn]));
    const order = r % 2 ? [...cases].reverse() : cases;
    const summary = await b.suite(
      `${title} (round ${r + 1}/${rounds})`,
      b.configure({ minDisplayPrecision: 3, cases: { maxTime: Number(opts['max-time']), minSamples: Number(opts['min-samples']), initCount: 1 } }),
      ...order.map((c) => b.add(c.name, () => bodies.get(c.name))),
      b.cycle((result) => `  ${result.name}: ${fmtOps(result.ops, bytesPerOp)} (±${result.margin.toFixed(1)}%, ${result.samples} samples)`),
      b.complete(),
      b.save({ file: `${id}.round${r + 1}`, folder: RESULTS, format: 'json', details: true }),
      // One chart per suite (the first round's): every round's chart is the same page template.
      ...(r === 0 ? [b.save({ file: id, folder: RESULTS, format: 'chart.html' })] : []),
    );
    perRound.push(Object.fromEntries(summary.results.map((x) => [x.name, x.ops])));
  }
  const ref = cases[0].name;
  const rows = cases.map((c) => {
    const ops = median(perRound.map((p) => p[c.name]));
    const ratio = median(perRound.map((p) => p[c.name] / p[ref]));
    return {
      name: c.name,
      opsPerSec: ops,
      MBps: bytesPerOp ? (ops * bytesPerOp) / 1e6 : undefined,
      ratioVsReference: ratio,
      perRoundOps: perRound.map((p) => p[c.name]),
    };
  });
  const out = { suite: id, title, date: new Date().toISOString(), node: process.version, rounds, bytesPerOp, reference: ref, rows };
  fs.mkdirSync(RESULTS, { recursive: true });
  fs.writeFileSync(path.join(RESULTS, `${id}.summary.json`), JSON.stringify(out, null, 2) + '\n');
  const w = Math.max(...rows.map((r) => r.name.length));
  process.stdout.write(`\n${title}: median of ${rounds} interleaved rounds (reference: ${ref})\n`);
  process.stdout.write(`${'case'.padEnd(w)}  ${'ops/s'.padStart(9)}  ${'MB/s'.padStart(8)}  ${'vs ref'.padStart(7)}\n`);
  for (const r of rows) {
    process.stdout.write(
      `${r.name.padEnd(w)}  ${r.opsPerSec.toFixed(3).padStart(9)}  ${(r.MBps?.toFixed(0) ?? '-').padStart(8)}  ${(r.ratioVsReference.toFixed(2) + 'x').padStart(7)}\n`,
    );
  }
  process.stdout.write(`saved ${path.relative(process.cwd(), path.join(RESULTS, `${id}.summary.json`))}\n\n`);
  return out;
}

function fmtOps(ops, bytesPerOp) {
  return `${ops.toFixed(3)} ops/s${bytesPerOp ? `, ${((ops * bytesPerOp) / 1e6).toFixed(0)} MB/s` : ''}`;
}
