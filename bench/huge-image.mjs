#!/usr/bin/env node
// Huge-image benchmark: `report --files` and `diff` on one generated image of N GB and ~52k
// files per GB, in flat memory (issue 17: dive is killed at 30 GB).
//
//   npm run build && node bench/huge-image.mjs --sizes 5,10,20
//   node bench/huge-image.mjs --sizes 1 --keep --workdir /tmp/lshuge    # inspect the store after
//
// Per size: an OCI layout of two images is generated (streamed to disk, never held): A has four
// uncompressed layers (a base, a middle layer that replaces base files, an app layer with
// whiteouts, an opaque directory, files replaced by directories and the reverse, symlinks and
// hard links, and a top layer of duplicates); B is A plus one more layer. Then, each under
// GNU time -v (peak RSS) with the wall time:
//   ingest <layout>  (one command, both images)      openssl dgst -sha256 on the layer blobs
//   report --files --json  (builds every layer's file index: the same bytes as openssl)
//   report --files --json  again (indexes read from the cache)
//   diff A B --json
// and the table is printed (and written to bench/results/huge-<date>.json). The workdir of each
// size is removed before the next one unless --keep.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MT, RandomStream, Sink, sha256hex, tarHeader } from './lib/gen.mjs';
import { fmt, GNU_TIME, syncDisks, table, timeProcess, which } from './lib/proc.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLI = path.join(ROOT, 'bin', 'layerstore.js');
const GB = 1024 ** 3;

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '5,10,20' },
    'files-per-gb': { type: 'string', default: '52500' },
    workdir: { type: 'string' },
    keep: { type: 'boolean', default: false },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (flags.help) {
  process.stdout.write(`usage: node bench/huge-image.mjs [--sizes 5,10,20] [--files-per-gb 52500] [--workdir DIR] [--keep] [--out FILE]
  --sizes         image sizes in GB (decimals allowed: 0.5), run one after the other
  --files-per-gb  files per GB of image (52500: 20 GB holds ~1.05M files)
  --workdir       where the layout and the store go (default: a fresh dir under ${os.tmpdir()})
  --keep          keep each size's layout-less store instead of removing it
`);
  process.exit(0);
}
if (!fs.existsSync(path.join(ROOT, 'dist', 'bundle', 'cli', 'main.js'))) throw new Error('dist/ is missing: run npm run build first');
if (!which('openssl')) throw new Error('openssl is not on PATH: it is the reference');
if (!GNU_TIME) process.stderr.write('note: GNU time is missing; peak RSS is polled from /proc (a lower bound)\n');

const sizes = flags.sizes.split(',').map(Number);
const filesPerGb = Number(flags['files-per-gb']);
const workroot = path.resolve(flags.workdir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'layerstore-huge-')));
const log = (s) => process.stderr.write(`${s}\n`);
const t0 = Date.now();
const since = () => `${((Date.now() - t0) / 1000).toFixed(0)}s`;

// ---------------------------------------------------------------------------------------------
// the image: layers as entry generators (names and sizes from a seeded PRNG), bodies streamed

