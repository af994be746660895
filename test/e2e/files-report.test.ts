/**
 * `report --files` and `diff` end to end (real processes), on images built here with one layer
 * per overlay case, and on dive's real test image. Every expected number is worked out by hand
 * from the bytes put in the layers: file contents are fill(n, tag) (n bytes, distinct per tag
 * unless the tag repeats), tar sizes follow tarSize (512-byte header per entry, content rounded
 * up to 512, 1024-byte end marker), content digests come from node:crypto.
 *
 * Layers (paths, content sizes; "D", "S", "A1" mark contents that appear more than once):
 *
 *   LA  etc/  etc/conf (A1 700)  data/  data/old.bin 3000  cache/  cache/x.bin 1500  cache/y.bin 2500
 *       opq/  opq/a.bin 1200  app.bin 4000  dup1.bin (D 1000)  hl/  hl/orig.bin 800  hl/link => hl/orig.bin
 *       file bytes 700+3000+1500+2500+1200+4000+1000+800 = 14700
 *   LB  data/.wh.old.bin  .wh.cache  opq/.wh..wh..opq  opq/new.bin 600  app.bin 4100  dup2.bin (D 1000)
 *       file bytes 600+4100+1000 = 5700
 *   LC  srv/  srv/shared.txt (S 2000)  srv/c.bin 900  conf-copy (A1 700)          file bytes 3600
 *   LD  opt/  opt/shared.txt (S 2000)  opt/d.bin 1100                             file bytes 3100
 *   EMPTY  1024 zero bytes (the well-known empty tar)
 *
 * Images:
 *   acme/overlay:1 = [LA, LB]          legacy docker save
 *   acme/overlay:2 = [LA, EMPTY, LC]   same legacy docker save
 *   acme/gz:1      = [gzip(LA), EMPTY, LD]   OCI layout directory: LA again, gzip'd (same diffID)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeLayer,
  dockerSaveLegacy,
  imageConfig,
  layerTar,
  writeOciLayoutDir,
  type FileSpec,
  type ImageSpec,
  type LayerBlob,
} from '../../fixtures/image-writer.js';
import { blobSize, ensureBuilt, runCli, show, spawnCli, type CliResult } from '../helpers/cli.js';
import { EMPTY_TAR_DIGEST, digestOf, fill, rowWhere, section, sha256hex, tableRows, tarSize } from '../helpers/hand-bytes.js';
import { FIXTURES_REAL, realFixtures } from '../helpers/peers.js';

const DIVE = path.join(FIXTURES_REAL, 'dive', 'test-docker-image.tar');

// Contents.
const A1 = fill(700, 'A1');
const OLD = fill(3000, 'old');
const X = fill(1500, 'x');
const Y = fill(2500, 'y');
const OPQ_A = fill(1200, 'opq-a');
const APP1 = fill(4000, 'app-v1');
const D = fill(1000, 'D');
const ORIG = fill(800, 'orig');
const OPQ_NEW = fill(600, 'opq-new');
const APP2 = fill(4100, 'app-v2');
const S = fill(2000, 'S');
const C = fill(900, 'c');
const DD = fill(1100, 'dd');

const LA_FILES: FileSpec[] = [
  { path: 'etc', type: 'dir' },
  { path: 'etc/conf', content: A1 },
  { path: 'data', type: 'dir' },
  { path: 'data/old.bin', content: OLD },
  { path: 'cache', type: 'dir' },
  { path: 'cache/x.bin', content: X },
  { path: 'cache/y.bin', content: Y },
  { path: 'opq', type: 'dir' },
  { path: 'opq/a.bin', content: OPQ_A },
  { path: 'app.bin', content: APP1 },
  { path: 'dup1.bin', content: D },
  { path: 'hl', type: 'dir' },
  { path: 'hl/orig.bin', content: ORIG },
  { path: 'hl/link', type: 'link', linkname: 'hl/orig.bin' },
];
const LB_FILES: FileSpec[] = [
  { path: 'data/.wh.old.bin' }, // file whiteout
  { path: '.wh.cache' }, // directory whiteout
  { path: 'opq/.wh..wh..opq' }, // opaque directory
  { path: 'opq/new.bin', content: OPQ_NEW }, // added in the opaque dir by the same layer: stays
  { path: 'app.bin', content: APP2 }, // overwrite
  { path: 'dup2.bin', content: D }, // same content as dup1.bin, another path, another layer
];
const LC_FILES: FileSpec[] = [
  { path: 'srv', type: 'dir' },
  { path: 'srv/shared.txt', content: S },
  { path: 'srv/c.bin', content: C },
  { path: 'conf-copy', content: A1 }, // sorts before etc/conf, but sits in a higher layer
];
const LD_FILES: FileSpec[] = [
  { path: 'opt', type: 'dir' },
  { path: 'opt/shared.txt', content: S },
  { path: 'opt/d.bin', content: DD },
];

// Layer sizes by hand (entries: header each; contents rounded up to 512; 1024 end marker).
const LA_BYTES = tarSize([0, 700, 0, 3000, 0, 1500, 2500, 0, 1200, 4000, 1000, 0, 800, 0]); // 14*512 + 15872 + 1024 = 24064
const LB_BYTES = tarSize([0, 0, 0, 600, 4100, 1000]); // 6*512 + 6656 + 1024 = 10752
const LC_BYTES = tarSize([0, 2000, 900, 700]); // 4*512 + 4096 + 1024 = 7168
const LD_BYTES = tarSize([0, 2000, 1100]); // 3*512 + 3584 + 1024 = 6144
const EMPTY = Buffer.alloc(1024);

let tmp: string;
let store: string;
let la: LayerBlob, lb: LayerBlob, lc: LayerBlob, ld: LayerBlob, laGz: LayerBlob, empty: LayerBlob;
let i1: ImageSpec, i2: ImageSpec, i3: ImageSpec;
/** Blob digests of the layers, from their bytes. */
let dig: Record<'LA' | 'LB' | 'LC' | 'LD' | 'LAgz' | 'EMPTY', string>;
let LAGZ_BYTES: number;
let filesJson: any;
let plainJson: any;

