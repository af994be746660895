#!/usr/bin/env node
// Macro benchmark: whole processes on generated images, interleaved with reference tools.
//
//   npm run bench                       # build, then: node bench/macro.mjs
//   node bench/macro.mjs --size-mb 1024 --runs 5
//   node bench/macro.mjs --only raw,zstd --workdir /tmp/lsb --keep    # reuse inputs next time
//
// See bench/README.md for what each number means. Results: bench/results/macro-<date>.json.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as gen from './lib/gen.mjs';
import { podmanStore, startDockerd } from './lib/engines.mjs';
import { fmt, GNU_TIME, median, settle, syncDisks, table, timeProcess, warmPageCache, which } from './lib/proc.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'bin', 'layerstore.js');
const MB = 1e6;
const GROUPS = ['raw', '2n', 'gzip', 'zstd', 'files', 'report', 'engines', 'family'];

const { values: flags } = parseArgs({
  options: {
    'size-mb': { type: 'string', default: '512' },
    runs: { type: 'string', default: '3' },
    workdir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    only: { type: 'string', default: GROUPS.join(',') },
    big: { type: 'boolean', default: false },
    'rootfs-files': { type: 'string' },
    out: { type: 'string' },
    compare: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`usage: node bench/macro.mjs [--size-mb N=512] [--runs R=3] [--only ${GROUPS.join(',')}]
                          [--workdir DIR] [--keep] [--big] [--rootfs-files N] [--out FILE] [--compare DIR]
  --size-mb       size of the main docker-save image (4 uncompressed layers); the RSS check also ingests 2N
  --runs          interleaved runs per measurement (reversed order on every other run)
  --only          measurement groups to run
  --workdir       where inputs and stores go (default: a fresh dir under ${os.tmpdir()}, removed at the end)
  --keep          keep the workdir; a later run with the same --workdir and sizes reuses the inputs
  --big           also time report --json on a 100k-image store
  --rootfs-files  files in the rootfs-like layer (default: 100000 x size/1024, at least 5000)
  (family)        related images: a base of 86 MB and six images adding 4 MB each on it, written
                  as skopeo writes docker-archives (626 MB in 7 files, 110 MB distinct), all
                  given to one command; against skopeo copy to one layout and docker load
  --compare DIR   also run every layerstore case with DIR/bin/layerstore.js (another built checkout,
                  e.g. a git worktree of a branch), interleaved in the same runs: an A/B of a change
`);
  process.exit(0);
}

const sizeMb = Number(flags['size-mb']);
const runs = Number(flags.runs);
const only = new Set(flags.only.split(',').map((s) => s.trim()));
for (const g of only) if (!GROUPS.includes(g)) throw new Error(`--only: unknown group ${g} (groups: ${GROUPS.join(', ')})`);
if (!(sizeMb >= 8) || !(runs >= 1)) throw new Error('--size-mb must be >= 8 and --runs >= 1');
const rootfsFiles = Number(flags['rootfs-files'] ?? Math.max(5000, Math.round((100_000 * sizeMb) / 1024)));
const workdir = path.resolve(flags.workdir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'layerstore-bench-')));
fs.mkdirSync(workdir, { recursive: true });
const W = (...p) => path.join(workdir, ...p);

