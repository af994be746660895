/**
 * A store whose layer blob is gone or was cut short after it was stored is damaged: every
 * command whose answer depends on those bytes exits 3 (E_STORE_INVALID) and says which blob,
 * never 2 as if the user's input were at fault.
 */
import { chmodSync, cpSync, mkdtempSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { blobFile, readStoreImages } from '../helpers/cli.js';
import { cli, showRun, stableCli } from '../helpers/store-proc.js';

let tmp: string;
let pristine: string;
let layer: string; // a layer of acme/api:1.0 that acme/worker:1.0 does not have

beforeAll(async () => {
  stableCli();
  tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-damaged-'));
  const fx = path.join(tmp, 'fx');
  await generateFixtures(fx);
  pristine = path.join(tmp, 'pristine');
  const r = await cli(['--store', pristine, '-q', 'ingest', path.join(fx, 'family-legacy.tar')]);
  expect(r.code, showRun(r)).toBe(0);
  const imgs = readStoreImages(pristine);
  const api = imgs.find((i) => i.refs.includes('acme/api:1.0'))!;
  const worker = imgs.find((i) => i.refs.includes('acme/worker:1.0'))!;
  layer = api.layers.find((l) => !worker.layers.includes(l))!;
}, 60_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

function damagedCopy(name: string, damage: (blob: string) => void): string {
  const s = path.join(tmp, name);
  cpSync(pristine, s, { recursive: true });
  const blob = blobFile(s, layer);
  chmodSync(blob, 0o644);
  damage(blob);
  return s;
}

const COMMANDS = [['report'], ['report', '--files'], ['report', '--files', 'acme/api:1.0'], ['diff', 'acme/api:1.0', 'acme/worker:1.0']];

describe('a missing layer blob', () => {
  let store: string;
  beforeAll(() => {
    store = damagedCopy('missing', (b) => rmSync(b));
  });
  it.each(COMMANDS)('%s ... exits 3 naming the blob', async (...args) => {
    const r = await cli(['--store', store, ...args]);
    expect(r.code, showRun(r)).toBe(3);
    expect(r.stderr).toContain('[E_STORE_INVALID]');
    expect(r.stderr).toContain(layer);
  });
});

describe('ls on a store with a missing layer blob', () => {
  it('still lists the image (its answer is from manifests) but says which images need missing blobs, on stderr and in --json', async () => {
    const store = damagedCopy('missing-ls', (b) => rmSync(b));
    const r = await cli(['--store', store, 'ls']);
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout).toContain('acme/api:1.0');
    expect(r.stderr).toMatch(/warning: 1 image needs blobs missing from the store: acme\/api:1\.0; report and diff on it exit 3/);
    const j = JSON.parse((await cli(['--store', store, 'ls', '--json'])).stdout);
    const byRef = new Map(j.images.map((i: any) => [i.refs[0], i.missingBlobs]));
    expect(byRef.get('acme/api:1.0')).toEqual([layer]);
    expect(byRef.get('acme/worker:1.0')).toEqual([]);
  });
});

describe('a layer blob cut short after it was stored', () => {
  let store: string;
  beforeAll(() => {
    store = damagedCopy('truncated', (b) => truncateSync(b, 100_000));
  });
  it.each(COMMANDS.filter((c) => c.includes('--files') || c[0] === 'diff'))('%s ... exits 3 naming the blob', async (...args) => {
    const r = await cli(['--store', store, ...args]);
    expect(r.code, showRun(r)).toBe(3);
    expect(r.stderr).toContain('[E_STORE_INVALID]');
    expect(r.stderr).toContain(layer);
  });
});