const ok = (r: CliResult): CliResult => {
  expect(r.code, show(r)).toBe(0);
  return r;
};
/** Every command on the main store, started together once it is ingested (they only read it). */
const MAIN_RUNS = {
  files: ['report', '--files', '--json'],
  plain: ['report', '--json'],
  tables: ['report', '--files'],
  top1: ['report', '--files', '--json', '--top', '1'],
  selection: ['report', '--files', '--json', 'acme/overlay:1'],
  diffJson: ['diff', 'acme/overlay:1', 'acme/overlay:2', '--json'],
  diffText: ['diff', 'acme/overlay:1', 'acme/overlay:2'],
  // acme/gz:1 by a 12-digit prefix of its image ID, the sha256 of its config.
  diffGz: ['diff', '<gz image id>', 'acme/overlay:2', '--json'],
  diffMissing: ['diff', 'acme/overlay:1', 'acme/nothing:0'],
} as const;
const runs = {} as Record<keyof typeof MAIN_RUNS, CliResult>;
const imageByRef = (report: any, ref: string) => {
  const img = report.images.find((i: any) => i.refs.includes(ref));
  if (!img) throw new Error(`no image ${ref} in the report`);
  return img;
};

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-files-report-'));
  store = path.join(tmp, 'store');
  la = { tar: await layerTar(LA_FILES), compression: 'none' };
  lb = { tar: await layerTar(LB_FILES), compression: 'none' };
  lc = { tar: await layerTar(LC_FILES), compression: 'none' };
  ld = { tar: await layerTar(LD_FILES), compression: 'none' };
  laGz = { tar: la.tar, compression: 'gzip' };
  empty = { tar: EMPTY, compression: 'none' };
  // The writer made the bytes we counted.
  expect([la.tar.length, lb.tar.length, lc.tar.length, ld.tar.length]).toEqual([24064, 10752, 7168, 6144]);
  expect([LA_BYTES, LB_BYTES, LC_BYTES, LD_BYTES]).toEqual([24064, 10752, 7168, 6144]);
  // An empty layerTar is the same 1024 zero bytes.
  expect((await layerTar([])).equals(EMPTY)).toBe(true);
  expect(digestOf(EMPTY)).toBe(EMPTY_TAR_DIGEST);

  i1 = { repoTags: ['acme/overlay:1'], layers: [la, lb] };
  i2 = { repoTags: ['acme/overlay:2'], layers: [la, empty, lc] };
  i3 = { repoTags: ['acme/gz:1'], layers: [laGz, empty, ld] };
  const gz = describeLayer(laGz);
  LAGZ_BYTES = gz.size;
  expect(gz.diffId).toBe(digestOf(la.tar));
  expect(LAGZ_BYTES).toBeLessThan(LA_BYTES);
  dig = {
    LA: digestOf(la.tar),
    LB: digestOf(lb.tar),
    LC: digestOf(lc.tar),
    LD: digestOf(ld.tar),
    LAgz: gz.digest,
    EMPTY: EMPTY_TAR_DIGEST,
  };
  expect(gz.digest).toBe(digestOf(gz.bytes));

  const legacy = path.join(tmp, 'overlay.tar');
  writeFileSync(legacy, await dockerSaveLegacy([i1, i2]));
  const layout = path.join(tmp, 'oci-gz');
  mkdirSync(layout);
  writeOciLayoutDir(layout, [i3]);
  ok(runCli(['--store', store, '-q', 'ingest', legacy, layout]));
  const gzImageId = sha256hex(imageConfig(i3)).slice(0, 12);
  await Promise.all(
    Object.entries(MAIN_RUNS).map(async ([k, args]) => {
      runs[k as keyof typeof MAIN_RUNS] = await spawnCli(['--store', store, ...args.map((a) => (a === '<gz image id>' ? gzImageId : a))]);
    }),
  );
  filesJson = JSON.parse(ok(runs.files).stdout);
  plainJson = JSON.parse(ok(runs.plain).stdout);
});

afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('report --files --json: waste per image', () => {
  it('acme/overlay:1: file whiteout, directory whiteout, opaque dir, overwrite, duplicate, hardlink', () => {
    // deleted:   data/old.bin 3000 (file whiteout) + cache/x.bin 1500 + cache/y.bin 2500 (dir whiteout)
    //            + opq/a.bin 1200 (opaque; opq/new.bin of the same layer stays)          = 8200
    // replaced:  app.bin of LA (4000), overwritten by LB                               = 4000
    // duplicate: dup1.bin and dup2.bin hold D; dup1.bin sorts first and survives       = 1000
    // hl/link is a hardlink to hl/orig.bin: 0 bytes, not a copy.
    // wasted 13200 of 14700 + 5700 = 20400 file bytes; efficiency 1 - 13200/20400 = 0.352941 (6 decimals)
    // final: app.bin 4100 + dup1 1000 + dup2 1000 + etc/conf 700 + hl/orig 800 + opq/new 600 = 8200
    const img = imageByRef(filesJson, 'acme/overlay:1');
    expect(img.waste).toEqual({
      deletedBytes: 8200,
      replacedBytes: 4000,
      duplicateBytes: 1000,
      wastedBytes: 13200,
      efficiency: 0.352941,
      totalFileBytes: 20400,
      finalFileBytes: 8200,
      userWastedRatio: 2.315789, // 13200 / 5700 (file bytes above the first layer)
    });
    // The largest wasted files, each where it sits and what hid it.
    expect(img.wastedFiles.map((f: any) => [f.path, f.class, f.bytes, f.copies, f.layers, f.hiddenBy])).toEqual([
      ['app.bin', 'replaced', 4000, 1, [dig.LA], [dig.LB]],
      ['data/old.bin', 'deleted', 3000, 1, [dig.LA], [dig.LB]],
      ['cache/y.bin', 'deleted', 2500, 1, [dig.LA], [dig.LB]],
      ['cache/x.bin', 'deleted', 1500, 1, [dig.LA], [dig.LB]],
      ['opq/a.bin', 'deleted', 1200, 1, [dig.LA], [dig.LB]],
      ['dup2.bin', 'duplicate', 1000, 1, [dig.LB], []],
    ]);
    expect(img.wastedFiles.find((f: any) => f.class === 'duplicate').duplicateOf).toBe('dup1.bin');
  });

  it('acme/overlay:2: a duplicate across layers, nothing hidden; the empty layer adds nothing', () => {
    // conf-copy (LC) holds A1 like etc/conf (LA). The copy from the lowest layer survives
    // (README: "the blame lands on the layer that duplicated"), even though conf-copy sorts
    // first: etc/conf stays, conf-copy is 700 wasted bytes.
    // file bytes 14700 + 0 + 3600 = 18300; efficiency 1 - 700/18300 = 0.961749
    const img = imageByRef(filesJson, 'acme/overlay:2');
    expect(img.waste).toEqual({
      deletedBytes: 0,
      replacedBytes: 0,
      duplicateBytes: 700,
      wastedBytes: 700,
      efficiency: 0.961749,
      totalFileBytes: 18300,
      finalFileBytes: 18300,
      userWastedRatio: 0.194444, // 700 / 3600
    });
    expect(img.wastedFiles).toEqual([
      expect.objectContaining({ path: 'conf-copy', class: 'duplicate', bytes: 700, duplicateOf: 'etc/conf', layers: [dig.LC] }),
    ]);
  });

  it('acme/gz:1: no waste', () => {
    const img = imageByRef(filesJson, 'acme/gz:1');
    expect(img.waste).toEqual({
      deletedBytes: 0,
      replacedBytes: 0,
      duplicateBytes: 0,
      wastedBytes: 0,
      efficiency: 1,
      totalFileBytes: 17800, // 14700 + 3100
      finalFileBytes: 17800,
      userWastedRatio: 0,
    });
    expect(img.wastedFiles).toEqual([]);
  });

  it('marginalBytes: what removing each image frees (manifest + config + layers no other image uses)', () => {
    const manifest = (ref: string) => blobSize(store, imageByRef(plainJson, ref).manifestDigest);
    expect(imageByRef(filesJson, 'acme/overlay:1').marginalBytes).toBe(manifest('acme/overlay:1') + imageConfig(i1).length + LB_BYTES);
    // LA is shared with overlay:1, EMPTY with gz:1.
    expect(imageByRef(filesJson, 'acme/overlay:2').marginalBytes).toBe(manifest('acme/overlay:2') + imageConfig(i2).length + LC_BYTES);
    expect(imageByRef(filesJson, 'acme/gz:1').marginalBytes).toBe(manifest('acme/gz:1') + imageConfig(i3).length + LAGZ_BYTES + LD_BYTES);
  });
});

