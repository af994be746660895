/**
 * index.json is the one document of the store edited in place (by hand, by another tool), so
 * verify checks that each of its entries describes the blob it names: a size that disagrees is
 * damage (exit 3, naming the ref), and gc does not sweep around it. A manifest two refs name
 * that is missing is one finding, named by index.json, listing both refs.
 */
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobFile, readStoreImages } from '../helpers/cli.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { cli, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

describe('verify checks the entries of index.json', () => {
  let tmp: string;
  let tarball: string;
  let n = 0;

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-verify-index-'));
    tarball = path.join(tmp, 'a.tar');
    writeFileSync(tarball, await writeArchive('v25', [{ repoTags: ['vi/a:1'], layers: [await randomLayer('vi/a', 20_000)] }]));
  });
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function fresh(): Promise<{ store: string; manifest: string }> {
    const store = path.join(tmp, `s${++n}`);
    const r = await cli(['--store', store, '-q', 'ingest', tarball]);
    expect(r.code, showRun(r)).toBe(0);
    return { store, manifest: readStoreImages(store)[0]!.manifestDigest };
  }

  it('an entry whose size disagrees with its blob is damage naming the ref; gc leaves the store as it is', async () => {
    const { store } = await fresh();
    const file = path.join(store, 'index.json');
    const index = JSON.parse(readFileSync(file, 'utf8'));
    index.manifests[0].size = 999;
    writeFileSync(file, JSON.stringify(index));
    const v = await cli(['--store', store, 'verify']);
    expect(v.code, showRun(v)).toBe(3);
    expect(v.stdout + v.stderr).toMatch(/index\.json's entry for vi\/a:1 says 999 bytes; the blob is \d+/);
    const before = snapshotStore(store);
    const gc = await cli(['--store', store, 'gc']);
    expect(gc.code, showRun(gc)).toBe(3);
    expect(snapshotStore(store)).toEqual(before);
  });

  it('a missing manifest two refs name: one finding, named by index.json, needed by both', async () => {
    const { store, manifest } = await fresh();
    const t = await cli(['--store', store, 'tag', 'vi/a:1', 'vi/a:copy']);
    expect(t.code, showRun(t)).toBe(0);
    unlinkSync(blobFile(store, manifest));
    const v = await cli(['--store', store, 'verify', '--json']);
    expect(v.code, showRun(v)).toBe(3);
    const missing = JSON.parse(v.stdout).missing as Array<{ digest: string; roots: string[] }>;
    expect(missing).toHaveLength(1);
    expect(missing[0]!.digest).toBe(manifest);
    expect(missing[0]!.roots.sort()).toEqual(['vi/a:1', 'vi/a:copy']);
    const text = await cli(['--store', store, 'verify']);
    expect(text.stdout + text.stderr).toContain(`MISSING blob ${manifest}, named by index.json; needed by`);
  });
});
