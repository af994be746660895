/**
 * The OCI layout reader, driven directly through the source interface (a store-free
 * MemorySource and an ImagePlan): no ingest, no store. Inputs are real bytes: tar layers
 * from make-tar, gzip from node:zlib, documents from hand-bytes.
 */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ImagePlan } from '../../src/formats/plan.js';
import { READERS, readSource } from '../../src/formats/readers.js';
import { imageDisagreement } from '../../src/formats/oci.js';
import { digestOf, imageDocs } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { MemorySource } from '../helpers/memory-source.js';

const hex = (b: Buffer) => digestOf(b).slice('sha256:'.length);
const blob = (b: Buffer): [string, Buffer] => [`blobs/sha256/${hex(b)}`, b];

/** An OCI layout of one image whose index.json entry carries `annotations`. */
function layout(
  layer: Buffer,
  docs: { config: Buffer; manifest: Buffer },
  annotations?: Record<string, string>,
  extra: Array<[string, Buffer]> = [],
): Map<string, Buffer> {
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: digestOf(docs.manifest),
        size: docs.manifest.length,
        ...(annotations ? { annotations } : {}),
      },
    ],
  };
  return new Map([
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['index.json', Buffer.from(JSON.stringify(index))],
    blob(docs.manifest),
    blob(docs.config),
    blob(layer),
    ...extra,
  ]);
}

const tarLayer = rawTar([{ name: 'etc/hello.txt', body: 'hello\n' }]);