describe('report --files --json: the savings ledger', () => {
  it('blob level: distinct layer blobs (LA shared by two images; gzip(LA) is another blob)', () => {
    // logical: overlay:1 LA+LB, overlay:2 LA+LC, gz:1 LAgz+LD (EMPTY left out)
    const logical = 2 * LA_BYTES + LB_BYTES + LC_BYTES + LAGZ_BYTES + LD_BYTES;
    const stored = LA_BYTES + LB_BYTES + LC_BYTES + LAGZ_BYTES + LD_BYTES;
    expect(filesJson.totals.levels.blob).toEqual({ logicalBytes: logical, storedBytes: stored, savedBytes: LA_BYTES });
  });

  it('diffID level: LA and gzip(LA) are one diffID; the smaller blob is kept', () => {
    const logical = 2 * LA_BYTES + LB_BYTES + LC_BYTES + LAGZ_BYTES + LD_BYTES;
    const stored = LAGZ_BYTES + LB_BYTES + LC_BYTES + LD_BYTES;
    expect(filesJson.totals.levels.diffId).toEqual({ logicalBytes: logical, storedBytes: stored, savedBytes: 2 * LA_BYTES });
    // The layer list shows the two blobs with one diffID.
    const laRow = filesJson.layers.find((l: any) => l.digest === dig.LA);
    const gzRow = filesJson.layers.find((l: any) => l.digest === dig.LAgz);
    expect(laRow).toMatchObject({ diffId: dig.LA, compression: 'none', sizeBytes: LA_BYTES });
    expect(gzRow).toMatchObject({ diffId: dig.LA, compression: 'gzip', sizeBytes: LAGZ_BYTES });
  });

  it('file level: regular-file content bytes, identical files across layers stored once', () => {
    // logical: every image's distinct layers' file bytes: (14700+5700) + (14700+3600) + (14700+3100) = 56500
    // stored: distinct contents over the distinct diffIDs LA, LB, LC, LD:
    //   LA 14700; LB adds 600 + 4100 (D is in LA) = 4700; LC adds S 2000 + 900 (A1 is in LA) = 2900;
    //   LD adds 1100 (S is in LC) -> 14700 + 4700 + 2900 + 1100 = 23400
    expect(filesJson.totals.levels.file).toEqual({ logicalBytes: 56500, storedBytes: 23400, savedBytes: 33100 });
  });

  it('the well-known empty layer is flagged and left out of the levels', () => {
    const row = filesJson.layers.find((l: any) => l.digest === EMPTY_TAR_DIGEST);
    expect(row, 'the empty layer is listed').toBeDefined();
    expect(row.sizeBytes).toBe(1024);
    expect(row.images).toHaveLength(2);
    expect(typeof row.wellKnown).toBe('string');
    expect(row.wellKnown).toMatch(/empty/i);
    // Only that layer is flagged.
    expect(filesJson.layers.filter((l: any) => l.wellKnown !== undefined).map((l: any) => l.digest)).toEqual([EMPTY_TAR_DIGEST]);
    expect(filesJson.totals.wellKnown).toEqual([
      { digest: EMPTY_TAR_DIGEST, diffId: EMPTY_TAR_DIGEST, label: row.wellKnown, sizeBytes: 1024, images: 2, logicalBytes: 2048 },
    ]);
    // The plain report counts it as any blob: stored once, used twice.
    expect(plainJson.layers.find((l: any) => l.digest === EMPTY_TAR_DIGEST)).toMatchObject({ savedBytes: 1024, wellKnown: row.wellKnown });
  });
});

