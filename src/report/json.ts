import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** JSON for machines: two-space indent and a final newline; callers build objects in a fixed key order. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}

/** Arrays longer than this are written element by element; shorter values in one stringify. */
const STREAM_ARRAYS_LONGER_THAN = 256;
/** Chunks handed to the writer: big enough that write calls cost nothing, small enough to stay flat. */
const CHUNK_CHARS = 1 << 20;

/**
 * toJson(value), byte for byte, in chunks. A report over 100k images is ~400 MB of JSON: as
 * one string it nears V8's maximum string length (~512M characters, then "Invalid string
 * length") and doubles peak memory when converted for writing. Here no chunk exceeds a few
 * MB beyond CHUNK_CHARS (one array element's JSON at most).
 */
export function* jsonChunks(value: unknown): Generator<string> {
  let parts: string[] = [];
  let size = 0;
  const out = function* (s: string): Generator<string> {
    parts.push(s);
    size += s.length;
    if (size >= CHUNK_CHARS) {
      yield parts.join('');
      parts = [];
      size = 0;
    }
  };
  /** Long arrays (any depth) are written element by element; objects at the top two levels key by key. */
  function* write(v: unknown, indent: string, depth: number): Generator<string> {
    if (v !== null && typeof v === 'object' && typeof (v as { toJSON?: unknown }).toJSON !== 'function') {
      const inner = indent + '  ';
      if (Array.isArray(v) && v.length > STREAM_ARRAYS_LONGER_THAN) {
        yield* out('[');
        for (let i = 0; i < v.length; i++) {
          yield* out(i === 0 ? `\n${inner}` : `,\n${inner}`);
          const x = v[i];
          // as JSON.stringify writes them in an array
          if (x === undefined || typeof x === 'function' || typeof x === 'symbol') yield* out('null');
          else yield* write(x, inner, depth + 1);
        }
        yield* out(`\n${indent}]`);
        return;
      }
      if (!Array.isArray(v) && depth < 2) {
        let first = true;
        for (const [k, x] of Object.entries(v)) {
          if (x === undefined || typeof x === 'function' || typeof x === 'symbol') continue; // as JSON.stringify skips them
          yield* out(`${first ? '{' : ','}\n${inner}${JSON.stringify(k)}: `);
          first = false;
          yield* write(x, inner, depth + 1);
        }
        yield* out(first ? '{}' : `\n${indent}}`);
        return;
      }
    }
    const s = JSON.stringify(v, null, 2);
    yield* out(indent === '' || !s.includes('\n') ? String(s) : s.replaceAll('\n', `\n${indent}`));
  }
  yield* write(value, '', 0);
  yield* out('\n');
  if (parts.length) yield parts.join('');
}

/** Write toJson(value) to a stream chunk by chunk, waiting when the stream asks to. */
export async function writeJson(stream: Writable, value: unknown): Promise<void> {
  for (const chunk of jsonChunks(value)) {
    if (!stream.write(chunk)) await once(stream, 'drain');
  }
}
