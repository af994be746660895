/**
 * jsonChunks / writeJson must write exactly what toJson (JSON.stringify(v, null, 2) + "\n")
 * writes, whatever the value: the JSON contract is byte-for-byte the same, only chunked.
 */
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jsonChunks, toJson, writeJson } from '../../src/report/json.js';
import { LazyList } from '../../src/util/lazy-list.js';

const joined = (v: unknown) => [...jsonChunks(v)].join('');

describe('chunked JSON output', () => {
  it('equals toJson for any JSON value (fast-check), nested long arrays included', () => {
    const long = fc.array(fc.jsonValue({ maxDepth: 2 }), { minLength: 250, maxLength: 600 });
    const value = fc.oneof(
      fc.jsonValue(),
      fc.record({
        schemaVersion: fc.constant(1),
        totals: fc.jsonValue(),
        images: long,
        layers: fc.array(fc.record({ d: fc.string(), images: fc.array(fc.string(), { maxLength: 400 }) }), { maxLength: 300 }),
      }),
      fc.dictionary(fc.string(), fc.oneof(long, fc.jsonValue())),
    );
    fc.assert(
      fc.property(value, (v) => joined(v) === toJson(v)),
      { numRuns: 150 },
    );
  });

  it('skips and nulls what JSON.stringify skips and nulls (undefined, functions) like it does', () => {
    const arr = Array.from({ length: 300 }, (_, i) => (i % 3 === 0 ? undefined : i % 3 === 1 ? () => 1 : { a: undefined, b: i }));
    const v = { x: undefined, f: () => 1, arr, nested: { y: undefined, z: [undefined, 1] }, d: new Date(0), empty: {}, none: [] };
    expect(joined(v)).toBe(toJson(v));
  });

  it('a report-sized value comes out in bounded chunks, and writeJson writes the same bytes', async () => {
    const images = Array.from({ length: 20_000 }, (_, i) => ({
      refs: [`r/${i}:1`],
      manifestDigest: `sha256:${String(i).padStart(64, '0')}`,
      layers: ['a', 'b'],
      sizeBytes: i,
    }));
    const v = { schemaVersion: 1, totals: { images: images.length }, images };
    const chunks = [...jsonChunks(v)];
    expect(chunks.length).toBeGreaterThan(2);
    expect(Math.max(...chunks.map((c) => c.length))).toBeLessThan(2 << 20);
    expect(chunks.join('')).toBe(toJson(v));
    const sink = new PassThrough({ highWaterMark: 1024 });
    const got: Buffer[] = [];
    sink.on('data', (c: Buffer) => got.push(c));
    await writeJson(sink, v);
    sink.end();
    expect(Buffer.concat(got).toString()).toBe(toJson(v));
  });

  it('a LazyList is written as the array it stands for; a long one is read one element at a time', () => {
    for (const n of [0, 3, 256, 257, 900]) {
      for (const depth of [0, 1, 2]) {
        const items = Array.from({ length: n }, (_, i) => (i % 3 ? { path: `p/${i}`, bytes: i, sha256: i % 2 ? undefined : 'ab' } : [i, `s${i}`]));
        let made = 0;
        const lazy = new LazyList(n, (i) => {
          made++;
          return items[i];
        });
        let v: unknown = { schemaVersion: 1, files: { added: lazy, n } };
        let plain: unknown = { schemaVersion: 1, files: { added: items, n } };
        for (let d = 0; d < depth; d++) {
          v = [v];
          plain = [plain];
        }
        expect(joined(v)).toBe(toJson(plain));
        expect(made).toBe(n); // each element made once, whether streamed or stringified through toJSON
        expect(toJson(v)).toBe(toJson(plain));
      }
    }
    expect(() => new LazyList(2, (i) => i).at(2)).toThrow(RangeError);
  });
});