describe('report --files --json: duplicate files across distinct layers', () => {
  it('contents stored more than once, with sha256 and every (layer, path)', () => {
    // By bytes a file-level store would save: S 2000, D 1000, A1 700. LA and gzip(LA) are one
    // diffID, so its files count once (either blob may stand for it). Hardlinks and empty
    // whiteout markers are not contents.
    const laBlob = { layer: expect.stringMatching(new RegExp(`^(${dig.LA}|${dig.LAgz})$`)) };
    // `layers` is the number of distinct layers among the occurrences.
    for (const d of filesJson.duplicateFiles) expect(d.layers).toBe(new Set(d.occurrences.map((o: any) => o.layer)).size);
    expect(filesJson.duplicateFiles).toEqual([
      {
        digest: `sha256:${sha256hex(S)}`,
        sha256: sha256hex(S),
        sizeBytes: 2000,
        occurrences: [
          { layer: dig.LD, path: 'opt/shared.txt' },
          { layer: dig.LC, path: 'srv/shared.txt' },
        ],
        layers: expect.any(Number),
        savedBytes: 2000,
      },
      {
        digest: `sha256:${sha256hex(D)}`,
        sha256: sha256hex(D),
        sizeBytes: 1000,
        occurrences: [
          { ...laBlob, path: 'dup1.bin' },
          { layer: dig.LB, path: 'dup2.bin' },
        ],
        layers: expect.any(Number),
        savedBytes: 1000,
      },
      {
        digest: `sha256:${sha256hex(A1)}`,
        sha256: sha256hex(A1),
        sizeBytes: 700,
        occurrences: [
          { layer: dig.LC, path: 'conf-copy' },
          { ...laBlob, path: 'etc/conf' },
        ],
        layers: expect.any(Number),
        savedBytes: 700,
      },
    ]);
  });

  it('--top 1 keeps the largest only', () => {
    const j = JSON.parse(ok(runs.top1).stdout);
    expect(j.duplicateFiles.map((d: any) => d.sha256)).toEqual([sha256hex(S)]);
    expect(imageByRef(j, 'acme/overlay:1').wastedFiles.map((f: any) => f.path)).toEqual(['app.bin']);
    // --top changes lists only, not figures.
    expect(imageByRef(j, 'acme/overlay:1').waste).toEqual(imageByRef(filesJson, 'acme/overlay:1').waste);
  });
});

describe('report --files --json keeps the schemaVersion 1 report as it is', () => {
  it('every field of report --json has the same value under --files', () => {
    expect(filesJson.schemaVersion).toBe(1);
    for (const k of Object.keys(plainJson)) {
      if (k === 'totals' || k === 'images') continue;
      expect(filesJson[k], k).toEqual(plainJson[k]);
    }
    for (const k of Object.keys(plainJson.totals)) expect(filesJson.totals[k], `totals.${k}`).toEqual(plainJson.totals[k]);
    expect(filesJson.images.map((i: any) => i.manifestDigest)).toEqual(plainJson.images.map((i: any) => i.manifestDigest));
    plainJson.images.forEach((p: any, n: number) => {
      for (const k of Object.keys(p)) expect(filesJson.images[n][k], `images[${n}].${k}`).toEqual(p[k]);
    });
  });

  it('the base figures are the blob sizes we wrote (EMPTY included there)', () => {
    // images[].sizeBytes = config + distinct layer blobs
    expect(imageByRef(plainJson, 'acme/overlay:1').sizeBytes).toBe(imageConfig(i1).length + LA_BYTES + LB_BYTES);
    expect(imageByRef(plainJson, 'acme/overlay:2').sizeBytes).toBe(imageConfig(i2).length + LA_BYTES + 1024 + LC_BYTES);
    expect(imageByRef(plainJson, 'acme/gz:1').sizeBytes).toBe(imageConfig(i3).length + LAGZ_BYTES + 1024 + LD_BYTES);
    expect(plainJson.totals.layers).toBe(6); // LA, LB, LC, LD, LAgz, EMPTY
  });
});

