// Races an ingest: waits until the ingest has pinned PINS already-stored blobs (hard links
// in .layerstore/staging, so nlink >= 2), then removes every root whose ref is in REFS (as
// `layerstore rm` does) and runs gc (as `layerstore gc` does), and prints what it did as JSON.
//   node rm-gc-on-pin.mjs DIST_DIR STORE PINS STOPFILE REF...
// When STOPFILE appears first (the ingest ended), it does nothing and reports pinsSeen < PINS.
import { existsSync, lstatSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [distDir, store, pinsArg, stopFile, ...refs] = process.argv.slice(2);
const load = (rel) => import(pathToFileURL(path.join(distDir, rel)).href);
const { Store } = await load('src/store/store.js');
const { gcStore } = await load('src/store/gc.js');
const { refOf } = await load('src/store/refs.js');
const staging = path.join(store, '.layerstore', 'staging');
const want = Number(pinsArg);
process.stdout.write('ready\n');
const deadline = Date.now() + 30_000;
let pins = 0;
while (Date.now() < deadline) {
  pins = 0;
  for (const n of readdirSync(staging)) {
    try {
      if (lstatSync(path.join(staging, n)).nlink >= 2) pins++;
    } catch {
      /* committed or discarded meanwhile */
    }
  }
  if (pins >= want) break;
  if (existsSync(stopFile)) {
    process.stdout.write(JSON.stringify({ pinsSeen: pins, rootsRemoved: 0, blobsRemoved: 0 }) + '\n');
    process.exit(0);
  }
}
const s = await Store.open(store);
const removed = await s.removeRoots((d) => refs.includes(refOf(d) ?? ''));
const gc = await gcStore(s);
process.stdout.write(JSON.stringify({ pinsSeen: pins, rootsRemoved: removed.length, blobsRemoved: gc.blobsRemoved.length }) + '\n');
