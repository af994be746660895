import type { Compression } from '../archive/compression.js';
import { digestFromHex, type Digest } from '../digest/digest.js';

/**
 * The source interface: what a format reader (readers.ts) sees of an input, store-free, as
 * go-containerregistry's tarball and layout packages see theirs. The caller (ingest/, or a
 * registry pull) implements SourceView: it stages and hashes each file a reader asks for.
 * The reader records what it found in an ImagePlan (plan.ts), which the caller commits.
 */

/** A regular file of the input, hashed by the caller: what a reader knows of its bytes. */
export interface SourceFile {
  name: string;
  /** Byte offset of its data in the input tar (0 for directory inputs), for errors. */
  offset: number;
  blob: { readonly digest: Digest; readonly size: number };
  /** Sniffed from the bytes. */
  compression: Compression;
  /** sha256 of the uncompressed bytes: equal to blob.digest when compression is "none". */
  diffId?: Digest;
  /** Why decompression failed, when it did. */
  decompressError?: string;
}

/**
 * Named files a reader can ask for, verified by hash. Files are staged when first asked for,
 * so what no image uses is never copied.
 */
export interface SourceView<F extends SourceFile = SourceFile> {
  readonly label: string;
  has(name: string): Promise<boolean>;
  /**
   * The file behind `name` (links followed). `why` names who asked, for errors. With
   * `json`, the caller will read it as JSON: above MAX_JSON_BYTES it is refused
   * (E_TOO_LARGE) by the size the input gives, before any byte is staged.
   */
  file(name: string, why: string, opts?: FileOptions): Promise<F>;
  readJson(name: string, why: string): Promise<unknown>;
  /**
   * Start staging these files now, several at once, for readers that will ask for them one
   * by one (a manifest's layers); `why` and `diffId` as the later file() call will give them.
   */
  prefetch(files: Array<{ name: string; why: string; diffId?: Digest }>): void;
}

/** What a reader tells a view about a file it asks for. */
export interface FileOptions {
  /** Read as JSON: refused above MAX_JSON_BYTES by the size the input gives. */
  json?: boolean;
  /**
   * The digest the file has uncompressed, by the input's own word (a legacy save's config
   * rootfs.diff_ids): a view whose store holds that blob, at the file's size, may give the
   * stored blob without reading the file (skip what is stored). The reader's checks apply to
   * whatever is given.
   */
  diffId?: Digest;
}

/** The digest an OCI-style entry name claims ("blobs/sha256/<hex>"), if any. */
export function claimedDigest(name: string): Digest | undefined {
  const m = /^blobs\/sha256\/([0-9a-f]{64})$/.exec(name);
  return m ? digestFromHex(m[1]!) : undefined;
}
