import type { Duplex } from 'node:stream';
import { once } from 'node:events';
import { createDecompressor, type Compression } from '../archive/compression.js';
import { createHasher, type Hasher } from '../digest/hasher.js';
import type { Digest } from '../digest/digest.js';

/**
 * Computes a compressed layer's diffID (sha256 of the decompressed stream) while the
 * compressed bytes are being staged. A layer that does not decompress is not an error
 * here (the entry may not be a layer at all); the failure is reported if a manifest uses it.
 */
export class DiffIdComputer {
  private readonly dec: Duplex;
  private readonly hasher: Hasher;
  private error: Error | undefined;
  private readonly done: Promise<void>;

  constructor(kind: Exclude<Compression, 'none'>) {
    this.dec = createDecompressor(kind);
    this.hasher = createHasher();
    this.dec.on('data', (c: Buffer) => this.hasher.update(c));
    this.done = new Promise((resolve) => {
      this.dec.on('end', resolve);
      this.dec.on('error', (e) => {
        this.error ??= e;
        resolve();
      });
    });
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.error) return;
    if (!this.dec.write(chunk)) {
      await Promise.race([once(this.dec, 'drain'), this.done]);
    }
  }

  async finish(): Promise<{ diffId?: Digest; error?: string }> {
    if (!this.error) this.dec.end();
    await this.done;
    if (this.error) {
      this.dec.destroy();
      return { error: this.error.message };
    }
    return { diffId: this.hasher.digest() };
  }

  abort(): void {
    this.dec.destroy();
  }
}
