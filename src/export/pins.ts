import type { Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';
import type { StagedBlob } from '../store/blob-writer.js';
import { blobChunks, parseStoredJson } from '../store/blobs.js';
import { NOT_WRITABLE_CODES } from '../store/writable.js';

/** How an export holds one blob: a pin (a staging hard link), the store's own name, or nothing. */
type Held = StagedBlob | 'in-place' | 'absent';

/**
 * The blobs an export writes, held against a gc for as long as it runs: each is pinned with a
 * hard link in the store's staging folder (BlobWriter.pin, as ingest pins what it finds
 * stored) and read through that link, so an `rm` + `gc` meanwhile unlinks only the name in
 * blobs/, never the bytes the export still has to write. release() drops the links; a signal
 * handler's removeOwnStagingSync drops them too, and a crash leaves them to gc and verify --fix
 * (staging files of a dead process), as an ingest's.
 */
export class ExportPins {
  private readonly held = new Map<Digest, Held>();
  private inPlace = false;

  constructor(private readonly store: Store) {}

  /** Hold blob `d` from now on; false when the store does not have it. */
  async hold(d: Digest): Promise<boolean> {
    let h = this.held.get(d);
    if (h === undefined) {
      h = await this.pin(d);
      this.held.set(d, h);
    }
    return h !== 'absent';
  }

  private async pin(d: Digest): Promise<Held> {
    // has() first: a blob that is not a regular file is damage (E_STORE_INVALID), not absence.
    if (!(await this.store.blobs.has(d))) return 'absent';
    if (this.inPlace || this.store.cannotStage) return 'in-place';
    try {
      return (await this.store.writer.pin(d)) ?? 'absent'; // gone since has(): a gc took it
    } catch (e) {
      // A store this user cannot write has no staging links to make: its blobs are read in place.
      if (!NOT_WRITABLE_CODES.has((e as NodeJS.ErrnoException).code ?? '')) throw e;
      this.inPlace = true;
      return 'in-place';
    }
  }

  /** A held document, parsed. */
  async readJson(d: Digest, maxBytes: number): Promise<unknown> {
    const h = this.get(d);
    if (h === 'in-place') return this.store.blobs.readJson(d, maxBytes);
    return parseStoredJson(d, (await this.store.writer.readStaged(h, maxBytes))!);
  }

  /** A held blob's bytes, in reused buffers (see fileChunks); a blob that is not `size` bytes is damage. */
  async *chunks(d: Digest, size: number): AsyncGenerator<Buffer> {
    const h = this.get(d);
    if (h === 'in-place') return yield* this.store.blobs.chunks(d, size);
    yield* blobChunks(await this.store.writer.openStaged(h), d, size);
  }

  /** Drop every pin (the export is over). */
  async release(): Promise<void> {
    for (const h of this.held.values()) if (typeof h === 'object') await this.store.writer.discard(h);
    this.held.clear();
  }

  private get(d: Digest): StagedBlob | 'in-place' {
    const h = this.held.get(d);
    if (h === undefined || h === 'absent') throw new Error(`export: blob ${d} read before it was held`);
    return h;
  }
}
