import { sniffCompression, SNIFF_BYTES, type Compression } from '../archive/compression.js';
import type { Digest } from '../digest/digest.js';
import type { BlobWriter, StagedBlob } from '../store/blob-writer.js';
import { DiffIdComputer } from './diffid.js';
import { lstatOrUndefined } from '../store/fs-safe.js';

async function hasBlob(writer: BlobWriter, d: Digest): Promise<boolean> {
  return (await lstatOrUndefined(writer.layout.blobPath(d)))?.isFile() === true;
}

/** A regular file of the input, hashed and (unless already stored) staged. */
export interface StagedFile {
  name: string;
  /** Byte offset of its data in the input tar (0 for directory inputs). */
  offset: number;
  blob: StagedBlob;
  /** Sniffed from the bytes. */
  compression: Compression;
  /** sha256 of the uncompressed bytes: equal to blob.digest when compression is "none". */
  diffId?: Digest;
  /** Why decompression failed, when it did. */
  decompressError?: string;
}

/**
 * Stage one body: hash and write the raw bytes, sniff the compression from the first bytes,
 * and for gzip/zstd decompress alongside to compute the diffID. One pass, flat memory.
 */
export async function stageBody(
  writer: BlobWriter,
  body: AsyncIterable<Buffer>,
  meta: { name: string; offset: number; existing?: Digest },
): Promise<StagedFile> {
  const w = await writer.begin({ existing: meta.existing });
  let compression: Compression | undefined;
  let dec: DiffIdComputer | undefined;
  let head: Buffer[] = [];
  let headLen = 0;
  const feed = async (c: Buffer) => {
    if (dec) await Promise.all([w.write(c), dec.write(c)]);
    else await w.write(c);
  };
  const decide = async () => {
    compression = sniffCompression(Buffer.concat(head).subarray(0, SNIFF_BYTES));
    if (compression !== 'none') dec = new DiffIdComputer(compression);
    for (const c of head) await feed(c);
    head = [];
  };
  try {
    for await (const chunk of body) {
      if (compression === undefined) {
        head.push(chunk);
        headLen += chunk.length;
        if (headLen >= SNIFF_BYTES) await decide();
        continue;
      }
      await feed(chunk);
    }
    if (compression === undefined) await decide();
    const blob = await w.finish((d) => hasBlob(writer, d));
    const staged: StagedFile = { name: meta.name, offset: meta.offset, blob, compression: compression! };
    if (dec) {
      const r = await dec.finish();
      if (r.diffId) staged.diffId = r.diffId;
      else staged.decompressError = r.error;
    } else {
      staged.diffId = blob.digest;
    }
    return staged;
  } catch (e) {
    dec?.abort();
    await w.abort();
    throw e;
  }
}
