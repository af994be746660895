import { Readable } from 'node:stream';
import { LayerstoreError } from '../errors.js';
import type { RegistryResponse } from './response.js';

/**
 * How much of a registry's response body we read. A registry may be hostile: a body is read
 * only up to what its descriptor declares (a blob, a child manifest) or a fixed limit (a
 * manifest by tag, a config, a list page), and refused, naming the URL, as soon as it goes
 * past that: before reading when Content-Length already says so, else at the chunk that
 * crosses it (which is not passed on).
 */
export type BodyBound =
  /** The size a descriptor declares: more is E_SIZE_MISMATCH. */
  | { url: string; declared: number }
  /** A limit of ours for `what` ("manifest", "catalog page"): more is E_TOO_LARGE. */
  | { url: string; limit: number; what: string };

function maxOf(b: BodyBound): number {
  return 'declared' in b ? b.declared : b.limit;
}

function beyond(b: BodyBound, got: string): LayerstoreError {
  if ('declared' in b)
    return new LayerstoreError('E_SIZE_MISMATCH', `GET ${b.url}: ${got} than the ${b.declared} bytes its descriptor declares`, { expected: b.declared });
  return new LayerstoreError('E_TOO_LARGE', `GET ${b.url}: ${got} than the ${b.limit}-byte limit for a ${b.what}`, { expected: b.limit });
}

/** The body's chunks, refused as soon as they would go past the bound. */
export async function* boundedChunks(res: RegistryResponse, bound: BodyBound): AsyncGenerator<Buffer> {
  const max = maxOf(bound);
  const length = res.headers.get('content-length');
  if (length !== null && Number(length) > max) {
    await res.body?.cancel();
    throw beyond(bound, `the response declares ${Number(length)} bytes, more`);
  }
  if (!res.body) return;
  let n = 0;
  // Leaving the loop (the throw) cancels the stream: the connection is dropped, not drained.
  for await (const c of res.body) {
    n += c.byteLength;
    if (n > max) throw beyond(bound, 'the body is longer');
    yield Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  }
}

/** The whole body, within the bound. */
export async function readBounded(res: RegistryResponse, bound: BodyBound): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of boundedChunks(res, bound)) chunks.push(c);
  return Buffer.concat(chunks);
}

/** The body as a stream, within the bound (a blob being staged). */
export function boundedStream(res: RegistryResponse, bound: BodyBound): Readable {
  return Readable.from(boundedChunks(res, bound), { objectMode: false });
}
