/**
 * Stacking, waste, `report --files` and `diff` on seeded random images against their results
 * frozen from the implementation before the memory work of issue 17 (stack-golden.data, JSON): the
 * leaner structures (typed change lists, duplicates found by sorting) must give the same
 * answers byte for byte. Each image mixes what the overlay rules treat specially: file and
 * directory whiteouts, opaque directories, files replaced by directories and the reverse, the
 * same path twice in a layer, symlinks, hard links, duplicated and empty contents, and paths
 * whose UTF-8 and UTF-16 orders differ. Regenerate (only on purpose) with
 * WRITE_GOLDEN=1 npx vitest run test/analysis/stack-golden.test.ts
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import type { ImageInfo } from '../../src/analysis/load-images.js';
import { imageFilesystem, type OverlayResult } from '../../src/analysis/overlay.js';
import { computeWaste, topDuplicates, topWasted, wasteSummary } from '../../src/analysis/waste.js';
import { computeFilesReport } from '../../src/analysis/files-report.js';
import { diffImages } from '../../src/analysis/image-diff.js';
import type { FileSpec, LayerBlob } from '../../fixtures/image-writer.js';
import { layerTar } from '../../fixtures/image-writer.js';
import { cleanupTempDirs, ingestImages, tempStore } from './helpers.js';
import { prng } from '../helpers/prng.js';

const GOLDEN = path.join(path.dirname(fileURLToPath(import.meta.url)), 'stack-golden.data');
const SEEDS = 8;

const DIRS = ['a', 'b', 'a/c', 'a/c/d', 'b/e', 'f', 'é', '\uE000d', '😀'];
const NAMES = ['x', 'y', 'z', 'c', 'e', 'd', 'x.txt', '\uE000', '😀', 'é'];
const CONTENTS = ['', 'one', 'two two', 'three three three', 'four'.repeat(50), 'five'.repeat(300)];

/** A random layer of ~n entries over a small set of names, so that layers collide a lot. */
function randomLayer(rand: () => number, n: number): FileSpec[] {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const somePath = () => (rand() < 0.2 ? pick(NAMES) : `${pick(DIRS)}/${pick(NAMES)}`);
  const out: FileSpec[] = [];
  const files: string[] = [];
  for (let k = 0; k < n; k++) {
    const r = rand();
    if (r < 0.35) {
      const p = somePath();
      out.push({ path: p, content: rand() < 0.5 ? pick(CONTENTS) : `${p}:${Math.floor(rand() * 4)}`.repeat(1 + Math.floor(rand() * 20)) });
      files.push(p);
    } else if (r < 0.5) out.push({ path: rand() < 0.5 ? pick(DIRS) : somePath(), type: 'dir' });
    else if (r < 0.58) out.push({ path: somePath(), type: 'symlink', linkname: pick(['x', '../y', '/a/c']) });
    else if (r < 0.66 && files.length > 0) out.push({ path: somePath(), type: 'link', linkname: pick(files) });
    else if (r < 0.78) {
      const p = somePath();
      const parent = p.includes('/') ? p.slice(0, p.lastIndexOf('/') + 1) : '';
      out.push({ path: `${parent}.wh.${p.slice(parent.length)}` });
    } else if (r < 0.84) out.push({ path: rand() < 0.2 ? '.wh..wh..opq' : `${pick(DIRS)}/.wh..wh..opq` });
    else if (r < 0.87) out.push({ path: `${pick(DIRS)}/${pick(['.wh..wh.plnk', '.wh.', '.wh..'])}` });
    else if (r < 0.93 && out.length > 0) {
      // The same path again in this layer, as something else perhaps.
      const again = pick(out);
      out.push(again.type === 'link' || again.type === 'symlink' ? { path: again.path, content: pick(CONTENTS) } : { ...again, content: pick(CONTENTS) });
    } else out.push({ path: pick(DIRS), content: pick(CONTENTS) });
  }
  return out;
}

async function seededImages(seed: number): Promise<Array<{ ref: string; layers: LayerBlob[] }>> {
  const rand = prng(seed);
  const layers: LayerBlob[] = [];
  const count = 3 + Math.floor(rand() * 3);
  for (let l = 0; l <= count; l++) layers.push({ tar: await layerTar(randomLayer(rand, 10 + Math.floor(rand() * 40))), compression: 'none' });
  return [
    { ref: `golden/s${seed}:a`, layers: layers.slice(0, count) },
    { ref: `golden/s${seed}:b`, layers },
  ];
}

