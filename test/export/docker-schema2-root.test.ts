/**
 * A Docker schema2 image (its manifest `application/vnd.docker.distribution.manifest.v2+json`,
 * kept as it is in the store) named by manifest digest or image ID: export and tag build its
 * descriptor (push: its root) from what the store says of it, not from an assumed OCI media type (which the
 * store's own walk then calls damage: "its descriptor says …oci… but the document's mediaType
 * is …docker…"). The image comes in as an OCI layout whose index.json names the Docker manifest.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layerTar } from '../../fixtures/image-writer.js';
import { readIndexJson } from '../helpers/cli.js';
import { digestOf } from '../helpers/hand-bytes.js';
import { cli, hexOf, showRun, stableCli } from '../helpers/store-proc.js';
import { startServe } from '../registry/helpers.js';

const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';

describe('a Docker schema2 image named by manifest digest or image ID', () => {
  let tmp = '';
  let store = '';
  let manifestDigest = '';
  let imageId = '';

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-export-v2s2-'));
    const layer = await layerTar([{ path: 'hello.txt', content: Buffer.from('hello from schema2\n') }]);
    const config = Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: {},
        rootfs: { type: 'layers', diff_ids: [digestOf(layer)] },
        history: [{ created_by: 'x' }],
      }),
    );
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: DOCKER_MANIFEST,
        config: { mediaType: 'application/vnd.docker.container.image.v1+json', digest: digestOf(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.docker.image.rootfs.diff.tar', digest: digestOf(layer), size: layer.length }],
      }),
    );
    manifestDigest = digestOf(manifest);
    imageId = digestOf(config);
    const layout = path.join(tmp, 'layout');
    mkdirSync(path.join(layout, 'blobs', 'sha256'), { recursive: true });
    for (const b of [layer, config, manifest]) writeFileSync(path.join(layout, 'blobs', 'sha256', hexOf(digestOf(b))), b);
    writeFileSync(path.join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const root = {
      mediaType: DOCKER_MANIFEST,
      digest: manifestDigest,
      size: manifest.length,
      annotations: { 'org.opencontainers.image.ref.name': 'v2s2/img:1' },
    };
    writeFileSync(path.join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [root] }));
    store = path.join(tmp, 'store');
    const r = await cli(['--store', store, '-q', 'ingest', layout]);
    expect(r.code, showRun(r)).toBe(0);
    expect(readIndexJson(store).manifests.map((m: any) => m.mediaType)).toEqual([DOCKER_MANIFEST]);
  }, 60_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  for (const by of ['manifest digest', 'image ID'] as const) {
    it(`export by ${by}: exit 0, the tarball's index.json keeps the Docker media type`, async () => {
      const out = path.join(tmp, `by-${by.replace(' ', '-')}.tar`);
      const r = await cli(['--store', store, 'export', by === 'image ID' ? imageId : manifestDigest, '-o', out]);
      expect(r.code, showRun(r)).toBe(0);
      const x = spawnSync('tar', ['-xOf', out, 'index.json'], { encoding: 'utf8' });
      expect(JSON.parse(x.stdout).manifests).toEqual([{ mediaType: DOCKER_MANIFEST, digest: manifestDigest, size: expect.any(Number) }]);
    });
  }

  it('tag by image ID: the new ref keeps the Docker media type, and verify finds the store consistent', async () => {
    const r = await cli(['--store', store, 'tag', imageId.slice(7, 19), 'v2s2/img:by-id']);
    expect(r.code, showRun(r)).toBe(0);
    const entry = readIndexJson(store).manifests.find((m: any) => m.annotations?.['org.opencontainers.image.ref.name'] === 'v2s2/img:by-id');
    expect(entry).toMatchObject({ mediaType: DOCKER_MANIFEST, digest: manifestDigest });
    const v = await cli(['--store', store, 'verify']);
    expect(v.code, showRun(v)).toBe(0);
  });

  it('push by image ID: the registry gets the Docker manifest under its own media type', async () => {
    const srv = await startServe(path.join(tmp, 'registry'), ['--allow-push']);
    try {
      const r = await cli(['--store', store, 'push', imageId, `${srv.host}/v2s2/pushed:1`, '--insecure']);
      expect(r.code, showRun(r)).toBe(0);
      const entry = readIndexJson(path.join(tmp, 'registry')).manifests.find((m: any) => m.digest === manifestDigest);
      expect(entry).toMatchObject({ mediaType: DOCKER_MANIFEST });
    } finally {
      await srv.stop();
    }
  });
});
