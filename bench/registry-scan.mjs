#!/usr/bin/env node
// `report --registry` at scale (issue 18): a docker-registry on loopback populated over the
// API with --tags tags, then, interleaved over --runs runs, layerstore's first run (empty
// store), its second run (nothing changed: the incremental case) and a minimal crawler at the
// same concurrency; plus the analysis alone on a synthetic 20k-image x 30k-layer registry.
//
//   node bench/registry-scan.mjs                           # 20k tags, 3 runs (npm run bench:registry runs this first)
//   LAYERSTORE_REGISTRY_SCAN_TAGS=5000 npm run bench:registry
//   node bench/registry-scan.mjs --tags 5000 --workdir /tmp/lsr --keep   # keep the registry for next time
//
// See bench/README.md ("Registry scan"). Results: bench/results/registry-scan-<date>.json.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { expectedFromPlan, haveRegistry, imageDocs, layerBytes, planFleet, populate, startRegistry } from './lib/registry-fleet.mjs';
import { fmt, GNU_TIME, median, table, timeProcess } from './lib/proc.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'bin', 'layerstore.js');
const CRAWLER = path.join(ROOT, 'bench', 'lib', 'registry-crawler.mjs');
const SYNTH = path.join(ROOT, 'bench', 'lib', 'registry-synthetic.mjs');

