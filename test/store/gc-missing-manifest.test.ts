/**
 * gc and a ref whose manifest is missing (issue 16, item 14). After `verify --fix` moved a
 * damaged manifest to quarantine (or the file was lost), gc cannot read what the manifest
 * named, so it cannot tell the image's config and layers from garbage. It must keep them
 * until the user decides: gc refuses to sweep (exit 3, E_STORE_INVALID) naming the ref and
 * saying to ingest the image again or `rm` the ref, and the store stays byte-for-byte as it
 * was. Once the ref is removed, gc frees what only that image used; once the image is
 * ingested again, nothing of it is swept.
 *
 * The same holds one level down: a multi-platform index whose platform manifest was
 * quarantined (an index child that is simply not stored, a save of some platforms only, stays
 * normal and is not damage).
 */
import { chmodSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeOciLayoutDir, type ImageSpec } from '../../fixtures/image-writer.js';
import { readStoreImages } from '../helpers/cli.js';
import { snapshotObject, snapshotStore } from '../helpers/store-snapshot.js';
import { cli, hexOf, randomLayer, sha256hex, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

const REFUSED = (ref: string) => new RegExp(`^layerstore: error: .*${ref.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*\\[E_STORE_INVALID\\]$`, 'm');

describe('gc keeps what a ref with a missing manifest names (issue 16, item 14)', () => {
  let tmp: string;
  let template: string;
  let tarball: string;
  let a: { manifestDigest: string; configDigest: string; layers: string[] };
  let b: { manifestDigest: string; configDigest: string; layers: string[] };
  let n = 0;

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-gcmissing-'));
    const shared = await randomLayer('gcm/shared', 30_000);
    tarball = path.join(tmp, 'ab.tar');
    writeFileSync(
      tarball,
      await writeArchive('v25', [
        { repoTags: ['gcm/a:1'], layers: [shared, await randomLayer('gcm/a', 20_000)] },
        { repoTags: ['gcm/b:1'], layers: [shared, await randomLayer('gcm/b', 20_000)] },
      ]),
    );
    template = path.join(tmp, 'template');
    const r = await cli(['--store', template, '-q', 'ingest', tarball]);
    expect(r.code, showRun(r)).toBe(0);
    const images = readStoreImages(template);
    a = images.find((i) => i.refs.includes('gcm/a:1'))!;
    b = images.find((i) => i.refs.includes('gcm/b:1'))!;
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  function copyOf(src: string): string {
    const S = path.join(tmp, `case-${++n}`, 'store');
    mkdirSync(path.dirname(S));
    cpSync(src, S, { recursive: true });
    return S;
  }
  const blob = (S: string, d: string) => path.join(S, 'blobs', 'sha256', hexOf(d));

  /** Break a stored blob's bytes and let `verify --fix` quarantine it, as a user would. */
  async function quarantine(S: string, digest: string): Promise<void> {
    const f = blob(S, digest);
    chmodSync(f, 0o644);
    writeFileSync(f, Buffer.concat([readFileSync(f), Buffer.from(' ')]));
    const fix = await cli(['--store', S, 'verify', '--fix']);
    expect(fix.code, showRun(fix)).toBe(3);
    expect(existsSync(f), 'verify --fix moved the blob to quarantine').toBe(false);
  }

  async function expectGcRefuses(S: string, ref: string): Promise<void> {
    const before = snapshotObject(await snapshotStore(S));
    for (const args of [['gc', '--dry-run'], ['gc'], ['gc', '--json']]) {
      const r = await cli(['--store', S, ...args]);
      expect(r.code, showRun(r)).toBe(3);
      expect(r.stderr, showRun(r)).toMatch(REFUSED(ref));
      expect(r.stderr, 'says what to do').toMatch(/ingest .* again|layerstore rm/);
    }
    expect(snapshotObject(await snapshotStore(S)), 'gc swept nothing').toEqual(before);
  }

  it('a ref whose manifest verify --fix quarantined: gc refuses, naming the ref; rm then gc frees only its own blobs', async () => {
    const S = copyOf(template);
    await quarantine(S, a.manifestDigest);
    const v = await cli(['--store', S, 'verify']);
    expect(v.code, showRun(v)).toBe(3);
    expect(v.stdout, 'the config and layers of the ref are not called orphans').not.toMatch(/orphan/);

    await expectGcRefuses(S, 'gcm/a:1');
    for (const d of [a.configDigest, ...a.layers]) expect(existsSync(blob(S, d)), `${d} kept`).toBe(true);

    // The user decides: rm the ref, and gc frees what only it used.
    const rm = await cli(['--store', S, 'rm', 'gcm/a:1']);
    expect(rm.code, showRun(rm)).toBe(0);
    const gc = await cli(['--store', S, 'gc']);
    expect(gc.code, showRun(gc)).toBe(0);
    expect(existsSync(blob(S, a.configDigest))).toBe(false);
    expect(existsSync(blob(S, a.layers[1]!))).toBe(false);
    for (const d of [b.manifestDigest, b.configDigest, ...b.layers]) expect(existsSync(blob(S, d)), `${d} of gcm/b:1 kept`).toBe(true);
    const v2 = await cli(['--store', S, 'verify']);
    expect(v2.code, showRun(v2)).toBe(0);
  });

  it('a ref whose manifest file is gone: gc refuses; ingesting the image again restores it and gc then sweeps nothing of it', async () => {
    const S = copyOf(template);
    rmSync(blob(S, a.manifestDigest), { force: true });
    await expectGcRefuses(S, 'gcm/a:1');
    const again = await cli(['--store', S, '-q', 'ingest', tarball]);
    expect(again.code, showRun(again)).toBe(0);
    const gc = await cli(['--store', S, 'gc']);
    expect(gc.code, showRun(gc)).toBe(0);
    for (const img of [a, b]) for (const d of [img.manifestDigest, img.configDigest, ...img.layers]) expect(existsSync(blob(S, d)), d).toBe(true);
  });

  describe('a multi-platform index', () => {
    let multi: string;
    let amd64: { manifestDigest: string; configDigest: string; layers: string[] };

    beforeAll(async () => {
      // An OCI layout whose one ref names an image index of two platform images.
      const specs: ImageSpec[] = [
        { repoTags: [], architecture: 'amd64', layers: [await randomLayer('gcm/multi-amd64', 20_000)] },
        { repoTags: [], architecture: 'arm64', layers: [await randomLayer('gcm/multi-arm64', 20_000)] },
      ];
      const dir = path.join(tmp, 'multi-layout');
      writeOciLayoutDir(dir, specs);
      const children = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')).manifests as Array<{ digest: string; size: number; mediaType: string }>;
      const platforms = ['amd64', 'arm64'];
      const index = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: children.map((c, i) => ({
            mediaType: c.mediaType,
            digest: c.digest,
            size: c.size,
            platform: { architecture: platforms[i], os: 'linux' },
          })),
        }),
      );
      writeFileSync(path.join(dir, 'blobs', 'sha256', sha256hex(index)), index);
      const root = {
        mediaType: 'application/vnd.oci.image.index.v1+json',
        digest: `sha256:${sha256hex(index)}`,
        size: index.length,
        annotations: { 'org.opencontainers.image.ref.name': 'gcm/multi:1' },
      };
      writeFileSync(
        path.join(dir, 'index.json'),
        JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json', manifests: [root] }),
      );
      multi = copyOf(template);
      const r = await cli(['--store', multi, '-q', 'ingest', dir]);
      expect(r.code, showRun(r)).toBe(0);
      const v = await cli(['--store', multi, 'verify']);
      expect(v.code, showRun(v)).toBe(0);
      const images = readStoreImages(multi).filter((i) => i.refs.includes('gcm/multi:1'));
      expect(images).toHaveLength(2);
      amd64 = images.find((i) => JSON.parse(readFileSync(blob(multi, i.configDigest), 'utf8')).architecture === 'amd64')!;
    });

    it('whose platform manifest verify --fix quarantined: verify keeps calling it damaged, gc refuses naming the ref', async () => {
      const S = copyOf(multi);
      await quarantine(S, amd64.manifestDigest);
      const v = await cli(['--store', S, 'verify']);
      expect(v.code, `after --fix, the quarantined platform manifest is still damage\n${showRun(v)}`).toBe(3);
      expect(v.stdout).toContain(`MISSING blob ${amd64.manifestDigest}`);
      expect(v.stdout).toMatch(/gcm\/multi:1/);
      expect(v.stdout).not.toMatch(/orphan/);
      await expectGcRefuses(S, 'gcm/multi:1');
      for (const d of [amd64.configDigest, ...amd64.layers]) expect(existsSync(blob(S, d)), `${d} kept`).toBe(true);
    });

    it('whose platform manifest was never stored (a save of some platforms) is normal: gc sweeps as usual', async () => {
      const S = copyOf(multi);
      // As if only arm64 had been saved: the amd64 manifest, config and layer were never there.
      for (const d of [amd64.manifestDigest, amd64.configDigest, ...amd64.layers]) rmSync(blob(S, d));
      const v = await cli(['--store', S, 'verify']);
      expect(v.code, showRun(v)).toBe(0);
      const gc = await cli(['--store', S, 'gc']);
      expect(gc.code, showRun(gc)).toBe(0);
      expect(readdirSync(path.join(S, 'blobs', 'sha256')).length).toBeGreaterThan(0);
    });
  });
});
