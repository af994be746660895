/**
 * Hard links through the overlay, `report --files` and `diff`, on layers built as real tar
 * bytes. A hard link entry (typeflag '1') is another NAME of the file its target names when
 * the layer is applied; a whiteout or an upper file removes a name, not the file. So when a
 * file's first name goes, its other names still show its bytes. Every expectation is worked
 * out by hand, and each image is also unpacked by umoci (through skopeo), whose file system
 * (inodes and contents read with fs) must give the same figures.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../src/store/store.js';
import type { ImageInfo } from '../../src/analysis/load-images.js';
import { computeWaste, imageWaste, topWasted, wasteSummary } from '../../src/analysis/waste.js';
import type { OverlayResult } from '../../src/analysis/overlay.js';
import { diffImages } from '../../src/analysis/image-diff.js';
import { dockerSaveLegacy, layerTar, type FileSpec } from '../../fixtures/image-writer.js';
import { commands } from '../helpers/peers.js';
import { prng } from '../helpers/prng.js';
import { bytes, cleanupTempDirs, ingestImages, tempDir, tempStore } from './helpers.js';

const HAVE_TOOLS = commands([
  ['umoci', 'umoci'],
  ['skopeo', 'skopeo'],
]);

let store: Store;
beforeAll(async () => {
  ({ store } = await tempStore());
});
afterAll(cleanupTempDirs);

const A = bytes('A', 1000);
const B = bytes('B', 2000);
const link = (p: string, target: string): FileSpec => ({ path: p, type: 'link', linkname: target });

/** Each image: its layers as file specs, bottom to top. */
type Spec = { ref: string; layers: FileSpec[][] };

async function ingest(specs: Spec[]): Promise<Map<string, ImageInfo>> {
  const withTars = await Promise.all(
    specs.map(async (s) => ({
      repoTags: [s.ref],
      layers: await Promise.all(s.layers.map(async (l) => ({ tar: await layerTar(l), compression: 'none' as const }))),
    })),
  );
  const images = await ingestImages(store, withTars);
  return new Map(images.map((img, k) => [specs[k]!.ref, img]));
}

/** The report's numbers agree with themselves: every copy is final, replaced or deleted, and the summary is computeWaste's. */
function consistent(o: OverlayResult): void {
  const { copies: _c, duplicates: _d, ...totals } = computeWaste(o);
  expect(totals.totalFileBytes).toBe(totals.finalFileBytes + totals.replacedBytes + totals.deletedBytes);
  expect(o.totalFileBytes).toBe(o.finalFileBytes + o.layers.reduce((n, l) => n + l.replacedBytes + l.deletedBytes, 0));
  for (const n of [0, 1, 5]) expect(wasteSummary(o, n)).toEqual({ ...totals, top: topWasted(computeWaste(o), n) });
}

interface UnpackedFile {
  ino: number;
  size: number;
  sha: string;
}