/** Everything stackLayers says, as plain data (getters read). */
function overlayData(o: OverlayResult) {
  return {
    files: o.files,
    final: Array.from(o.final),
    totalFileBytes: o.totalFileBytes,
    finalFileBytes: o.finalFileBytes,
    unsafeEntries: o.unsafeEntries,
    // `hidden` (the typed form of replaced and deleted) came later: the frozen results have the lists it builds.
    layers: o.layers.map(({ hidden: _typed, ...l }) => ({
      ...l,
      added: l.added,
      replaced: l.replaced,
      deleted: l.deleted,
      addedRefs: Array.from(l.addedRefs),
    })),
  };
}

let store: Store;
const results: Record<string, unknown> = {};
let everyImage: ImageInfo[] = [];
beforeAll(async () => {
  ({ store } = await tempStore());
  const specs: Array<{ ref: string; layers: LayerBlob[] }> = [];
  for (let s = 1; s <= SEEDS; s++) specs.push(...(await seededImages(s)));
  const images = await ingestImages(
    store,
    specs.map((s) => ({ repoTags: [s.ref], layers: s.layers })),
  );
  const byRef = new Map(images.map((img, k) => [specs[k]!.ref, img]));
  everyImage = images as ImageInfo[];
  for (let s = 1; s <= SEEDS; s++) {
    const a = byRef.get(`golden/s${s}:a`)!;
    const b = byRef.get(`golden/s${s}:b`)!;
    const oa = await imageFilesystem(store, a);
    const ob = await imageFilesystem(store, b);
    const waste = computeWaste(ob);
    const report = await computeFilesReport(store, [a, b] as ImageInfo[], { top: 5 });
    results[`seed ${s}`] = JSON.parse(
      JSON.stringify({
        a: overlayData(oa),
        b: overlayData(ob),
        waste,
        topWasted: topWasted(waste, 7),
        topDuplicates: topDuplicates(waste, 3),
        summary: [0, 1, 4, 1000].map((n) => wasteSummary(ob, n)),
        report: { images: [...report.images], duplicateFiles: report.duplicateFiles },
        diff: (await diffImages(store, a, b)).files,
        diffBack: (await diffImages(store, b, a)).files,
      }),
    );
  }
  if (process.env.WRITE_GOLDEN) writeFileSync(GOLDEN, `${JSON.stringify(results)}\n`);
}, 120_000);
afterAll(cleanupTempDirs);

describe('report --files keeps only the best `top` duplicate contents as it goes', () => {
  it('the first k of the full ranking, for every k (ties by digest)', async () => {
    // Ties: twelve 4-byte contents held twice each save 4 bytes apiece; six 2-byte ones held three times, 4 too.
    const ties: FileSpec[] = [];
    for (let k = 0; k < 12; k++) for (const d of ['t1', 't2']) ties.push({ path: `${d}/f${k}`, content: `q${k.toString(16).padStart(3, '0')}` });
    for (let k = 0; k < 6; k++) for (const d of ['u1', 'u2', 'u3']) ties.push({ path: `${d}/g${k}`, content: `w${k}` });
    const [tied] = await ingestImages(store, [{ repoTags: ['golden/ties:1'], layers: [{ tar: await layerTar(ties), compression: 'none' }] }]);
    const images = [...everyImage, tied as ImageInfo];
    const full = (await computeFilesReport(store, images, { top: 100_000 })).duplicateFiles;
    const saved = full.map((d) => d.savedBytes);
    expect(saved).toEqual([...saved].sort((x, y) => y - x));
    expect(saved.filter((n) => n === 4).length).toBeGreaterThanOrEqual(18);
    for (let i = 1; i < full.length; i++) if (saved[i] === saved[i - 1]) expect(full[i - 1]!.sha256 < full[i]!.sha256).toBe(true);
    for (const k of [0, 1, 2, 3, 5, 8, 10, 13, 17, 20, full.length - 1, full.length, full.length + 1]) {
      expect((await computeFilesReport(store, images, { top: k })).duplicateFiles).toEqual(full.slice(0, k));
    }
  });
});

describe('stacking, waste, report --files and diff match the frozen results', () => {
  it('the golden file is there', () => {
    expect(existsSync(GOLDEN)).toBe(true);
  });
  const golden = existsSync(GOLDEN) ? (JSON.parse(readFileSync(GOLDEN, 'utf8')) as Record<string, unknown>) : {};
  for (let s = 1; s <= SEEDS; s++)
    it(`seed ${s}: every overlay field, waste, summary, files report and diff are as before`, () => {
      expect(results[`seed ${s}`]).toEqual(golden[`seed ${s}`]);
    });
});
