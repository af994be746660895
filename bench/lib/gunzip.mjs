#!/usr/bin/env node
// A reference gzip decompressor for the macro benchmark: node:zlib (1 MiB chunks), output
// discarded. Usage: node bench/lib/gunzip.mjs FILE...
import fs from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import zlib from 'node:zlib';

let total = 0;
for (const f of process.argv.slice(2)) {
  await pipeline(
    fs.createReadStream(f, { highWaterMark: 1 << 20 }),
    zlib.createGunzip({ chunkSize: 1 << 20 }),
    new Writable({
      write(c, _e, cb) {
        total += c.length;
        cb();
      },
    }),
  );
}
process.stdout.write(`${total}\n`);
