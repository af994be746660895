#!/usr/bin/env node
// Summarise V8 .cpuprofile files (from `node --cpu-prof --cpu-prof-dir=DIR ...`): top functions
// by self time, and by inclusive ("total") time, with file:line. Usage:
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof bin/layerstore.js --store S ingest -q image.tar
//   node bench/cpuprofile-top.mjs /tmp/prof/*.cpuprofile [--top 25] [--total]
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: 'string', default: '25' }, total: { type: 'boolean', default: false } },
});
const top = Number(values.top);

for (const file of positionals) {
  const prof = JSON.parse(fs.readFileSync(file, 'utf8'));
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map(); // node id -> microseconds
  const dt = prof.timeDeltas;
  for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (dt[i] ?? 0));
  const totalUs = dt.reduce((a, b) => a + b, 0);
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const keyOf = (n) => {
    const cf = n.callFrame;
    const url = cf.url ? cf.url.replace(/^file:\/\//, '') : '';
    const short = url
      ? `${url.includes('node_modules') ? url.slice(url.lastIndexOf('node_modules') + 13) : path.relative(process.cwd(), url) || url}:${cf.lineNumber + 1}`
      : '';
    return `${cf.functionName || '(anonymous)'}${short ? `  ${short}` : ''}`;
  };
  const selfBy = new Map();
  const totalBy = new Map();
  for (const n of prof.nodes) {
    const us = self.get(n.id) ?? 0;
    if (!us) continue;
    const k = keyOf(n);
    selfBy.set(k, (selfBy.get(k) ?? 0) + us);
    // inclusive: credit each distinct function on the stack once
    const seen = new Set();
    for (let id = n.id; id !== undefined; id = parent.get(id)) {
      const kk = keyOf(byId.get(id));
      if (seen.has(kk)) continue;
      seen.add(kk);
      totalBy.set(kk, (totalBy.get(kk) ?? 0) + us);
    }
  }
  const show = (m, title) => {
    process.stdout.write(`\n${title}\n`);
    for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) {
      process.stdout.write(`${(us / 1000).toFixed(0).padStart(8)} ms ${((100 * us) / totalUs).toFixed(1).padStart(5)}%  ${k}\n`);
    }
  };
  process.stdout.write(`${file}: ${(totalUs / 1000).toFixed(0)} ms sampled`);
  show(selfBy, 'self time');
  if (values.total) show(totalBy, 'total (inclusive) time');
}
