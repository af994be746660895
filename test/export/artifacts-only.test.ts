/**
 * An export of artifacts only (regclient testrepo's a3: no image docker load could load)
 * writes an OCI layout whose manifest.json is `[]`, as docker does for a save of nothing it
 * can load. ingest reads what export writes: that empty manifest.json beside an OCI layout
 * means "the layout is the archive", so a fresh store gets the artifact under the same ref.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, readIndexJson } from '../helpers/cli.js';
import { checkStore, cli, showRun, stableCli } from '../helpers/store-proc.js';

const TESTREPO = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures-real', 'regclient', 'testrepo');

describe('export of artifacts only -> ingest', () => {
  let tmp = '';
  let rich = '';

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-export-artifacts-'));
    rich = path.join(tmp, 'rich');
    const r = await cli(['--store', rich, '-q', 'ingest', '--repo', 'testrepo', TESTREPO]);
    expect(r.code, showRun(r)).toBe(0);
  }, 60_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('a fresh store ingests the tarball (manifest.json []) and holds the artifact under its ref, blobs complete', async () => {
    const out = path.join(tmp, 'art.tar');
    const e = await cli(['--store', rich, 'export', 'testrepo:a3', '-o', out]);
    expect(e.code, showRun(e)).toBe(0);
    expect(spawnSync('tar', ['-xOf', out, 'manifest.json'], { encoding: 'utf8' }).stdout).toBe('[]');
    const fresh = path.join(tmp, 'fresh');
    const r = await cli(['--store', fresh, 'ingest', out]);
    expect(r.code, showRun(r)).toBe(0);
    const root = (store: string) => readIndexJson(store).manifests.find((m: any) => m.annotations?.['org.opencontainers.image.ref.name'] === 'testrepo:a3');
    expect(root(fresh)).toMatchObject({ digest: root(rich).digest, mediaType: root(rich).mediaType });
    expect(checkStore(fresh)).toMatchObject({ badBlobs: [], missing: [] });
  });
});
