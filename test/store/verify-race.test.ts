/**
 * verify reads every blob, for a long time, without the store lock; gc, prune and ingest
 * change blobs/sha256 meanwhile. A blob that vanishes while verify runs is not damage, and
 * verify --fix (which takes the lock for its fix phase) moves a blob to quarantine only if it
 * is still the file it hashed and still bad. The races are replayed deterministically with
 * verify's test hooks (before each blob is checked; after all are hashed, before the fix).
 */
import { createHash } from 'node:crypto';
import { chmodSync, cpSync, existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/store.js';
import { readStoreImages, type StoreImage } from '../helpers/cli.js';
import { cli, hexOf, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

let tmp: string;
let template: string;
let image: StoreImage;
let n = 0;

beforeAll(async () => {
  stableCli();
  tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-verify-race-'));
  template = path.join(tmp, 'template');
  const tar = path.join(tmp, 'img.tar');
  writeFileSync(
    tar,
    await writeArchive('v25', [{ repoTags: ['race/app:1'], layers: [await randomLayer('race-a', 20_000), await randomLayer('race-b', 20_000)] }]),
  );
  const r = await cli(['--store', template, '-q', 'ingest', tar]);
  expect(r.code, showRun(r)).toBe(0);
  image = readStoreImages(template)[0]!;
}, 60_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

function setup() {
  const S = path.join(tmp, `case-${++n}`);
  cpSync(template, S, { recursive: true });
  const blob = (d: string) => path.join(S, 'blobs', 'sha256', hexOf(d));
  return { S, blob };
}

/** Replace a blob file with new bytes under a new inode, as an ingest's rename does. */
function renameInto(p: string, bytes: Buffer) {
  writeFileSync(`${p}.new`, bytes);
  renameSync(`${p}.new`, p);
}

describe('verify while gc, prune and ingest change the store', () => {
  it('a blob gc removes while verify runs is not damage (no "BAD blob … unreadable")', async () => {
    const { S, blob } = setup();
    const orphan = Buffer.from('an orphan gc removes');
    writeFileSync(blob(sha(orphan)), orphan);
    const store = await Store.open(S);
    const r = await store.verify({ testHooks: { beforeBlob: (name) => (name === sha(orphan) ? rmSync(blob(sha(orphan))) : undefined) } });
    expect(r.badBlobs).toEqual([]);
    expect(r.orphans.map((o) => hexOf(o.digest))).not.toContain(sha(orphan));
    expect(r.damaged).toBe(false);
  });

  it('verify --fix: a bad orphan gc removes after it was hashed is not an error, and not damage', async () => {
    const { S, blob } = setup();
    const name = sha('the name of other bytes');
    writeFileSync(blob(name), 'bytes that do not hash to their name');
    const store = await Store.open(S);
    const r = await store.verify({ fix: true, testHooks: { afterHash: () => rmSync(blob(name)) } });
    expect(r.badBlobs).toEqual([]);
    expect(r.fixed.quarantined).toBe(0);
    expect(r.damaged).toBe(false);
  });

  it('verify --fix never quarantines a referenced manifest that prune removed and an ingest restored meanwhile', async () => {
    const { S, blob } = setup();
    const m = blob(image.manifestDigest);
    const bytes = readFileSync(m);
    const store = await Store.open(S);
    const r = await store.verify({
      fix: true,
      testHooks: {
        beforeBlob: (name) => (name === hexOf(image.manifestDigest) ? rmSync(m) : undefined),
        afterHash: () => renameInto(m, bytes),
      },
    });
    expect(r.badBlobs).toEqual([]);
    expect(r.fixed.quarantined).toBe(0);
    expect(r.missing).toEqual([]);
    expect(existsSync(m) && sha(readFileSync(m))).toBe(hexOf(image.manifestDigest));
    expect(r.damaged).toBe(false);
    expect((await store.verify()).damaged).toBe(false);
  });

  it('verify --fix leaves a bad blob an ingest replaced by a good copy before the fix, and quarantines one still bad', async () => {
    const { S, blob } = setup();
    const [l1, l2] = image.layers.map(blob) as [string, string];
    const good1 = readFileSync(l1);
    for (const l of [l1, l2]) {
      chmodSync(l, 0o644);
      writeFileSync(l, Buffer.concat([readFileSync(l), Buffer.from('x')]));
    }
    const store = await Store.open(S);
    const r = await store.verify({ fix: true, testHooks: { afterHash: () => renameInto(l1, good1) } });
    expect(r.badBlobs.map((b) => [b.name, b.problem])).toEqual([[hexOf(image.layers[1]!), 'hash-mismatch']]);
    expect(r.fixed.quarantined).toBe(1);
    expect(sha(readFileSync(l1))).toBe(hexOf(image.layers[0]!));
    expect(existsSync(l2)).toBe(false);
    expect(r.damaged).toBe(true);
  });
});
