/**
 * The layer policy of the tar engine (analysis/layer-tar.ts LAYER_POLICY: `end: 'entry'`,
 * `headerOnlyNoData`) on hand-built bytes, through both readers, where it used to differ from
 * Go's archive/tar (umoci's verdicts on the same shapes: test/analysis/layer-end.test.ts):
 * - a layer cut inside a sparse map (1.0 map blocks, old GNU extension blocks) is truncated,
 *   not a complete layer without the file;
 * - a layer cut in a pax header's padding ends there (its entry never came);
 * - a hard link's size field does not make the next entries its "data";
 * - a sparse file's holes give the event loop a turn now and then.
 */
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerstoreError } from '../../src/errors.js';
import { readTarEntries, type TarReadOptions } from '../../src/archive/tar-entries.js';
import { walkTarFile } from '../../src/archive/tar-file-walker.js';
import { sparseContent } from '../../src/archive/tar-sparse-content.js';
import { LAYER_POLICY } from '../../src/analysis/layer-tar.js';
import { gnuSparseBlocks, paxRecords, rawHeader, rawTar } from '../helpers/make-tar.js';

type Outcome = { names: string[] } | { error: string; message: string };

async function viaStream(buf: Buffer, opts: TarReadOptions): Promise<Outcome> {
  const names: string[] = [];
  try {
    // 100-byte chunks: the ends fall between chunks too.
    const parts = Array.from({ length: Math.ceil(buf.length / 100) }, (_, i) => buf.subarray(i * 100, (i + 1) * 100));
    for await (const e of readTarEntries(Readable.from(parts), opts)) names.push(e.rawName);
    return { names };
  } catch (e) {
    if (e instanceof LayerstoreError) return { error: e.code, message: e.message };
    throw e;
  }
}

