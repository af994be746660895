import type { Digest } from '../digest/digest.js';
import type { ImageInfo } from '../analysis/load-images.js';
import type { ImageSharing } from '../analysis/sharing.js';
import { humanBytes } from './human.js';

/** `report --json`'s `engine` object when the images were read from a container engine. */
export interface EngineUsage {
  /** The argument read, e.g. "docker-daemon:". */
  source: string;
  /** The socket (or host:port) that answered. */
  endpoint: string;
  /** Containers (running or not) using the reported images. */
  containers: number;
  /**
   * Bytes of the blobs (configs and layers) that no image used by a container references:
   * what removing every image no container uses frees. Shared blobs of an image in use are
   * not reclaimable, whichever other images share them.
   */
  reclaimableBytes: number;
  /** Bytes of the distinct blobs of the images (the store's figure for the engine's images). */
  totalBytes: number;
}

/** Give each image row its containers count, and total what is reclaimable. */
export function engineUsage(source: string, endpoint: string, images: ImageInfo[], rows: ImageSharing[], containersById: Map<string, number>): EngineUsage {
  for (const row of rows) row.containers = containersById.get(row.configDigest) ?? 0;
  const size = new Map<Digest, number>();
  const inUse = new Set<Digest>();
  for (const img of images) {
    const used = (containersById.get(img.configDigest) ?? 0) > 0;
    for (const [d, s] of [[img.configDigest, img.configSize] as const, ...img.layers.map((l) => [l.digest, l.size] as const)]) {
      size.set(d, s);
      if (used) inUse.add(d);
    }
  }
  let total = 0;
  let reclaimable = 0;
  for (const [d, s] of size) {
    total += s;
    if (!inUse.has(d)) reclaimable += s;
  }
  return { source, endpoint, containers: rows.reduce((n, r) => n + (r.containers ?? 0), 0), reclaimableBytes: reclaimable, totalBytes: total };
}

export function renderEngineUsage(u: EngineUsage): string {
  return `Reclaimable: ${humanBytes(u.reclaimableBytes)} of ${humanBytes(u.totalBytes)} (blobs no image with a container uses; ${u.containers} container${u.containers === 1 ? '' : 's'} at ${u.endpoint})\n`;
}