describe('report --files tables', () => {
  let out: string;
  beforeAll(() => {
    out = ok(runs.tables).stdout;
  });

  it('the ledger: blob, diffID and file rows', () => {
    const ledger = section(out, 'Savings ledger');
    // SAVED: blob LA = 24064 -> "24.1 kB"; diffID 2 x 24064 = 48128 -> "48.1 kB".
    expect(rowWhere(ledger, 0, 'blob')[3]).toBe('24.1 kB');
    expect(rowWhere(ledger, 0, 'diffID')[3]).toBe('48.1 kB');
    // file: 56500 / 23400 / 33100.
    expect(rowWhere(ledger, 0, 'file').slice(1, 4)).toEqual(['56.5 kB', '23.4 kB', '33.1 kB']);
    expect(out).toMatch(/Well-known empty layers, left out of the levels: .*5f70bf18a086.* in 2 images/);
  });

  it('the layer table flags the empty layer with *', () => {
    // LAYER DIFF-ID COMPRESSION SIZE IMAGES SAVED
    expect(rowWhere(out, 0, '5f70bf18a086 *').slice(1)).toEqual(['5f70bf18a086', 'none', '1.02 kB', '2', '1.02 kB']);
    expect(rowWhere(out, 0, dig.LA.slice(7, 19)).slice(1)).toEqual([dig.LA.slice(7, 19), 'none', '24.1 kB', '2', '24.1 kB']);
    expect(rowWhere(out, 0, dig.LAgz.slice(7, 19)).slice(1, 3)).toEqual([dig.LA.slice(7, 19), 'gzip']);
    expect(out).toMatch(/^\* a well-known empty layer/m);
  });

  it('the waste table', () => {
    const waste = section(out, 'Waste inside images');
    // REF FILES DELETED REPLACED DUPLICATE WASTED EFFICIENCY ...
    expect(rowWhere(waste, 0, 'acme/overlay:1').slice(1, 7)).toEqual(['20.4 kB', '8.20 kB', '4.00 kB', '1.00 kB', '13.2 kB', '35.3%']);
    expect(rowWhere(waste, 0, 'acme/overlay:2').slice(1, 7)).toEqual(['18.3 kB', '0 B', '0 B', '700 B', '700 B', '96.2%']);
    expect(rowWhere(waste, 0, 'acme/gz:1').slice(1, 7)).toEqual(['17.8 kB', '0 B', '0 B', '0 B', '0 B', '100.0%']);
  });

  it('the largest wasted files and the duplicate contents', () => {
    const wasted = section(out, 'Largest wasted files');
    const appRow = rowWhere(wasted, 1, 'app.bin');
    expect(appRow.slice(0, 4)).toEqual(['acme/overlay:1', 'app.bin', 'replaced', '4.00 kB']);
    expect(rowWhere(wasted, 1, 'conf-copy').slice(2, 6)).toEqual(['duplicate', '700 B', dig.LC.slice(7, 19), 'same as etc/conf']);
    const dups = section(out, 'Contents stored more than once, in one layer or across layers');
    const rows = tableRows(dups);
    const at = rows.findIndex((r) => r[0] === sha256hex(S).slice(0, 12));
    // S: two copies in two layers (LD, LC); D: dup1.bin in LA and dup2.bin in LB.
    expect(rows[at]!.slice(1, 6)).toEqual(['2.00 kB', '2', '2', '2.00 kB', 'opt/shared.txt']);
    // The second path of the group is on the continuation line.
    expect(rows[at + 1]![5]).toBe('srv/shared.txt');
    expect(rowWhere(dups, 0, sha256hex(D).slice(0, 12)).slice(1, 6)).toEqual(['1.00 kB', '2', '2', '1.00 kB', 'dup1.bin']);
  });
});

describe('report --files on a selection', () => {
  it('REF arguments narrow the ledger to those images', () => {
    // overlay:1 alone: blobs LA + LB, nothing shared; files: 14700 + 5700 = 20400 logical,
    // distinct contents 14700 + 4700 = 19400 (D twice) -> 1000 saved.
    const j = JSON.parse(ok(runs.selection).stdout);
    expect(j.totals.levels).toEqual({
      blob: { logicalBytes: LA_BYTES + LB_BYTES, storedBytes: LA_BYTES + LB_BYTES, savedBytes: 0 },
      diffId: { logicalBytes: LA_BYTES + LB_BYTES, storedBytes: LA_BYTES + LB_BYTES, savedBytes: 0 },
      file: { logicalBytes: 20400, storedBytes: 19400, savedBytes: 1000 },
    });
    expect(j.totals.wellKnown).toEqual([]);
    expect(j.duplicateFiles.map((x: any) => [x.sha256, x.occurrences.map((o: any) => [o.layer, o.path])])).toEqual([
      [
        sha256hex(D),
        [
          [dig.LA, 'dup1.bin'],
          [dig.LB, 'dup2.bin'],
        ],
      ],
    ]);
  });
});

