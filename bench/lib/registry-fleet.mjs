// A big registry for `report --registry`: Debian's docker-registry (distribution 2.8) on
// loopback with filesystem storage, populated over the distribution API (no Docker).
//
// The shape (issue 18): 50-200 repositories, a `latest` alias per repository, cross-repository
// retags, 5-15 layers per image drawn Zipf-like from a pool: a small base pool shared by every
// repository and a larger pool per repository (base images are shared across a registry, app
// layers within a repository). Everything is a pure function of (tags, seed).
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { RandomStream, MT } from './gen.mjs';

const digestOf = (b) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** mulberry32: a small seeded PRNG, floats in [0, 1). */
function prng(seed) {
  let a = Number.parseInt(createHash('sha256').update(String(seed)).digest('hex').slice(0, 8), 16);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Zipf(s) over ranks 0..n-1 by inverse CDF. */
function zipf(n, s, rand) {
  const cdf = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) cdf[k] = sum += 1 / (k + 1) ** s;
  return () => {
    const u = rand() * sum;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
}

export const BASE_POOL = 100;
export const REPO_POOL = 300;
export const RETAGS_PER_REPO = 0.05; // of a repository's tags

/**
 * The fleet for `tags` tags: repositories, layers (bytes generated lazily), images (config and
 * manifest bytes) and tags. Layers are small (0.5-8 KiB): the scan reads no layer, only sizes.
 */
export function planFleet(tags, seed = 'fleet-1') {
  const rand = prng(`${seed}:${tags}`);
  const repoCount = Math.min(200, Math.max(50, Math.round(tags / 100)));
  const perRepo = Math.max(3, Math.floor(tags / repoCount));
  const repos = Array.from({ length: repoCount }, (_, r) => ({ name: `team${String(r % 20).padStart(2, '0')}/app${String(r).padStart(3, '0')}`, tags: [] }));
  const layers = []; // { key, size }
  const layerIndex = new Map();
  const layerOf = (key) => {
    let i = layerIndex.get(key);
    if (i === undefined) {
      i = layers.length;
      layerIndex.set(key, i);
      layers.push({ key, size: 512 + Math.floor(rand() * 7680) });
    }
    return i;
  };
  const pick = zipf(BASE_POOL + REPO_POOL, 1.1, rand);
  const images = []; // { repo, layers: [layer idx], config: Buffer, manifest: Buffer, digest }
  for (let r = 0; r < repoCount; r++) {
    const own = perRepo - 1 - Math.round(perRepo * RETAGS_PER_REPO); // the rest: latest + retags
    for (let v = 0; v < own; v++) {
      const n = 5 + Math.floor(rand() * 11);
      const ls = [];
      for (let tries = 0; ls.length < n && tries < 200; tries++) {
        const k = pick();
        const li = layerOf(k < BASE_POOL ? `base:${k}` : `repo${r}:${k}`);
        if (!ls.includes(li)) ls.push(li);
      }
      images.push({ repo: r, layers: ls, n: images.length });
      repos[r].tags.push({ tag: `v${v + 1}`, image: images.length - 1 });
    }
  }
  // Retags: a tag naming another repository's image (a promotion), so its blobs are mounted.
  for (let r = 0; r < repoCount; r++) {
    const count = perRepo - 1 - repos[r].tags.length;
    for (let k = 0; k < count; k++) {
      let img;
      do img = Math.floor(rand() * images.length);
      while (images[img].repo === r);
      repos[r].tags.push({ tag: `promoted-${k + 1}`, image: img });
    }
    const own = repos[r].tags.filter((t) => images[t.image].repo === r);
    repos[r].tags.push({ tag: 'latest', image: own[own.length - 1].image });
  }
  return { tags, seed, repos, layers, images };
}

/** A layer's bytes (deterministic from its key). */
export function layerBytes(fleet, i) {
  return new RandomStream(`${fleet.seed}:layer:${fleet.layers[i].key}`).bytes(fleet.layers[i].size);
}

/** Config and manifest bytes of image `i` (memoised on the image). */
export function imageDocs(fleet, i, layerDigests) {
  const img = fleet.images[i];
  if (img.manifest) return img;
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      created: new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString(),
      config: { Labels: { 'bench.image': String(i) } },
      rootfs: { type: 'layers', diff_ids: img.layers.map((l) => digestOf(`diff:${layerDigests[l]}`)) },
    }),
  );
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.manifest,
      config: { mediaType: MT.config, digest: digestOf(config), size: config.length },
      layers: img.layers.map((l) => ({ mediaType: MT.layerGzip, digest: layerDigests[l], size: fleet.layers[l].size })),
    }),
  );
  img.config = config;
  img.manifest = manifest;
  img.digest = digestOf(manifest);
  return img;
}

// ---------------------------------------------------------------------------------------------
// the registry process

