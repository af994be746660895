#!/usr/bin/env node
// `diff` of two images that differ almost everywhere: N paths changed, N/2 added, N/2 removed
// (every file one byte, so the cost is the changes, not the bytes). Times and peak RSS of
// `diff A B` (table of the 30 largest), `--json` and `--all`, each under GNU time.
//
//   npm run build && node bench/diff-many.mjs --files 500000
//
// The changes are held as refs and written in pieces (analysis/image-diff.ts FileChanges,
// report/streamed-table.ts): memory follows the two images' entries, not the changes.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { LayerSpec, writeDockerSave } from './lib/gen.mjs';
import { fmt, GNU_TIME, table, timeProcess } from './lib/proc.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'bin', 'layerstore.js');
const { values: flags } = parseArgs({
  options: {
    files: { type: 'string', default: '500000' },
    workdir: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
if (!fs.existsSync(path.join(ROOT, 'dist', 'bundle', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npm run build first');
if (!GNU_TIME) process.stderr.write('note: GNU time is missing; peak RSS is polled from /proc (a lower bound)\n');

const N = Number(flags.files);
const work = path.resolve(flags.workdir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'layerstore-diff-many-')));
fs.mkdirSync(work, { recursive: true });

/** One layer: N one-byte files at the same paths in both images (contents differ), N/2 paths of its own. */
const layer = (tag) => {
  const entries = [];
  for (let i = 0; i < N; i++) {
    if (i % 1000 === 0) entries.push({ name: `data/d${i / 1000}/`, type: '5' });
    entries.push({ name: `data/d${Math.floor(i / 1000)}/f${i}`, type: '0', size: 1, body: Buffer.from(tag) });
  }
  for (let i = 0; i < N / 2; i++) entries.push({ name: `only-${tag}/x${i}`, type: '0', size: 0 });
  return new LayerSpec(entries, tag);
};
const store = path.join(work, 'store');
for (const tag of ['a', 'b']) {
  const file = path.join(work, `${tag}.tar`);
  writeDockerSave(file, `many/${tag}:1`, [layer(tag)]);
  await timeProcess(process.execPath, [CLI, '--store', store, 'ingest', '-q', file]);
  fs.rmSync(file);
}
// The file indexes are built once here, so the runs below time the diff itself.
await timeProcess(process.execPath, [CLI, '--store', store, 'report', '--files', '--json']);

const rows = [];
for (const extra of [[], ['--json'], ['--all']]) {
  const out = path.join(work, 'out.txt');
  const r = await timeProcess(process.execPath, [CLI, '--store', store, 'diff', 'many/a:1', 'many/b:1', ...extra], { stdoutFile: out });
  rows.push([`diff ${extra.join(' ') || '(top 30)'}`, fmt(r.seconds, 2), fmt(r.rssMB, 0), fmt(fs.statSync(out).size / 1e6, 1)]);
}
process.stdout.write(`${N} changed, ${N / 2} added, ${N / 2} removed paths\n`);
process.stdout.write(`${table(['run', 'seconds', 'peak RSS MB', 'output MB'], rows)}\n`);
if (!flags.keep) fs.rmSync(work, { recursive: true, force: true });