if (!fs.existsSync(path.join(ROOT, 'dist', 'bundle', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npm run build (npm run bench does)');
const SKOPEO = which('skopeo');
const tools = { openssl: which('openssl'), sha256sum: which('sha256sum'), gzip: which('gzip'), zstd: which('zstd'), igzip: which('igzip') };
for (const [k, v] of Object.entries(tools)) if (!v) throw new Error(`${k} is not on PATH; the macro benchmark needs it as a reference`);

const log = (s) => process.stderr.write(s + '\n');
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;

// ---------------------------------------------------------------------------------------------
// inputs (deterministic; reused from --workdir when the parameters match)

const params = { v: 3, sizeMb, rootfsFiles };
const inputsFile = W('inputs.json');
let inputs;
try {
  const saved = JSON.parse(fs.readFileSync(inputsFile, 'utf8'));
  if (JSON.stringify(saved.params) === JSON.stringify(params)) inputs = saved;
} catch {}
if (inputs) log(`reusing inputs in ${workdir} where present`);
inputs ??= { params, reportStores: {} };
const saveInputs = () => fs.writeFileSync(inputsFile, JSON.stringify(inputs, null, 2));

// Each group's inputs are made only when the group runs (and kept in inputs.json for reuse).
const layerBytes = Math.floor((sizeMb * MB) / 4);
const bigSpecs = () => [0, 1, 2, 3].map((i) => gen.bigFilesLayer(`big-${sizeMb}-${i}`, layerBytes));
const tarBytesOf = (o) => o.layers.reduce((n, l) => n + l.tarSize, 0);
let announced = false;
const announce = () => {
  if (!announced) log(`generating inputs in ${workdir} (size ${sizeMb} MB, rootfs ${rootfsFiles} files)...`);
  announced = true;
};
if ((only.has('raw') || only.has('engines')) && !inputs.save) {
  announce();
  const save = gen.writeDockerSave(W('save-N.tar'), 'bench/big:n', bigSpecs());
  inputs.save = { file: save.file, bytes: save.bytes };
  saveInputs();
  log(`  save-N.tar ${(save.bytes / MB).toFixed(0)} MB [${since()}]`);
}
if (only.has('2n') && !inputs.save2) {
  announce();
  const specs2 = [0, 1, 2, 3].map((i) => gen.bigFilesLayer(`big2-${sizeMb}-${i}`, 2 * layerBytes));
  const save2 = gen.writeDockerSave(W('save-2N.tar'), 'bench/big:2n', specs2);
  inputs.save2 = { file: save2.file, bytes: save2.bytes };
  saveInputs();
  log(`  save-2N.tar ${(save2.bytes / MB).toFixed(0)} MB [${since()}]`);
}
for (const kind of ['gzip', 'zstd']) {
  if (!only.has(kind) || inputs[kind]) continue;
  announce();
  // The N image's layer tars, compressed by the CLI at level 1.
  const layerFiles = bigSpecs().map((s, i) => ({ file: W(`layer-${i}.tar`), ...gen.writeLayerFile(W(`layer-${i}.tar`), s) }));
  const o = gen.writeOciLayout(W(`oci-${kind}`), `bench/big:${kind}`, layerFiles, kind);
  for (const l of layerFiles) fs.rmSync(l.file);
  inputs[kind] = { dir: o.dir, bytes: o.bytes, tarBytes: tarBytesOf(o), blobs: o.layers.map((l) => l.blob) };
  saveInputs();
  log(`  oci-${kind} ${(o.bytes / MB).toFixed(0)} MB [${since()}]`);
}
if (only.has('files') && !inputs.rootfs) {
  announce();
  const rootfs = gen.writeDockerSave(W('rootfs.tar'), 'bench/rootfs:1', [gen.rootfsLayer(`rootfs-${rootfsFiles}`, rootfsFiles)]);
  inputs.rootfs = { file: rootfs.file, bytes: rootfs.bytes, layerHex: rootfs.diffIds[0], files: rootfsFiles };
  saveInputs();
  log(`  rootfs.tar ${(rootfs.bytes / MB).toFixed(0)} MB, ${rootfsFiles} files [${since()}]`);
}
if (only.has('family') && !inputs.family) {
  announce();
  const images = gen.writeImageFamily(W('family'), { baseBytes: 86 * MB, appBytes: 4 * MB, derived: 6 });
  inputs.family = { files: images.map((i) => i.file), refs: images.map((i) => i.ref), bytes: images.reduce((n, i) => n + i.bytes, 0) };
  saveInputs();
  log(`  family: ${images.length} archives, ${(inputs.family.bytes / MB).toFixed(0)} MB [${since()}]`);
}
const reportSizes = [1000, 10000, ...(flags.big ? [100000] : [])];
if (only.has('report')) {
  for (const n of reportSizes) {
    if (inputs.reportStores[n]) continue;
    announce();
    const s = gen.writeManifestOnlyStore(W(`report-${n}`), n);
    inputs.reportStores[n] = { dir: s.dir, blobs: s.blobs };
    saveInputs();
    log(`  report-${n} store: ${s.blobs} blobs [${since()}]`);
  }
}
saveInputs();

// ---------------------------------------------------------------------------------------------
// fixed stores the cases read

const ls = (store, ...args) => [CLI, '--store', store, ...args];
const rm = (p) => fs.rmSync(p, { recursive: true, force: true });

async function prepareStore(dir, input) {
  rm(dir);
  await timeProcess('node', ls(dir, 'ingest', '-q', input));
}
const warmStore = W('store-warm');
const filesStore = W('store-files');
const familyStore = W('store-family');
if (only.has('raw')) await prepareStore(warmStore, inputs.save.file);
if (only.has('family')) {
  rm(familyStore);
  await timeProcess('node', ls(familyStore, 'ingest', '-q', ...inputs.family.files));
}
if (only.has('files')) await prepareStore(filesStore, inputs.rootfs.file);
const rootfsBlob = inputs.rootfs ? path.join(filesStore, 'blobs', 'sha256', inputs.rootfs.layerHex) : undefined;

// The engines group: the N image loaded into a private dockerd and a private podman store
// (vfs), each exported once to a file for the openssl reference on the same bytes.
const engines = { docker: undefined, podman: undefined, skipped: [] };
if (only.has('engines') || only.has('family')) {
  const d = await startDockerd(workdir);
  if (d.skip) engines.skipped.push(`docker-daemon: ${d.skip}`);
  else engines.docker = d;
}
if (only.has('engines')) {
  const d = engines.docker;
  if (d) {
    const load = spawnSync('docker', ['load', '-q', '-i', inputs.save.file], { env: d.env, encoding: 'utf8' });
    if (load.status !== 0) throw new Error(`docker load: ${load.stderr}`);
    spawnSync('docker', ['save', '-o', W('docker-saved.tar'), 'bench/big:n'], { env: d.env });
    log(`  dockerd (${d.driver}) loaded bench/big:n [${since()}]`);
  }
  const p = podmanStore(workdir);
  if (p.skip) engines.skipped.push(`containers-storage: ${p.skip}`);
  else {
    engines.podman = p;
    const load = p.podman(['load', '-q', '-i', inputs.save.file]);
    if (load.status !== 0) throw new Error(`podman load: ${load.stderr}`);
    p.podman(['save', '-o', W('podman-saved.tar'), 'bench/big:n']);
    log(`  podman (vfs) loaded bench/big:n [${since()}]`);
  }
}
for (const why of engines.skipped) log(`  engines: skipping ${why}`);

// ---------------------------------------------------------------------------------------------
// cases

const cases = [];
const add = (c) => only.has(c.group) && cases.push(c);
const coldStore = W('store-cold');
const skopeoDir = W('skopeo-out');

const ingestCase = (c) => ({ ...c, cmd: 'node', before: () => rm(coldStore), after: () => rm(coldStore), ingest: true });
if (engines.docker && only.has('engines')) {
  const { env, socket } = engines.docker;
  const saved = W('docker-saved.tar');
  const bytes = fs.statSync(saved).size;
  const out = W('docker-save-out.tar');
  add({ id: 'openssl-docker', group: 'engines', what: 'openssl dgst -sha256 (docker save bytes)', bytes, cmd: 'openssl', args: ['dgst', '-sha256', saved] });
  add({
    id: 'docker-save',
    group: 'engines',
    what: 'docker save -o FILE (N)',
    bytes,
    cmd: 'docker',
    args: ['save', '-o', out, 'bench/big:n'],
    env,
    before: () => rm(out),
    after: () => rm(out),
  });
  add(
    ingestCase({
      id: 'ingest-docker',
      group: 'engines',
      what: 'ingest docker-daemon:, cold store (N)',
      bytes,
      args: ls(coldStore, 'ingest', '-q', '--engine-socket', socket, 'docker-daemon:bench/big:n'),
    }),
  );
}
if (engines.podman) {
  const { env, where, spec } = engines.podman;
  const saved = W('podman-saved.tar');
  const bytes = fs.statSync(saved).size;
  const out = W('podman-save-out.tar');
  add({ id: 'openssl-podman', group: 'engines', what: 'openssl dgst -sha256 (podman save bytes)', bytes, cmd: 'openssl', args: ['dgst', '-sha256', saved] });
  add({
    id: 'podman-save',
    group: 'engines',
    what: 'podman save -o FILE (N)',
    bytes,
    cmd: 'podman',
    args: [...where, 'save', '-o', out, 'bench/big:n'],
    env,
    before: () => rm(out),
    after: () => rm(out),
  });
  add(
    ingestCase({
      id: 'ingest-cstorage',
      group: 'engines',
      what: 'ingest containers-storage:, cold store (N)',
      bytes,
      args: ls(coldStore, 'ingest', '-q', `containers-storage:${spec}bench/big:n`),
    }),
  );
}
if (only.has('raw')) {
  const { file, bytes } = inputs.save;
  add({ id: 'openssl', group: 'raw', what: 'openssl dgst -sha256 (N)', bytes, cmd: 'openssl', args: ['dgst', '-sha256', file] });
  add({ id: 'sha256sum', group: 'raw', what: 'sha256sum (N)', bytes, cmd: 'sha256sum', args: [file] });
  add(ingestCase({ id: 'cold', group: 'raw', what: 'ingest, cold store (N)', bytes, args: ls(coldStore, 'ingest', '-q', file) }));
  if (SKOPEO) {
    // Next to the cold ingest it is compared with (see the family group).
    const args = ['copy', '-q', '--dest-oci-accept-uncompressed-layers', `docker-archive:${file}`, `oci:${skopeoDir}:x`];
    add({
      id: 'skopeo',
      group: 'raw',
      what: 'skopeo copy docker-archive: -> oci: (N)',
      bytes,
      cmd: SKOPEO,
      args,
      before: () => rm(skopeoDir),
      after: () => rm(skopeoDir),
    });
  }
  add({ id: 'warm', group: 'raw', what: 'ingest, warm store (N)', bytes, cmd: 'node', args: ls(warmStore, 'ingest', '-q', file), ingest: true });
  // The disk's own floor for a cold ingest: write the same bytes to the store's file system
  // and fsync them, nothing else.
  const ddOut = W('dd-out');
  add({
    id: 'dd-fsync',
    group: 'raw',
    what: 'dd bs=1M conv=fsync (N): the disk floor',
    bytes,
    cmd: 'dd',
    args: [`if=${file}`, `of=${ddOut}`, 'bs=1M', 'conv=fsync', 'status=none'],
    before: () => rm(ddOut),
    after: () => rm(ddOut),
  });
}
if (only.has('family')) {
  const { files, refs, bytes } = inputs.family;
  add({ id: 'openssl-family', group: 'family', what: 'openssl dgst -sha256 (family, 7 files)', bytes, cmd: 'openssl', args: ['dgst', '-sha256', ...files] });
  add(ingestCase({ id: 'family-cold', group: 'family', what: 'ingest family, empty store', bytes, args: ls(coldStore, 'ingest', '-q', ...files) }));
  if (SKOPEO) {
    // Next to the cold ingest it is compared with, so that both meet the machine in much the
    // same state in either order of a run (on this VM a process's page-cache writes cost
    // more or less with what the case before it did: docs/PERFORMANCE.md, eighth pass).
    // One shared layout, as a user would keep one: skopeo skips a blob the layout has.
    const dir = W('skopeo-family');
    const loop = `for f in "$@"; do n=$(basename "$f" .tar); ${SKOPEO} copy -q --dest-oci-accept-uncompressed-layers "docker-archive:$f" "oci:${dir}:$n" || exit 1; done`;
    add({
      id: 'skopeo-family',
      group: 'family',
      what: 'skopeo copy docker-archive: -> one oci: layout (family)',
      bytes,
      cmd: 'sh',
      args: ['-c', loop, 'sh', ...files],
      before: () => rm(dir),
      after: () => rm(dir),
    });
  }
  add({
    id: 'family-warm',
    group: 'family',
    what: 'ingest family, all blobs stored',
    bytes,
    cmd: 'node',
    args: ls(familyStore, 'ingest', '-q', ...files),
    ingest: true,
  });
  // The floor of any Node CLI here: the runtime's own start-up, with the same environment.
  add({ id: 'node-start', group: 'family', what: 'node -e 0 (Node start-up alone)', cmd: 'node', args: ['-e', '0'] });
  if (process.env.NODE_EXTRA_CA_CERTS)
    add({
      id: 'node-start-no-ca',
      group: 'family',
      what: 'node -e 0 without NODE_EXTRA_CA_CERTS',
      cmd: 'node',
      args: ['-e', '0'],
      env: { NODE_EXTRA_CA_CERTS: undefined },
    });
  if (engines.docker) {
    const { env } = engines.docker;
    const unload = () => spawnSync('docker', ['rmi', '-f', ...refs], { env, stdio: 'ignore' });
    add({
      id: 'docker-load-family',
      group: 'family',
      what: `docker load -i (family, ${engines.docker.driver})`,
      bytes,
      cmd: 'sh',
      args: ['-c', 'for f in "$@"; do docker load -q -i "$f" >/dev/null || exit 1; done', 'sh', ...files],
      env,
      before: unload,
      after: unload,
    });
  }
}
if (only.has('2n')) {
  const { file, bytes } = inputs.save2;
  add({ id: 'openssl-2n', group: '2n', what: 'openssl dgst -sha256 (2N)', bytes, cmd: 'openssl', args: ['dgst', '-sha256', file] });
  add(ingestCase({ id: 'cold-2n', group: '2n', what: 'ingest, cold store (2N)', bytes, args: ls(coldStore, 'ingest', '-q', file) }));
}
// zstd built with zlib decompresses gzip too (with the system zlib): a second gzip reference.
const ZSTD_GZIP = only.has('gzip') && spawnSync('zstd', ['-dcq', '--format=gzip'], { input: gzipSync(Buffer.from('probe')) }).stdout?.toString() === 'probe';
if (only.has('gzip')) {
  const { dir, blobs, tarBytes: bytes } = inputs.gzip;
  add({ id: 'gzip-dc', group: 'gzip', what: 'gzip -dc (layer blobs)', bytes, cmd: 'gzip', args: ['-dc', ...blobs] });
  if (ZSTD_GZIP)
    add({ id: 'zstd-gz-dc', group: 'gzip', what: 'zstd -dc --format=gzip (layer blobs)', bytes, cmd: 'zstd', args: ['-dc', '--format=gzip', ...blobs] });
  // ISA-L's igzip, which ingest runs for big gzip layers when it is installed (context: the target's references stay the usual inflaters).
  if (tools.igzip) add({ id: 'igzip-dc', group: 'gzip', what: 'igzip -dc (layer blobs)', bytes, cmd: 'igzip', args: ['-dc', ...blobs] });
  add({
    id: 'node-gunzip',
    group: 'gzip',
    what: 'node:zlib gunzip (layer blobs)',
    bytes,
    cmd: 'node',
    args: [path.join(ROOT, 'bench', 'lib', 'gunzip.mjs'), ...blobs],
  });
  add(ingestCase({ id: 'ingest-gzip', group: 'gzip', what: 'ingest OCI dir, gzip layers, cold', bytes, args: ls(coldStore, 'ingest', '-q', dir) }));
}
if (only.has('zstd')) {
  const { dir, blobs, tarBytes: bytes } = inputs.zstd;
  add({ id: 'zstd-dc', group: 'zstd', what: 'zstd -dc (layer blobs)', bytes, cmd: 'zstd', args: ['-dc', ...blobs] });
  add(ingestCase({ id: 'ingest-zstd', group: 'zstd', what: 'ingest OCI dir, zstd layers, cold', bytes, args: ls(coldStore, 'ingest', '-q', dir) }));
}
const derived = path.join(filesStore, '.layerstore', 'derived');
if (only.has('files')) {
  const { bytes, files } = inputs.rootfs;
  add({ id: 'openssl-layer', group: 'files', what: 'openssl dgst -sha256 (rootfs layer)', bytes, cmd: 'openssl', args: ['dgst', '-sha256', rootfsBlob] });
  add({
    id: 'files',
    group: 'files',
    what: `report --files, index build (${files} files)`,
    bytes,
    cmd: 'node',
    args: ls(filesStore, 'report', '--files'),
    before: () => rm(derived),
  });
  // The same report with the index cached: what report --files costs besides building the
  // index (start-up, reading the cached index, the overlay and waste analysis, output).
  const indexCached = () => {
    if (!fs.existsSync(path.join(derived, 'files'))) spawnSync(process.execPath, ls(filesStore, 'report', '--files'), { stdio: 'ignore' });
  };
  add({ id: 'files-cached', group: 'files', what: '  same, index cached', bytes, cmd: 'node', args: ls(filesStore, 'report', '--files'), before: indexCached });
}
for (const n of only.has('report') ? reportSizes : []) {
  // Two cases per store: with the image-record cache report keeps in derived/ (the usual
  // case: any earlier ls/report wrote it), and without it (first run on a store).
  const dir = inputs.reportStores[n].dir;
  const records = path.join(dir, '.layerstore', 'derived', 'records.json');
  const warmUp = () => {
    if (!fs.existsSync(records)) spawnSync(process.execPath, ls(dir, 'report', '--json'), { stdio: 'ignore' });
  };
  add({
    id: `report-${n}`,
    group: 'report',
    what: `report --json, ${n / 1000}k images x 10 layers`,
    cmd: 'node',
    args: ls(dir, 'report', '--json'),
    before: warmUp,
  });
  add({
    id: `report-${n}-cold`,
    group: 'report',
    what: `  same, no record cache (first run)`,
    cmd: 'node',
    args: ls(dir, 'report', '--json'),
    before: () => rm(records),
  });
}

const COMPARE_CLI = flags.compare ? path.resolve(flags.compare, 'bin', 'layerstore.js') : undefined;
if (COMPARE_CLI) {
  if (!fs.existsSync(path.resolve(flags.compare, 'dist', 'src', 'cli', 'main.js')))
    throw new Error(`--compare ${flags.compare}: no dist/ there (build it first)`);
  for (const c of [...cases]) {
    if (c.cmd !== 'node' || c.args[0] !== CLI) continue;
    cases.push({ ...c, id: `${c.id}@cmp`, what: `${c.what} [compare]`, args: [COMPARE_CLI, ...c.args.slice(1)], twinOf: c.id });
  }
}

// ---------------------------------------------------------------------------------------------
// run, interleaved: run r goes through every case, in reverse order on odd runs

const pageCacheFiles = [
  W('docker-saved.tar'),
  W('podman-saved.tar'),
  inputs.save?.file,
  inputs.save2?.file,
  ...(inputs.gzip?.blobs ?? []),
  ...(inputs.zstd?.blobs ?? []),
  inputs.rootfs?.file,
  ...(inputs.family?.files ?? []),
].filter((f) => f && fs.existsSync(f));
warmPageCache(pageCacheFiles);
log(`${cases.length} cases x ${runs} runs; GNU time: ${GNU_TIME ? 'yes' : 'no (polling VmHWM)'}; skopeo: ${SKOPEO ? 'yes' : 'no'} [${since()}]`);
const samples = Object.fromEntries(cases.map((c) => [c.id, []]));
for (let r = 0; r < runs; r++) {
  const order = r % 2 ? [...cases].reverse() : cases;
  for (const c of order) {
    c.before?.();
    syncDisks();
    const settledMs = await settle();
    const res = await timeProcess(c.cmd, c.args, { cwd: workdir, env: c.env });
    c.after?.();
    samples[c.id][r] = { seconds: res.seconds, cpuSeconds: res.cpuSeconds, rssMB: res.rssMB, load1: os.loadavg()[0], settledMs };
    log(
      `  run ${r + 1}/${runs} ${c.id.padEnd(14)} ${res.seconds.toFixed(3)} s  cpu ${fmt(res.cpuSeconds, 2)} s  ${fmt(res.rssMB, 0)} MB  load ${os.loadavg()[0].toFixed(1)} [${since()}]`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// results

const med = (id, k = 'seconds') => median((samples[id] ?? []).map((s) => s[k]));
const maxRss = (id) => Math.max(...(samples[id] ?? []).map((s) => s.rssMB ?? 0));
/** Median over runs of (reference time / case time): relative throughput, paired within each run. */
function ratio(id, refId) {
  if (!samples[id] || !samples[refId]) return undefined;
  return median(samples[id].map((s, r) => samples[refId][r].seconds / s.seconds));
}
const refOf = {
  openssl: 'openssl',
  sha256sum: 'openssl',
  cold: 'openssl',
  warm: 'openssl',
  'dd-fsync': 'openssl',
  skopeo: 'openssl',
  'openssl-2n': 'openssl-2n',
  'cold-2n': 'openssl-2n',
  'gzip-dc': 'gzip-dc',
  'zstd-gz-dc': 'gzip-dc',
  'igzip-dc': 'gzip-dc',
  'node-gunzip': 'gzip-dc',
  'ingest-gzip': 'gzip-dc',
  'zstd-dc': 'zstd-dc',
  'ingest-zstd': 'zstd-dc',
  'openssl-layer': 'openssl-layer',
  files: 'openssl-layer',
  'files-cached': 'openssl-layer',
  'docker-save': 'openssl-docker',
  'ingest-docker': 'docker-save',
  'podman-save': 'openssl-podman',
  'ingest-cstorage': 'podman-save',
  'family-cold': 'openssl-family',
  'family-warm': 'openssl-family',
  'skopeo-family': 'openssl-family',
  'docker-load-family': 'openssl-family',
};
const skopeoOf = { cold: 'skopeo', warm: 'skopeo', 'family-cold': 'skopeo-family', 'family-warm': 'skopeo-family' };
for (const c of cases) if (c.twinOf && refOf[c.twinOf]) refOf[c.id] = refOf[c.twinOf];
const rows = cases.map((c) => {
  const s = med(c.id);
  const ref = refOf[c.id];
  return {
    id: c.id,
    what: c.what,
    medianSeconds: s,
    minSeconds: Math.min(...samples[c.id].map((x) => x.seconds)),
    MBps: c.bytes && s ? c.bytes / MB / s : undefined,
    cpuSeconds: med(c.id, 'cpuSeconds'),
    ref,
    ratioVsRef: ref ? ratio(c.id, ref) : undefined,
    ratioVsSkopeo: skopeoOf[c.twinOf ?? c.id] ? ratio(c.id, skopeoOf[c.twinOf ?? c.id]) : undefined,
    ratioVsThisCheckout: c.twinOf ? ratio(c.id, c.twinOf) : undefined,
    peakRssMB: med(c.id, 'rssMB'),
    maxPeakRssMB: maxRss(c.id),
    samples: samples[c.id],
  };
});
const row = (id) => rows.find((r) => r.id === id);

/** Paired ratio against the fastest of several references in each run. */
function ratioVsFastest(id, refIds) {
  const refs = refIds.filter((r) => samples[r]);
  if (!samples[id] || refs.length === 0) return undefined;
  return median(samples[id].map((s, r) => Math.min(...refs.map((x) => samples[x][r].seconds)) / s.seconds));
}
/**
 * The index build alone: per run, openssl seconds / (report --files seconds − the same
 * report with the index cached seconds), paired within the run; the median over runs.
 */
function indexBuildRatio() {
  const [a, b, ref] = [samples.files, samples['files-cached'], samples['openssl-layer']];
  if (!a || !b || !ref) return undefined;
  return median(a.map((s, r) => ref[r].seconds / Math.max(1e-3, s.seconds - b[r].seconds)));
}
const targets = [];
const target = (name, value, want, cmp, unit = 'x') => {
  const wantText = `${cmp} ${unit === 'x' ? `${want}x` : `${Number(want.toFixed(1))} ${unit}`}`;
  if (value === undefined) return targets.push({ name, value: null, want: wantText, status: 'n/a' });
  const pass = cmp === '>=' ? value >= want : value <= want;
  targets.push({ name, value, want: wantText, status: pass ? 'PASS' : 'MISS', unit });
};
target('cold ingest vs openssl dgst', row('cold')?.ratioVsRef, 0.6, '>=');
target('cold ingest vs skopeo copy', row('cold')?.ratioVsSkopeo, 2.5, '>=');
// Context, not a target: how close cold ingest is to writing the same bytes with dd.
const coldVsDisk = samples.cold && samples['dd-fsync'] ? median(samples.cold.map((s, r) => samples['dd-fsync'][r].seconds / s.seconds)) : undefined;
target('warm ingest vs openssl dgst', row('warm')?.ratioVsRef, 0.85, '>=');
target('related family, empty store, vs skopeo copy', row('family-cold')?.ratioVsSkopeo, 1.5, '>=');
target('related family, all blobs stored, vs openssl dgst', row('family-warm')?.ratioVsRef, 5, '>=');
target(
  `gzip ingest vs fastest of gzip -dc${ZSTD_GZIP ? ', zstd --format=gzip' : ''}, node:zlib`,
  ratioVsFastest('ingest-gzip', ['gzip-dc', 'zstd-gz-dc', 'node-gunzip']),
  0.9,
  '>=',
);
target('zstd ingest vs zstd -dc', row('ingest-zstd')?.ratioVsRef, 0.9, '>=');
target('file index: report --files end to end vs openssl dgst', row('files')?.ratioVsRef, 0.45, '>=');
target('file index build alone (report --files minus same, cached) vs openssl', indexBuildRatio(), 0.45, '>=');
target('report --json, 10k images x 10 layers (seconds)', row('report-10000')?.medianSeconds, 2, '<=', 's');
// The engine's own export is the floor: ingest of docker-daemon:X within 1.2x of docker save X -o FILE.
target('ingest docker-daemon: vs docker save -o FILE', row('ingest-docker')?.ratioVsRef, 0.83, '>=');
target('ingest containers-storage: vs podman save -o FILE', row('ingest-cstorage')?.ratioVsRef, 0.83, '>=');
const ingestRows = rows.filter((r) => cases.find((c) => c.id === r.id && !c.twinOf)?.ingest);
const peak = ingestRows.length ? Math.max(...ingestRows.map((r) => r.maxPeakRssMB)) : undefined;
target('ingest peak RSS (max over ingest runs)', peak, 150, '<=', 'MB');
const rssN = row('cold')?.peakRssMB;
const rss2N = row('cold-2n')?.peakRssMB;
const growth = rssN !== undefined && rss2N !== undefined ? rss2N - rssN : undefined;
target('ingest RSS growth N -> 2N (flat)', growth, Math.max(8, (rssN ?? 0) * 0.1), '<=', 'MB');

function describeInputs() {
  const mb = (x) => `${(x / MB).toFixed(0)} MB`;
  const parts = [];
  if (inputs.save) parts.push(`N = ${mb(inputs.save.bytes)} (4 layers)`);
  if (inputs.save2) parts.push(`2N = ${mb(inputs.save2.bytes)}`);
  for (const k of ['gzip', 'zstd']) if (inputs[k]) parts.push(`${k} ${mb(inputs[k].bytes)} of ${mb(inputs[k].tarBytes)} tar`);
  if (inputs.family) parts.push(`family ${mb(inputs.family.bytes)} in ${inputs.family.files.length} archives`);
  if (inputs.rootfs) parts.push(`rootfs ${mb(inputs.rootfs.bytes)} / ${inputs.rootfs.files} files`);
  return parts.join(', ') || 'no inputs';
}
function loadRange() {
  const l = Object.values(samples)
    .flat()
    .map((s) => s.load1)
    .filter((x) => x !== undefined);
  return l.length ? `${Math.min(...l).toFixed(1)} to ${Math.max(...l).toFixed(1)} (1-minute, ${os.cpus().length} cores)` : '-';
}
const header = ['what', 'median s', 'min s', 'cpu s', 'MB/s', 'ratio', 'vs', 'vs skopeo', 'peak RSS MB', ...(COMPARE_CLI ? ['compare vs this'] : [])];
// Measured context for the rows that miss: what bounds them, from this run's own numbers.
const context = [];
const busy = (id) => (row(id)?.cpuSeconds && row(id)?.medianSeconds ? row(id).cpuSeconds / row(id).medianSeconds : undefined);
if (coldVsDisk !== undefined) {
  const cold = samples.cold.map((s) => `${fmt(s.seconds, 2)} s/${fmt(s.cpuSeconds, 2)} cpu`).join(', ');
  const dd = samples['dd-fsync'].map((s) => `${fmt(s.seconds, 2)} s/${fmt(s.cpuSeconds, 2)} cpu`).join(', ');
  context.push(
    `cold ingest runs at ${fmt(coldVsDisk, 2)}x the speed of dd writing and fsyncing the same bytes; per run, cold ${cold}; dd ${dd}; warm ingest (the same minus the writes) ${fmt(row('warm')?.cpuSeconds, 2)} cpu`,
  );
}
for (const [id, ref, what] of [
  ['ingest-docker', 'openssl-docker', 'docker-daemon:'],
  ['ingest-cstorage', 'openssl-podman', 'containers-storage:'],
]) {
  if (row(id) && samples[ref])
    context.push(`ingest ${what} runs at ${fmt(ratio(id, ref), 2)}x openssl dgst -sha256 of the same exported bytes (cpu ${fmt(row(id).cpuSeconds, 2)} s)`);
}
for (const why of engines.skipped) context.push(`engines: skipped ${why}`);
if (row('family-warm') && row('node-start')) {
  const warm = row('family-warm').medianSeconds;
  const node = row('node-start').medianSeconds;
  const ca = row('node-start-no-ca')
    ? `, ${fmt(node - row('node-start-no-ca').medianSeconds, 3)} s of it reading NODE_EXTRA_CA_CERTS, which this environment sets`
    : '';
  const floor = row('openssl-family') ? `; 5x openssl is ${fmt(row('openssl-family').medianSeconds / 5, 3)} s` : '';
  context.push(
    `ingest family, all blobs stored: ${fmt(warm, 3)} s, of which ${fmt(node, 3)} s is Node starting up (node -e 0${ca})${floor}; layerstore's own share ${fmt(warm - node, 3)} s`,
  );
}
if (row('ingest-gzip'))
  context.push(`gzip ingest keeps ${fmt(busy('ingest-gzip'), 1)} of ${os.cpus().length} cores busy (cpu s / wall s; the fastest gunzip uses one)`);
if (row('ingest-zstd') && row('zstd-dc'))
  context.push(
    `zstd ingest uses ${fmt(row('ingest-zstd').cpuSeconds, 2)} s of CPU where zstd -dc uses ${fmt(row('zstd-dc').cpuSeconds, 2)} s: it also hashes both streams, stages the compressed bytes and starts a zstd child per layer`,
  );
if (row('files') && row('files-cached'))
  context.push(
    `report --files spends ${fmt(row('files-cached').medianSeconds, 2)} s of its ${fmt(row('files').medianSeconds, 2)} s on work besides the index (the same report with the index cached)`,
  );

const text = [
  `layerstore macro benchmark  ${new Date().toISOString()}`,
  `node ${process.version}, ${os.cpus()[0]?.model ?? '?'} x${os.cpus().length}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB RAM, load ${os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' ')}`,
  `${describeInputs()}; ${runs} interleaved runs`,
  'ratio = median over runs of (reference seconds / case seconds), paired within a run: > 1 is faster than the reference',
  'cpu s = user + sys of the process (median); on a loaded machine it moves less than wall time',
  `load average during the runs: ${loadRange()}`,
  '',
  table(
    header,
    rows.map((r) => [
      r.what,
      fmt(r.medianSeconds, 3),
      fmt(r.minSeconds, 3),
      fmt(r.cpuSeconds, 2),
      fmt(r.MBps, 0),
      r.ref && r.ref !== r.id ? fmt(r.ratioVsRef, 2) : '',
      r.ref && r.ref !== r.id ? r.ref : '',
      fmt(r.ratioVsSkopeo, 2).replace('-', ''),
      fmt(r.peakRssMB, 0),
      ...(COMPARE_CLI ? [r.ratioVsThisCheckout === undefined ? '' : `${fmt(r.ratioVsThisCheckout, 2)}x`] : []),
    ]),
  ),
  '',
  table(
    ['target', 'measured', 'want', ''],
    targets.map((t) => [
      t.name,
      t.value === null ? '-' : t.unit === 'x' ? `${fmt(t.value, 2)}x` : t.unit === 's' ? `${fmt(t.value, 2)} s` : `${fmt(t.value, 0)} MB`,
      t.want,
      t.status,
    ]),
  ),
  '',
  ...(context.length ? ['where the time goes, measured in this run (bench/README.md explains each):', ...context.map((c) => `  - ${c}`), ''] : []),
].join('\n');
process.stdout.write(text + '\n');

const stamp = new Date().toISOString().replace(/[:]/g, '-').replace(/\..*/, '');
const outFile = flags.out ?? path.join(ROOT, 'bench', 'results', `macro-${stamp}.json`);
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(
  outFile,
  JSON.stringify(
    {
      schemaVersion: 1,
      date: new Date().toISOString(),
      env: { node: process.version, cpu: os.cpus()[0]?.model, cores: os.cpus().length, memGiB: os.totalmem() / 2 ** 30, gnuTime: !!GNU_TIME, skopeo: !!SKOPEO },
      params: { ...params, runs, only: [...only], compare: COMPARE_CLI ?? null },
      inputs: {
        saveBytes: inputs.save?.bytes,
        save2Bytes: inputs.save2?.bytes,
        gzipBytes: inputs.gzip?.bytes,
        zstdBytes: inputs.zstd?.bytes,
        tarBytes: (inputs.gzip ?? inputs.zstd)?.tarBytes,
        rootfsBytes: inputs.rootfs?.bytes,
        rootfsFiles: inputs.rootfs?.files,
        reportImages: Object.keys(inputs.reportStores).map(Number),
      },
      rows,
      targets,
      context,
      table: text,
    },
    null,
    2,
  ) + '\n',
);
log(`wrote ${path.relative(process.cwd(), outFile)} [${since()}]`);
rm(coldStore);
rm(skopeoDir);
await engines.docker?.stop();
engines.podman?.stop();
for (const f of ['docker-saved.tar', 'podman-saved.tar']) rm(W(f));
if (!flags.keep) {
  // Only what this script made: --workdir may name a directory that holds other things.
  for (const n of [
    'save-N.tar',
    'save-2N.tar',
    'oci-gzip',
    'oci-zstd',
    'rootfs.tar',
    'store-warm',
    'store-files',
    'family',
    'store-family',
    'inputs.json',
    ...Object.keys(inputs.reportStores).map((n) => `report-${n}`),
  ])
    rm(W(n));
  try {
    fs.rmdirSync(workdir);
  } catch {}
}
