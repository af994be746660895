/**
 * export of a multi-platform image with buildx attestation manifests (regclient's testrepo,
 * ref "v1": linux/amd64, linux/arm64 and two unknown/unknown attestations; the bare name is
 * stored under the layout directory's name, "testrepo:v1"): manifest.json lists the images
 * only, the host's platform carries the RepoTag, and a real docker load (a private dockerd
 * 20.10) loads it under that tag with the amd64 config.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, readStoreImages, runCli, show } from '../helpers/cli.js';
import { FIXTURES_REAL, realFixtures } from '../helpers/peers.js';
import { engineSlot, skipWithoutEngine, startDockerd, type Dockerd } from '../helpers/engines.js';

const FILE = 'engines/export-docker-load.test.ts';
const TESTREPO = path.join(FIXTURES_REAL, 'regclient', 'testrepo');
let tmp: string;
let store: string;
let out: string;

beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-export-load-'));
  if (!realFixtures()) return;
  store = path.join(tmp, 'store');
  const r = runCli(['--store', store, '-q', 'ingest', TESTREPO]);
  expect(r.code, show(r)).toBe(0);
  out = path.join(tmp, 'v1.tar');
  const e = runCli(['--store', store, 'export', 'testrepo:v1', '-o', out]);
  expect(e.code, show(e)).toBe(0);
}, 60_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!realFixtures())('export of a multi-platform image with attestations', () => {
  it('manifest.json lists the two images, not the attestations, and tags the host platform testrepo:v1', () => {
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', out, 'manifest.json'], { encoding: 'utf8' }));
    const configs = new Map(readStoreImages(store).map((i) => [i.configDigest.slice(7), i]));
    expect(manifest).toHaveLength(2);
    const archOf = (entry: any) => JSON.parse(execFileSync('tar', ['-xOf', out, entry.Config], { encoding: 'utf8' })).architecture;
    expect(manifest.map(archOf).sort()).toEqual(['amd64', 'arm64']);
    const tagged = manifest.filter((m: any) => m.RepoTags);
    expect(tagged).toHaveLength(1);
    expect(tagged[0].RepoTags).toEqual(['testrepo:v1']);
    expect(archOf(tagged[0])).toBe(process.arch === 'arm64' ? 'arm64' : 'amd64');
    for (const m of manifest) expect(configs.has(path.basename(m.Config))).toBe(true);
  });

  describe.skipIf(skipWithoutEngine('docker', FILE))('docker load', () => {
    const slot = engineSlot<Dockerd>('dockerd');
    beforeAll(() => slot.start(startDockerd), 120_000);
    afterAll(() => slot.stop());

    it('loads it as testrepo:v1, with the config of the host platform', async (ctx) => {
      const d = slot.get(ctx);
      const r = await d.docker(['load', '-i', out]);
      expect(r.stdout).toContain('Loaded image: testrepo:v1');
      const inspect = JSON.parse((await d.docker(['image', 'inspect', 'testrepo:v1'])).stdout)[0];
      const tagged = JSON.parse(execFileSync('tar', ['-xOf', out, 'manifest.json'], { encoding: 'utf8' })).find((m: any) => m.RepoTags);
      expect(inspect.Id).toBe(`sha256:${path.basename(tagged.Config)}`);
      expect(readFileSync(out).length).toBeGreaterThan(0);
    });
  });
});
