#!/usr/bin/env node
// (d) Read + SHA-256 + write + fsync of a 256 MiB file (source in page cache), as ingest
// stages a blob: read stream (highWaterMark 1 MiB, like ingest) -> hash each chunk -> write
// stream with highWaterMark 16 KiB, 1 MiB or 8 MiB -> fsync -> close -> unlink; plus the
// project's BlobWriter (begin/write/finish: overlapped hash and positional writes, then
// fsync) over the same 1 MiB reads. Each op writes 256 MiB to disk.
//   node bench/micro/write-fsync.mjs [--rounds 3] [--dir DIR]   (DIR on the file system to test; default: os.tmpdir())
import { createHash } from 'node:crypto';
import fs, { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { MiB, RandomStream } from '../lib/gen.mjs';
import { microArgs, runSuite } from './lib.mjs';
import { Store } from '../../dist/src/store/store.js';

const opts = microArgs({ dir: { type: 'string' } });
const SIZE = 256 * MiB;
const dir = fs.mkdtempSync(path.join(opts.dir ?? os.tmpdir(), 'layerstore-micro-fsync-'));
const src = path.join(dir, 'source.bin');
{
  const rnd = new RandomStream('micro-fsync');
  const fd = fs.openSync(src, 'w');
  for (let off = 0; off < SIZE; off += 4 * MiB) fs.writeSync(fd, rnd.bytes(4 * MiB));
  fs.closeSync(fd);
}
let seq = 0;

async function streams(writeHwm) {
  const dst = path.join(dir, `dst-${seq++}`);
  const h = createHash('sha256');
  const fd = fs.openSync(dst, 'w');
  const ws = fs.createWriteStream(null, { fd, highWaterMark: writeHwm, autoClose: false });
  for await (const c of fs.createReadStream(src, { highWaterMark: MiB })) {
    h.update(c);
    if (!ws.write(c)) await once(ws, 'drain');
  }
  ws.end();
  await once(ws, 'finish');
  await new Promise((res, rej) => fs.fsync(fd, (e) => (e ? rej(e) : res())));
  fs.closeSync(fd);
  h.digest('hex');
  await fsp.rm(dst);
}

const store = await Store.open(path.join(dir, 'store'), { create: true });
async function blobWriter() {
  const w = await store.writer.begin();
  for await (const c of fs.createReadStream(src, { highWaterMark: MiB })) await w.write(c);
  const blob = await w.finish();
  await store.writer.discard(blob); // waits for the fsync, then unlinks
}

try {
  await runSuite({
    id: 'write-fsync',
    title: 'read + sha256 + write + fsync, 256 MiB',
    bytesPerOp: SIZE,
    opts,
    cases: [
      { name: 'write stream hwm 16 KiB', async: true, fn: () => streams(16 * 1024) },
      { name: 'write stream hwm 1 MiB', async: true, fn: () => streams(MiB) },
      { name: 'write stream hwm 8 MiB', async: true, fn: () => streams(8 * MiB) },
      { name: 'layerstore BlobWriter', async: true, fn: blobWriter },
    ],
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
