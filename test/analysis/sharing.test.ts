import { describe, expect, it } from 'vitest';
import type { Digest } from '../../src/digest/digest.js';
import type { Compression } from '../../src/archive/compression.js';
import type { ImageInfo, LayerInfo } from '../../src/analysis/load-images.js';
import { computeSharing } from '../../src/analysis/sharing.js';

const dg = (s: string) => `sha256:${s.padEnd(64, '0')}` as Digest;
const LAYER_MT = 'application/vnd.oci.image.layer.v1.tar+gzip';
const layer = (id: string, size: number): LayerInfo => ({ digest: dg(`1a${id}`), diffId: dg(`d1${id}`), mediaType: LAYER_MT, size });

// Layers: L1 is the shared base; L2 is in A and C; L3 is in B only (twice); L4 is in C only.
const L1 = layer('1', 1000);
const L2 = layer('2', 200);
const L3 = layer('3', 50);
const L4 = layer('4', 7);

const img = (id: string, configSize: number, layers: LayerInfo[], refs: string[]): ImageInfo => ({
  manifestDigest: dg(`aa${id}`),
  manifestSize: 500, // manifests are not counted
  configDigest: dg(`cc${id}`),
  configSize,
  layers,
  refs,
});

const A = img('a', 10, [L1, L2], ['app/a:1']);
const B = img('b', 20, [L1, L3, L3], ['app/b:1']); // L3 twice in one image: counted once
const C = { ...img('c', 30, [L1, L2, L4], ['app/c:1']), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } };

const compression = (d: Digest): Compression => (d === L4.digest ? 'zstd' : 'gzip');

describe('computeSharing', () => {
  const r = computeSharing([A, B, C], compression);

  it('per-image size, unique and shared bytes (hand-computed)', () => {
    // A: 10 + 1000 + 200 = 1210; unique: config 10           ; shared 1200
    // B: 20 + 1000 + 50  = 1070; unique: config 20 + L3 50   ; shared 1000
    // C: 30 + 1000 + 200 + 7 = 1237; unique: config 30 + L4 7 ; shared 1200
    expect(r.images.map((i) => [i.refs[0], i.sizeBytes, i.uniqueBytes, i.sharedBytes])).toEqual([
      ['app/a:1', 1210, 10, 1200],
      ['app/b:1', 1070, 70, 1000],
      ['app/c:1', 1237, 37, 1200],
    ]);
    expect(r.images[1]!.layers).toEqual([L1.digest, L3.digest, L3.digest]); // the manifest's list as is
    expect(r.images[2]!.platform).toBe('linux/arm64/v8');
    expect(r.images[0]!.platform).toBeUndefined();
  });

  it('totals: logical, stored, saved, dedup ratio', () => {
    // logical = 1210 + 1070 + 1237 = 3517; stored = 10 + 20 + 30 + 1000 + 200 + 50 + 7 = 1317
    expect(r.totals).toEqual({ images: 3, layers: 4, logicalBytes: 3517, storedBytes: 1317, savedBytes: 2200, dedupRatio: 2.6705 });
    expect(r.schemaVersion).toBe(1);
  });

  it('layer rows: images using each layer (once per image), saved bytes, order by saving', () => {
    expect(r.layers.map((l) => [l.digest, l.sizeBytes, l.images, l.savedBytes, l.compression, l.diffId, l.mediaType])).toEqual([
      [L1.digest, 1000, [A.manifestDigest, B.manifestDigest, C.manifestDigest], 2000, 'gzip', L1.diffId, LAYER_MT],
      [L2.digest, 200, [A.manifestDigest, C.manifestDigest], 200, 'gzip', L2.diffId, LAYER_MT],
      [L3.digest, 50, [B.manifestDigest], 0, 'gzip', L3.diffId, LAYER_MT],
      [L4.digest, 7, [C.manifestDigest], 0, 'zstd', L4.diffId, LAYER_MT],
    ]);
  });

  it('the sum of unique bytes plus what is shared equals stored bytes', () => {
    const unique = r.images.reduce((n, i) => n + i.uniqueBytes, 0);
    const sharedStored = L1.size + L2.size; // blobs referenced by more than one image, stored once
    expect(unique + sharedStored).toBe(r.totals.storedBytes);
  });

  it('one image alone: everything unique, ratio 1', () => {
    const one = computeSharing([B], compression);
    expect(one.totals).toEqual({ images: 1, layers: 2, logicalBytes: 1070, storedBytes: 1070, savedBytes: 0, dedupRatio: 1 });
    expect(one.images[0]).toMatchObject({ sizeBytes: 1070, uniqueBytes: 1070, sharedBytes: 0 });
  });

  it('the same image twice in the set (two refs) shares everything', () => {
    const A2 = { ...A, manifestDigest: dg('aa2'), refs: ['app/a:copy'] };
    const two = computeSharing([A, A2], compression);
    expect(two.totals).toEqual({ images: 2, layers: 2, logicalBytes: 2420, storedBytes: 1210, savedBytes: 1210, dedupRatio: 2 });
    expect(two.images.map((i) => [i.uniqueBytes, i.sharedBytes])).toEqual([
      [0, 1210],
      [0, 1210],
    ]);
  });

  it('no images: zeros and ratio 1', () => {
    expect(computeSharing([], compression).totals).toEqual({ images: 0, layers: 0, logicalBytes: 0, storedBytes: 0, savedBytes: 0, dedupRatio: 1 });
  });
});
