/**
 * Where the tar inside a layer may end. Container runtimes unpack layers with Go's
 * archive/tar, which takes an input that stops where a header or an entry's padding would
 * start, or inside an entry's padding, as a finished archive (Debian's umoci 0.4.7 writes
 * such layers), but refuses one that stops inside a header or an entry's data. The file index reads layers the
 * same way (analysis/layer-tar.ts), checked here against umoci (Go) unpacking the same
 * layers; and a layer that is not a readable tar leaves its images out of `report --files`
 * (named in `unreadableLayers`) instead of failing the report of every image.
 * Outer image archives keep the strict rule: the end-of-archive marker is required.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { readTarEntries } from '../../src/archive/tar-entries.js';
import { readLayerEntries } from '../../src/analysis/layer-tar.js';
import { isLayerstoreError } from '../../src/errors.js';
import { runCli, sha256Of, show } from '../helpers/cli.js';
import { imageDocs } from '../helpers/hand-bytes.js';
import { gnuSparseBlocks, paxRecords, rawHeader, rawTar } from '../helpers/make-tar.js';
import { commands } from '../helpers/peers.js';

const HAVE_UMOCI = commands([['umoci', 'umoci']]);
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ls-layer-end-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const data = Buffer.from('hello\n'); // 6 bytes: 506 bytes of padding after it
const head = rawHeader({ name: 'etc/hi', body: data });
const pad = Buffer.alloc(512 - data.length);
const zeros = Buffer.alloc(512);
const big = rawHeader({ name: 'big.bin', body: Buffer.alloc(8000, 7) });

const complete = Buffer.concat([head, data, pad]);
/** A pax 1.0 sparse file whose map takes 3 blocks (120 segments), cut after the first: Go's mustReadFull fails. */
const pax10Cut = (() => {
  const segs = Array.from({ length: 120 }, (_, i) => [i * 9973, 5]).flat();
  const map = Buffer.alloc(3 * 512);
  map.write(`${segs.length / 2}\n${segs.map((v) => `${v}\n`).join('')}`, 'latin1');
  const records = ['GNU.sparse.major=1', 'GNU.sparse.minor=0', 'GNU.sparse.name=etc/sparse', 'GNU.sparse.realsize=1300000'];
  const tar = rawTar(
    [
      { name: 'PaxHeaders/s', typeflag: 'x', body: paxRecords(records) },
      { name: 'GNUSparseFile.0/sparse', body: Buffer.concat([map, Buffer.alloc(600, 1)]) },
    ],
    {
      endBlocks: 0,
    },
  );
  return Buffer.concat([complete, tar.subarray(0, 1024 + 512 + 512)]); // pax header + its block, the entry's header, 1 of 3 map blocks
})();
/** An old GNU sparse header ("S") with 2 extension blocks, cut after the first. */
const gnuCut = (() => {
  const segs = Array.from({ length: 30 }, (_, i) => [i * 5000, 3]).flat();
  return Buffer.concat([complete, gnuSparseBlocks({ name: 'etc/gs', realSize: 200_000, segments: segs, data: Buffer.alloc(90, 2) }).subarray(0, 1024)]);
})();
/** A pax header (172 data bytes) whose entry never comes: the layer ends in its padding. */
const paxPadCut = Buffer.concat([
  complete,
  rawTar([{ name: 'PaxHeaders/l', typeflag: 'x', body: paxRecords([`path=${'long'.repeat(40)}`]) }], { endBlocks: 0 }).subarray(0, 512 + 256),
]);
/** A hard link whose size field covers the entry after it: Go reads no data for a link (isHeaderOnlyType). */
const hidden = rawTar([{ name: 'etc/hidden', body: 'H'.repeat(1000) }], { endBlocks: 0 });
const linkWithSize = Buffer.concat([
  complete,
  rawHeader({ name: 'etc/ln', type: 'link', linkname: 'etc/hi', declaredSize: hidden.length }),
  hidden,
  zeros,
  zeros,
]);

/** Layer bytes, and whether Go's archive/tar (umoci) reads them to the end. */
/** `outer`: whether the strict reader of image archives takes it (a lone zero block at the end: GNU tar does too, with a warning). */
/** `entries`: what a readable layer holds (default: etc/hi), each checked in umoci's rootfs too; `fileBytes`: the report's finalFileBytes (default 6). */
const CASES: Array<{ name: string; bytes: Buffer; readable: boolean; outer?: boolean; entries?: string[]; fileBytes?: number }> = [
  { name: 'complete (two zero blocks)', bytes: Buffer.concat([head, data, pad, zeros, zeros]), readable: true, outer: true },
  { name: 'no padding, no end marker (umoci 0.4.7 insert)', bytes: Buffer.concat([head, data]), readable: true },
  { name: 'padded, no end marker', bytes: Buffer.concat([head, data, pad]), readable: true },
  { name: 'one zero block of the marker', bytes: Buffer.concat([head, data, pad, zeros]), readable: true, outer: true },
  { name: 'empty (0 bytes)', bytes: Buffer.alloc(0), readable: true },
  { name: 'ends inside the data', bytes: Buffer.concat([big, Buffer.alloc(1536, 7)]), readable: false },
  { name: 'ends inside the padding', bytes: Buffer.concat([head, data, pad.subarray(0, 100)]), readable: true },
  { name: 'ends inside a header', bytes: Buffer.concat([head, data, pad, head.subarray(0, 300)]), readable: false },
  { name: 'ends inside a pax 1.0 sparse map (1 of its 3 blocks)', bytes: pax10Cut, readable: false },
  { name: 'ends inside old GNU sparse extension blocks (1 of 2)', bytes: gnuCut, readable: false },
  { name: "ends inside a pax header's padding (its entry never comes)", bytes: paxPadCut, readable: true },
  {
    name: 'a hard link with a size field, then another entry',
    bytes: linkWithSize,
    readable: true,
    outer: true,
    entries: ['etc/hi', 'etc/ln', 'etc/hidden'],
    fileBytes: 1006,
  },
  { name: 'not a tar at all', bytes: Buffer.from('this is no tar archive, just some bytes'.repeat(20)), readable: false },
];

