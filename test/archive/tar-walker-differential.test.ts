/**
 * walkTarFile (positional, used by ingest for uncompressed archives) against readTarEntries
 * (streaming, used for compressed ones): fast-check (fixed seed) builds
 * archives from entries that steer the structure (pax size/path overrides, global pax,
 * GNU long names, links, directories, devices, GNU sparse files in every format with good
 * and faulty maps), damages them (a changed header byte, a cut, bytes appended), and both
 * readers must see the same entries at the same offsets with the same bodies (a sparse
 * file's bytes too, holes and all), or fail with the same error code.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerstoreError } from '../../src/errors.js';
import { readTarEntries } from '../../src/archive/tar-entries.js';
import { walkTarFile } from '../../src/archive/tar-file-walker.js';
import { sparseContent, sparseContentAt } from '../../src/archive/tar-sparse-content.js';
import type { SparseFile } from '../../src/archive/tar-sparse-map.js';
import { gnuSparseBlocks, paxRecords, rawTar, type RawEntry } from '../helpers/make-tar.js';

type Outcome = { entries: string[] } | { error: string };

/** An entry, its stored data and, for a sparse one, its map and the sha256 of the file's bytes. */
const describeEntry = (e: { name: string; type: string; size: number; linkname?: string; offset: number; sparse?: SparseFile }, body: Buffer, file?: string) =>
  JSON.stringify([e.name, e.type, e.size, e.linkname ?? null, e.offset, body.toString('base64'), e.sparse ?? null, file ?? null]);

async function sha256(chunks: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256');
  for await (const c of chunks) h.update(c);
  return h.digest('hex');
}

async function viaStream(buf: Buffer): Promise<Outcome> {
  const seen: string[] = [];
  try {
    for await (const e of readTarEntries(Readable.from([buf]), { maxEntries: 50 })) {
      const parts: Buffer[] = [];
      // A sparse entry's bytes come through sparseContent, which reads the stored data (kept here too).
      const body = (async function* () {
        for await (const c of e.body) yield parts[parts.push(Buffer.from(c)) - 1]!;
      })();
      const file = e.sparse ? await sha256(sparseContent(body, e.sparse)) : undefined;
      for await (const _ of body);
      seen.push(describeEntry(e, Buffer.concat(parts), file));
    }
    return { entries: seen };
  } catch (e) {
    return { error: e instanceof LayerstoreError ? e.code : `uncoded: ${(e as Error).message}` };
  }
}

async function viaWalker(file: string, buf: Buffer): Promise<Outcome> {
  await fsp.writeFile(file, buf);
  const fh = await fsp.open(file, 'r');
  const seen: string[] = [];
  try {
    for await (const e of walkTarFile(fh, buf.length, { maxEntries: 50 })) {
      const body = Buffer.alloc(e.size);
      await fh.read(body, 0, e.size, e.offset);
      seen.push(describeEntry(e, body, e.sparse ? await sha256(sparseContentAt(fh.fd, { ...e, sparse: e.sparse })) : undefined));
    }
    return { entries: seen };
  } catch (e) {
    return { error: e instanceof LayerstoreError ? e.code : `uncoded: ${(e as Error).message}` };
  } finally {
    await fh.close();
  }
}

const text = fc.string({ minLength: 1, maxLength: 12, unit: fc.constantFrom('a', 'b', 'c', 'é', 'Z', 'a', 'b', '/', '.') });
/**
 * A GNU sparse file: old GNU ("S", map in the header and extension blocks) or pax 0.0, 0.1
 * (map in records) or 1.0 (map in front of the data), with a good map or one fault.
 */
const sparseArb: fc.Arbitrary<Array<RawEntry | Buffer>> = fc
  .record({
    format: fc.constantFrom('gnu', '0.0', '0.1', '1.0'),
    name: text,
    segs: fc.array(fc.record({ gap: fc.nat({ max: 3000 }), len: fc.nat({ max: 700 }) }), { maxLength: 30 }),
    tail: fc.nat({ max: 2000 }),
    fault: fc.oneof({ arbitrary: fc.constant('none'), weight: 12 }, fc.constantFrom('order', 'past-size', 'short', 'long')),
  })
  .map(({ format, name, segs, tail, fault }) => {
    const segments: number[] = [];
    let end = 0;
    for (const s of segs) {
      segments.push(end + s.gap, s.len);
      end += s.gap + s.len;
    }
    let size = end + tail;
    let data = segments.filter((_, i) => i % 2 === 1).reduce((a, b) => a + b, 0);
    if (fault === 'order' && segments.length >= 4) [segments[0], segments[2]] = [segments[2]!, segments[0]!];
    if (fault === 'past-size') size = Math.max(0, end - 1);
    if (fault === 'short') data = Math.max(0, data - 1);
    if (fault === 'long') data++;
    const body = Buffer.alloc(data);
    for (let i = 0; i < data; i++) body[i] = 97 + ((i * 7) % 26);
    if (format === 'gnu') return [gnuSparseBlocks({ name, realSize: size, segments, data: body })];
    if (format === '1.0') {
      const map = Buffer.from(`${segments.length / 2}\n${segments.map((n) => `${n}\n`).join('')}`);
      const records = ['GNU.sparse.major=1', 'GNU.sparse.minor=0', `GNU.sparse.name=${name}`, `GNU.sparse.realsize=${size}`];
      const blocks = Buffer.alloc(Math.ceil(map.length / 512) * 512);
      map.copy(blocks);
      return [
        { name: 'PaxHeaders/s', typeflag: 'x', body: paxRecords(records) },
        { name: `GNUSparseFile.1/${name}`, body: Buffer.concat([blocks, body]) },
      ];
    }
    const records = [`GNU.sparse.size=${size}`, `GNU.sparse.numblocks=${segments.length / 2}`];
    if (format === '0.1') records.push(`GNU.sparse.name=${name}`, `GNU.sparse.map=${segments.join(',')}`);
    else for (let i = 0; i < segments.length; i += 2) records.push(`GNU.sparse.offset=${segments[i]}`, `GNU.sparse.numbytes=${segments[i + 1]}`);
    // 0.0 without segments has no records that say it is sparse: a plain file, as in Go
    return [
      { name: 'PaxHeaders/s', typeflag: 'x', body: paxRecords(records) },
      { name: format === '0.1' ? `GNUSparseFile.1/${name}` : name, body },
    ];
  });

