/**
 * export of a multi-platform index the store holds only part of (a platform subset was
 * ingested): docker load tags one image per tag, and that image must be one the tarball
 * carries. regclient's testrepo v1 (linux/amd64 + linux/arm64) without the host platform's
 * manifest: the tag goes to the other platform, not to the absent one (RepoTags null).
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT } from '../helpers/cli.js';
import { cli, hexOf, showRun, stableCli } from '../helpers/store-proc.js';

const TESTREPO = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures-real', 'regclient', 'testrepo');
const REF_NAME = 'org.opencontainers.image.ref.name';

describe('export of a partly stored multi-platform index', () => {
  let tmp = '';
  let store = '';
  let kept: { digest: string; config: string } = { digest: '', config: '' };

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-export-partial-'));
    const layout = path.join(tmp, 'part');
    cpSync(path.join(TESTREPO, 'blobs'), path.join(layout, 'blobs'), { recursive: true });
    writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const index = JSON.parse(readFileSync(path.join(TESTREPO, 'index.json'), 'utf8'));
    const v1 = index.manifests.filter((m: any) => m.annotations?.[REF_NAME] === 'v1');
    writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: v1 }));
    const blob = (d: string) => path.join(layout, 'blobs', 'sha256', hexOf(d));
    // Drop the host's platform (amd64 where the host is neither of the two).
    const platforms = JSON.parse(readFileSync(blob(v1[0].digest), 'utf8')).manifests.filter((m: any) => m.platform?.os === 'linux');
    const host = process.arch === 'x64' ? 'amd64' : process.arch;
    const gone = platforms.find((m: any) => m.platform.architecture === host) ?? platforms.find((m: any) => m.platform.architecture === 'amd64');
    const stay = platforms.find((m: any) => m !== gone);
    rmSync(blob(gone.digest));
    kept = { digest: stay.digest, config: JSON.parse(readFileSync(blob(stay.digest), 'utf8')).config.digest };
    store = path.join(tmp, 'store');
    const r = await cli(['--store', store, '-q', 'ingest', '--repo', 'acme/multi', layout]);
    expect(r.code, showRun(r)).toBe(0);
  }, 60_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('manifest.json tags the stored platform with the ref (docker load names it)', async () => {
    const out = path.join(tmp, 'part.tar');
    const r = await cli(['--store', store, 'export', 'acme/multi:v1', '-o', out]);
    expect(r.code, showRun(r)).toBe(0);
    const x = spawnSync('tar', ['-xOf', out, 'manifest.json'], { encoding: 'utf8' });
    expect(x.status, x.stderr).toBe(0);
    expect(JSON.parse(x.stdout)).toEqual([expect.objectContaining({ Config: `blobs/sha256/${hexOf(kept.config)}`, RepoTags: ['acme/multi:v1'] })]);
  });
});
