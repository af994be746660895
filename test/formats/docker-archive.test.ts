/**
 * The docker save reader, driven directly through the source interface (a store-free
 * MemorySource and an ImagePlan): no ingest, no store. Inputs are real bytes: tar layers from
 * make-tar, gzip from node:zlib.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ImagePlan } from '../../src/formats/plan.js';
import { readSource } from '../../src/formats/readers.js';
import { digestOf, sha256hex } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { MemorySource } from '../helpers/memory-source.js';

const layer1 = rawTar([{ name: 'etc/one.txt', body: 'one\n' }]);
const layer2 = gzipSync(rawTar([{ name: 'etc/two.txt', body: 'two\n' }]));
const diff2 = digestOf(rawTar([{ name: 'etc/two.txt', body: 'two\n' }]));
const config = (diffIds: string[]) => Buffer.from(JSON.stringify({ architecture: 'arm64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));

/** A legacy docker save: <hex>.json config, <id>/layer.tar layers, manifest.json. */
function legacy(cfg: Buffer, repoTags: string[] | null): Map<string, Buffer> {
  const cfgName = `${sha256hex(cfg)}.json`;
  const manifest = [{ Config: cfgName, RepoTags: repoTags, Layers: ['aaa/layer.tar', 'bbb/layer.tar'] }];
  return new Map([
    [cfgName, cfg],
    ['aaa/layer.tar', layer1],
    ['bbb/layer.tar', layer2],
    ['manifest.json', Buffer.from(JSON.stringify(manifest))],
  ]);
}

describe('formats/docker-archive: the docker save reader through the source interface', () => {
  it('a legacy save gets a deterministic OCI manifest from its config and layers; "name" is tagged name:latest', async () => {
    const cfg = config([digestOf(layer1), diff2]);
    const plan = new ImagePlan();
    expect(await readSource(new MemorySource(legacy(cfg, ['acme/api', 'acme/api:1.0'])), plan)).toBe('docker-save');

    const want = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(cfg), size: cfg.length },
        layers: [
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer1), size: layer1.length },
          { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer2), size: layer2.length },
        ],
      }),
    );
    expect([...plan.synthesized]).toEqual([[digestOf(want), want]]);
    expect(plan.images).toEqual([
      {
        manifestDigest: digestOf(want),
        configDigest: digestOf(cfg),
        layers: [digestOf(layer1), digestOf(layer2)],
        refs: ['acme/api:latest', 'acme/api:1.0'],
        platform: { os: 'linux', architecture: 'arm64' },
      },
    ]);
    expect(plan.roots.map((r) => [r.ref, r.fullName])).toEqual([
      ['acme/api:latest', 'docker.io/acme/api:latest'],
      ['acme/api:1.0', 'docker.io/acme/api:1.0'],
    ]);
    expect([...plan.blobs.keys()].sort()).toEqual([digestOf(cfg), digestOf(layer1), digestOf(layer2)].sort());
  });

  it('two images with the same tag: the later takes it (as docker load and index.json have it), the earlier is left untagged', async () => {
    const cfgA = config([digestOf(layer1), diff2]);
    const cfgB = Buffer.from(JSON.stringify({ ...JSON.parse(cfgA.toString()), architecture: 'amd64' }));
    const items = [cfgA, cfgB].map((c) => ({
      Config: `${sha256hex(c)}.json`,
      RepoTags: ['acme/api:1.0', `acme/${c === cfgA ? 'a' : 'b'}:1`],
      Layers: ['aaa/layer.tar', 'bbb/layer.tar'],
    }));
    const files = legacy(cfgA, null);
    files.set(`${sha256hex(cfgB)}.json`, cfgB);
    files.set('manifest.json', Buffer.from(JSON.stringify(items)));
    const plan = new ImagePlan();
    await readSource(new MemorySource(files), plan);
    expect(plan.images.map((i) => [i.configDigest, i.refs])).toEqual([
      [digestOf(cfgA), ['acme/a:1']],
      [digestOf(cfgB), ['acme/api:1.0', 'acme/b:1']],
    ]);
  });

  it('an untagged image (RepoTags null) is one ref-less root', async () => {
    const plan = new ImagePlan();
    await readSource(new MemorySource(legacy(config([digestOf(layer1), diff2]), null)), plan);
    expect(plan.roots).toHaveLength(1);
    expect(plan.roots[0]!.ref).toBeUndefined();
    expect(plan.images[0]!.refs).toEqual([]);
  });

  it("a Docker 25+ save takes the OCI half's manifest and adds manifest.json's tags to it", async () => {
    const cfg = config([digestOf(layer1), diff2]);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(cfg), size: cfg.length },
        layers: [
          { mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer1), size: layer1.length },
          { mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer2), size: layer2.length },
        ],
        annotations: { written: 'by docker' },
      }),
    );
    const b = (x: Buffer) => `blobs/sha256/${sha256hex(x)}`;
    const index = {
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(manifest), size: manifest.length }],
    };
    const files = new Map([
      [b(cfg), cfg],
      [b(layer1), layer1],
      [b(layer2), layer2],
      [b(manifest), manifest],
      ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
      ['index.json', Buffer.from(JSON.stringify(index))],
      ['manifest.json', Buffer.from(JSON.stringify([{ Config: b(cfg), RepoTags: ['acme/api:2'], Layers: [b(layer1), b(layer2)] }]))],
    ]);
    const plan = new ImagePlan();
    expect(await readSource(new MemorySource(files), plan)).toBe('docker-save-oci');
    expect(plan.synthesized.size).toBe(0);
    expect(plan.images.map((i) => [i.manifestDigest, i.refs])).toEqual([[digestOf(manifest), ['acme/api:2']]]);
    expect(plan.roots.map((r) => [r.descriptor.digest, r.ref])).toEqual([[digestOf(manifest), 'acme/api:2']]);
  });

  it('a config with another number of diff_ids than manifest.json has layers is E_MANIFEST_INVALID; a wrong diffID E_DIFFID_MISMATCH', async () => {
    await expect(readSource(new MemorySource(legacy(config([digestOf(layer1)]), ['a:1'])), new ImagePlan())).rejects.toMatchObject({
      code: 'E_MANIFEST_INVALID',
      message: 'manifest.json[0] lists 2 layers but its config has 1 diff_ids',
    });
    await expect(readSource(new MemorySource(legacy(config([digestOf(layer1), digestOf(layer2)]), ['a:1'])), new ImagePlan())).rejects.toMatchObject({
      code: 'E_DIFFID_MISMATCH',
      entry: 'bbb/layer.tar',
    });
  });
});
