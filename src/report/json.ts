import type { Writable } from 'node:stream';
import { LazyList } from '../util/lazy-list.js';
import { TextChunks } from '../util/text-chunks.js';
import { writeChunks } from '../util/write-chunks.js';

/** JSON for machines: two-space indent and a final newline; callers build objects in a fixed key order. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** Arrays longer than this are written element by element; shorter values in one stringify. */
const STREAM_ARRAYS_LONGER_THAN = 256;
/** Chunks handed to the writer: big enough that write calls cost nothing, small enough to stay flat. */

/**
 * toJson(value), byte for byte, in chunks. A report over 100k images is ~400 MB of JSON: as
 * one string it nears V8's maximum string length (~512M characters, then "Invalid string
 * length") and doubles peak memory when converted for writing. Here no chunk exceeds a few
 * MB beyond CHUNK_CHARS (one array element's JSON at most).
 */
export function* jsonChunks(value: unknown): Generator<string> {
  const chunks = new TextChunks();
  const put = (t: string): boolean => chunks.put(t);
  const take = (): string => chunks.take();
  /** Opened up (written piece by piece): long arrays (and LazyLists) at any depth, objects at the top two levels. */
  const opened = (v: unknown, depth: number): boolean =>
    (v instanceof LazyList && v.length > STREAM_ARRAYS_LONGER_THAN) ||
    (v !== null &&
      typeof v === 'object' &&
      typeof (v as { toJSON?: unknown }).toJSON !== 'function' &&
      (Array.isArray(v) ? v.length > STREAM_ARRAYS_LONGER_THAN : depth < 2));
  /** Everything else in one stringify, re-indented to where it sits. */
  const leaf = (v: unknown, indent: string): string => {
    const s = JSON.stringify(v, null, 2);
    if (s === undefined) return 'null'; // as JSON.stringify writes undefined and functions in arrays
    return indent === '' || !s.includes('\n') ? s : s.replaceAll('\n', `\n${indent}`);
  };
  function* write(v: object, indent: string, depth: number): Generator<string> {
    const inner = indent + '  ';
    if (Array.isArray(v) || v instanceof LazyList) {
      const list = v as unknown[] | LazyList<unknown>;
      if (put('[')) yield take();
      for (let i = 0; i < list.length; i++) {
        const x: unknown = Array.isArray(list) ? list[i] : list.at(i);
        put(i === 0 ? `\n${inner}` : `,\n${inner}`);
        if (opened(x, depth + 1)) yield* write(x as object, inner, depth + 1);
        else if (put(leaf(x, inner))) yield take();
      }
      if (put(`\n${indent}]`)) yield take();
      return;
    }
    let first = true;
    for (const [k, x] of Object.entries(v)) {
      if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue; // as JSON.stringify skips them
      put(`${first ? '{' : ','}\n${inner}${JSON.stringify(k)}: `);
      first = false;
      if (opened(x, depth + 1)) yield* write(x as object, inner, depth + 1);
      else if (put(leaf(x, inner))) yield take();
    }
    if (put(first ? '{}' : `\n${indent}}`)) yield take();
  }
  if (opened(value, 0)) yield* write(value as object, '', 0);
  else put(String(JSON.stringify(value, null, 2)));
  put('\n');
  yield take();
}

/** Write toJson(value) to a stream chunk by chunk, waiting when the stream asks to. */
export async function writeJson(stream: Writable, value: unknown): Promise<void> {
  await writeChunks(stream, jsonChunks(value));
}