/** mulberry32: a small seeded PRNG, for sizes and choices (bodies come from AES-CTR). */
function prng(seed) {
  let a = Number.parseInt(sha256hex(seed).slice(0, 8), 16) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const PER_DIR = 50;
const DUPS = 64; // distinct duplicated contents

/**
 * The plan of image A (and B): per layer, how many new files; every path is a function of
 * (layer name, file number), so upper layers can name lower files for whiteouts and
 * replacements without remembering them.
 */
function plan(sizeGb) {
  const files = Math.max(1000, Math.round(sizeGb * filesPerGb));
  // Mean content per file so the tars come to sizeGb (512 header + ~256 padding per entry).
  const mean = Math.max(0, (sizeGb * GB) / files - 800);
  const share = { base: 0.45, mid: 0.3, app: 0.2, top: 0.05, extra: 0.01 };
  const counts = Object.fromEntries(Object.entries(share).map(([k, f]) => [k, Math.round(files * f)]));
  return { files, mean, counts };
}

const fileName = (layer, i) => `${layer}/d${Math.floor(i / PER_DIR).toString(36)}/f-${i.toString(36)}${['.so', '.py', '.txt', '.json', ''][i % 5]}`;
const dirName = (layer, d) => `${layer}/d${d.toString(36)}`;

/**
 * The entries of one layer, in archive order: {name, type, size, linkname, body: 'rnd' | dup#}.
 * Called twice per layer (once to size the tar, once to write it): cheap, no bodies.
 */
function* layerEntries(which, p) {
  const r = prng(`huge:${which}`);
  const size = () => Math.floor(4 * p.mean * r() * r()); // mean p.mean, most files small
  const file = (name) => {
    if (r() < 0.1) {
      const k = Math.floor(r() * DUPS);
      return { name, type: '0', size: dupSize(p, k), body: k };
    }
    return { name, type: '0', size: size(), body: 'rnd' };
  };
  /** `n` new files of `layer` in directories of PER_DIR, with a symlink and a hard link now and then. */
  function* files(layer, n) {
    yield { name: `${layer}/`, type: '5' };
    for (let i = 0; i < n; i++) {
      if (i % PER_DIR === 0) yield { name: `${dirName(layer, i / PER_DIR)}/`, type: '5' };
      const name = fileName(layer, i);
      yield file(name);
      if (i % 97 === 0) yield { name: `${name}.link`, type: '2', linkname: path.posix.basename(name) };
      if (i % 211 === 0) yield { name: `${name}.hard`, type: '1', linkname: name };
    }
  }
  const c = p.counts;
  switch (which) {
    case 'base':
      yield* files('base', c.base);
      return;
    case 'mid':
      yield* files('mid', c.mid);
      // Every 20th base file rewritten (a replacement: same path, new content).
      yield { name: 'base/', type: '5' };
      for (let i = 7; i < c.base; i += 20) {
        if (i % PER_DIR === 7) yield { name: `${dirName('base', Math.floor(i / PER_DIR))}/`, type: '5' };
        yield file(fileName('base', i));
      }
      return;
    case 'app':
      yield* files('app', c.app);
      yield { name: 'base/', type: '5' };
      for (let d = 0; d * PER_DIR < c.base; d++) {
        const dir = dirName('base', d);
        if (d % 40 === 3) {
          // An opaque directory: everything lower layers put there is hidden; two files come back.
          yield { name: `${dir}/`, type: '5' };
          yield { name: `${dir}/.wh..wh..opq`, type: '0', size: 0, body: 'rnd' };
          yield file(`${dir}/again-1`);
          yield file(`${dir}/again-2`);
        } else if (d % 40 === 11)
          yield { name: `${path.posix.dirname(dir)}/.wh.${path.posix.basename(dir)}`, type: '0', size: 0, body: 'rnd' }; // a whole directory deleted
        else if (d % 40 === 17)
          yield { name: dir, type: '0', size: 4096, body: 'rnd' }; // a directory replaced by a file
        else if (d % 40 === 23) {
          // A file replaced by a directory (with a file in it).
          const f = fileName('base', d * PER_DIR + 1);
          yield { name: `${f}/`, type: '5' };
          yield file(`${f}/inside`);
        }
      }
      // Every 25th base file and every 30th mid file deleted.
      for (const [layer, n, step] of [
        ['base', c.base, 25],
        ['mid', c.mid, 30],
      ])
        for (let i = 5; i < n; i += step) {
          const f = fileName(layer, i);
          yield { name: `${path.posix.dirname(f)}/.wh.${path.posix.basename(f)}`, type: '0', size: 0, body: 'rnd' };
        }
      return;
    case 'top':
      yield* files('top', c.top);
      return;
    case 'extra':
      // B's layer: new files, some of A's app files rewritten, some top files deleted.
      yield* files('extra', c.extra);
      for (let i = 3; i < c.app; i += 200) yield file(fileName('app', i));
      for (let i = 9; i < c.top; i += 100) {
        const f = fileName('top', i);
        yield { name: `${path.posix.dirname(f)}/.wh.${path.posix.basename(f)}`, type: '0', size: 0, body: 'rnd' };
      }
      return;
  }
}

const dupSize = (p, k) => Math.floor((p.mean * 2 * (k + 1)) / DUPS);

/** Write one layer's tar to `file`, streaming; returns {hex, size}. */
function writeLayer(file, which, p) {
  const fd = fs.openSync(file, 'w');
  const sink = new Sink(fd);
  const rnd = new RandomStream(`huge-body:${which}`);
  const dups = new Map();
  const dup = (k) => {
    let b = dups.get(k);
    if (!b) dups.set(k, (b = new RandomStream(`huge-dup:${k}`).bytes(dupSize(p, k))));
    return b;
  };
  const zeros = Buffer.alloc(512);
  let entries = 0;
  try {
    for (const e of layerEntries(which, p)) {
      entries++;
      const size = e.type === '0' ? e.size : 0;
      sink.write(tarHeader(e.name, { size, type: e.type, linkname: e.linkname ?? '' }));
      if (size === 0) continue;
      if (e.body === 'rnd') for (let left = size; left > 0; left -= 4 << 20) sink.write(rnd.bytes(Math.min(left, 4 << 20)));
      else sink.write(dup(e.body));
      if (size % 512) sink.write(zeros.subarray(0, 512 - (size % 512)));
    }
    sink.write(Buffer.alloc(1024));
    return { hex: sink.digest(), size: sink.bytes, entries };
  } finally {
    fs.closeSync(fd);
  }
}

function putBlob(dir, bytes) {
  const hex = sha256hex(bytes);
  fs.writeFileSync(path.join(dir, 'blobs', 'sha256', hex), bytes);
  return { mediaType: '', digest: `sha256:${hex}`, size: bytes.length };
}

/** An OCI layout with images A (base, mid, app, top) and B (A + extra), uncompressed layers. */
function writeLayout(dir, p) {
  fs.mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const layers = {};
  for (const which of ['base', 'mid', 'app', 'top', 'extra']) {
    const tmp = path.join(dir, `tmp-${which}`);
    const l = writeLayer(tmp, which, p);
    fs.renameSync(tmp, path.join(dir, 'blobs', 'sha256', l.hex));
    layers[which] = l;
    log(`  layer ${which}: ${(l.size / 1e9).toFixed(2)} GB, ${l.entries} entries [${since()}]`);
  }
  const image = (names, ref) => {
    const ls = names.map((n) => layers[n]);
    const config = putBlob(
      dir,
      Buffer.from(
        JSON.stringify({
          architecture: 'amd64',
          os: 'linux',
          config: { Cmd: ['/bin/sh'] },
          rootfs: { type: 'layers', diff_ids: ls.map((l) => `sha256:${l.hex}`) },
        }),
      ),
    );
    config.mediaType = MT.config;
    const m = putBlob(
      dir,
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.manifest,
          config,
          layers: ls.map((l) => ({ mediaType: MT.layer, digest: `sha256:${l.hex}`, size: l.size })),
        }),
      ),
    );
    return { ...m, mediaType: MT.manifest, annotations: { 'org.opencontainers.image.ref.name': ref } };
  };
  const manifests = [image(['base', 'mid', 'app', 'top'], 'huge/a:1'), image(['base', 'mid', 'app', 'top', 'extra'], 'huge/b:1')];
  fs.writeFileSync(path.join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests }));
  return layers;
}

