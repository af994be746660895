import path from 'node:path';
import { hexOf, type Digest } from '../digest/digest.js';

/**
 * Every on-disk path of a store, in one place. Blob paths are built only from a validated
 * Digest, never from names found in an input archive.
 *
 *   <root>/oci-layout                    {"imageLayoutVersion":"1.0.0"}
 *   <root>/index.json                    refs -> manifest/index descriptors (OCI image index)
 *   <root>/blobs/sha256/<64 hex>         immutable, read-only, named by the sha256 of their bytes
 *   <root>/.layerstore/staging/          ingest temp files (same filesystem, so rename is atomic)
 *   <root>/.layerstore/index.json.lock   the lock that serializes index.json updates
 *   <root>/.layerstore/derived/          caches keyed by the digest they derive from
 *   <root>/.layerstore/unverified/<hex>  manifests pushed whose config disagrees with their layers
 *   <root>/.layerstore/quarantine/       blobs verify --fix moved out ("<hex>.<time>")
 *   <root>/.layerstore/received.json     blobs pushed into a repository that no manifest names yet
 */
export class StoreLayout {
  readonly root: string;

  constructor(root: string) {
    this.root = path.resolve(root);
  }

  get ociLayoutFile(): string {
    return path.join(this.root, 'oci-layout');
  }
  get indexFile(): string {
    return path.join(this.root, 'index.json');
  }
  get blobsDir(): string {
    return path.join(this.root, 'blobs');
  }
  get sha256Dir(): string {
    return path.join(this.root, 'blobs', 'sha256');
  }
  get privateDir(): string {
    return path.join(this.root, '.layerstore');
  }
  get stagingDir(): string {
    return path.join(this.root, '.layerstore', 'staging');
  }
  get derivedDir(): string {
    return path.join(this.root, '.layerstore', 'derived');
  }
  get unverifiedDir(): string {
    return path.join(this.root, '.layerstore', 'unverified');
  }
  get receivedFile(): string {
    return path.join(this.root, '.layerstore', 'received.json');
  }
  get quarantineDir(): string {
    return path.join(this.root, '.layerstore', 'quarantine');
  }
  /** proper-lockfile takes this path as a directory lock; the name ends in ".lock". */
  get indexLockPath(): string {
    return path.join(this.root, '.layerstore', 'index.json.lock');
  }

  blobPath(d: Digest): string {
    return path.join(this.root, 'blobs', 'sha256', hexOf(d));
  }
}
