/**
 * The dir transport reader (skopeo's `dir:`), driven through the source interface with
 * hand-made bytes: which reader takes a directory, what it refuses, and that an index's
 * manifests are read from `<hex>.manifest.json` and checked like every other blob.
 * test/interop/skopeo-dir.test.ts reads what skopeo and podman write.
 */
import { describe, expect, it } from 'vitest';
import { ImagePlan } from '../../src/formats/plan.js';
import { READERS, readSource } from '../../src/formats/readers.js';
import { digestOf, imageDocs } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { MemorySource } from '../helpers/memory-source.js';

const VERSION = Buffer.from('Directory Transport Version: 1.1\n');
const hex = (b: Buffer) => digestOf(b).slice('sha256:'.length);
const layer = rawTar([{ name: 'etc/hello.txt', body: 'hello\n' }]);
const docs = imageDocs(layer);

/** A dir: directory of one image: version, manifest.json, and the config and layer by hex. */
function dir(manifest: Buffer = docs.manifest, extra: Array<[string, Buffer]> = []): Map<string, Buffer> {
  return new Map([['version', VERSION], ['manifest.json', manifest], [hex(docs.config), docs.config], [hex(layer), layer], ...extra]);
}

const read = async (files: Map<string, Buffer>) => {
  const plan = new ImagePlan();
  const format = await readSource(new MemorySource(files), plan);
  return { plan, format };
};

describe('formats/dir-transport', () => {
  it('is asked before docker save (both have manifest.json), and only a directory with a version file is one', async () => {
    const byName = async (names: string[]) => {
      const view = new MemorySource(new Map(names.map((n) => [n, Buffer.from('')])));
      for (const r of READERS) if (await r.detect(view)) return r.name;
      return undefined;
    };
    expect(await byName(['version', 'manifest.json'])).toBe('dir');
    expect(await byName(['manifest.json'])).toBe('docker-save');
    expect(await byName(['version'])).toBeUndefined();
  });

  it('one image: manifest.json is the root, untagged, its digest the sha256 of its bytes', async () => {
    const { plan, format } = await read(dir());
    expect(format).toBe('dir');
    expect(plan.images).toEqual([
      {
        manifestDigest: digestOf(docs.manifest),
        configDigest: digestOf(docs.config),
        layers: [digestOf(layer)],
        refs: [],
        platform: { architecture: 'amd64', os: 'linux' },
      },
    ]);
    expect(plan.roots).toEqual([
      { descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(docs.manifest), size: docs.manifest.length } },
    ]);
    expect([...plan.blobs.keys()].sort()).toEqual([digestOf(docs.manifest), digestOf(docs.config), digestOf(layer)].sort());
  });

  it('an index (skopeo copy --all): its manifests from <hex>.manifest.json, each checked against its descriptor', async () => {
    const index = (m: Buffer) =>
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.index.v1+json',
          manifests: [
            { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(m), size: m.length, platform: { os: 'linux', architecture: 'arm64' } },
          ],
        }),
      );
    const top = index(docs.manifest);
    const { plan } = await read(dir(top, [[`${hex(docs.manifest)}.manifest.json`, docs.manifest]]));
    expect(plan.roots.map((r) => r.descriptor.digest)).toEqual([digestOf(top)]);
    expect(plan.images.map((i) => [i.manifestDigest, i.platform])).toEqual([[digestOf(docs.manifest), { os: 'linux', architecture: 'arm64' }]]);
    // A manifest file whose bytes are not the ones its name and descriptor give.
    const other = imageDocs(layer, { configExtra: { created: '2020-01-01T00:00:00Z' } }).manifest;
    await expect(read(dir(top, [[`${hex(docs.manifest)}.manifest.json`, other]]))).rejects.toMatchObject({ code: 'E_DIGEST_MISMATCH' });
  });

  it.each([
    ['a version file of another layout', dir(docs.manifest, [['version', Buffer.from('Directory Transport Version: 1.0\n')]]), 'E_UNSUPPORTED'],
    ['a schema 1 manifest', dir(Buffer.from('{"schemaVersion":1,"fsLayers":[],"history":[]}')), 'E_UNSUPPORTED'],
    ['a manifest.json typed as something else', dir(Buffer.from('{"schemaVersion":2,"mediaType":"text/plain"}')), 'E_MANIFEST_INVALID'],
    ["docker save's list of images", dir(Buffer.from('[{"Config":"c.json","Layers":[]}]')), 'E_MANIFEST_INVALID'],
    [
      'a layer whose bytes do not match its name',
      dir(docs.manifest, [[hex(layer), rawTar([{ name: 'etc/hello.txt', body: 'HELLO\n' }])]]),
      'E_DIGEST_MISMATCH',
    ],
  ])('%s is refused (%s)', async (_what, files, code) => {
    await expect(read(files)).rejects.toMatchObject({ code });
  });
});