export function haveRegistry() {
  return spawnSync('sh', ['-c', 'command -v docker-registry']).status === 0;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** docker-registry serve on 127.0.0.1 with storage in `dir/storage`; resolves when /v2/ answers. */
export async function startRegistry(dir, extraConfig = []) {
  fs.mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const cfg = path.join(dir, 'config.yml');
  fs.writeFileSync(
    cfg,
    [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${path.join(dir, 'storage')}`,
      'http:',
      `  addr: 127.0.0.1:${port}`,
      ...extraConfig,
      '',
    ].join('\n'),
  );
  const proc = spawn('docker-registry', ['serve', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  proc.stderr.on('data', (c) => (log += c));
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    if (proc.exitCode !== null) break;
    const ok = await new Promise((resolve) => {
      const req = http.get(`${url}/v2/`, (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      });
      req.on('error', () => resolve(false));
    });
    if (ok) return { url, proc, stop: () => new Promise((r) => (proc.exitCode !== null ? r() : (proc.once('exit', () => r()), proc.kill('SIGTERM')))) };
    await new Promise((r) => setTimeout(r, 100));
  }
  proc.kill('SIGKILL');
  throw new Error(`docker-registry did not start:\n${log}`);
}

// ---------------------------------------------------------------------------------------------
// populating over the API

const agent = new http.Agent({ keepAlive: true, maxSockets: 32 });

function req(url, method, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const r = http.request(
      url,
      { method, headers: body ? { 'Content-Length': body.length, ...headers } : { 'Content-Length': 0, ...headers }, agent },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    r.on('error', reject);
    r.end(body);
  });
}

async function must(p, what) {
  const r = await p;
  if (r.status >= 300) throw new Error(`${what}: ${r.status} ${r.body.slice(0, 300)}`);
  return r;
}

async function pool(items, n, fn) {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) await fn(items[next++]);
    }),
  );
}

/**
 * Push the fleet into the registry at `url`: each blob uploaded once (POST, then PUT ?digest=)
 * into the first repository that needs it and mounted into the others, then one manifest PUT
 * per tag. `onProgress(done, total, phase)`.
 */
export async function populate(fleet, url, { concurrency = 16, onProgress } = {}) {
  const layerDigests = fleet.layers.map((_, i) => digestOf(layerBytes(fleet, i)));
  for (let i = 0; i < fleet.images.length; i++) imageDocs(fleet, i, layerDigests);
  // blob -> repositories needing it, in order
  const needs = new Map(); // key "l<i>" | "c<i>" -> [repo index]
  const need = (key, r) => {
    let rs = needs.get(key);
    if (!rs) needs.set(key, (rs = []));
    if (!rs.includes(r)) rs.push(r);
  };
  for (let r = 0; r < fleet.repos.length; r++) {
    for (const t of fleet.repos[r].tags) {
      const img = fleet.images[t.image];
      need(`c${t.image}`, r);
      for (const l of img.layers) need(`l${l}`, r);
    }
  }
  const bytesOf = (key) => (key[0] === 'l' ? layerBytes(fleet, Number(key.slice(1))) : fleet.images[Number(key.slice(1))].config);
  const digestOfKey = (key) => (key[0] === 'l' ? layerDigests[Number(key.slice(1))] : digestOf(fleet.images[Number(key.slice(1))].config));
  const name = (r) => fleet.repos[r].name;
  const entries = [...needs.entries()];
  const mounts = entries.reduce((n, [, rs]) => n + rs.length - 1, 0);
  const total = entries.length + mounts + fleet.tags;
  let done = 0;
  const tick = (phase) => onProgress?.(++done, total, phase);
  await pool(entries, concurrency, async ([key, rs]) => {
    const d = digestOfKey(key);
    // distribution 2.8 has no monolithic POST: open a session, then one PUT with ?digest=
    const start = await must(req(`${url}/v2/${name(rs[0])}/blobs/uploads/`, 'POST'), `upload ${key}`);
    const loc = new URL(start.headers.location, url);
    loc.searchParams.set('digest', d);
    const put = await req(loc.href, 'PUT', { 'Content-Type': 'application/octet-stream' }, bytesOf(key));
    if (put.status !== 201) throw new Error(`upload ${key}: ${put.status} ${put.body.slice(0, 200)}`);
    tick('blobs');
  });
  const mountWork = entries.flatMap(([key, rs]) => rs.slice(1).map((r) => ({ d: digestOfKey(key), from: name(rs[0]), to: name(r) })));
  await pool(mountWork, concurrency, async ({ d, from, to }) => {
    const r = await req(`${url}/v2/${to}/blobs/uploads/?mount=${d}&from=${from}`, 'POST');
    if (r.status !== 201) throw new Error(`mount ${d} into ${to}: ${r.status} ${r.body.slice(0, 200)}`);
    tick('mounts');
  });
  const tagWork = fleet.repos.flatMap((repo) => repo.tags.map((t) => ({ repo: repo.name, tag: t.tag, img: fleet.images[t.image] })));
  await pool(tagWork, concurrency, async ({ repo, tag, img }) => {
    await must(req(`${url}/v2/${repo}/manifests/${tag}`, 'PUT', { 'Content-Type': MT.manifest }, img.manifest), `manifest ${repo}:${tag}`);
    tick('manifests');
  });
  return { blobs: entries.length, mounts, manifests: tagWork.length, layerDigests };
}

/**
 * What the registry holds, computed from the plan alone (not from any crawl): per image its
 * refs, and the registry's blob bytes for every tag (configs + layers + manifests, once each).
 */
export function expectedFromPlan(fleet, layerDigests) {
  const refs = new Map(); // manifest digest -> sorted refs
  const blobs = new Map();
  for (const repo of fleet.repos) {
    for (const t of repo.tags) {
      const img = imageDocs(fleet, t.image, layerDigests);
      let rs = refs.get(img.digest);
      if (!rs) refs.set(img.digest, (rs = []));
      rs.push(`${repo.name}:${t.tag}`);
      blobs.set(img.digest, img.manifest.length);
      blobs.set(digestOf(img.config), img.config.length);
      for (const l of img.layers) blobs.set(layerDigests[l], fleet.layers[l].size);
    }
  }
  for (const rs of refs.values()) rs.sort();
  let blobBytes = 0;
  for (const s of blobs.values()) blobBytes += s;
  return { refs, blobBytes, images: refs.size };
}