// ---------------------------------------------------------------------------------------------
// runs

const ls = (store, ...args) => [CLI, '--quiet', '--store', store, ...args];

async function run(what, cmd, args, stdoutFile) {
  syncDisks();
  const r = await timeProcess(cmd, args, { stdoutFile });
  log(`  ${what}: ${fmt(r.seconds)} s, peak RSS ${fmt(r.rssMB, 0)} MB [${since()}]`);
  return r;
}

const rows = [];
const results = [];
for (const sizeGb of sizes) {
  const p = plan(sizeGb);
  const dir = path.join(workroot, `${sizeGb}gb`);
  fs.rmSync(dir, { recursive: true, force: true });
  const layout = path.join(dir, 'layout');
  const store = path.join(dir, 'store');
  log(`${sizeGb} GB: ${p.files} files planned, generating ${layout} [${since()}]`);
  const layers = writeLayout(layout, p);
  const ingest = await run('ingest', process.execPath, ls(store, 'ingest', layout));
  fs.rmSync(layout, { recursive: true, force: true }); // the store holds the bytes now
  const blobs = Object.values(layers).map((l) => path.join(store, 'blobs', 'sha256', l.hex));
  const bytes = Object.values(layers).reduce((n, l) => n + l.size, 0);
  const out = path.join(dir, 'out.json');
  const openssl = await run('openssl dgst -sha256 (layer blobs)', 'openssl', ['dgst', '-sha256', ...blobs]);
  const report = await run('report --files --json (index build)', process.execPath, ls(store, 'report', '--files', '--json'), out);
  const cached = await run('report --files --json (indexes cached)', process.execPath, ls(store, 'report', '--files', '--json'), out);
  const diff = await run('diff A B --json', process.execPath, ls(store, 'diff', 'huge/a:1', 'huge/b:1', '--json'), out);
  const d = JSON.parse(fs.readFileSync(out, 'utf8'));
  const entries = Object.values(layers).reduce((n, l) => n + l.entries, 0);
  const summary = {
    sizeGb,
    bytes,
    filesPlanned: p.files,
    entries,
    diff: { added: d.files.added.length, removed: d.files.removed.length, changed: d.files.changed.length, unchanged: d.files.unchanged },
    openssl: openssl.seconds,
    ingest: { seconds: ingest.seconds, rssMB: ingest.rssMB },
    report: { seconds: report.seconds, rssMB: report.rssMB, ratio: openssl.seconds / report.seconds },
    cached: { seconds: cached.seconds, rssMB: cached.rssMB },
    diffRun: { seconds: diff.seconds, rssMB: diff.rssMB },
  };
  results.push(summary);
  rows.push([
    `${sizeGb} GB`,
    entries,
    fmt(openssl.seconds, 1),
    `${fmt(ingest.seconds, 1)} / ${fmt(ingest.rssMB, 0)}`,
    `${fmt(report.seconds, 1)} / ${fmt(report.rssMB, 0)}`,
    fmt(openssl.seconds / report.seconds),
    `${fmt(cached.seconds, 1)} / ${fmt(cached.rssMB, 0)}`,
    `${fmt(diff.seconds, 1)} / ${fmt(diff.rssMB, 0)}`,
  ]);
  if (!flags.keep) fs.rmSync(dir, { recursive: true, force: true });
}
const header = ['image', 'entries', 'openssl s', 'ingest s / MB', 'report --files s / MB', 'vs openssl', 'cached s / MB', 'diff s / MB'];
process.stdout.write(`${table(header, rows)}\n`);
process.stdout.write('(s / MB: wall seconds / peak RSS; "vs openssl": openssl seconds / index-build seconds on the same layer blobs)\n');
const outFile = flags.out ?? path.join(ROOT, 'bench', 'results', `huge-${new Date().toISOString().replace(/[:.]/g, '-').slice(0, 19)}.json`);
fs.mkdirSync(path.dirname(outFile), { recursive: true });
fs.writeFileSync(outFile, `${JSON.stringify({ date: new Date().toISOString(), cpus: os.cpus().length, loadavg: os.loadavg(), results }, null, 2)}\n`);
log(`results: ${outFile}`);
if (!flags.workdir && !flags.keep) fs.rmSync(workroot, { recursive: true, force: true });
