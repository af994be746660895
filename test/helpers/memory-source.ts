/**
 * A store-free source (src/formats/source.ts) over files held in memory: what a format reader
 * sees of an input, with no ingest and no store behind it. Each file is hashed when asked for;
 * a gzip file's diffID is the sha256 of its inflated bytes, as ingest computes it.
 */
import { gunzipSync } from 'node:zlib';
import type { Digest } from '../../src/digest/digest.js';
import { sha256Of } from '../../src/digest/hasher.js';
import type { SourceFile, SourceView } from '../../src/formats/source.js';

export class MemorySource implements SourceView {
  readonly asked: string[] = [];

  constructor(
    private readonly files: Map<string, Buffer>,
    readonly label = 'memory',
  ) {}

  async has(name: string): Promise<boolean> {
    return this.files.has(name);
  }

  async file(name: string, why: string): Promise<SourceFile> {
    const bytes = this.files.get(name);
    if (!bytes) throw new Error(`${why}: ${name} is not in the test source`);
    this.asked.push(name);
    const gzip = bytes[0] === 0x1f && bytes[1] === 0x8b;
    const digest: Digest = sha256Of(bytes);
    return { name, offset: 0, blob: { digest, size: bytes.length }, compression: gzip ? 'gzip' : 'none', diffId: gzip ? sha256Of(gunzipSync(bytes)) : digest };
  }

  async readJson(name: string, why: string): Promise<unknown> {
    await this.file(name, why);
    return JSON.parse(this.files.get(name)!.toString('utf8'));
  }

  prefetch(): void {}
}
