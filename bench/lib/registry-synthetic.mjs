#!/usr/bin/env node
// The analysis phase of `report --registry` alone, on a synthetic registry of IMAGES images
// over LAYERS distinct layers (10 per image: 2 from a hot pool of 100, 8 spread over all):
// analyzeRegistry (sharing + repository costs) and the JSON output, timed in-process.
// Prints {images, layers, references, analysisSeconds, jsonSeconds, jsonBytes}.
//
//   node bench/lib/registry-synthetic.mjs 20000 30000
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { analyzeRegistry } from '../../dist/src/registry/registry-analysis.js';
import { writeJson } from '../../dist/src/report/json.js';

const [images, layers] = process.argv.slice(2).map(Number);
const d = (s) => `sha256:${createHash('sha256').update(s).digest('hex')}`;
const pool = Array.from({ length: layers }, (_, i) => ({
  digest: d(`layer ${i}`),
  diffId: d(`diff ${i}`),
  mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
  size: 1000 + ((i * 7919) % 50_000_000),
}));
const repos = Math.min(200, Math.max(50, Math.round(images / 100)));
const imgs = Array.from({ length: images }, (_, i) => {
  const ls = new Set([pool[i % 100], pool[(i * 31) % 100]]);
  for (let k = 0; ls.size < 10; k++) ls.add(pool[(i * 8 + k) % layers]);
  return {
    manifestDigest: d(`manifest ${i}`),
    manifestSize: 1500,
    configDigest: d(`config ${i}`),
    configSize: 3000,
    layers: [...ls],
    refs: [`team/app${String(i % repos).padStart(3, '0')}:v${i}`],
  };
});
const repositories = Array.from({ length: repos }, (_, r) => ({ name: `team/app${String(r).padStart(3, '0')}`, tags: 0, images: [] }));
for (const img of imgs) {
  const r = repositories[Number(img.refs[0].slice(8, 11))];
  r.tags++;
  r.images.push(img.manifestDigest);
}
const scan = { images: imgs, repositories, manifestBlobs: new Map(imgs.map((i) => [i.manifestDigest, i.manifestSize])) };

const t0 = performance.now();
const a = analyzeRegistry(scan);
const t1 = performance.now();
let jsonBytes = 0;
const sink = new Writable({
  write(c, _e, cb) {
    jsonBytes += c.length;
    cb();
  },
});
await writeJson(sink, { ...a.report, repositories: a.repositories });
const t2 = performance.now();
process.stdout.write(
  JSON.stringify({
    images,
    layers: a.report.layers.length,
    references: images * 10,
    analysisSeconds: (t1 - t0) / 1000,
    jsonSeconds: (t2 - t1) / 1000,
    jsonBytes,
  }) + '\n',
);
