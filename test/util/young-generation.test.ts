/**
 * keepYoungGenerationSmall (src/util/young-generation.ts) holds V8's young generation at its
 * starting size for the rest of a run, hashing threads started or not: a thread's start puts
 * V8's flags back, so every thread starts through startThread, which sets it again once the
 * thread is online. Measured in a process of its own (the flag is process-wide), on the
 * built code, with an allocation pattern that grows the young generation to its maximum
 * when nothing holds it.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, REPO_ROOT } from '../helpers/cli.js';

const dist = (p: string) => pathToFileURL(path.join(REPO_ROOT, 'dist', 'src', p)).href;

/** The young generation's size (MB) after `setup`, a hashing thread's job, and ~100 MB of short-lived objects. */
function youngGenMb(setup: 'none' | 'flag' | 'flag-then-raw-worker'): number {
  const script = `
import fs from 'node:fs';
import v8 from 'node:v8';
import { Worker } from 'node:worker_threads';
const { keepYoungGenerationSmall } = await import(${JSON.stringify(dist('util/young-generation.js'))});
const { RangeWorkers } = await import(${JSON.stringify(dist('digest/range-workers.js'))});
const setup = ${JSON.stringify(setup)};
if (setup !== 'none') keepYoungGenerationSmall();
const file = ${JSON.stringify(path.join(dir, 'blob'))};
const fd = fs.openSync(file, 'r');
const pool = new RangeWorkers(1);
await pool.hash({ src: fd, start: 0, size: fs.fstatSync(fd).size });
await pool.close();
if (setup === 'flag-then-raw-worker') {
  const w = new Worker('0', { eval: true });
  await new Promise((r) => w.on('exit', r));
}
let keep = [];
for (let i = 0; i < 3e6; i++) { keep.push({ i, s: 'x' + i }); if (keep.length > 20000) keep = []; }
const ns = v8.getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
console.log(ns.space_size / 2 ** 20);
`;
  const file = path.join(dir, `${setup}.mjs`);
  writeFileSync(file, script);
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return Number(r.stdout.trim());
}

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(path.join(tmpdir(), 'ls-younggen-'));
  writeFileSync(path.join(dir, 'blob'), Buffer.alloc(3 << 20, 7));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('keepYoungGenerationSmall', () => {
  it('keeps the young generation at its start size after hashing threads ran; without it the same work grows it', () => {
    const held = youngGenMb('flag');
    const grown = youngGenMb('none');
    expect(grown).toBeGreaterThanOrEqual(16); // the pattern does grow it (2 x 16 MB semi-spaces here)
    expect(held).toBeLessThanOrEqual(4);
    // A thread started without setting it again puts the factor back: why startThread does.
    expect(youngGenMb('flag-then-raw-worker')).toBeGreaterThanOrEqual(16);
  });
});