/** The final file system as umoci unpacks it: regular files by path (inode, size, sha256). */
function umociRootfs(spec: Spec, tars: Buffer): Map<string, UnpackedFile> {
  const dir = tempDir('ls-hardlinks-umoci-');
  const archive = path.join(dir, 'image.tar');
  writeFileSync(archive, tars);
  const run = (cmd: string, args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}: ${r.stderr}`);
  };
  run('skopeo', ['copy', '-q', `docker-archive:${archive}:${spec.ref}`, `oci:${path.join(dir, 'layout')}:t`]);
  run('umoci', ['unpack', '--rootless', '--image', `${path.join(dir, 'layout')}:t`, path.join(dir, 'bundle')]);
  const root = path.join(dir, 'bundle', 'rootfs');
  const out = new Map<string, UnpackedFile>();
  const walk = (rel: string) => {
    for (const name of readdirSync(path.join(root, rel))) {
      const p = rel ? `${rel}/${name}` : name;
      const st = lstatSync(path.join(root, p));
      if (st.isDirectory()) walk(p);
      else if (st.isFile())
        out.set(p, {
          ino: st.ino,
          size: st.size,
          sha: createHash('sha256')
            .update(readFileSync(path.join(root, p)))
            .digest('hex'),
        });
    }
  };
  walk('');
  return out;
}

/** finalFileBytes and duplicateBytes of an unpacked file system: each inode once; per content, every inode but one is a duplicate. */
function unpackedFigures(fs: Map<string, UnpackedFile>): { finalFileBytes: number; duplicateBytes: number } {
  const inodes = new Map([...fs.values()].map((f) => [f.ino, f]));
  const perContent = new Map<string, { size: number; inodes: number }>();
  for (const f of inodes.values()) {
    const g = perContent.get(f.sha) ?? { size: f.size, inodes: 0 };
    g.inodes++;
    perContent.set(f.sha, g);
  }
  let finalFileBytes = 0;
  for (const f of inodes.values()) finalFileBytes += f.size;
  let duplicateBytes = 0;
  for (const g of perContent.values()) duplicateBytes += g.size * (g.inodes - 1);
  return { finalFileBytes, duplicateBytes };
}

async function dockerSave(spec: Spec): Promise<Buffer> {
  return dockerSaveLegacy([
    { repoTags: [spec.ref], layers: await Promise.all(spec.layers.map(async (l) => ({ tar: await layerTar(l), compression: 'none' as const }))) },
  ]);
}

// L0: a 1000 (content A), b = hard link to a. The names of one 1000-byte file.
const L0: FileSpec[] = [{ path: 'a', content: A }, link('b', 'a')];
const SPECS: Record<string, Spec> = {
  // L1 whites out a: b still names the file. final 1000 (b), nothing wasted.
  deleted: { ref: 'hl/deleted:1', layers: [L0, [{ path: '.wh.a' }]] },
  // L1 writes a new a (2000, content B): b still names the old file. final 1000 (b) + 2000 (a) = 3000 of 3000.
  replaced: { ref: 'hl/replaced:1', layers: [L0, [{ path: 'a', content: B }]] },
  // L0 also holds c, another file with content A; L1 whites out a. b and c are two files of one content:
  // the survivor is b (lowest layer, then first path), c a duplicate of 1000. efficiency 1 - 1000/2000.
  duplicate: { ref: 'hl/duplicate:1', layers: [[...L0, { path: 'c', content: A }], [{ path: '.wh.a' }]] },
  // L1's b links to L0's a (the image-spec allows a target in a lower layer; umoci and containerd apply
  // it against the file system below); L2 whites out a. b survives with 1000.
  lower: { ref: 'hl/lower:1', layers: [[{ path: 'a', content: A }], [link('b', 'a')], [{ path: '.wh.a' }]] },
  // Both names go (L1 whites out a, L2 whites out b): the file is deleted, 1000 wasted.
  gone: { ref: 'hl/gone:1', layers: [L0, [{ path: '.wh.a' }], [{ path: '.wh.b' }]] },
};

describe('report --files: a hard-linked file outlives its first name', () => {
  let images: Map<string, ImageInfo>;
  beforeAll(async () => {
    images = await ingest(Object.values(SPECS));
  });
  const waste = async (k: string) => imageWaste(store, images.get(SPECS[k]!.ref)!);

  it('first name whited out: the other name keeps the 1000 bytes in the final file system', async () => {
    const { overlay, waste: w } = await waste('deleted');
    expect(overlay.files.map((f) => f.path)).toEqual(['b']);
    expect(w).toMatchObject({
      totalFileBytes: 1000,
      finalFileBytes: 1000,
      deletedBytes: 0,
      replacedBytes: 0,
      duplicateBytes: 0,
      wastedBytes: 0,
      efficiency: 1,
    });
    consistent(overlay);
  });

  it('first name replaced: both the old file (through the link) and the new one are final', async () => {
    const { overlay, waste: w } = await waste('replaced');
    expect(w).toMatchObject({ totalFileBytes: 3000, finalFileBytes: 3000, deletedBytes: 0, replacedBytes: 0, wastedBytes: 0, efficiency: 1 });
    consistent(overlay);
  });

  it('a surviving link counts as a file for duplicates: its content at another path is a copy', async () => {
    const { overlay, waste: w } = await waste('duplicate');
    expect(w).toMatchObject({ totalFileBytes: 2000, finalFileBytes: 2000, deletedBytes: 0, duplicateBytes: 1000, wastedBytes: 1000, efficiency: 0.5 });
    expect(w.copies).toEqual([expect.objectContaining({ path: 'c', class: 'duplicate', bytes: 1000, duplicateOf: 'b' })]);
    consistent(overlay);
  });

  it('a link to a file of a lower layer keeps that file when its name goes', async () => {
    const { overlay, waste: w } = await waste('lower');
    expect(overlay.files.map((f) => f.path)).toEqual(['b']);
    expect(w).toMatchObject({ totalFileBytes: 1000, finalFileBytes: 1000, deletedBytes: 0, wastedBytes: 0 });
    consistent(overlay);
  });

  it('when every name goes, the file is deleted waste, counted once', async () => {
    const { overlay, waste: w } = await waste('gone');
    expect(overlay.files).toEqual([]);
    expect(w).toMatchObject({ totalFileBytes: 1000, finalFileBytes: 0, deletedBytes: 1000, wastedBytes: 1000 });
    consistent(overlay);
  });

  it.skipIf(!HAVE_TOOLS)(
    "umoci's unpacked file system has the same final and duplicate bytes",
    async () => {
      for (const spec of Object.values(SPECS)) {
        const truth = unpackedFigures(umociRootfs(spec, await dockerSave(spec)));
        const { waste: w } = await imageWaste(store, images.get(spec.ref)!);
        expect({ ref: spec.ref, finalFileBytes: w.finalFileBytes, duplicateBytes: w.duplicateBytes }).toEqual({ ref: spec.ref, ...truth });
      }
    },
    60_000,
  );
});

describe('diff: a hard link is compared by the content it names', () => {
  // X: a = A (1000), b -> a. Y: a = B (2000), b -> a. Both names changed content.
  const X: Spec = { ref: 'hd/x:1', layers: [[{ path: 'a', content: A }, link('b', 'a')]] };
  const Y: Spec = { ref: 'hd/y:1', layers: [[{ path: 'a', content: B }, link('b', 'a')]] };
  // Z: as X, then a second layer replaces a with B: b still names the old file (content A), only a changed.
  const Z: Spec = { ref: 'hd/z:1', layers: [[{ path: 'a', content: A }, link('b', 'a')], [{ path: 'a', content: B }]] };
  // W: as X, then two more names of a's file and a new file e: the file counts once in addedBytes.
  const W: Spec = {
    ref: 'hd/w:1',
    layers: [
      [{ path: 'a', content: A }, link('b', 'a')],
      [link('c', 'a'), link('d', 'b'), { path: 'e', content: B }],
    ],
  };
  // V: b is a file of its own: against X, b becomes a hard link to other content (B -> A); U: the same content (A).
  const V: Spec = {
    ref: 'hd/v:1',
    layers: [
      [
        { path: 'a', content: A },
        { path: 'b', content: B },
      ],
    ],
  };
  const U: Spec = {
    ref: 'hd/u:1',
    layers: [
      [
        { path: 'a', content: A },
        { path: 'b', content: A },
      ],
    ],
  };
  let images: Map<string, ImageInfo>;
  beforeAll(async () => {
    images = await ingest([X, Y, Z, W, V, U]);
  });

  it('a file that becomes a hard link to other content changed its type and its content', async () => {
    const reasons = async (p: Spec, q: Spec) => (await diffImages(store, images.get(p.ref)!, images.get(q.ref)!)).files.changed.map((c) => [c.path, c.reasons]);
    expect(await reasons(V, X)).toEqual([['b', ['type', 'content']]]);
    expect(await reasons(X, V)).toEqual([['b', ['type', 'content']]]);
    expect(await reasons(U, X)).toEqual([['b', ['type']]]);
  });

  it('a total counts a file once however many of its names are listed (as du)', async () => {
    const d = await diffImages(store, images.get(X.ref)!, images.get(W.ref)!);
    expect(d.files.added.map((f) => [f.path, f.bytes])).toEqual([
      ['c', 1000],
      ['d', 1000],
      ['e', 2000],
    ]);
    expect(d.files.addedBytes).toBe(3000);
    const back = await diffImages(store, images.get(W.ref)!, images.get(X.ref)!);
    expect(back.files.removedBytes).toBe(3000);
  });
  const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

  it('the content behind b changed from A to B: b is changed, 1000 -> 2000 bytes', async () => {
    const d = await diffImages(store, images.get(X.ref)!, images.get(Y.ref)!);
    expect(d.files.changed.map((c) => [c.path, c.reasons])).toEqual([
      ['a', ['content']],
      ['b', ['content']],
    ]);
    expect(d.files.changed[1]).toMatchObject({
      before: { type: 'hardlink', bytes: 1000, sha256: sha(A), linkTarget: 'a' },
      after: { type: 'hardlink', bytes: 2000, sha256: sha(B), linkTarget: 'a' },
    });
    // Two names of one file: its bytes count once in each total, as du counts them.
    expect(d.files).toMatchObject({ unchanged: 0, changedBytesBefore: 1000, changedBytesAfter: 2000 });
  });

  it('a link whose first name was replaced above still shows the old content: unchanged against X', async () => {
    const d = await diffImages(store, images.get(X.ref)!, images.get(Z.ref)!);
    expect(d.files.changed.map((c) => c.path)).toEqual(['a']);
    expect(d.files.unchanged).toBe(1);
  });

  it.skipIf(!HAVE_TOOLS)(
    'the paths whose content differs are the ones umoci unpacks differently',
    async () => {
      for (const [p, q] of [
        [X, Y],
        [X, Z],
        [Y, Z],
        [X, W],
        [W, Y],
        [V, X],
        [X, U],
      ] as const) {
        const fp = umociRootfs(p, await dockerSave(p));
        const fq = umociRootfs(q, await dockerSave(q));
        const truth = [...fp.keys()].filter((k) => fq.has(k) && fq.get(k)!.sha !== fp.get(k)!.sha).sort();
        const d = await diffImages(store, images.get(p.ref)!, images.get(q.ref)!);
        // Byte totals as du counts them: each inode of the listed paths once.
        const du = (fs: Map<string, UnpackedFile>, paths: string[]) =>
          [...new Map(paths.map((k) => [fs.get(k)!.ino, fs.get(k)!.size])).values()].reduce((n, x) => n + x, 0);
        const added = [...fq.keys()].filter((k) => !fp.has(k));
        const removed = [...fp.keys()].filter((k) => !fq.has(k));
        const { files: f } = d;
        const listed = f.changed.map((c) => c.path);
        expect({
          pair: [p.ref, q.ref],
          changed: f.changed.filter((c) => c.reasons.includes('content')).map((c) => c.path),
          bytes: [f.addedBytes, f.removedBytes, f.changedBytesBefore, f.changedBytesAfter],
        }).toEqual({
          pair: [p.ref, q.ref],
          changed: truth,
          // changed bytes: the regular files among the paths listed as changed (content, type, mode...)
          bytes: [
            du(fq, added),
            du(fp, removed),
            du(
              fp,
              listed.filter((k) => fp.has(k)),
            ),
            du(
              fq,
              listed.filter((k) => fq.has(k)),
            ),
          ],
        });
      }
    },
    60_000,
  );
});

/**
 * Random layers of files, hard links (to files of the same layer: some later replaced or
 * whited out in the layer itself or above), whiteouts and opaque directories over a few
 * names. No file ever stands where a directory is needed, which umoci refuses to unpack.
 */
function randomLayers(seed: number): FileSpec[][] {
  const rand = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const DIRS = ['d', 'd/e', 'f'];
  const somePath = () => `${pick(['', ...DIRS.map((d) => `${d}/`)])}${pick(['x', 'y', 'z', 'w'])}`;
  const layers: FileSpec[][] = [];
  for (let l = 3 + Math.floor(rand() * 3); l > 0; l--) {
    // Deletions first, as the spec asks writers to put them (umoci applies entries in archive order).
    const out: FileSpec[] = DIRS.map((d) => ({ path: d, type: 'dir' as const }));
    for (let k = Math.floor(rand() * 4); k > 0; k--)
      out.push(rand() < 0.8 ? { path: somePath().replace(/[^/]*$/, (b) => `.wh.${b}`) } : { path: `${pick(DIRS)}/.wh..wh..opq` });
    const files: string[] = [];
    for (let k = 8 + Math.floor(rand() * 12); k > 0; k--) {
      const p = somePath();
      const target = pick(files.length > 0 ? files : [p]);
      if (rand() < 0.5 || target === p) {
        // Few contents (the same one often, for duplicates), a few bytes to a few hundred.
        out.push({ path: p, content: `${pick(['one', 'two', 'three', p])}`.repeat(1 + Math.floor(rand() * 50)) });
        files.push(p);
      } else out.push(link(p, target));
    }
    layers.push(out);
  }
  return layers;
}

describe.skipIf(!HAVE_TOOLS)('random layers with hard links: the figures of the file system umoci unpacks', () => {
  it("finalFileBytes and duplicateBytes equal umoci's, and every copy is final, replaced or deleted", async () => {
    const specs = Array.from({ length: 24 }, (_, k): Spec => ({ ref: `hl/random:${k + 1}`, layers: randomLayers(k + 1) }));
    const images = await ingest(specs);
    for (const spec of specs) {
      const truth = unpackedFigures(umociRootfs(spec, await dockerSave(spec)));
      const { overlay, waste: w } = await imageWaste(store, images.get(spec.ref)!);
      expect({ ref: spec.ref, finalFileBytes: w.finalFileBytes, duplicateBytes: w.duplicateBytes }).toEqual({ ref: spec.ref, ...truth });
      consistent(overlay);
    }
  }, 120_000);
});

/**
 * A hard link that comes BEFORE the whiteout or opaque marker deleting its target in the same
 * layer: umoci (and containerd) apply a layer's entries in archive order, so the link is made
 * while the lower file still has its name, and the file lives on under the link.
 */
describe.skipIf(!HAVE_TOOLS)('a hard link before the whiteout of its target in the same layer, against umoci', () => {
  const base: FileSpec[] = [
    { path: 'a', content: A },
    { path: 'd', type: 'dir' },
    { path: 'd/a', content: Buffer.concat([A, Buffer.from('d')]) },
  ];
  const specs: Spec[] = [
    { ref: 'hl/link-then-whiteout:1', layers: [base, [link('b', 'a'), { path: '.wh.a' }]] },
    { ref: 'hl/link-then-opaque:1', layers: [base, [link('e', 'd/a'), { path: 'd', type: 'dir' }, { path: 'd/.wh..wh..opq' }]] },
  ];
  it("keeps the linked file: finalFileBytes and duplicateBytes equal umoci's, nothing deleted", async () => {
    const images = await ingest(specs);
    for (const spec of specs) {
      const unpacked = umociRootfs(spec, await dockerSave(spec));
      const { overlay, waste: w } = await imageWaste(store, images.get(spec.ref)!);
      expect({ ref: spec.ref, finalFileBytes: w.finalFileBytes, duplicateBytes: w.duplicateBytes }).toEqual({ ref: spec.ref, ...unpackedFigures(unpacked) });
      expect(w.finalFileBytes).toBe(2001);
      expect(w.deletedBytes).toBe(0);
      consistent(overlay);
    }
  }, 60_000);
});
