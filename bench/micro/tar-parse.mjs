#!/usr/bin/env node
// (b) Parsing a 256 MiB tar of big files with tar-stream's extract, fed from memory in 64 KiB,
// 1 MiB and 4 MiB chunks (every entry body read to its end), plus layerstore's
// readTarEntries (the tar engine's streaming reader) at 1 MiB, the ingest read size.
//   node bench/micro/tar-parse.mjs [--rounds 3]
import { Readable } from 'node:stream';
import tar from 'tar-stream';
import { bigFilesLayer, MiB } from '../lib/gen.mjs';
import { microArgs, runSuite } from './lib.mjs';
import { readTarEntries } from '../../dist/src/archive/tar-entries.js';

const opts = microArgs();
const layer = bigFilesLayer('micro-tar', 256 * MiB);
const parts = [];
layer.writeTo({ write: (b) => parts.push(b) });
const tarBytes = Buffer.concat(parts);
parts.length = 0;

function chunksOf(size) {
  const out = [];
  for (let off = 0; off < tarBytes.length; off += size) out.push(tarBytes.subarray(off, off + size));
  return out;
}
const feeds = { '64 KiB': chunksOf(64 * 1024), '1 MiB': chunksOf(MiB), '4 MiB': chunksOf(4 * MiB) };

async function tarStream(chunks) {
  const extract = tar.extract();
  Readable.from(chunks, { objectMode: false }).pipe(extract);
  let n = 0;
  for await (const entry of extract) for await (const c of entry) n += c.length;
  if (n < 200 * MiB) throw new Error(`read only ${n} bytes`);
}

async function project(chunks) {
  let n = 0;
  for await (const e of readTarEntries(Readable.from(chunks, { objectMode: false }))) for await (const c of e.body) n += c.length;
  if (n < 200 * MiB) throw new Error(`read only ${n} bytes`);
}

await runSuite({
  id: 'tar-parse',
  title: `tar-stream extract, ${(tarBytes.length / MiB).toFixed(0)} MiB tar of big files`,
  bytesPerOp: tarBytes.length,
  opts,
  cases: [
    { name: 'tar-stream, 64 KiB chunks', async: true, fn: () => tarStream(feeds['64 KiB']) },
    { name: 'tar-stream, 1 MiB chunks', async: true, fn: () => tarStream(feeds['1 MiB']) },
    { name: 'tar-stream, 4 MiB chunks', async: true, fn: () => tarStream(feeds['4 MiB']) },
    { name: 'layerstore readTarEntries, 1 MiB', async: true, fn: () => project(feeds['1 MiB']) },
  ],
});
