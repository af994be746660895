/**
 * An export racing `rm` + `gc`: the export holds (pins) every blob it writes from its walk to
 * its end, as ingest pins the stored blobs it reuses, so a gc meanwhile unlinks only their
 * names in blobs/ and the tarball still comes out whole. Deterministic: the export is stopped
 * (SIGSTOP) while it writes the big image, the small image it still has to write is removed
 * and gc'd, then the export continues. Afterwards the store is consistent and holds no pins.
 * A store its user may not write (no pins possible) is exported as before, unpinned.
 */
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStoreImages } from '../helpers/cli.js';
import { onPath, peer } from '../helpers/peers.js';
import { checkStore, cli, leftovers, randomLayer, run, showRun, stableCli } from '../helpers/store-proc.js';
import { BIG_LAYER_BYTES, stoppedExport, storeOf } from './stopped-export.js';

const BIG = 'exp/big:1';
const SMALL = 'exp/small:1';

describe('export while rm + gc remove an image it is exporting', () => {
  let tmp = '';
  let store = '';

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-export-gc-'));
    store = await storeOf(tmp, [
      { repoTags: [BIG], layers: [await randomLayer('exp-gc-big', BIG_LAYER_BYTES)] },
      { repoTags: [SMALL], layers: [await randomLayer('exp-gc-small', 300_000)] },
    ]);
  }, 60_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('the export succeeds with both images, gc freed the removed one, and the tarball ingests whole', { timeout: 90_000 }, async () => {
    const small = readStoreImages(store).find((i) => i.refs.includes(SMALL))!;
    const dir = path.join(tmp, 'out');
    mkdirSync(dir);
    const run = await stoppedExport(store, [BIG, SMALL], dir);
    try {
      const rm = await cli(['--store', store, 'rm', SMALL]);
      expect(rm.code, showRun(rm)).toBe(0);
      const gc = await cli(['--store', store, 'gc', '--json']);
      expect(gc.code, showRun(gc)).toBe(0);
      const freed = JSON.parse(gc.stdout).blobsRemoved.map((b: { digest: string }) => b.digest);
      expect(freed).toEqual(expect.arrayContaining([small.manifestDigest, small.configDigest, ...small.layers]));
    } finally {
      run.child.kill('SIGCONT');
    }
    const r = await run.done;
    expect(r.code, showRun(r)).toBe(0);
    expect(readdirSync(dir)).toEqual(['x.tar']);
    expect(leftovers(store).staging, 'pins released').toEqual([]);
    expect(checkStore(store)).toMatchObject({ badBlobs: [], missing: [] });

    const fresh = path.join(tmp, 'fresh');
    const i = await cli(['--store', fresh, '-q', 'ingest', path.join(dir, 'x.tar')]);
    expect(i.code, showRun(i)).toBe(0);
    expect(
      readStoreImages(fresh)
        .flatMap((img) => img.refs)
        .sort(),
    ).toEqual([BIG, SMALL]);
    expect(checkStore(fresh)).toMatchObject({ badBlobs: [], missing: [] });
  });

  it('a store this user may not write (no staging links to make) is still exported, read unpinned', async () => {
    if (!peer('root and setpriv (util-linux)', process.getuid?.() === 0 && onPath('setpriv'), 'run the tests as root, as CI does')) return;
    chmodSync(tmp, 0o755);
    const dir = path.join(tmp, 'nobody');
    mkdirSync(dir, { mode: 0o777 });
    chmodSync(dir, 0o777);
    const env = { ...process.env };
    delete env.LAYERSTORE_STORE;
    const argv = [
      '--reuid=65534',
      '--regid=65534',
      '--clear-groups',
      process.execPath,
      stableCli(),
      '--store',
      store,
      'export',
      BIG,
      '-o',
      path.join(dir, 'x.tar'),
    ];
    const r = await run('setpriv', argv, { env, timeoutMs: 60_000 });
    expect(r.code, showRun(r)).toBe(0);
    expect(readdirSync(dir)).toEqual(['x.tar']);
  });
});
