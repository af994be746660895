import type { Digest } from '../digest/digest.js';
import type { Compression } from '../archive/compression.js';
import { computeSharing, type SharingReport } from '../analysis/sharing.js';
import type { RegistryScan } from './registry-scan.js';

export interface RepositoryCost {
  name: string;
  tags: number;
  images: number;
  sizeBytes: number;
  uniqueBytes: number;
}

export interface RegistryAnalysis {
  report: SharingReport;
  repositories: RepositoryCost[];
  /** Bytes of every manifest and index seen (registries store them as blobs too). */
  manifestBytes: number;
  /**
   * Bytes of the config and layer blobs of manifests that are not images (attestations of an
   * index, signatures, artifacts) that no image uses and that are not manifests themselves:
   * stored like the rest, so the blob store's total is storedBytes + manifestBytes + this.
   */
  artifactBytes: number;
}

/** Compression as the media type declares it: a registry scan downloads no layer to sniff. */
export function compressionFromMediaType(mt: string): Compression {
  return /gzip/.test(mt) ? 'gzip' : /zstd/.test(mt) ? 'zstd' : 'none';
}

/**
 * The sharing report of a scanned registry, and what each repository costs. Linear in the
 * layer references: every lookup is a Map (a 20k-image x 30k-layer registry is a second or two).
 */
export function analyzeRegistry(scan: Pick<RegistryScan, 'images' | 'repositories' | 'manifestBlobs' | 'artifactManifests'>): RegistryAnalysis {
  const mediaTypes = new Map<Digest, string>();
  for (const img of scan.images) for (const l of img.layers) if (!mediaTypes.has(l.digest)) mediaTypes.set(l.digest, l.mediaType);
  const report = computeSharing(scan.images, (d) => compressionFromMediaType(mediaTypes.get(d) ?? ''));
  let manifestBytes = 0;
  for (const s of scan.manifestBlobs.values()) manifestBytes += s;
  // Each blob once: one an image uses, or a manifest, is counted already.
  const counted = new Set<Digest>(scan.manifestBlobs.keys());
  for (const img of scan.images) {
    counted.add(img.configDigest);
    for (const l of img.layers) counted.add(l.digest);
  }
  let artifactBytes = 0;
  for (const blobs of scan.artifactManifests.values())
    for (const b of blobs)
      if (!counted.has(b.digest)) {
        counted.add(b.digest);
        artifactBytes += b.size;
      }
  return { report, repositories: repositoryCosts(scan), manifestBytes, artifactBytes };
}

/**
 * What each repository costs alone: every blob its tags reach (the manifests and indexes
 * themselves, image configs and layers, the config and layer blobs of other manifests such as
 * attestations and artifacts), each once; and of that, what no other repository reaches (what
 * deleting it would free). Two passes over one repository's blobs at a time (count users,
 * then sum), so only one repository's set is in memory: 200 repositories x ~1000 blobs held
 * at once was ~15 MB.
 */
export function repositoryCosts(scan: Pick<RegistryScan, 'images' | 'repositories' | 'manifestBlobs' | 'artifactManifests'>): RepositoryCost[] {
  const byDigest = new Map(scan.images.map((i) => [i.manifestDigest, i]));
  const blobsOf = (manifests: Digest[]) => {
    const m = new Map<Digest, number>();
    for (const d of manifests) {
      const size = scan.manifestBlobs.get(d);
      if (size !== undefined) m.set(d, size);
      const img = byDigest.get(d);
      if (img) {
        m.set(img.configDigest, img.configSize);
        for (const l of img.layers) m.set(l.digest, l.size);
      }
      for (const b of scan.artifactManifests.get(d) ?? []) m.set(b.digest, b.size);
    }
    return m;
  };
  const users = new Map<Digest, number>();
  for (const r of scan.repositories) for (const d of blobsOf(r.manifests).keys()) users.set(d, (users.get(d) ?? 0) + 1);
  return scan.repositories.map((r) => {
    let size = 0;
    let unique = 0;
    for (const [d, s] of blobsOf(r.manifests)) {
      size += s;
      if (users.get(d) === 1) unique += s;
    }
    return { name: r.name, tags: r.tags, images: r.images.length, sizeBytes: size, uniqueBytes: unique };
  });
}