let tmp: string;
let n = 0;
beforeAll(async () => {
  tmp = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-policy-'));
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

async function viaWalker(buf: Buffer, opts: TarReadOptions): Promise<Outcome> {
  const file = path.join(tmp, `p${n++}.tar`);
  await fsp.writeFile(file, buf);
  const fh = await fsp.open(file, 'r');
  const names: string[] = [];
  try {
    for await (const e of walkTarFile(fh, buf.length, opts)) names.push(e.rawName);
    return { names };
  } catch (e) {
    if (e instanceof LayerstoreError) return { error: e.code, message: e.message };
    throw e;
  } finally {
    await fh.close();
  }
}

/** Both readers under `opts`: they must agree; the outcome. */
async function both(buf: Buffer, opts: TarReadOptions = LAYER_POLICY): Promise<Outcome> {
  const a = await viaStream(buf, opts);
  expect(await viaWalker(buf, opts)).toEqual(a);
  return a;
}

const first = { name: 'first', body: 'x'.repeat(700) }; // 2 data blocks

/** A pax 1.0 sparse file whose map takes 3 blocks (120 segments), as `tar --sparse --format=pax` writes it. */
function pax10ThreeMapBlocks(): Buffer {
  const segs: number[] = [];
  for (let i = 0; i < 120; i++) segs.push(i * 9973, 5);
  const map = Buffer.from(`${segs.length / 2}\n${segs.map((v) => `${v}\n`).join('')}`);
  expect(Math.ceil(map.length / 512)).toBe(3);
  const blocks = Buffer.alloc(3 * 512);
  map.copy(blocks);
  return rawTar(
    [
      first,
      {
        name: 'PaxHeaders/s',
        typeflag: 'x',
        body: paxRecords(['GNU.sparse.major=1', 'GNU.sparse.minor=0', 'GNU.sparse.name=s10', 'GNU.sparse.realsize=1300000']),
      },
      { name: 'GNUSparseFile.0/s10', body: Buffer.concat([blocks, Buffer.alloc(600, 'y')]) },
    ],
    { endBlocks: 0 },
  );
}

describe('a layer cut inside a sparse map is truncated (Go: unexpected EOF), for both readers', () => {
  it('pax 1.0: cut after the first of 3 map blocks', async () => {
    const tar = pax10ThreeMapBlocks();
    const header = 3 * 512 + 2 * 512; // first (header + 2 blocks), the pax header and its block
    const cut = tar.subarray(0, header + 512 + 512); // the entry's header + 1 of 3 map blocks
    expect(await both(cut)).toMatchObject({ error: 'E_TRUNCATED', message: expect.stringContaining('sparse map of entry "GNUSparseFile.0/s10"') });
    // In the middle of a block too, and the whole map with no data after it
    expect(await both(cut.subarray(0, cut.length - 100))).toMatchObject({ error: 'E_TRUNCATED' });
    expect(await both(tar.subarray(0, header + 512 + 3 * 512))).toMatchObject({ error: 'E_TRUNCATED' });
    // The whole entry, no end marker: read (the control)
    expect(await both(tar)).toEqual({ names: ['first', 's10'] });
  });

  it('old GNU "S": cut after the first of 2 extension blocks (and right after the header)', async () => {
    const segs: number[] = [];
    for (let i = 0; i < 30; i++) segs.push(i * 5000, 3); // 4 in the header, 21 + 5 in 2 extension blocks
    const tar = rawTar([first, gnuSparseBlocks({ name: 'gs', realSize: 200_000, segments: segs, data: 'x'.repeat(90) })], { endBlocks: 0 });
    const at = 3 * 512; // the S header
    for (const cut of [at + 512, at + 1024, at + 1024 + 300]) {
      expect(await both(tar.subarray(0, cut)), `cut at ${cut}`).toMatchObject({
        error: 'E_TRUNCATED',
        message: expect.stringContaining('sparse map of entry "gs"'),
      });
    }
    expect(await both(tar)).toEqual({ names: ['first', 'gs'] });
    // An image archive (end marker required) refuses the cut too, and says where
    expect(await both(tar.subarray(0, at + 1024), { maxEntries: 10 })).toMatchObject({ error: 'E_TRUNCATED', message: expect.stringContaining('sparse map') });
  });
});

describe("a layer may end in a pax header's padding, as Go reads it (the entry it announced never came)", () => {
  const pax = { name: 'PaxHeaders/l', typeflag: 'x', body: paxRecords([`path=${'long'.repeat(40)}`]) }; // 172 bytes
  const tar = rawTar([first, pax, { name: 'x', body: 'b'.repeat(10) }], { endBlocks: 0 });
  const paxData = 3 * 512 + 512;

  it('cut inside the padding: the entries before, no error', async () => {
    expect(await both(tar.subarray(0, paxData + 256))).toEqual({ names: ['first'] });
    expect(await both(tar.subarray(0, paxData + 172))).toEqual({ names: ['first'] }); // exactly at the data's end
    expect(await both(tar.subarray(0, paxData + 512))).toEqual({ names: ['first'] }); // at the next header
  });

  it('cut inside the pax data, or in the entry after: still truncated; an image archive still needs its marker', async () => {
    expect(await both(tar.subarray(0, paxData + 100))).toMatchObject({ error: 'E_TRUNCATED' });
    expect(await both(tar.subarray(0, paxData + 512 + 100))).toMatchObject({ error: 'E_TRUNCATED' });
    expect(await both(tar.subarray(0, paxData + 256), { maxEntries: 10 })).toMatchObject({ error: 'E_TRUNCATED' });
  });
});

describe('a hard link (or other header-only entry) with a size field has no data under the layer policy (Go isHeaderOnlyType)', () => {
  const hidden = rawTar([{ name: 'hidden', body: 'H'.repeat(4000) }], { endBlocks: 0 }); // 1 + 8 blocks
  for (const [label, entry] of [
    ['hard link', { name: 'lnk', type: 'link' as const, linkname: 'first' }],
    ['symlink', { name: 'sym', type: 'symlink' as const, linkname: 'first' }],
    ['FIFO', { name: 'fifo', typeflag: '6' }],
  ] as const) {
    it(`${label}: the entries after it are read, and it is handed out with size 0`, async () => {
      const tar = Buffer.concat([rawTar([first], { endBlocks: 0 }), rawHeader({ ...entry, declaredSize: hidden.length }), hidden, Buffer.alloc(1024)]);
      expect(await both(tar)).toEqual({ names: ['first', entry.name, 'hidden'] });
      for await (const e of readTarEntries(Readable.from([tar]), LAYER_POLICY)) if (e.rawName === entry.name) expect(e.size).toBe(0);
      // An image archive keeps its rule: the size is the data's (tar-stream, GNU tar)
      expect(await both(tar, { maxEntries: 10 })).toEqual({ names: ['first', entry.name] });
    });
  }
});

describe("a sparse file's holes give the event loop a turn", () => {
  it('a setImmediate callback runs while 2 GiB of holes are handed out, not only after', async () => {
    let turned = false;
    setImmediate(() => (turned = true));
    let piecesAfterTurn = 0;
    let bytes = 0;
    const size = 2 * 1024 ** 3;
    for await (const c of sparseContent(Readable.from([Buffer.from('end')]), { size, segments: [size - 3, 3] })) {
      bytes += c.length;
      if (turned) piecesAfterTurn++;
    }
    expect(bytes).toBe(size);
    expect(piecesAfterTurn).toBeGreaterThan(1000); // the turn came early, not at the end
  });
});