async function entriesOf(read: (input: Readable) => AsyncGenerator<{ name: string; body: AsyncIterable<Buffer> }>, bytes: Buffer): Promise<string[] | string> {
  // Delivered in 37-byte pieces, so the ends fall between chunks too.
  const input = Readable.from(Array.from({ length: Math.ceil(bytes.length / 37) }, (_, i) => bytes.subarray(i * 37, (i + 1) * 37)));
  const names: string[] = [];
  try {
    for await (const e of read(input)) {
      names.push(e.name);
      for await (const _ of e.body) {
        /* drain */
      }
    }
    return names;
  } catch (e) {
    if (isLayerstoreError(e)) return e.code;
    throw e;
  }
}

describe('the end of a layer tar, as Go reads it', () => {
  for (const c of CASES) {
    it(`${c.name}: ${c.readable ? 'read' : 'refused'} as a layer; an outer archive ${c.outer ? 'is read too' : 'is refused'}`, async () => {
      const layer = await entriesOf((i) => readLayerEntries(i), c.bytes);
      if (c.readable) expect(layer).toEqual(c.entries ?? (c.bytes.length ? ['etc/hi'] : []));
      else expect(typeof layer, JSON.stringify(layer)).toBe('string');
      const outer = await entriesOf((i) => readTarEntries(i), c.bytes);
      // An image archive keeps tar-stream's rule for a link's size: its "data" hides what follows.
      if (c.outer) expect(outer).toEqual((c.entries ?? ['etc/hi']).slice(0, 2));
      else expect(typeof outer, JSON.stringify(outer)).toBe('string');
    });
  }
});

describe.skipIf(!HAVE_UMOCI)('report --files on such layers, against umoci unpack (Go archive/tar)', () => {
  it('analyses the layers umoci unpacks, and leaves the others out by name without failing the report', () => {
    const store = path.join(tmp, 'store');
    const want = new Map<string, boolean>();
    CASES.forEach((c, i) => {
      const dir = path.join(tmp, `layout-${i}`);
      mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
      const { config, manifest } = imageDocs(c.bytes);
      for (const b of [config, manifest, c.bytes]) writeFileSync(path.join(dir, 'blobs', 'sha256', sha256Of(b).slice(7)), b);
      writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
      const ref = `end/case${i}:1`;
      const index = {
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: sha256Of(manifest),
            size: manifest.length,
            annotations: { 'org.opencontainers.image.ref.name': 't' },
          },
        ],
      };
      writeFileSync(path.join(dir, 'index.json'), JSON.stringify(index));
      // The independent verdict: does Go's archive/tar (umoci) unpack it?
      const u = spawnSync('umoci', ['unpack', '--rootless', '--image', `${dir}:t`, path.join(tmp, `unpacked-${i}`)], { encoding: 'utf8' });
      expect(u.status === 0, `${c.name}: umoci says ${u.stderr}`).toBe(c.readable);
      if (c.readable) for (const e of c.entries ?? []) expect(existsSync(path.join(tmp, `unpacked-${i}`, 'rootfs', e)), `${c.name}: ${e}`).toBe(true);
      const ing = runCli(['--store', store, 'ingest', '--tag', ref, dir]);
      expect(ing.code, show(ing)).toBe(0); // ingest stores the blobs; their digests check
      want.set(sha256Of(manifest), c.readable);
    });
    const r = runCli(['--store', store, 'report', '--files', '--json']);
    expect(r.code, show(r)).toBe(0);
    const j = JSON.parse(r.stdout);
    for (const img of j.images) expect(img.waste !== null, `${img.refs}`).toBe(want.get(img.manifestDigest));
    const unreadable = (j.unreadableLayers as Array<{ images: string[]; code: string }>).flatMap((u) => u.images).sort();
    expect(unreadable).toEqual(
      [...want]
        .filter(([, ok]) => !ok)
        .map(([d]) => d)
        .sort(),
    );
    expect(r.stderr).toContain('is not a readable tar');
    // The readable ones are analysed as umoci unpacked them: one 6-byte file each (none for the empty layer).
    const sizes = j.images
      .filter((i: { waste: unknown }) => i.waste)
      .map((i: { waste: { finalFileBytes: number } }) => i.waste.finalFileBytes)
      .sort();
    expect(sizes).toEqual(
      CASES.filter((c) => c.readable)
        .map((c) => c.fileBytes ?? (c.bytes.length ? 6 : 0))
        .sort(),
    );
    // A budget's waste rules skip such an image (SKIP, not a guess), and still fail the others as they should.
    const budget = path.join(tmp, 'budget.json');
    writeFileSync(budget, JSON.stringify({ budgets: [{ match: 'end/*', minEfficiency: 0.5 }] }));
    const b = runCli(['--store', store, 'budget', '--config', budget, '--json']);
    expect(b.code, show(b)).toBe(0);
    const verdicts = JSON.parse(b.stdout).results as Array<{ pass: boolean | null; detail?: string }>;
    expect(verdicts.filter((v) => v.pass === null)).toHaveLength(unreadable.length);
    expect(verdicts.filter((v) => v.pass === null).every((v) => /not a readable tar/.test(v.detail ?? ''))).toBe(true);
  });
});
