#!/usr/bin/env node
// (a) SHA-256 of 64 MiB in memory, fed in 1 MiB chunks: node:crypto (OpenSSL) vs @noble/hashes
// (pure JS), plus layerstore's own Hasher wrapper (dist/) to show the wrapper costs nothing.
//   node bench/micro/sha256.mjs [--rounds 3] [--max-time 3]
import { createHash } from 'node:crypto';
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import { RandomStream } from '../lib/gen.mjs';
import { microArgs, MiB, runSuite } from './lib.mjs';
import { createHasher } from '../../dist/src/digest/hasher.js';

const opts = microArgs();
const SIZE = 64 * MiB;
const data = new RandomStream('micro-sha256').bytes(SIZE);
const chunks = [];
for (let off = 0; off < SIZE; off += MiB) chunks.push(data.subarray(off, off + MiB));

let sink = '';
await runSuite({
  id: 'sha256',
  title: 'SHA-256, 64 MiB in 1 MiB chunks',
  bytesPerOp: SIZE,
  opts,
  cases: [
    {
      name: 'node:crypto createHash',
      fn: () => {
        const h = createHash('sha256');
        for (const c of chunks) h.update(c);
        sink = h.digest('hex');
      },
    },
    {
      name: '@noble/hashes sha256',
      fn: () => {
        const h = nobleSha256.create();
        for (const c of chunks) h.update(c);
        sink = h.digest();
      },
    },
    {
      name: 'layerstore createHasher(node)',
      fn: () => {
        const h = createHasher('node');
        for (const c of chunks) h.update(c);
        sink = h.digest();
      },
    },
  ],
});
if (!sink) throw new Error('unreachable');