describe('formats/oci: the OCI layout reader through the source interface', () => {
  it('reads a one-image layout: its manifest, config and layer, the ref from ref.name, and one root', async () => {
    const docs = imageDocs(tarLayer);
    const source = new MemorySource(layout(tarLayer, docs, { 'org.opencontainers.image.ref.name': 'acme/api:1.0' }));
    const plan = new ImagePlan();
    expect(await readSource(source, plan)).toBe('oci-layout');
    expect(plan.images).toEqual([
      {
        manifestDigest: digestOf(docs.manifest),
        configDigest: digestOf(docs.config),
        layers: [digestOf(tarLayer)],
        refs: ['acme/api:1.0'],
        platform: { os: 'linux', architecture: 'amd64' },
      },
    ]);
    expect([...plan.blobs.keys()].sort()).toEqual([digestOf(docs.manifest), digestOf(docs.config), digestOf(tarLayer)].sort());
    expect(plan.roots).toEqual([
      {
        descriptor: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: digestOf(docs.manifest), size: docs.manifest.length },
        ref: 'acme/api:1.0',
        fullName: 'docker.io/acme/api:1.0',
      },
    ]);
    expect(plan.synthesized.size).toBe(0);
  });

  it('a bare "latest" ref.name next to io.containerd.image.name becomes the familiar full name', async () => {
    const docs = imageDocs(tarLayer);
    const source = new MemorySource(
      layout(tarLayer, docs, { 'org.opencontainers.image.ref.name': 'latest', 'io.containerd.image.name': 'docker.io/library/alpine:latest' }),
    );
    const plan = new ImagePlan();
    await readSource(source, plan);
    expect(plan.images[0]!.refs).toEqual(['alpine:latest']);
  });

  it("a gzip layer's diffID is checked against the config: a config naming other bytes is E_DIFFID_MISMATCH", async () => {
    const gz = gzipSync(tarLayer);
    const good = imageDocs(gz, { uncompressed: tarLayer, layerMediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
    const plan = new ImagePlan();
    await readSource(new MemorySource(layout(gz, good)), plan);
    expect(plan.images[0]!.layers).toEqual([digestOf(gz)]);

    const bad = imageDocs(gz, { diffIds: [digestOf(gz)], layerMediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' });
    await expect(readSource(new MemorySource(layout(gz, bad)), new ImagePlan())).rejects.toMatchObject({ code: 'E_DIFFID_MISMATCH' });
  });

  it('a blob whose bytes are not what its descriptor names is E_DIGEST_MISMATCH, and a wrong size E_SIZE_MISMATCH', async () => {
    const docs = imageDocs(tarLayer);
    const files = layout(tarLayer, docs);
    files.set(`blobs/sha256/${hex(tarLayer)}`, rawTar([{ name: 'etc/hello.txt', body: 'other\n' }]));
    await expect(readSource(new MemorySource(files), new ImagePlan())).rejects.toMatchObject({ code: 'E_DIGEST_MISMATCH', expected: digestOf(tarLayer) });

    const lying = JSON.parse(docs.manifest.toString());
    lying.layers[0].size += 1;
    const manifest = Buffer.from(JSON.stringify(lying));
    await expect(readSource(new MemorySource(layout(tarLayer, { config: docs.config, manifest })), new ImagePlan())).rejects.toMatchObject({
      code: 'E_SIZE_MISMATCH',
    });
  });

  it('an index child absent from the input is skipped with a note; the present one is read', async () => {
    const docs = imageDocs(tarLayer);
    const absent = digestOf('not here');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: digestOf(docs.manifest),
            size: docs.manifest.length,
            platform: { os: 'linux', architecture: 'amd64' },
          },
          { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: absent, size: 10, platform: { os: 'linux', architecture: 'arm64' } },
        ],
      }),
    );
    const files = layout(tarLayer, docs, undefined, [blob(index)]);
    files.set(
      'index.json',
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: digestOf(index), size: index.length }],
        }),
      ),
    );
    const plan = new ImagePlan();
    await readSource(new MemorySource(files), plan);
    expect(plan.images.map((i) => i.manifestDigest)).toEqual([digestOf(docs.manifest)]);
    expect(plan.notes).toEqual([`${absent} (linux/arm64) is listed by an index but not in the input; skipped`]);
    expect(plan.roots.map((r) => r.descriptor.digest)).toEqual([digestOf(index)]);
  });

  it('two index.json entries with one ref: the later image holds it (as index.json will), the earlier none', async () => {
    const other = rawTar([{ name: 'etc/other.txt', body: 'other\n' }]);
    const a = imageDocs(tarLayer);
    const b = imageDocs(other);
    const entry = (m: Buffer) => ({
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: digestOf(m),
      size: m.length,
      annotations: { 'org.opencontainers.image.ref.name': 'acme/api:1.0' },
    });
    const files = layout(tarLayer, a, undefined, [blob(b.manifest), blob(b.config), blob(other)]);
    files.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests: [entry(a.manifest), entry(b.manifest)] })));
    const plan = new ImagePlan();
    await readSource(new MemorySource(files), plan);
    expect(plan.images.map((i) => [i.manifestDigest, i.refs])).toEqual([
      [digestOf(a.manifest), []],
      [digestOf(b.manifest), ['acme/api:1.0']],
    ]);
  });

  it('the reader list: an input no reader detects is E_NO_MANIFEST; a pre-1.10 save is E_UNSUPPORTED', async () => {
    expect(READERS.map((r) => r.name)).toEqual(['dir', 'docker-save', 'oci-layout', 'docker-v1-save']);
    await expect(readSource(new MemorySource(new Map([['hello.txt', Buffer.from('hi')]])), new ImagePlan())).rejects.toMatchObject({ code: 'E_NO_MANIFEST' });
    await expect(readSource(new MemorySource(new Map([['repositories', Buffer.from('{}')]])), new ImagePlan())).rejects.toMatchObject({
      code: 'E_UNSUPPORTED',
    });
  });

  it("imageDisagreement (a registry push's check) says why a config cannot describe its layers, by the reader's own rules", async () => {
    const plan = new ImagePlan();
    const source = new MemorySource(new Map([['layer', tarLayer]]));
    const layer = await source.file('layer', 'test');
    expect(imageDisagreement(plan, { rootfs: { type: 'layers', diff_ids: [digestOf(tarLayer)] } }, [layer])).toBeUndefined();
    expect(imageDisagreement(plan, { rootfs: { type: 'layers', diff_ids: [] } }, [layer])).toBe('the manifest lists 1 layers but its config has 0 diff_ids');
    expect(imageDisagreement(plan, { rootfs: { type: 'layers', diff_ids: [digestOf('other')] } }, [layer])).toMatch(
      /^layer 0: the uncompressed layer hashes to sha256:/,
    );
  });
});