const entryArb: fc.Arbitrary<Array<RawEntry | Buffer>> = fc.oneof(
  sparseArb,
  fc.record({ name: text, body: fc.string({ maxLength: 1200 }) }).map((e) => [e]),
  fc.record({ name: text }).map((e) => [{ ...e, type: 'dir' as const }]),
  fc
    .record({ name: text, linkname: text, t: fc.constantFrom('symlink' as const, 'link' as const) })
    .map((e) => [{ name: e.name, linkname: e.linkname, type: e.t }]),
  fc.record({ name: text, flag: fc.constantFrom('3', '4', '6', '7', 'S', 'V') }).map((e) => [{ name: e.name, typeflag: e.flag }]),
  // a pax header (local or global) steering the next entry
  fc
    .record({
      kind: fc.constantFrom('x', 'g'),
      records: fc.array(
        fc.oneof(
          fc.nat({ max: 3000 }).map((n) => `size=${n}`),
          text.map((t) => `path=${t}`),
          text.map((t) => `linkpath=${t}`),
          fc.constant('comment'),
          fc.constant('size='),
        ),
        { maxLength: 3 },
      ),
      body: fc.string({ maxLength: 3000 }),
    })
    .map((e) => [
      { name: 'PaxHeaders/x', typeflag: e.kind, body: paxRecords(e.records) },
      { name: 'steered', body: e.body },
    ]),
  // a GNU long name or long link name for the next entry
  fc.record({ kind: fc.constantFrom('L', 'K'), long: fc.string({ minLength: 101, maxLength: 160, unit: fc.constantFrom('a', '/', 'b') }) }).map((e) => [
    { name: '././@LongLink', typeflag: e.kind, body: `${e.long}\0` },
    { name: 'short', type: e.kind === 'K' ? ('symlink' as const) : ('file' as const), linkname: 'x', body: 'long' },
  ]),
);

const damageArb: fc.Arbitrary<Damage> = fc.oneof(
  { arbitrary: fc.constant({ kind: 'none' as const }), weight: 4 },
  fc.record({ kind: fc.constant('flip' as const), block: fc.nat(), at: fc.nat({ max: 511 }), value: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant('cut' as const), frac: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ kind: fc.constant('append' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 1100 }) }),
);

type Damage =
  | { kind: 'none' }
  | { kind: 'flip'; block: number; at: number; value: number }
  | { kind: 'cut'; frac: number }
  | { kind: 'append'; bytes: Uint8Array };

function damage(tar: Buffer, d: Damage): Buffer {
  const out = Buffer.from(tar);
  if (d.kind === 'flip') {
    const block = d.block % Math.max(1, Math.floor(out.length / 512));
    out[block * 512 + d.at] = d.value;
    return out;
  }
  if (d.kind === 'cut') return out.subarray(0, Math.floor(d.frac * out.length));
  if (d.kind === 'append') return Buffer.concat([out, d.bytes]);
  return out;
}

let tmp: string;
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-walk-'));
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

describe('walkTarFile and readTarEntries agree (property-based)', () => {
  it('same entries, offsets and bodies, or the same error code, on built and damaged archives', { timeout: 120_000 }, async () => {
    let n = 0;
    const seen = { ok: 0, failed: 0, sparse: 0 };
    await fc.assert(
      fc.asyncProperty(fc.array(entryArb, { minLength: 1, maxLength: 6 }), fc.constantFrom(0, 1, 2, 2, 2), damageArb, async (groups, endBlocks, d) => {
        const tar = damage(rawTar(groups.flat(), { endBlocks }), d);
        const [a, b] = [await viaStream(tar), await viaWalker(path.join(tmp, `t${n++}.tar`), tar)];
        seen['error' in a ? 'failed' : 'ok']++;
        if ('entries' in a) seen.sparse += a.entries.filter((e) => !e.endsWith(',null]')).length;
        expect(JSON.stringify([a, b])).not.toContain('uncoded');
        expect(b).toEqual(a);
      }),
      { seed: Number(process.env.FC_SEED ?? 20261129), numRuns: Number(process.env.FC_RUNS ?? 400) },
    );
    // Not vacuous: many archives read through, many are refused.
    expect(seen.ok, JSON.stringify(seen)).toBeGreaterThan(n / 5);
    expect(seen.failed, JSON.stringify(seen)).toBeGreaterThan(n / 5);
    expect(seen.sparse, JSON.stringify(seen)).toBeGreaterThan(n / 20);
  });
});
