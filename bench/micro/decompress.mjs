#!/usr/bin/env node
// (c) Decompressing 64 MiB of layer-like content (about 2x compressible):
//   gzip (level 1): node:zlib createGunzip with chunkSize 64 KiB vs 1 MiB;
//   zstd (level 1): fzstd (the project's dependency, pure JS), layerstore's own zstd Transform
//   (fzstd behind a stream), spawning `zstd -dc`, and node:zlib zstd when this Node has it (>= 22.15).
// Input is fed from memory in 1 MiB chunks; output bytes are counted, not kept.
//   node bench/micro/decompress.mjs [--rounds 3]
import { spawn, spawnSync } from 'node:child_process';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import { Decompress } from 'fzstd';
import { ContentStream, MiB } from '../lib/gen.mjs';
import { microArgs, runSuite } from './lib.mjs';
import { createDecompressor } from '../../dist/src/archive/compression.js';

const opts = microArgs();
const SIZE = 64 * MiB;
const raw = new ContentStream('micro-decompress').bytes(SIZE);
const gz = zlib.gzipSync(raw, { level: 1 });
const zr = spawnSync('zstd', ['-1', '-q', '-c', '--no-check'], { input: raw, maxBuffer: 2 * SIZE });
if (zr.status !== 0) throw new Error('zstd CLI failed');
const zst = zr.stdout;
const chunked = (buf) => {
  const out = [];
  for (let off = 0; off < buf.length; off += MiB) out.push(buf.subarray(off, off + MiB));
  return out;
};
const gzChunks = chunked(gz);
const zstChunks = chunked(zst);
process.stdout.write(`input: ${SIZE / MiB} MiB; gzip -1: ${(gz.length / MiB).toFixed(1)} MiB, zstd -1: ${(zst.length / MiB).toFixed(1)} MiB\n`);

const check = (n) => {
  if (n !== SIZE) throw new Error(`decompressed ${n} bytes, want ${SIZE}`);
};
async function throughStream(transform, chunks) {
  let n = 0;
  await pipeline(
    Readable.from(chunks, { objectMode: false }),
    transform,
    new Writable({
      write(c, _e, cb) {
        n += c.length;
        cb();
      },
    }),
  );
  check(n);
}
function fzstd() {
  let n = 0;
  const d = new Decompress((c) => (n += c.length));
  for (const c of zstChunks) d.push(c);
  d.push(new Uint8Array(0), true);
  check(n);
}
function zstdCli() {
  return new Promise((resolve, reject) => {
    const p = spawn('zstd', ['-dc'], { stdio: ['pipe', 'pipe', 'inherit'] });
    let n = 0;
    p.stdout.on('data', (c) => (n += c.length));
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? (check(n), resolve()) : reject(new Error(`zstd exited ${code}`))));
    p.stdin.end(zst);
  });
}

const gzipCases = [
  { name: 'gunzip chunkSize 64 KiB', async: true, fn: () => throughStream(zlib.createGunzip({ chunkSize: 64 * 1024 }), gzChunks) },
  { name: 'gunzip chunkSize 1 MiB', async: true, fn: () => throughStream(zlib.createGunzip({ chunkSize: MiB }), gzChunks) },
];
const zstdCases = [
  { name: 'spawn zstd -dc', async: true, fn: zstdCli },
  { name: 'fzstd Decompress', fn: fzstd },
  { name: 'layerstore zstd Transform (fzstd)', async: true, fn: () => throughStream(createDecompressor('zstd'), zstChunks) },
];
if (typeof zlib.createZstdDecompress === 'function') {
  zstdCases.push({ name: 'node:zlib createZstdDecompress', async: true, fn: () => throughStream(zlib.createZstdDecompress({ chunkSize: MiB }), zstChunks) });
} else process.stdout.write(`node:zlib has no zstd in ${process.version} (it arrived in 22.15 / 23.8); that case is skipped\n`);

await runSuite({ id: 'gunzip', title: 'gunzip 64 MiB (gzip -1), node:zlib', bytesPerOp: SIZE, opts, cases: gzipCases });
await runSuite({ id: 'zstd', title: 'zstd -d 64 MiB (zstd -1)', bytesPerOp: SIZE, opts, cases: zstdCases });
