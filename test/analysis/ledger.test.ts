/**
 * The three-level storage ledger, well-known blobs and marginal cost.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import zlib from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest/digest.js';
import type { ImageInfo, LayerInfo } from '../../src/analysis/load-images.js';
import type { FileEntry, FileIndex } from '../../src/analysis/file-index.js';
import { computeLedger, ledgerFrom, marginalCost, marginalCosts, wellKnownBlob, wellKnownLayer } from '../../src/analysis/ledger.js';
import { layerTar } from '../../fixtures/image-writer.js';
import { bytes, cleanupTempDirs, ingestImages, tempStore } from './helpers.js';

afterAll(cleanupTempDirs);

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const D = (c: string) => `sha256:${c.repeat(64).slice(0, 64)}` as Digest;
const EMPTY_TAR = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef' as Digest;
const GZ_EMPTY = 'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4' as Digest;

describe('well-known blobs', () => {
  it('the three digests are what their bytes hash to (checked here, not trusted)', () => {
    const zeros = Buffer.alloc(1024);
    expect(`sha256:${sha(zeros)}`).toBe(EMPTY_TAR);
    const gnu = execFileSync('tar', ['-cf', '-', '-T', '/dev/null']); // GNU tar's empty archive
    expect(gnu.length).toBe(10240);
    expect(wellKnownBlob(`sha256:${sha(gnu)}`)).toBe('empty tar, GNU tar record (10240 zero bytes)');
    const gz = Buffer.from([31, 139, 8, 0, 0, 9, 110, 136, 0, 255, 98, 24, 5, 163, 96, 20, 140, 88, 0, 8, 0, 0, 255, 255, 46, 175, 181, 239, 0, 4, 0, 0]);
    expect(`sha256:${sha(gz)}`).toBe(GZ_EMPTY);
    expect(zlib.gunzipSync(gz).equals(zeros)).toBe(true);
    expect(wellKnownBlob(EMPTY_TAR)).toBe('empty tar (1024 zero bytes)');
    expect(wellKnownBlob(GZ_EMPTY)).toBe('empty gzip layer (32 bytes)');
    expect(wellKnownBlob(D('1'))).toBeUndefined();
    // An empty tar compressed some other way is recognised by its diffID.
    expect(wellKnownLayer({ digest: D('9'), diffId: EMPTY_TAR })).toBe('empty tar (1024 zero bytes), compressed');
  });
});

// Hand-built records: sizes chosen so every sum below can be checked by eye.
const layer = (digest: Digest, diffId: Digest, size: number): LayerInfo => ({ digest, diffId, size, mediaType: 'application/vnd.oci.image.layer.v1.tar' });
const image = (n: string, layers: LayerInfo[]): ImageInfo => ({
  manifestDigest: D(`a${n}`),
  manifestSize: 400,
  configDigest: D(`c${n}`),
  configSize: 1000,
  layers,
  refs: [`img/${n}:1`],
});
const L1 = layer(D('1'), D('d1'), 1000);
const L2 = layer(D('2'), D('d2'), 500);
const L2gz = layer(D('3'), D('d2'), 300); // same diffID as L2, smaller blob
const L3 = layer(D('4'), D('d3'), 700);
const E = layer(EMPTY_TAR, EMPTY_TAR, 1024);
const G = layer(GZ_EMPTY, EMPTY_TAR, 32);
const A = image('1', [L1, L2, E]);
const B = image('2', [L1, L2gz, G]);
const C = image('3', [L3, L1]);

const f = (p: string, size: number, c: string): FileEntry => ({ path: p, type: 'file', mode: 0o644, uid: 0, gid: 0, size, sha256: c.repeat(64) });
const idx = (l: LayerInfo, entries: FileEntry[]): FileIndex => ({
  version: 1,
  digest: l.digest,
  diffId: l.diffId,
  compression: 'none',
  blobBytes: l.size,
  tarBytes: 0,
  entries,
  unsafeCount: 0,
  unsafe: [],
  totals: { entries: entries.length, files: entries.length, dirs: 0, symlinks: 0, hardlinks: 0, other: 0, fileBytes: entries.reduce((n, e) => n + e.size, 0) },
});

describe('ledgerFrom (hand-built images)', () => {
  it('blob, diffID and file levels; well-known layers apart', () => {
    // Indexes for L1, L2 and L3 only: L2gz shares L2's diffID, so L2's index serves it.
    const indexes = new Map<Digest, FileIndex>([
      [L1.digest, idx(L1, [f('a', 100, 'x'), f('b', 50, 'y')])], // 150
      [L2.digest, idx(L2, [f('c', 100, 'x'), f('d', 10, 'z')])], // 110
      [L3.digest, idx(L3, [f('e', 50, 'y'), f('f', 5, 'w')])], // 55
    ]);
    const l = ledgerFrom([A, B, C], indexes);
    // blob: logical A 1000+500, B 1000+300, C 700+1000 = 4500; stored L1+L2+L2gz+L3 = 2500.
    expect(l.blob).toEqual({ logicalBytes: 4500, storedBytes: 2500, savedBytes: 2000, blobs: 4 });
    // diffID: d1 1000, d2 min(500, 300) = 300, d3 700 -> 2000 stored, saved against the same 4500.
    expect(l.diffId).toEqual({ logicalBytes: 4500, storedBytes: 2000, savedBytes: 2500, diffIds: 3 });
    // file: logical A 150+110, B 150+110, C 55+150 = 725 (12 files); distinct contents
    // x 100, y 50, z 10, w 5 = 165; distinct diffIDs hold 150+110+55 = 315.
    expect(l.file).toEqual({ logicalBytes: 725, storedBytes: 165, savedBytes: 560, contents: 4, files: 12, distinctLayerBytes: 315 });
    expect(l.wellKnown).toEqual([
      { digest: EMPTY_TAR, diffId: EMPTY_TAR, label: 'empty tar (1024 zero bytes)', sizeBytes: 1024, images: 1, logicalBytes: 1024 },
      { digest: GZ_EMPTY, diffId: EMPTY_TAR, label: 'empty gzip layer (32 bytes)', sizeBytes: 32, images: 1, logicalBytes: 32 },
    ]);
    expect(l.wellKnownBytes).toEqual({ logicalBytes: 1056, storedBytes: 1056 });
    expect(ledgerFrom([A, B, C]).file).toBeUndefined();
  });

  it('whiteout and opaque markers are deletions: counted neither as files nor as a content (per use of their layer)', () => {
    const indexes = new Map<Digest, FileIndex>([
      [L1.digest, idx(L1, [f('a', 100, 'x'), f('b', 50, 'y')])],
      // L2 (used by A, and by B through L2gz): one file and three markers, empty like any whiteout
      [L2.digest, idx(L2, [f('c', 10, 'z'), f('.wh.a', 0, 'e'), f('etc/.wh.b', 0, 'e'), f('d/.wh..wh..opq', 0, 'e')])],
      [L3.digest, idx(L3, [f('.wh.c', 0, 'e')])],
    ]);
    const l = ledgerFrom([A, B, C], indexes);
    // files: A 2+1, B 2+1, C 0+2 = 8 (not 8 + 3 + 3 + 1 markers); contents x, y, z (no empty one)
    expect(l.file).toMatchObject({ files: 8, contents: 3, storedBytes: 160 });
  });

  it('a well-known layer shared by many images does not show up as sharing', () => {
    const many = Array.from({ length: 50 }, (_, i) => image(`m${i}`, [layer(D(`f${i}`), D(`e${i}`), 10), G]));
    const l = ledgerFrom(many);
    expect(l.blob).toEqual({ logicalBytes: 500, storedBytes: 500, savedBytes: 0, blobs: 50 });
    expect(l.wellKnown[0]).toMatchObject({ digest: GZ_EMPTY, images: 50, logicalBytes: 1600, sizeBytes: 32 });
  });

  it('marginal cost: the blobs no other image uses', () => {
    const [a, b, c] = marginalCosts([A, B, C]);
    // A: manifest 400 + config 1000 + L2 500 + E 1024 (L1 is shared).
    expect(a).toMatchObject({ layerBytes: 1524, configBytes: 1000, manifestBytes: 400, bytes: 2924, wellKnownBytes: 1024 });
    expect(a!.blobs).toEqual([A.manifestDigest, A.configDigest, L2.digest, EMPTY_TAR].sort());
    expect(b).toMatchObject({ layerBytes: 332, wellKnownBytes: 32, bytes: 1732 });
    expect(c).toMatchObject({ layerBytes: 700, bytes: 2100 });
    expect(marginalCost([A, B, C], C)).toEqual(c);
    // Once A is gone, L1 still has two users; remove B as well and C alone pays for it.
    expect(marginalCost([C], C).layerBytes).toBe(1700);
    // Two images with the same config: neither frees it.
    const B2 = { ...image('x', [L3]), configDigest: B.configDigest };
    expect(marginalCost([B, B2], B2).configBytes).toBe(0);
  });
});

describe('computeLedger on a store', () => {
  it('ingested images: same tar stored gzip and plain counts once at the diffID level', async () => {
    const { store } = await tempStore();
    const base = await layerTar([
      { path: 'usr/lib/libc.so', content: bytes('c', 4000) },
      { path: 'etc/os', content: 'x' },
    ]);
    const app = await layerTar([
      { path: 'app/bin', content: bytes('b', 3000) },
      { path: 'app/copy-of-libc', content: bytes('c', 4000) },
    ]);
    const [p, q] = await ingestImages(store, [
      {
        repoTags: ['l/p:1'],
        layers: [
          { tar: base, compression: 'none' },
          { tar: app, compression: 'none' },
          { tar: Buffer.alloc(1024), compression: 'none' },
        ],
      },
      {
        repoTags: ['l/q:1'],
        layers: [
          { tar: base, compression: 'none' },
          { tar: app, compression: 'gzip' },
        ],
      },
    ]);
    const l = await computeLedger(store, [p!, q!]);
    const size = (d: Digest) => [...p!.layers, ...q!.layers].find((x) => x.digest === d)!.size;
    const [baseD, appPlain] = [p!.layers[0]!.digest, p!.layers[1]!.digest];
    const appGz = q!.layers[1]!.digest;
    expect(p!.layers[1]!.diffId).toBe(q!.layers[1]!.diffId);
    expect(l.blob).toEqual({
      logicalBytes: 2 * size(baseD) + size(appPlain) + size(appGz),
      storedBytes: size(baseD) + size(appPlain) + size(appGz),
      savedBytes: size(baseD),
      blobs: 3,
    });
    expect(size(appGz)).toBeLessThan(size(appPlain));
    expect(l.diffId).toMatchObject({ storedBytes: size(baseD) + size(appGz), diffIds: 2 });
    // Files: each image has base (4001) + app (7000) = 11001 -> logical 22002.
    // Distinct contents: libc 4000 (also app/copy-of-libc), os 1, bin 3000 -> 7001.
    expect(l.file).toEqual({ logicalBytes: 22002, storedBytes: 7001, savedBytes: 15001, contents: 3, files: 8, distinctLayerBytes: 11001 });
    expect(l.wellKnown).toEqual([expect.objectContaining({ digest: EMPTY_TAR, images: 1, sizeBytes: 1024 })]);
  });
});
