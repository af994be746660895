// A separate process that runs the store's gc over and over until STOPFILE exists, then
// prints {"runs":N,"blobsRemoved":M,"leftoversRemoved":K} on stdout. It runs the same
// gcStore that `layerstore gc` runs, from the dist/ directory given, without a node start-up
// per run, so hundreds of collections can race the ingests of one test.
//   node gc-loop.mjs DIST_DIR STORE STOPFILE [PAUSE_MS]
import { existsSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const [distDir, store, stopFile, pauseArg] = process.argv.slice(2);
const load = (rel) => import(pathToFileURL(path.join(distDir, rel)).href);
const { Store } = await load('src/store/store.js');
const { gcStore } = await load('src/store/gc.js');
const pause = Number(pauseArg ?? 5);
let runs = 0;
let blobsRemoved = 0;
let leftoversRemoved = 0;
process.stdout.write('ready\n');
while (!existsSync(stopFile)) {
  if (await Store.exists(store)) {
    const r = await gcStore(await Store.open(store));
    runs++;
    blobsRemoved += r.blobsRemoved.length;
    leftoversRemoved += r.leftoversRemoved;
  }
  await new Promise((res) => setTimeout(res, pause));
}
process.stdout.write(JSON.stringify({ runs, blobsRemoved, leftoversRemoved }) + '\n');
