/**
 * Promise 6 for the sweeps of gc, prune and verify --fix: every path they remove is checked
 * with lstat as what it should be (a real directory of the store, a regular file in it) and
 * is never followed. A store directory replaced by a symlink, or a directory where a blob
 * belongs, is damage: verify reports it (exit 3), gc and prune refuse before removing
 * anything (exit 3, E_STORE_INVALID), and nothing outside the store changes.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotObject, snapshotStore } from '../helpers/store-snapshot.js';
import { cli, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

const CODED_INVALID = /^layerstore: error: .*\[E_STORE_INVALID\]$/m;
const HEX_A = 'a'.repeat(64);

let tmp: string;
let template: string;
let n = 0;

beforeAll(async () => {
  stableCli();
  tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-sweep-'));
  template = path.join(tmp, 'template');
  const base = await randomLayer('sweep-base', 20_000);
  // Two versions under one tag: the first stays untagged, for prune.
  for (const [i, seed] of ['sweep-v1', 'sweep-v2'].entries()) {
    const tar = path.join(tmp, `v${i}.tar`);
    writeFileSync(tar, await writeArchive('v25', [{ repoTags: ['sweep/app:1'], layers: [base, await randomLayer(seed, 10_000)] }]));
    const r = await cli(['--store', template, '-q', 'ingest', tar]);
    expect(r.code, showRun(r)).toBe(0);
  }
  // An orphan blob (no root names it), for gc to want to remove.
  writeFileSync(path.join(template, 'blobs', 'sha256', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'), '');
}, 60_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A fresh store copy and an outside directory holding derived-looking bait. */
function setup() {
  const dir = path.join(tmp, `case-${++n}`);
  const S = path.join(dir, 'store');
  const O = path.join(dir, 'outside');
  mkdirSync(dir);
  cpSync(template, S, { recursive: true });
  mkdirSync(path.join(O, 'sub'), { recursive: true });
  writeFileSync(path.join(O, `${HEX_A}.idx`), 'precious\n');
  writeFileSync(path.join(O, HEX_A), 'precious\n');
  writeFileSync(path.join(O, 'sub', `${HEX_A}.json`), 'precious\n');
  return { S, O };
}

describe('sweeps never follow a link or trip over a directory (promise 6)', () => {
  it('a symlinked .layerstore/derived: verify reports it, gc and prune refuse and delete nothing outside, verify --fix removes only the link', async () => {
    const { S, O } = setup();
    rmSync(path.join(S, '.layerstore', 'derived'), { recursive: true, force: true });
    symlinkSync(O, path.join(S, '.layerstore', 'derived'));
    const outside = snapshotObject(await snapshotStore(O));
    const store = snapshotObject(await snapshotStore(S));

    const v = await cli(['--store', S, 'verify']);
    expect(v.code, showRun(v)).toBe(3);
    expect(v.stdout).toMatch(/BAD cache .*\.layerstore\/derived: a symlink/);
    for (const args of [['gc'], ['gc', '--dry-run'], ['prune'], ['prune', '--dry-run']]) {
      const r = await cli(['--store', S, ...args]);
      expect(r.code, `${args.join(' ')}\n${showRun(r)}`).toBe(3);
      expect(r.stderr).toMatch(CODED_INVALID);
      expect(snapshotObject(await snapshotStore(O)), `${args.join(' ')}: the directory outside changed`).toEqual(outside);
      expect(snapshotObject(await snapshotStore(S)), `${args.join(' ')}: the store changed`).toEqual(store);
    }
    const fix = await cli(['--store', S, 'verify', '--fix']);
    expect(fix.code, showRun(fix)).toBe(0);
    expect(snapshotObject(await snapshotStore(O))).toEqual(outside);
    const gc = await cli(['--store', S, 'gc']);
    expect(gc.code, showRun(gc)).toBe(0);
    expect(snapshotObject(await snapshotStore(O))).toEqual(outside);
  });

  it('a symlinked .layerstore/unverified or quarantine is damage verify reports; gc refuses', async () => {
    for (const dir of ['unverified', 'quarantine']) {
      const { S, O } = setup();
      symlinkSync(O, path.join(S, '.layerstore', dir));
      const outside = snapshotObject(await snapshotStore(O));
      const v = await cli(['--store', S, 'verify']);
      expect(v.code, `${dir}\n${showRun(v)}`).toBe(3);
      expect(v.stdout).toContain(`.layerstore/${dir}`);
      const gc = await cli(['--store', S, 'gc']);
      expect(gc.code, `${dir}\n${showRun(gc)}`).toBe(3);
      expect(gc.stderr).toMatch(CODED_INVALID);
      expect(snapshotObject(await snapshotStore(O))).toEqual(outside);
    }
  });

  it('a directory at an unreferenced blob name: gc refuses (exit 3, E_STORE_INVALID) before removing anything', async () => {
    const { S } = setup();
    // Sorted after the orphan e3b0…: a sweep in name order would remove the orphan first.
    mkdirSync(path.join(S, 'blobs', 'sha256', 'f'.repeat(64)));
    const before = snapshotObject(await snapshotStore(S));
    for (const args of [['gc', '--dry-run'], ['gc']]) {
      const r = await cli(['--store', S, ...args]);
      expect(r.code, `${args.join(' ')}\n${showRun(r)}`).toBe(3);
      expect(r.stderr).toMatch(CODED_INVALID);
      expect(r.stderr).toContain('f'.repeat(64));
      expect(snapshotObject(await snapshotStore(S)), `${args.join(' ')} changed the store`).toEqual(before);
    }
    const v = await cli(['--store', S, 'verify']);
    expect(v.code, showRun(v)).toBe(3);
    const fix = await cli(['--store', S, 'verify', '--fix']);
    expect(fix.code, showRun(fix)).toBe(3);
    const gc = await cli(['--store', S, 'gc']);
    expect(gc.code, showRun(gc)).toBe(0);
    expect(gc.stdout).toMatch(/removed 1 unreferenced blobs/);
  });
});