// Each of these has a store of its own: run them concurrently.
describe.concurrent('report --files on other stores', () => {
  it("a gzip'd empty layer is well-known by its diffID and left out of the levels", async () => {
    // acme/tiny:1 = [gzip(EMPTY), LT]; LT holds t.bin (300 bytes): 512 + 512 + 1024 = 2048.
    const s = path.join(tmp, 'tiny-store');
    const layout = path.join(tmp, 'oci-tiny');
    mkdirSync(layout);
    const emptyGz: LayerBlob = { tar: EMPTY, compression: 'gzip' };
    const lt: LayerBlob = { tar: await layerTar([{ path: 't.bin', content: fill(300, 't') }]), compression: 'none' };
    expect(lt.tar.length).toBe(tarSize([300]));
    writeOciLayoutDir(layout, [{ repoTags: ['acme/tiny:1'], layers: [emptyGz, lt] }]);
    ok(await spawnCli(['--store', s, '-q', 'ingest', layout]));
    const j = JSON.parse(ok(await spawnCli(['--store', s, 'report', '--files', '--json'])).stdout);
    const gz = describeLayer(emptyGz);
    const row = j.layers.find((l: any) => l.digest === gz.digest);
    expect(row).toMatchObject({ diffId: EMPTY_TAR_DIGEST, compression: 'gzip', sizeBytes: gz.size });
    expect(row.wellKnown).toMatch(/empty/i);
    expect(j.totals.levels.blob).toEqual({ logicalBytes: 2048, storedBytes: 2048, savedBytes: 0 });
    expect(j.totals.levels.file).toEqual({ logicalBytes: 300, storedBytes: 300, savedBytes: 0 });
    expect(j.totals.wellKnown).toEqual([
      expect.objectContaining({ digest: gz.digest, diffId: EMPTY_TAR_DIGEST, sizeBytes: gz.size, images: 1, logicalBytes: gz.size }),
    ]);
  });

  it('content a hardlink still names is not waste when its first name is deleted or overwritten', async () => {
    // H0: keep.bin 1000 + k2 (hardlink to keep.bin), gone.bin 500, over.bin 300 + o2 (hardlink to over.bin)
    // H1: .wh.keep.bin, .wh.gone.bin, over.bin 200 (new content)
    // Stacked as overlayfs (and docker's appliers) do, a whiteout or a new upper file only hides
    // a NAME: k2 and o2 are other names of the lower inodes and still show keep.bin's 1000 bytes
    // and over.bin's old 300 bytes in the final file system. Only gone.bin's 500 bytes are gone.
    //   deleted 500, replaced 0, duplicate 0 -> wasted 500
    const h0 = await layerTar([
      { path: 'keep.bin', content: fill(1000, 'keep') },
      { path: 'k2', type: 'link', linkname: 'keep.bin' },
      { path: 'gone.bin', content: fill(500, 'gone') },
      { path: 'over.bin', content: fill(300, 'over') },
      { path: 'o2', type: 'link', linkname: 'over.bin' },
    ]);
    const h1 = await layerTar([{ path: '.wh.keep.bin' }, { path: '.wh.gone.bin' }, { path: 'over.bin', content: fill(200, 'new') }]);
    const s = path.join(tmp, 'hardlink-store');
    const tar = path.join(tmp, 'hardlink.tar');
    writeFileSync(
      tar,
      await dockerSaveLegacy([
        {
          repoTags: ['acme/hl:1'],
          layers: [
            { tar: h0, compression: 'none' },
            { tar: h1, compression: 'none' },
          ],
        },
      ]),
    );
    ok(await spawnCli(['--store', s, '-q', 'ingest', tar]));
    const j = JSON.parse(ok(await spawnCli(['--store', s, 'report', '--files', '--json'])).stdout);
    expect(j.images[0].waste).toMatchObject({ deletedBytes: 500, replacedBytes: 0, duplicateBytes: 0, wastedBytes: 500 });
  });

  it('--json on a store that does not exist yet has the same shape as on an empty store', async () => {
    // README: report on a store that does not exist yet shows an empty store. An empty store's
    // --files report has totals.levels (all zero), totals.wellKnown [] and duplicateFiles [].
    const j = JSON.parse(ok(await spawnCli(['--store', path.join(tmp, 'not-yet-a-store'), 'report', '--files', '--json'])).stdout);
    const zero = { logicalBytes: 0, storedBytes: 0, savedBytes: 0 };
    expect(j.totals.levels).toEqual({ blob: zero, diffId: zero, file: zero });
    expect(j.totals.wellKnown).toEqual([]);
    expect(j.duplicateFiles).toEqual([]);
  });

  it.skipIf(!realFixtures())("dive's real test image: waste figures equal those derived from GNU tar listings", async () => {
    const s = path.join(tmp, 'dive-store');
    ok(await spawnCli(['--store', s, '-q', 'ingest', DIVE]));
    const j = JSON.parse(ok(await spawnCli(['--store', s, 'report', '--files', '--json'])).stdout);
    expect(j.images).toHaveLength(1);
    expect(j.images[0].refs).toEqual(['dive-test:latest']);
    expect(j.images[0].waste).toMatchObject({
      deletedBytes: 19215, // 3 x 6405
      replacedBytes: 12810, // 2 x 6405
      duplicateBytes: 25620, // 4 x 6405
      wastedBytes: 57645,
      totalFileBytes: 1220598,
      efficiency: 0.952773, // 1 - 57645/1220598
    });
  });
});

