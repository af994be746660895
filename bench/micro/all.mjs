#!/usr/bin/env node
// Run every micro suite in turn (npm run bench:micro). Extra flags go to each suite.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const suites = ['sha256.mjs', 'tar-parse.mjs', 'decompress.mjs', 'write-fsync.mjs'];
let failed = 0;
for (const s of suites) {
  process.stdout.write(`\n=== ${s} ===\n`);
  const r = spawnSync(process.execPath, [path.join(here, s), ...process.argv.slice(2)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
