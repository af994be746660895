/**
 * The analysis of a scanned registry is linear in its layer references: a registry of 20k
 * images x 30k layers must take seconds, not the ~20 minutes a scan of every image's layers
 * per distinct layer took. Measured without a clock: every read of an image's layer list is
 * counted (the lists are Proxies), and the count must stay within a small multiple of the
 * number of references, at a size where a per-layer scan would read 100 times more.
 */
import { describe, expect, it } from 'vitest';
import type { ImageInfo, LayerInfo } from '../../src/analysis/load-images.js';
import type { Digest } from '../../src/digest/digest.js';
import { analyzeRegistry } from '../../src/registry/registry-analysis.js';
import { digestOf } from '../helpers/hand-bytes.js';

/** `images` images of `perImage` layers each, drawn from `distinct` layers; every layer-list read is counted. */
function syntheticScan(images: number, perImage: number, distinct: number) {
  const reads = { n: 0 };
  const layers: LayerInfo[] = Array.from({ length: distinct }, (_, i) => ({
    digest: digestOf(`layer ${i}`) as Digest,
    diffId: digestOf(`diff ${i}`) as Digest,
    mediaType: i % 2 ? 'application/vnd.oci.image.layer.v1.tar+gzip' : 'application/vnd.oci.image.layer.v1.tar+zstd',
    size: 1000 + i,
  }));
  const counted = (xs: LayerInfo[]) =>
    new Proxy(xs, {
      get(t, k, r) {
        if (typeof k === 'string' && /^\d+$/.test(k)) reads.n++;
        return Reflect.get(t, k, r);
      },
    });
  const imgs: ImageInfo[] = Array.from({ length: images }, (_, i) => ({
    manifestDigest: digestOf(`manifest ${i}`) as Digest,
    manifestSize: 500,
    configDigest: digestOf(`config ${i}`) as Digest,
    configSize: 300,
    layers: counted(Array.from({ length: perImage }, (_, k) => layers[(i * 7 + k * 13) % distinct]!)),
    refs: [`repo${i % 10}:t${i}`],
  }));
  const repositories = Array.from({ length: 10 }, (_, r) => ({
    name: `repo${r}`,
    tags: images / 10,
    images: imgs.filter((_, i) => i % 10 === r).map((i) => i.manifestDigest),
    manifests: imgs.filter((_, i) => i % 10 === r).map((i) => i.manifestDigest),
  }));
  return {
    scan: { images: imgs, repositories, manifestBlobs: new Map(imgs.map((i) => [i.manifestDigest, i.manifestSize])), artifactManifests: new Map() },
    reads,
    layers,
  };
}

describe('registry analysis', () => {
  it('reads each layer reference a bounded number of times (linear), not once per distinct layer', () => {
    const images = 400;
    const perImage = 10;
    const { scan, reads, layers } = syntheticScan(images, perImage, 1000);
    const a = analyzeRegistry(scan);
    const refs = images * perImage;
    expect(reads.n).toBeLessThanOrEqual(10 * refs);
    // and the answers are right: every layer seen, compression from its media type
    const used = new Set(scan.images.flatMap((i) => [...i.layers].map((l) => l.digest)));
    expect(a.report.layers).toHaveLength(used.size);
    const byDigest = new Map(layers.map((l) => [l.digest, l]));
    for (const row of a.report.layers) expect(row.compression).toBe(byDigest.get(row.digest)!.mediaType.endsWith('gzip') ? 'gzip' : 'zstd');
    expect(a.repositories.map((r) => r.images)).toEqual(Array(10).fill(images / 10));
  });
});