describe('diff', () => {
  it('diff acme/overlay:1 acme/overlay:2 --json: layers and files with byte totals', () => {
    const d = JSON.parse(ok(runs.diffJson).stdout);
    expect(d.schemaVersion).toBe(1);
    expect(d.a.refs).toEqual(['acme/overlay:1']);
    expect(d.b.refs).toEqual(['acme/overlay:2']);
    expect(d.layers.common.map((l: any) => l.digest)).toEqual([dig.LA]);
    expect(d.layers.removed.map((l: any) => l.digest)).toEqual([dig.LB]);
    expect(d.layers.added.map((l: any) => l.digest)).toEqual([EMPTY_TAR_DIGEST, dig.LC]);
    expect([d.layers.commonBytes, d.layers.removedBytes, d.layers.addedBytes]).toEqual([LA_BYTES, LB_BYTES, 1024 + LC_BYTES]);

    // overlay:1 final: app.bin(v2) data/ dup1.bin dup2.bin etc/ etc/conf hl/ hl/link hl/orig.bin opq/ opq/new.bin
    // overlay:2 final: all of LA (app.bin v1, data/old.bin, cache/..., opq/a.bin) + conf-copy srv/ srv/c.bin srv/shared.txt
    const f = d.files;
    const file = (p: string, b: Buffer) => ({ path: p, type: 'file', bytes: b.length, sha256: sha256hex(b) });
    expect(f.added).toEqual([
      { path: 'cache', type: 'dir', bytes: 0 },
      file('cache/x.bin', X),
      file('cache/y.bin', Y),
      file('conf-copy', A1),
      file('data/old.bin', OLD),
      file('opq/a.bin', OPQ_A),
      { path: 'srv', type: 'dir', bytes: 0 },
      file('srv/c.bin', C),
      file('srv/shared.txt', S),
    ]);
    expect(f.removed).toEqual([file('dup2.bin', D), file('opq/new.bin', OPQ_NEW)]);
    expect(f.changed).toHaveLength(1);
    expect(f.changed[0]).toMatchObject({
      path: 'app.bin',
      reasons: ['content'],
      before: { type: 'file', bytes: 4100, sha256: sha256hex(APP2) },
      after: { type: 'file', bytes: 4000, sha256: sha256hex(APP1) },
    });
    // data/ dup1.bin etc/ etc/conf hl/ hl/link hl/orig.bin opq/
    expect(f.unchanged).toBe(8);
    expect(f.addedBytes).toBe(1500 + 2500 + 3000 + 1200 + 900 + 700 + 2000); // 11800
    expect(f.removedBytes).toBe(1000 + 600);
    expect([f.changedBytesBefore, f.changedBytesAfter]).toEqual([4100, 4000]);
  });

  it('diff for people: the summary lines', () => {
    const out = ok(runs.diffText).stdout;
    expect(out).toContain('Layers: 1 in common (24.1 kB), 2 added (+8.19 kB), 1 removed (-10.8 kB)');
    expect(out).toContain('Files: 9 added (+11.8 kB), 2 removed (-1.60 kB), 1 changed (4.10 kB -> 4.00 kB), 8 unchanged');
  });

  it('diff gz:1 against overlay:2 by image ID prefix: same files in LA, different blobs', () => {
    expect(imageByRef(plainJson, 'acme/gz:1').configDigest).toBe(digestOf(imageConfig(i3)));
    const d = JSON.parse(ok(runs.diffGz).stdout);
    // No blob in common except EMPTY; LA and gzip(LA) differ as blobs but hold the same files.
    expect(d.layers.common.map((l: any) => l.digest)).toEqual([EMPTY_TAR_DIGEST]);
    expect(d.layers.removed.map((l: any) => l.digest)).toEqual([dig.LAgz, dig.LD]);
    expect(d.layers.added.map((l: any) => l.digest)).toEqual([dig.LA, dig.LC]);
    expect(d.files.removed.map((x: any) => x.path)).toEqual(['opt', 'opt/d.bin', 'opt/shared.txt']);
    expect(d.files.added.map((x: any) => x.path)).toEqual(['conf-copy', 'srv', 'srv/c.bin', 'srv/shared.txt']);
    expect(d.files.changed).toEqual([]);
    expect(d.files.addedBytes).toBe(3600);
    expect(d.files.removedBytes).toBe(3100);
  });

  it('a ref that matches nothing: exit 2, one error line', () => {
    const r = runs.diffMissing;
    expect(r.code, show(r)).toBe(2);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('layerstore: error:'));
    expect(lines, show(r)).toHaveLength(1);
    expect(lines[0]).toMatch(/acme\/nothing:0.*E_REF_NOT_FOUND/);
    expect(r.stdout).toBe('');
  });
});
