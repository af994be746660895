import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { Readable } from 'node:stream';
import { LayerstoreError } from '../errors.js';
import { hexOf, isDigest, type Digest } from '../digest/digest.js';
import type { StoreLayout } from './layout.js';
import { sniffCompression, SNIFF_BYTES, type Compression } from '../archive/compression.js';
import type { FileHandle } from 'node:fs/promises';
import { lstatOrUndefined, openRegularFile, readFileNoFollow, readFileNoFollowSync } from '../util/fs-safe.js';
import { hashFileInWorker } from '../digest/hash-file.js';
import { fileChunks } from '../util/buffer-pool.js';

/**
 * The Provider: the read side of the blob store. Every read names a digest, never a path.
 * Opens never follow a symlink planted in blobs/, nor wait on a FIFO (fs-safe openRegularFile).
 * A blob that is absent where something names it is E_STORE_INVALID (damage, exit 3).
 */
export class BlobReader {
  constructor(private readonly layout: StoreLayout) {}

  /** Size in bytes of a stored blob, or undefined when absent. */
  async size(d: Digest): Promise<number | undefined> {
    const st = await lstatOrUndefined(this.layout.blobPath(d));
    if (!st) return undefined;
    if (!st.isFile()) throw new LayerstoreError('E_STORE_INVALID', `blob ${d} is not a regular file`, { hint: 'run layerstore verify' });
    return st.size;
  }

  async has(d: Digest): Promise<boolean> {
    return (await this.size(d)) !== undefined;
  }

  async read(d: Digest, maxBytes: number): Promise<Buffer> {
    try {
      return await readFileNoFollow(this.layout.blobPath(d), maxBytes);
    } catch (e) {
      throw this.openError(d, e);
    }
  }

  async readJson(d: Digest, maxBytes: number): Promise<unknown> {
    return parseStoredJson(d, await this.read(d, maxBytes));
  }

  /**
   * readJson of a document (manifest, index, config), synchronously, with its bytes hashed
   * as they are read: a document edited in place is E_STORE_INVALID, never believed.
   * Documents are small (10k images: ~33 MB, ~35 ms of hashing), so analysis can afford it on
   * every run. Synchronous, for walking thousands of them (see readFileNoFollowSync); callers
   * yield to the event loop between batches.
   */
  readDocumentSync(d: Digest, maxBytes: number): unknown {
    let bytes: Buffer;
    try {
      bytes = readFileNoFollowSync(this.layout.blobPath(d), maxBytes);
    } catch (e) {
      throw this.openError(d, e);
    }
    // node:crypto directly, hex against hex: 20k documents per 10k images, each call counts.
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== hexOf(d))
      throw new LayerstoreError('E_STORE_INVALID', `blob ${d} does not hash to its name (its bytes hash to sha256:${actual})`, {
        hint: 'the store is damaged; run layerstore verify',
      });
    return parseStoredJson(d, bytes);
  }

  /** The first `n` bytes of a blob (fewer when it is shorter), synchronously. */
  headSync(d: Digest, n: number): Buffer {
    try {
      return readFileNoFollowSync(this.layout.blobPath(d), n, { head: true });
    } catch (e) {
      throw this.openError(d, e);
    }
  }

  /** A stream of the blob's bytes (`end` inclusive). */
  async open(d: Digest, opts: { start?: number; end?: number } = {}): Promise<Readable> {
    let fh: FileHandle;
    try {
      ({ fh } = await openRegularFile(this.layout.blobPath(d)));
    } catch (e) {
      throw this.openError(d, e);
    }
    return fh.createReadStream({ highWaterMark: 1024 * 1024, ...opts });
  }

  /**
   * The blob's bytes in chunks read into reused buffers (util/buffer-pool.ts fileChunks): a
   * chunk is valid until the next is asked for. A blob that is not `size` bytes is damaged
   * (E_STORE_INVALID) before a byte is given.
   */
  async *chunks(d: Digest, size: number): AsyncGenerator<Buffer> {
    yield* blobChunks(await this.openFile(d), d, size);
  }

  /**
   * A stored blob open for reads by position (a big layer walked header by header). The
   * caller closes it.
   */
  async openFile(d: Digest): Promise<FileHandle> {
    try {
      return (await openRegularFile(this.layout.blobPath(d))).fh;
    } catch (e) {
      throw this.openError(d, e);
    }
  }

  /** What a stored blob's bytes hash to now, on a worker thread (damage check: it should be `d`). */
  async rehash(d: Digest): Promise<Digest> {
    return (await hashFileInWorker(this.layout.blobPath(d))).digest;
  }

  /** Compression of a stored blob, sniffed from its first bytes. */
  async compression(d: Digest): Promise<Compression> {
    return sniffCompression(this.headSync(d, SNIFF_BYTES));
  }

  private openError(d: Digest, e: unknown): unknown {
    const code = (e as NodeJS.ErrnoException).code;
    // Readers open blobs that something in the store names: one that is gone is damage (exit 3).
    if (code === 'ENOENT') return new LayerstoreError('E_STORE_INVALID', `blob ${d} is missing from the store`, { hint: 'run layerstore verify' });
    if (code === 'ELOOP')
      return new LayerstoreError('E_STORE_INVALID', `blob ${d} is a symlink; the store never follows links`, { hint: 'run layerstore verify' });
    return e;
  }

  /**
   * The digests stored as regular files, from one readdir (no stat per blob): what analysis
   * may read. Links and other odd entries are left out; verify reports them.
   */
  async regularFiles(): Promise<Set<Digest>> {
    const present = new Set<Digest>();
    const entries = await fsp.readdir(this.layout.sha256Dir, { withFileTypes: true }).catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return [];
      throw e;
    });
    for (const e of entries) {
      const d = `sha256:${e.name}`;
      if (e.isFile() && isDigest(d)) present.add(d);
    }
    return present;
  }

  /** Every digest in blobs/sha256 (names that are not digests are skipped; verify reports them). */
  async list(): Promise<Digest[]> {
    const names = await fsp.readdir(this.layout.sha256Dir);
    return names.map((n) => `sha256:${n}`).filter(isDigest);
  }
}

/**
 * The bytes of blob `d` through `fh` (its file, or a pin of it), which this closes: reused
 * buffers (fileChunks); a file that is not `size` bytes is damaged (E_STORE_INVALID) before a
 * byte is given.
 */
export async function* blobChunks(fh: FileHandle, d: Digest, size: number): AsyncGenerator<Buffer> {
  try {
    const actual = (await fh.stat()).size;
    if (actual !== size)
      throw new LayerstoreError('E_STORE_INVALID', `stored blob ${d} is damaged (it is ${actual} bytes, not ${size})`, { hint: 'run layerstore verify' });
    yield* fileChunks(fh.fd, 0, size);
  } finally {
    await fh.close();
  }
}

/** The JSON document stored as blob `d` (its bytes, however they were read); not JSON is damage. */
export function parseStoredJson(d: Digest, bytes: Buffer): unknown {
  try {
    return JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new LayerstoreError('E_STORE_INVALID', `blob ${d} is not valid JSON`, { hint: 'run layerstore verify' });
  }
}
