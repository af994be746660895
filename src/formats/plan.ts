import { LayerstoreError } from '../errors.js';
import type { Digest } from '../digest/digest.js';
import type { Descriptor, Platform } from './types.js';
import type { SourceFile } from './source.js';

/** An image found in an input: what ingest reports and what analysis will read back. */
export interface PlannedImage {
  manifestDigest: Digest;
  configDigest: Digest;
  /** Layer blob digests, bottom to top. */
  layers: Digest[];
  refs: string[];
  platform?: Platform;
}

/** A root of the input (an image or index) for the store's index.json, under a ref or none. */
export interface SourceRoot {
  descriptor: Descriptor;
  ref?: string;
  /** The fully qualified form of a Docker-style ref ("docker.io/acme/api:1.0"). */
  fullName?: string;
}

/**
 * Where a bare OCI ref name (org.opencontainers.image.ref.name "v1": no repository, and no
 * io.containerd.image.name beside it) is stored: as REPOSITORY:v1, so a registry can serve it.
 * `from` says where the repository came from, for the note the user sees.
 */
export interface BareRefRepository {
  repository: string;
  from: '--repo' | "the input's name";
}

/**
 * What a format reader decided an input holds: the verified blobs to commit, manifests it
 * had to write (legacy saves have none), the roots for index.json, and notes for the user.
 * Store-free: the caller (ingest's IngestPlan) commits it.
 */
export class ImagePlan<F extends SourceFile = SourceFile> {
  readonly blobs = new Map<Digest, F>();
  readonly synthesized = new Map<Digest, Buffer>();
  readonly roots: SourceRoot[] = [];
  readonly images: PlannedImage[] = [];
  readonly notes: string[] = [];
  /** Non-image manifests (SBOMs, signatures, attestations): stored, not analysed. */
  readonly artifacts: Array<{ digest: Digest; type: string }> = [];
  /** Given by the caller before the reader runs; undefined keeps bare ref names as they are. */
  bareRefRepository: BareRefRepository | undefined;

  /** Why the input names none of its images (a format without names), said when nothing named them after all (no --tag). */
  namelessNote: string | undefined;

  /** Notes for the user, with artifacts summed up in one line. */
  summaryNotes(): string[] {
    const notes = [...this.notes];
    if (this.namelessNote && this.roots.every((r) => r.ref === undefined)) notes.push(this.namelessNote);
    if (this.artifacts.length === 0) return notes;
    const types = [...new Set(this.artifacts.map((a) => a.type))].sort();
    notes.push(`${this.artifacts.length} artifact manifest${this.artifacts.length === 1 ? '' : 's'} (${types.join(', ')}) stored, not analysed as images`);
    return notes;
  }

  /**
   * Record a blob the plan needs, checking it against what the input claims about it.
   * Every claim is checked against the bytes: the digest and size of a descriptor.
   */
  useBlob(file: F, claim: Pick<Descriptor, 'digest' | 'size'> | undefined, what: string): Digest {
    if (claim) {
      if (claim.digest !== file.blob.digest) {
        throw new LayerstoreError('E_DIGEST_MISMATCH', `${what}: the bytes hash to ${file.blob.digest}, but ${claim.digest} was claimed`, {
          entry: file.name,
          offset: file.offset,
          expected: claim.digest,
          actual: file.blob.digest,
        });
      }
      if (claim.size !== file.blob.size) {
        throw new LayerstoreError('E_SIZE_MISMATCH', `${what}: ${file.blob.size} bytes, but the descriptor says ${claim.size}`, {
          entry: file.name,
          offset: file.offset,
          expected: claim.size,
          actual: file.blob.size,
        });
      }
    }
    this.blobs.set(file.blob.digest, file);
    return file.blob.digest;
  }

  /** Check a layer's recomputed diffID against the config's rootfs.diff_ids entry. */
  checkDiffId(file: SourceFile, expected: Digest, what: string): void {
    if (file.decompressError !== undefined) {
      throw new LayerstoreError('E_DECOMPRESS', `${what} is ${file.compression} but does not decompress: ${file.decompressError}`, {
        entry: file.name,
        offset: file.offset,
      });
    }
    if (file.diffId !== expected) {
      throw new LayerstoreError(
        'E_DIFFID_MISMATCH',
        `${what}: the uncompressed layer hashes to ${file.diffId}, but the config's rootfs.diff_ids says ${expected}`,
        {
          entry: file.name,
          offset: file.offset,
          expected,
          actual: file.diffId,
        },
      );
    }
  }

  /** Which images hold each ref so far (claimRefs). */
  private readonly refHolders = new Map<string, PlannedImage[]>();

  /**
   * Give `refs` to `images` (the images of one root of the input). A ref an earlier root of
   * the same input named goes to this one, as index.json will have it (the later root takes
   * the ref; the earlier image is kept untagged): the earlier images stop claiming it, so
   * the summary does not call two different images one image's platforms.
   */
  claimRefs(refs: string[], images: PlannedImage[]): void {
    for (const r of refs) {
      for (const old of this.refHolders.get(r) ?? []) {
        if (!images.includes(old)) old.refs = old.refs.filter((x) => x !== r);
      }
      this.refHolders.set(r, images);
      for (const img of images) if (!img.refs.includes(r)) img.refs.push(r);
    }
  }

  addImage(img: PlannedImage): void {
    const existing = this.images.find((i) => i.manifestDigest === img.manifestDigest);
    if (existing) {
      for (const r of img.refs) if (!existing.refs.includes(r)) existing.refs.push(r);
    } else this.images.push(img);
  }
}