const { values: flags } = parseArgs({
  options: {
    tags: { type: 'string', default: process.env.LAYERSTORE_REGISTRY_SCAN_TAGS ?? '20000' },
    runs: { type: 'string', default: '3' },
    concurrency: { type: 'string', default: '8' },
    workdir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    synthetic: { type: 'string', default: '20000x30000' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`usage: node bench/registry-scan.mjs [--tags N=20000] [--runs R=3] [--concurrency C=8]
                                  [--workdir DIR] [--keep] [--synthetic IMAGESxLAYERS=20000x30000] [--out FILE]
  --tags         tags in the registry (50-200 repositories, a latest alias each, 5% retags across repositories;
                 default $LAYERSTORE_REGISTRY_SCAN_TAGS or 20000)
  --runs         interleaved runs of each case (the order reversed every other run)
  --workdir      where the registry's storage and the stores go (default: a fresh dir, removed at the end);
                 with --keep, a later run with the same --workdir and --tags reuses the registry
  --synthetic    the analysis-only phase: images x distinct layers (0 to skip)
`);
  process.exit(0);
}
const tags = Number(flags.tags);
const runs = Number(flags.runs);
const concurrency = Number(flags.concurrency);
if (!(tags >= 100) || !(runs >= 1) || !(concurrency >= 1)) throw new Error('--tags must be >= 100, --runs and --concurrency >= 1');
if (!haveRegistry()) throw new Error('docker-registry is not on PATH (Debian package docker-registry)');
if (!fs.existsSync(path.join(ROOT, 'dist', 'bundle', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npm run build');

const workdir = path.resolve(flags.workdir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'layerstore-regbench-')));
const log = (s) => process.stderr.write(s + '\n');
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;

// ---------------------------------------------------------------------------------------------
// the registry (reused from --workdir when it was built with the same parameters)

const fleet = planFleet(tags);
const fleetDir = path.join(workdir, `fleet-${tags}`);
const marker = path.join(fleetDir, 'fleet.json');
const params = { v: 1, tags, seed: fleet.seed };
let built;
try {
  const saved = JSON.parse(fs.readFileSync(marker, 'utf8'));
  if (JSON.stringify(saved.params) === JSON.stringify(params)) built = saved;
} catch {}
let reg;
if (built) {
  log(`reusing the registry in ${fleetDir} (built in ${built.seconds.toFixed(0)} s)`);
  reg = await startRegistry(fleetDir);
} else {
  fs.rmSync(fleetDir, { recursive: true, force: true });
  reg = await startRegistry(fleetDir);
  log(
    `populating ${tags} tags (${fleet.repos.length} repositories, ${fleet.images.length} images, ${fleet.layers.length} layers) over the API at ${reg.url}...`,
  );
  const p0 = Date.now();
  let last = 0;
  const r = await populate(fleet, reg.url, {
    onProgress: (d, t, phase) => {
      if (Date.now() - last > 10_000) {
        last = Date.now();
        log(`  ${phase}: ${d} of ${t} [${since()}]`);
      }
    },
  });
  built = { params, seconds: (Date.now() - p0) / 1000, blobs: r.blobs, mounts: r.mounts, manifests: r.manifests };
  fs.writeFileSync(marker, JSON.stringify(built, null, 2));
  log(`  populated in ${built.seconds.toFixed(0)} s: ${r.blobs} blob uploads, ${r.mounts} mounts, ${r.manifests} manifest PUTs`);
}
const layerDigests = fleet.layers.map((_, i) => `sha256:${createHash('sha256').update(layerBytes(fleet, i)).digest('hex')}`);
for (let i = 0; i < fleet.images.length; i++) imageDocs(fleet, i, layerDigests);
const expected = expectedFromPlan(fleet, layerDigests);

// ---------------------------------------------------------------------------------------------
// correctness first (untimed): both tools against the plan, and what the second run asks

/** A proxy on 127.0.0.1 counting requests by kind, for the incremental check. */
async function countingProxy(target) {
  const u = new URL(target);
  const seen = { manifestGets: 0, manifestHeads: 0, blobGets: 0, other: 0 };
  const agent = new http.Agent({ keepAlive: true });
  const server = http.createServer((req, res) => {
    const m = /\/manifests\//.test(req.url)
      ? req.method === 'GET'
        ? 'manifestGets'
        : 'manifestHeads'
      : /\/blobs\//.test(req.url) && req.method === 'GET'
        ? 'blobGets'
        : 'other';
    seen[m]++;
    const up = http.request({ host: u.hostname, port: u.port, method: req.method, path: req.url, headers: req.headers, agent }, (ur) => {
      res.writeHead(ur.statusCode, ur.headers);
      ur.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, seen, close: () => new Promise((r) => (server.closeAllConnections(), server.close(r))) };
}

function runJson(cmd, args) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out = [];
    let err = '';
    p.stdout.on('data', (c) => out.push(c));
    p.stderr.on('data', (c) => (err += c));
    p.on('close', (code) =>
      code === 0
        ? resolve(JSON.parse(Buffer.concat(out).toString('utf8')))
        : reject(new Error(`${cmd} ${args.join(' ')}: exit ${code}\n${err.slice(0, 2000)}`)),
    );
  });
}

const checks = [];
const check = (what, ok, detail = '') => {
  checks.push({ what, ok, detail });
  log(`  ${ok ? 'ok  ' : 'FAIL'} ${what}${detail ? `: ${detail}` : ''}`);
};
const refsMatch = (got) => {
  if (got.size !== expected.refs.size) return `${got.size} images, expected ${expected.refs.size}`;
  let bad = 0;
  for (const [d, rs] of expected.refs) if (JSON.stringify(got.get(d)) !== JSON.stringify(rs)) bad++;
  return bad ? `${bad} images with other refs` : '';
};

log(`checking both tools against the plan [${since()}]`);
{
  const crawl = await runJson(process.execPath, [CRAWLER, reg.url, String(concurrency), 'http']);
  const why = refsMatch(new Map(Object.entries(crawl.refs)));
  check('crawler: images and refs as pushed', !why, why);
  check('crawler: blob bytes as pushed', crawl.blobBytes === expected.blobBytes, `${crawl.blobBytes} vs ${expected.blobBytes}`);

  const store = path.join(workdir, 'store-check');
  fs.rmSync(store, { recursive: true, force: true });
  const proxy = await countingProxy(reg.url);
  try {
    const first = await runJson(process.execPath, [CLI, '--store', store, 'report', '--registry', proxy.url, '--json', '--concurrency', String(concurrency)]);
    const why2 = refsMatch(new Map(first.images.map((i) => [i.manifestDigest, i.refs])));
    check('layerstore: images and every ref as pushed (aliases included)', !why2, why2);
    check('layerstore: registry.blobBytes as pushed', first.registry.blobBytes === expected.blobBytes, `${first.registry.blobBytes} vs ${expected.blobBytes}`);
    check('layerstore: complete, every tag read', first.complete && first.scan.tagsRead === tags, `${first.scan.tagsRead} of ${first.scan.tags}`);
    check('layerstore: one config GET per distinct config', proxy.seen.blobGets === expected.images, `${proxy.seen.blobGets} for ${expected.images} images`);
    for (const k of Object.keys(proxy.seen)) proxy.seen[k] = 0;
    const second = await runJson(process.execPath, [CLI, '--store', store, 'report', '--registry', proxy.url, '--json', '--concurrency', String(concurrency)]);
    check(
      'second run: no manifest or config GET, one HEAD per tag',
      proxy.seen.manifestGets === 0 && proxy.seen.blobGets === 0 && proxy.seen.manifestHeads === tags,
      JSON.stringify(proxy.seen),
    );
    const strip = (r) => JSON.stringify({ ...r, scan: { ...r.scan, requests: 0, documents: 0 } });
    check('second run: the same report', strip(first) === strip(second));
  } finally {
    await proxy.close();
  }
}

// ---------------------------------------------------------------------------------------------
// timed runs, interleaved

const cases = {
  crawler: { what: `minimal crawler (node:http keep-alive), the reference`, samples: [] },
  crawlerFetch: { what: `minimal crawler (fetch)`, samples: [] },
  first: { what: 'layerstore report --registry, first run (empty store)', samples: [] },
  second: { what: 'layerstore report --registry, second run (nothing changed)', samples: [] },
};
const load = () => os.loadavg()[0];
const store = path.join(workdir, 'store-timed');
const lsArgs = ['--store', store, 'report', '--registry', reg.url, '--json', '--concurrency', String(concurrency)];
const sample = async (key, cmd, args) => {
  const l0 = load();
  const r = await timeProcess(cmd, args);
  cases[key].samples.push({ seconds: r.seconds, cpuSeconds: r.cpuSeconds, rssMB: r.rssMB, load: l0 });
  log(`  ${key.padEnd(7)} ${r.seconds.toFixed(2)} s, cpu ${fmt(r.cpuSeconds)} s, ${fmt(r.rssMB, 0)} MB (load ${l0.toFixed(1)}) [${since()}]`);
};
log(`timing: ${runs} interleaved runs [${since()}]`);
for (let run = 0; run < runs; run++) {
  const layerstorePair = async () => {
    fs.rmSync(store, { recursive: true, force: true });
    await sample('first', process.execPath, [CLI, ...lsArgs]);
    await sample('second', process.execPath, [CLI, ...lsArgs]);
  };
  const crawlers = async (order) => {
    for (const [key, client] of order) await sample(key, process.execPath, [CRAWLER, reg.url, String(concurrency), client]);
  };
  if (run % 2 === 0) {
    await crawlers([
      ['crawler', 'http'],
      ['crawlerFetch', 'fetch'],
    ]);
    await layerstorePair();
  } else {
    await layerstorePair();
    await crawlers([
      ['crawlerFetch', 'fetch'],
      ['crawler', 'http'],
    ]);
  }
}
await reg.stop();

// ---------------------------------------------------------------------------------------------
// the analysis alone, on a synthetic registry

let synthetic;
const [synImages, synLayers] = flags.synthetic.split('x').map(Number);
if (synImages > 0) {
  log(`synthetic analysis: ${synImages} images x ${synLayers} layers [${since()}]`);
  const r = await timeProcess(process.execPath, [SYNTH, String(synImages), String(synLayers)], { stdoutFile: path.join(workdir, 'synthetic.json') });
  synthetic = { ...JSON.parse(fs.readFileSync(path.join(workdir, 'synthetic.json'), 'utf8')), processSeconds: r.seconds, rssMB: r.rssMB };
}

// ---------------------------------------------------------------------------------------------
// the table

const med = (key, f) => median(cases[key].samples.map(f));
const ratioTo = (key, ref) => median(cases[key].samples.map((s, i) => s.seconds / cases[ref].samples[i].seconds));
const rows = Object.entries(cases).map(([key, c]) => [
  c.what,
  fmt(med(key, (s) => s.seconds)),
  fmt(Math.min(...c.samples.map((s) => s.seconds))),
  fmt(med(key, (s) => s.cpuSeconds)),
  fmt(Math.max(...c.samples.map((s) => s.rssMB ?? NaN)), 0),
  key === 'crawler' ? '1.00' : fmt(ratioTo(key, 'crawler')),
  key === 'second' ? fmt(ratioTo('second', 'first')) : '',
]);
const loads = Object.values(cases).flatMap((c) => c.samples.map((s) => s.load));
const lines = [
  `layerstore registry scan benchmark  ${new Date().toISOString()}`,
  `node ${process.version}, ${os.cpus()[0]?.model.split(' ').slice(0, 2).join(' ')} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM`,
  `registry: docker-registry (distribution 2.8) on loopback, ${tags} tags, ${fleet.repos.length} repositories, ${expected.images} images, ${fleet.layers.length} layers (populated over the API in ${built.seconds.toFixed(0)} s)`,
  `${runs} interleaved runs, concurrency ${concurrency} for every case; load average during the runs ${Math.min(...loads).toFixed(1)} to ${Math.max(...loads).toFixed(1)} (1-minute, ${os.cpus().length} cores)`,
  `x crawler / x first = median over runs of the paired ratio of wall seconds to the node:http crawler / to layerstore's first run (lower is faster)`,
  '',
  table(['what', 'median s', 'min s', 'cpu s', 'peak RSS MB', 'x crawler', 'x first'], rows),
];
if (synthetic) {
  lines.push(
    '',
    `synthetic analysis, ${synthetic.images} images x ${synthetic.layers} layers (${synthetic.references} layer references): analyzeRegistry ${synthetic.analysisSeconds.toFixed(2)} s, JSON out ${synthetic.jsonSeconds.toFixed(2)} s (${(synthetic.jsonBytes / 1e6).toFixed(0)} MB), process ${synthetic.processSeconds.toFixed(2)} s, peak RSS ${fmt(synthetic.rssMB, 0)} MB`,
  );
}
const targets = [
  ['layerstore first run <= 1.15x the crawler', ratioTo('first', 'crawler') <= 1.15, fmt(ratioTo('first', 'crawler'))],
  ['second run <= 0.35x the first', ratioTo('second', 'first') <= 0.35, fmt(ratioTo('second', 'first'))],
  [
    `peak RSS <= 250 MB (${tags} tags)`,
    Math.max(...cases.first.samples.map((s) => s.rssMB ?? Infinity), ...cases.second.samples.map((s) => s.rssMB ?? Infinity)) <= 250,
    `${fmt(Math.max(...cases.first.samples.map((s) => s.rssMB ?? NaN)), 0)} MB`,
  ],
  ...(synthetic ? [[`synthetic analysis < 5 s`, synthetic.analysisSeconds < 5, `${synthetic.analysisSeconds.toFixed(2)} s`]] : []),
  ['correctness checks', checks.every((c) => c.ok), `${checks.filter((c) => c.ok).length} of ${checks.length}`],
];
lines.push('', 'targets:', ...targets.map(([what, ok, got]) => `  ${ok ? 'PASS' : 'MISS'}  ${what}: ${got}`));
if (!GNU_TIME) lines.push('(no GNU time: peak RSS polled from /proc, cpu s not measured)');
process.stdout.write(lines.join('\n') + '\n');

const outFile = flags.out ?? path.join(ROOT, 'bench', 'results', `registry-scan-${new Date().toISOString().replace(/:/g, '-').replace(/\..*/, '')}.json`);
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(
  outFile,
  JSON.stringify(
    {
      params: { tags, runs, concurrency },
      fleet: { repositories: fleet.repos.length, images: expected.images, layers: fleet.layers.length, populateSeconds: built.seconds },
      checks,
      cases,
      synthetic,
      targets,
    },
    null,
    2,
  ),
);
log(`results: ${path.relative(ROOT, outFile)} [${since()}]`);
for (const d of ['store-check', 'store-timed', 'synthetic.json']) fs.rmSync(path.join(workdir, d), { recursive: true, force: true });
if (!flags.keep) fs.rmSync(workdir, { recursive: true, force: true });
