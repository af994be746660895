#!/usr/bin/env node
// The minimal registry crawler `report --registry` is measured against: exactly the necessary
// requests at the same concurrency: the catalog (following Link), one tags/list per
// repository, one manifest GET per tag, one config GET per distinct image manifest. No
// verification, no cache, no report: it prints {images, tags, blobBytes, requests, refs} as
// JSON, for the bench to check layerstore against. CLIENT is how it speaks HTTP: `http`
// (node:http with a keep-alive agent, what layerstore uses for GET and HEAD) or `fetch`.
//
//   node bench/lib/registry-crawler.mjs URL [CONCURRENCY=8] [CLIENT=http]
import http from 'node:http';

const [url, conc = '8', client = 'http'] = process.argv.slice(2);
const concurrency = Number(conc);
const ACCEPT =
  'application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v2+json';
const agent = new http.Agent({ keepAlive: true });
let requests = 0;

/** GET: {headers (lower-case names), bytes}. */
async function get(path, headers = {}) {
  requests++;
  if (client === 'fetch') {
    const res = await fetch(url + path, { headers });
    if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
    return { headers: Object.fromEntries(res.headers), bytes: Buffer.from(await res.arrayBuffer()) };
  }
  return new Promise((resolve, reject) => {
    const req = http.get(url + path, { headers, agent }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () =>
        res.statusCode === 200 ? resolve({ headers: res.headers, bytes: Buffer.concat(chunks) }) : reject(new Error(`GET ${path}: ${res.statusCode}`)),
      );
    });
    req.on('error', reject);
  });
}
const json = (r) => JSON.parse(r.bytes.toString('utf8'));

async function list(path, key) {
  const out = [];
  let next = `${path}?n=1000`;
  while (next) {
    const res = await get(next);
    out.push(...(json(res)[key] ?? []));
    const m = /<([^>]+)>;\s*rel="next"/.exec(res.headers.link ?? '');
    next = m ? m[1] : undefined;
  }
  return out;
}

async function pool(items, n, fn) {
  let i = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (i < items.length) await fn(items[i++]);
    }),
  );
}

const repos = await list('/v2/_catalog', 'repositories');
const work = [];
await pool(repos, concurrency, async (repo) => {
  for (const tag of await list(`/v2/${repo}/tags/list`, 'tags')) work.push({ repo, tag });
});
const images = new Map(); // manifest digest -> { refs, manifest }
const blobs = new Map(); // digest -> size
await pool(work, concurrency, async ({ repo, tag }) => {
  const res = await get(`/v2/${repo}/manifests/${tag}`, { Accept: ACCEPT });
  const digest = res.headers['docker-content-digest'];
  let img = images.get(digest);
  if (img) return void img.refs.push(`${repo}:${tag}`);
  const m = json(res);
  images.set(digest, (img = { refs: [`${repo}:${tag}`] }));
  blobs.set(digest, res.bytes.length);
  blobs.set(m.config.digest, m.config.size);
  for (const l of m.layers) blobs.set(l.digest, l.size);
  const config = json(await get(`/v2/${repo}/blobs/${m.config.digest}`));
  img.diffIds = config.rootfs.diff_ids.length;
});
let blobBytes = 0;
for (const s of blobs.values()) blobBytes += s;
const refs = {};
for (const [d, img] of images) refs[d] = img.refs.sort();
process.stdout.write(JSON.stringify({ images: images.size, tags: work.length, blobBytes, requests, refs }) + '\n');
