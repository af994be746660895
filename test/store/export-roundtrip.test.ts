/**
 * Export round trip: what `layerstore export` writes is a Docker 25-shaped tarball (OCI layout
 * + manifest.json) that layerstore, skopeo and GNU tar all read, and that carries the images
 * unchanged. Promises 1 and 7 (DESIGN.md §7) seen from outside: the same bytes under the same
 * digests, in a second store, with diffIDs recomputed again on the way in.
 *
 * Fixtures from fixtures/generate.ts go into store A; five refs (from a legacy save, a Docker
 * 25 save, an oci-archive and a gzip OCI layout directory) are exported to out.tar; a fresh
 * store B ingests out.tar and must hold exactly those refs with the same manifest, config and
 * layer digests. skopeo copies two refs out of out.tar into OCI layouts, and their configs'
 * diff_ids are the originals. GNU tar lists oci-layout, index.json, manifest.json and exactly
 * the blobs the five images need under blobs/sha256/.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { readStoreImages, type StoreImage } from '../helpers/cli.js';
import { checkStore, cli, hexOf, run, showRun, stableCli } from '../helpers/store-proc.js';

const REFS = ['acme/api:1.0', 'acme/worker:1.0', 'acme/api:1.1', 'acme/cli:1.1', 'acme/web:2.0'];
const SKOPEO = '/usr/bin/skopeo';

describe('export -> tarball -> ingest / skopeo / tar', () => {
  let tmp: string;
  let A: string;
  let out: string;
  let imagesA: Map<string, StoreImage>;

  const byRef = (imgs: StoreImage[]) => new Map(imgs.flatMap((i) => i.refs.map((r) => [r, i] as const)));

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-export-'));
    const fx = path.join(tmp, 'fx');
    await generateFixtures(fx);
    A = path.join(tmp, 'A');
    const r = await cli([
      '--store',
      A,
      '-q',
      'ingest',
      path.join(fx, 'family-legacy.tar'),
      path.join(fx, 'api-v25.tar'),
      path.join(fx, 'multi-oci-archive.tar'),
      path.join(fx, 'oci-gzip'),
    ]);
    expect(r.code, showRun(r)).toBe(0);
    imagesA = byRef(readStoreImages(A));
    out = path.join(tmp, 'out.tar');
    const e = await cli(['--store', A, 'export', ...REFS, '-o', out]);
    expect(e.code, showRun(e)).toBe(0);
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('a fresh store that ingests out.tar has the same refs with the same manifest, config and layer digests', { timeout: 60_000 }, async () => {
    const B = path.join(tmp, 'B');
    const r = await cli(['--store', B, 'ingest', '--json', out]);
    expect(r.code, showRun(r)).toBe(0);
    const imagesB = byRef(readStoreImages(B));
    expect([...imagesB.keys()].sort()).toEqual([...REFS].sort());
    for (const ref of REFS) {
      const a = imagesA.get(ref)!;
      const b = imagesB.get(ref)!;
      expect({ ref, manifest: b.manifestDigest, config: b.configDigest, layers: b.layers, diffIds: b.diffIds }).toEqual({
        ref,
        manifest: a.manifestDigest,
        config: a.configDigest,
        layers: a.layers,
        diffIds: a.diffIds,
      });
    }
    const c = checkStore(B);
    expect(c).toMatchObject({ badBlobs: [], missing: [] });
    const v = await cli(['--store', B, 'verify', '--json']);
    expect(v.code, showRun(v)).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ damaged: false, orphans: [], leftovers: [] });
  });

  it('GNU tar lists oci-layout, index.json, manifest.json and exactly the needed blobs', () => {
    const r = spawnSync('tar', ['-tf', out], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const names = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((n) => n.replace(/\/$/, ''));
    for (const n of ['oci-layout', 'index.json', 'manifest.json']) expect(names).toContain(n);
    const blobs = names.filter((n) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(n)).map((n) => n.slice('blobs/sha256/'.length));
    const needed = new Set(
      REFS.flatMap((ref) => {
        const i = imagesA.get(ref)!;
        return [i.manifestDigest, i.configDigest, ...i.layers].map(hexOf);
      }),
    );
    expect(new Set(blobs).size, 'each blob once').toBe(blobs.length);
    expect([...blobs].sort()).toEqual([...needed].sort());
    expect(
      names.filter((n) => !['oci-layout', 'index.json', 'manifest.json', 'blobs', 'blobs/sha256'].includes(n) && !n.startsWith('blobs/sha256/')),
      'nothing else',
    ).toEqual([]);
    // Every blob entry's bytes hash to its name.
    for (const hex of blobs.slice(0, 6)) {
      const x = spawnSync('tar', ['-xOf', out, `blobs/sha256/${hex}`], { maxBuffer: 1 << 28 });
      expect(x.status).toBe(0);
      expect(createHash('sha256').update(x.stdout).digest('hex')).toBe(hex);
    }
  });

  it('skopeo copies refs out of it (docker-archive:out.tar:REF -> oci:DIR:x) with the original diffIDs', { timeout: 60_000 }, async () => {
    for (const ref of ['acme/api:1.0', 'acme/web:2.0']) {
      const dir = path.join(tmp, `oci-${ref.replace(/[/:]/g, '_')}`);
      const r = await run(SKOPEO, ['copy', '--quiet', `docker-archive:${out}:${ref}`, `oci:${dir}:x`], { timeoutMs: 60_000 });
      expect(r.code, `skopeo copy ${ref}\n${showRun(r)}`).toBe(0);
      const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
      const m = index.manifests.find((d: any) => d.annotations?.['org.opencontainers.image.ref.name'] === 'x');
      expect(m, `${ref}: skopeo wrote ref x`).toBeDefined();
      const manifest = JSON.parse(readFileSync(path.join(dir, 'blobs', 'sha256', hexOf(m.digest)), 'utf8'));
      const config = JSON.parse(readFileSync(path.join(dir, 'blobs', 'sha256', hexOf(manifest.config.digest)), 'utf8'));
      expect(manifest.layers.length).toBe(imagesA.get(ref)!.layers.length);
      expect(config.rootfs.diff_ids, `${ref}: diffIDs survive the trip through skopeo`).toEqual(imagesA.get(ref)!.diffIds);
    }
  });
});
