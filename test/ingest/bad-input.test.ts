/**
 * Bad input never changes the store (DESIGN.md section 6 "store unchanged", section 7 promise 3).
 *
 * Every case builds its input in code, opens a store that already holds one good image,
 * ingests the bad input and asserts: a LayerstoreError with the expected `code` (never the
 * message text), `source` = the input path, the store byte-for-byte as before, and nothing left
 * in .layerstore/staging/.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerstoreError, type ErrorCode } from '../../src/errors.js';
import { ingestPath } from '../../src/ingest/ingest.js';
import { Store } from '../../src/store/store.js';
import { dockerSaveLegacy, dockerSaveV25, imageConfig, layerTar, ociArchive, sha256hex, type ImageSpec } from '../../fixtures/image-writer.js';
import { flipByte, legacySave, paxRecords as pax, rawTar, truncate, type RawEntry } from '../helpers/make-tar.js';
import { filesUnder, snapshotObject, snapshotStore } from '../helpers/store-snapshot.js';
import { storePaths } from '../helpers/store-paths.js';
import { ensureBuilt } from '../helpers/cli.js';

const ROOT = path.resolve(import.meta.dirname, '../..');

// ------------------------------------------------------------------------------------------
// inputs

const GOOD_SPEC_TAG = 'good/base:1';
let goodTar: Buffer; // a valid legacy docker save, ingested into every store first
let layerA: Buffer; // an uncompressed layer tar
let layerB: Buffer; // a different one

/** Deterministic pseudo-random bytes (sha256 in counter mode). */
function prng(seed: string, n: number): Buffer {
  const out: Buffer[] = [];
  let len = 0;
  for (let i = 0; len < n; i++) {
    const b = createHash('sha256').update(`${seed}:${i}`).digest();
    out.push(b);
    len += b.length;
  }
  return Buffer.concat(out).subarray(0, n);
}

/** A legacy save built entry by entry: config "<hex>.json", "l0/layer.tar", manifest.json last. */
function legacyParts(layer: Buffer, tag = 'bad/legacy:1') {
  const spec: ImageSpec = { repoTags: [tag], layers: [{ tar: layer, compression: 'none' }] };
  const config = imageConfig(spec);
  const configName = `${sha256hex(config)}.json`;
  const manifest = [{ Config: configName, RepoTags: [tag], Layers: ['l0/layer.tar'] }];
  const files: RawEntry[] = [
    { name: configName, body: config },
    { name: 'l0', type: 'dir' },
    { name: 'l0/layer.tar', body: layer },
  ];
  return { config, configName, manifest, files };
}

function validLegacy(layer: Buffer, tag?: string): Buffer {
  const p = legacyParts(layer, tag);
  return legacySave({ manifest: p.manifest, files: p.files });
}

const MT = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
};

/**
 * An oci-archive (or, with `docker`, a Docker 25+ save that also has manifest.json) built by
 * hand, so the layer blob's stored bytes, its name and its descriptor can disagree.
 */
function ociRaw(opts: { layer: Buffer; storedLayer?: Buffer; layerSize?: number; docker?: boolean; tag?: string }): Buffer {
  const tag = opts.tag ?? 'bad/oci:1';
  const spec: ImageSpec = { repoTags: [tag], layers: [{ tar: opts.layer, compression: 'none' }] };
  const config = imageConfig(spec);
  const layerHex = sha256hex(opts.layer);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.manifest,
      config: { mediaType: MT.config, digest: `sha256:${sha256hex(config)}`, size: config.length },
      layers: [{ mediaType: MT.layer, digest: `sha256:${layerHex}`, size: opts.layerSize ?? opts.layer.length }],
    }),
  );
  const index = {
    schemaVersion: 2,
    mediaType: MT.index,
    manifests: [
      { mediaType: MT.manifest, digest: `sha256:${sha256hex(manifest)}`, size: manifest.length, annotations: { 'org.opencontainers.image.ref.name': tag } },
    ],
  };
  const blobs = new Map<string, Buffer>([
    [sha256hex(config), config],
    [sha256hex(manifest), manifest],
    [layerHex, opts.storedLayer ?? opts.layer],
  ]);
  const entries: RawEntry[] = [
    { name: 'blobs/', type: 'dir' },
    { name: 'blobs/sha256/', type: 'dir' },
  ];
  for (const hex of [...blobs.keys()].sort()) entries.push({ name: `blobs/sha256/${hex}`, body: blobs.get(hex)! });
  entries.push({ name: 'index.json', body: JSON.stringify(index) });
  if (opts.docker) {
    entries.push({
      name: 'manifest.json',
      body: JSON.stringify([{ Config: `blobs/sha256/${sha256hex(config)}`, RepoTags: [tag], Layers: [`blobs/sha256/${layerHex}`] }]),
    });
  }
  entries.push({ name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' });
  return rawTar(entries);
}

/** Offsets of every header in a well-formed tar, with the data range that follows each. */
function tarHeaders(tar: Buffer): Array<{ at: number; name: string; dataStart: number; size: number }> {
  const out: Array<{ at: number; name: string; dataStart: number; size: number }> = [];
  let at = 0;
  while (at + 512 <= tar.length) {
    const h = tar.subarray(at, at + 512);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(h.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    out.push({ at, name: h.subarray(0, 100).toString('utf8').replace(/\0.*$/s, ''), dataStart: at + 512, size });
    at += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

// ------------------------------------------------------------------------------------------
// harness

const work: string[] = [];

beforeAll(async () => {
  layerA = await layerTar([
    { path: 'etc', type: 'dir' },
    { path: 'etc/motd', content: 'hello from layer A\n' },
    { path: 'bin', type: 'dir' },
    { path: 'bin/tool', content: prng('tool', 3000), mode: 0o755 },
  ]);
  layerB = await layerTar([{ path: 'srv/data', content: prng('data', 1500) }]);
  const base = await layerTar([{ path: 'base.txt', content: 'the base layer\n' }]);
  goodTar = await dockerSaveLegacy([{ repoTags: [GOOD_SPEC_TAG], layers: [{ tar: base, compression: 'none' }] }]);
});

afterAll(async () => {
  for (const d of work) await fsp.rm(d, { recursive: true, force: true }).catch(() => {});
});

interface Env {
  dir: string;
  storeDir: string;
  store: Store;
}

/** A temp dir holding `store/` (with one good image already in it) and room for inputs. */
async function env(storeSub = 'store'): Promise<Env> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-bad-'));
  work.push(dir);
  const storeDir = path.join(dir, ...storeSub.split('/'));
  const store = await Store.open(storeDir, { create: true });
  const goodPath = path.join(dir, 'good.tar');
  await fsp.writeFile(goodPath, goodTar);
  const r = await ingestPath(store, goodPath);
  expect(r.images.map((i) => i.refs)).toEqual([[GOOD_SPEC_TAG]]);
  return { dir, storeDir, store };
}

/** Ingest `input` (bytes written to a file in the env dir) and assert the rejection and an unchanged store. */
async function expectRejected(input: Buffer, code: ErrorCode, e?: Env, name = 'bad.tar'): Promise<LayerstoreError> {
  const en = e ?? (await env());
  const file = path.join(en.dir, name);
  await fsp.writeFile(file, input);
  return expectPathRejected(file, code, en);
}

async function expectPathRejected(file: string, code: ErrorCode, en: Env): Promise<LayerstoreError> {
  const before = await snapshotStore(en.storeDir);
  expect(before.get('index.json')).toMatch(/^sha256:/);
  expect(before.get('oci-layout')).toMatch(/^sha256:/);
  let caught: unknown;
  try {
    await ingestPath(en.store, file);
  } catch (err) {
    caught = err;
  }
  expect(caught, 'ingest must reject').toBeInstanceOf(LayerstoreError);
  const err = caught as LayerstoreError;
  expect(err.code, err.describe()).toBe(code);
  expect(err.source).toBe(file);
  const after = await snapshotStore(en.storeDir);
  expect(filesUnder(after, '.layerstore/staging')).toEqual([]);
  expect(snapshotObject(after)).toEqual(snapshotObject(before));
  return err;
}

// ------------------------------------------------------------------------------------------

describe('harness sanity', () => {
  it('the snapshot sees blobs, index.json, oci-layout and staging files', async () => {
    const en = await env();
    const snap = await snapshotStore(en.storeDir);
    const blobs = filesUnder(snap, 'blobs/sha256');
    expect(blobs).toHaveLength(3); // config, layer, synthesized manifest
    for (const b of blobs) expect(snap.get(b)).toBe(`sha256:${path.basename(b)}`);
    expect(snap.get('.layerstore/staging')).toBe('dir');
    await fsp.writeFile(path.join(en.storeDir, '.layerstore', 'staging', 'x.partial'), 'x');
    await fsp.symlink('../nowhere', path.join(en.storeDir, '.layerstore', 'staging', 'l'));
    const snap2 = await snapshotStore(en.storeDir);
    expect(filesUnder(snap2, '.layerstore/staging').sort()).toEqual(['.layerstore/staging/l', '.layerstore/staging/x.partial']);
    expect(snap2.get('.layerstore/staging/l')).toBe('symlink:../nowhere');
  });

  it('the hand-built valid inputs are accepted (so each bad case differs by one defect)', async () => {
    const en = await env();
    for (const [name, bytes] of [
      ['legacy.tar', validLegacy(layerA)],
      ['oci.tar', ociRaw({ layer: layerB })],
      ['docker25.tar', ociRaw({ layer: layerA, docker: true, tag: 'bad/d25:1' })],
      ['fixture-v25.tar', await dockerSaveV25([{ repoTags: ['x/v25:1'], layers: [{ tar: layerB, compression: 'gzip' }] }])],
      ['fixture-oci.tar', await ociArchive([{ repoTags: ['x/oci:1'], layers: [{ tar: layerA, compression: 'gzip' }] }])],
      ['legacy.tar.gz', zlib.gzipSync(validLegacy(layerB, 'bad/gz:1'))],
      [
        'gnu-record.tar',
        rawTar([...legacyParts(layerA, 'bad/rec:1').files, { name: 'manifest.json', body: JSON.stringify(legacyParts(layerA, 'bad/rec:1').manifest) }], {
          padTo: 10240,
        }),
      ],
    ] as const) {
      const f = path.join(en.dir, name);
      await fsp.writeFile(f, bytes);
      const r = await ingestPath(en.store, f);
      expect(r.images, name).toHaveLength(1);
    }
    const refs = (await en.store.readIndex()).manifests.map((m) => m.annotations?.['org.opencontainers.image.ref.name']).sort();
    expect(refs).toEqual(['bad/d25:1', 'bad/gz:1', 'bad/legacy:1', 'bad/oci:1', 'bad/rec:1', GOOD_SPEC_TAG, 'x/oci:1', 'x/v25:1'].sort());
  });
});

describe('not a tar', () => {
  it('random bytes -> E_NOT_TAR', async () => {
    await expectRejected(prng('random', 8192), 'E_NOT_TAR');
  });
  it('a text file -> E_NOT_TAR', async () => {
    await expectRejected(Buffer.from('this is a README, not an image archive\n'.repeat(40)), 'E_NOT_TAR');
  });
  it('a short text file (less than one 512-byte block) -> E_NOT_TAR', async () => {
    // A non-empty file that cannot hold even one tar header is not a tar; it is not "empty".
    await expectRejected(Buffer.from('hello world\n'), 'E_NOT_TAR');
  });
  it('an empty file -> E_EMPTY', async () => {
    await expectRejected(Buffer.alloc(0), 'E_EMPTY');
  });
  it('a gzip file whose content is not a tar -> E_NOT_TAR (it decompresses fine)', async () => {
    await expectRejected(zlib.gzipSync(Buffer.from('plain text inside gzip\n'.repeat(60))), 'E_NOT_TAR');
  });
  it('a gzip file whose short content is not a tar -> E_NOT_TAR', async () => {
    await expectRejected(zlib.gzipSync(Buffer.from('hello')), 'E_NOT_TAR');
  });
  it('a gzip file of nothing -> E_EMPTY', async () => {
    await expectRejected(zlib.gzipSync(Buffer.alloc(0)), 'E_EMPTY');
  });
  it('a tar holding only the end-of-archive marker (no entries) -> E_EMPTY', async () => {
    await expectRejected(Buffer.alloc(1024), 'E_EMPTY');
  });
});

describe('corrupt compression of the whole archive', () => {
  let gz: Buffer;
  beforeAll(() => {
    gz = zlib.gzipSync(validLegacy(layerA), { level: 1 });
  });
  it('deflate data damaged in the middle -> E_DECOMPRESS', async () => {
    await expectRejected(flipByte(gz, Math.floor(gz.length / 2)), 'E_DECOMPRESS');
  });
  it('gzip CRC32 trailer wrong -> E_DECOMPRESS', async () => {
    await expectRejected(flipByte(gz, gz.length - 6), 'E_DECOMPRESS');
  });
  it('gzip ISIZE trailer wrong -> E_DECOMPRESS', async () => {
    await expectRejected(flipByte(gz, gz.length - 2), 'E_DECOMPRESS');
  });
  it('gzip header with an unknown compression method -> E_DECOMPRESS', async () => {
    await expectRejected(flipByte(gz, 2), 'E_DECOMPRESS');
  });
  it('gzip stream cut in the middle -> E_TRUNCATED', async () => {
    await expectRejected(truncate(gz, Math.floor(gz.length / 2)), 'E_TRUNCATED');
  });
});

describe('truncation', () => {
  it('truncated in the middle of an entry -> E_TRUNCATED', async () => {
    const tar = validLegacy(layerA);
    const layer = tarHeaders(tar).find((h) => h.name === 'l0/layer.tar')!;
    await expectRejected(truncate(tar, layer.dataStart + 1000), 'E_TRUNCATED');
  });
  it('truncated in the middle of the first entry data -> E_TRUNCATED', async () => {
    const tar = validLegacy(layerA);
    await expectRejected(truncate(tar, 700), 'E_TRUNCATED');
  });
  it('truncated in the middle of a header -> E_TRUNCATED', async () => {
    const tar = validLegacy(layerA);
    const layer = tarHeaders(tar).find((h) => h.name === 'l0/layer.tar')!;
    await expectRejected(truncate(tar, layer.at + 100), 'E_TRUNCATED');
  });
  it('cut exactly at a block boundary after an entry (no end-of-archive blocks) -> E_TRUNCATED', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ manifest: p.manifest, files: p.files, tar: { endBlocks: 0 } }), 'E_TRUNCATED');
  });
  it('cut at the block boundary before manifest.json -> E_TRUNCATED', async () => {
    const tar = validLegacy(layerA);
    const m = tarHeaders(tar).find((h) => h.name === 'manifest.json')!;
    await expectRejected(truncate(tar, m.at), 'E_TRUNCATED');
  });
  it('a declared size larger than the data -> E_TRUNCATED', async () => {
    const p = legacyParts(layerA);
    const files = p.files.map((f) => (f.name === 'l0/layer.tar' ? { ...f, declaredSize: layerA.length + 4096 } : f));
    // the lie swallows manifest.json and the end blocks as data; the archive then ends mid-entry
    await expectRejected(legacySave({ manifest: p.manifest, files }), 'E_TRUNCATED');
  });
  it('a declared size larger than the data, on the last entry -> E_TRUNCATED', async () => {
    await expectRejected(rawTar([{ name: 'manifest.json', body: '[]', declaredSize: 100_000 }]), 'E_TRUNCATED');
  });
});

describe('data after the end-of-archive marker', () => {
  it('a second tar appended after the zero blocks -> E_TRAILING_DATA', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ manifest: p.manifest, files: p.files, tar: { trailing: validLegacy(layerB, 'bad/second:1') } }), 'E_TRAILING_DATA');
  });
  it('two tars concatenated without the first one padding to a record -> E_TRAILING_DATA', async () => {
    await expectRejected(Buffer.concat([validLegacy(layerA), validLegacy(layerB, 'bad/second:1')]), 'E_TRAILING_DATA');
  });
  it('random garbage after the marker -> E_TRAILING_DATA', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ manifest: p.manifest, files: p.files, tar: { trailing: prng('garbage', 700) } }), 'E_TRAILING_DATA');
  });
  it('one non-zero byte deep in GNU record padding -> E_TRAILING_DATA', async () => {
    const p = legacyParts(layerA);
    const tar = legacySave({ manifest: p.manifest, files: p.files, tar: { padTo: 10240 } });
    expect(tar.length % 10240).toBe(0);
    await expectRejected(flipByte(tar, tar.length - 3), 'E_TRAILING_DATA');
  });
  it('zero padding after the marker (a GNU tar 10240-byte record) is accepted', async () => {
    const en = await env();
    const p = legacyParts(layerA);
    const tar = legacySave({ manifest: p.manifest, files: p.files, tar: { padTo: 10240, trailing: Buffer.alloc(20480) } });
    const f = path.join(en.dir, 'padded.tar');
    await fsp.writeFile(f, tar);
    const r = await ingestPath(en.store, f);
    expect(r.images.map((i) => i.refs)).toEqual([['bad/legacy:1']]);
  });
});

describe('damaged headers', () => {
  it('a bad header checksum in a later header -> E_TAR_CORRUPT', async () => {
    const tar = validLegacy(layerA);
    const layer = tarHeaders(tar).find((h) => h.name === 'l0/layer.tar')!;
    await expectRejected(flipByte(tar, layer.at + 10), 'E_TAR_CORRUPT');
  });
  it('a checksum field that is not octal -> E_TAR_CORRUPT', async () => {
    const tar = Buffer.from(validLegacy(layerA));
    const m = tarHeaders(tar).find((h) => h.name === 'manifest.json')!;
    tar.write('99999999', m.at + 148, 'latin1');
    await expectRejected(tar, 'E_TAR_CORRUPT');
  });
});

describe('manifest problems', () => {
  it('no manifest.json and no index.json -> E_NO_MANIFEST', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ files: p.files }), 'E_NO_MANIFEST');
  });
  it('index.json without oci-layout -> E_NO_MANIFEST', async () => {
    await expectRejected(rawTar([{ name: 'index.json', body: '{"schemaVersion":2,"manifests":[]}' }]), 'E_NO_MANIFEST');
  });
  it('only a `repositories` file (pre-1.10 save) -> E_UNSUPPORTED', async () => {
    await expectRejected(
      rawTar([
        { name: 'abc', type: 'dir' },
        { name: 'abc/layer.tar', body: layerA },
        { name: 'repositories', body: JSON.stringify({ 'old/app': { latest: 'abc' } }) },
      ]),
      'E_UNSUPPORTED',
    );
  });
  it('malformed manifest.json -> E_MANIFEST_INVALID', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ manifest: '[{"Config": "x.json", ', files: p.files }), 'E_MANIFEST_INVALID');
  });
  for (const body of [
    'null',
    '{}',
    '[]',
    '[{}]',
    '[{"Config": 5}]',
    '"manifest"',
    '[null]',
    '[{"Config": "c.json", "Layers": "l0/layer.tar"}]',
    '[{"Config": "c.json", "Layers": [1]}]',
  ]) {
    it(`manifest.json ${body} -> E_MANIFEST_INVALID`, async () => {
      const p = legacyParts(layerA);
      await expectRejected(legacySave({ manifest: body, files: p.files }), 'E_MANIFEST_INVALID');
    });
  }
  it('a RepoTag that is not a reference -> E_MANIFEST_INVALID', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ manifest: [{ ...p.manifest[0], RepoTags: ['Bad Tag!'] }], files: p.files }), 'E_MANIFEST_INVALID');
  });
  it('a config that is not JSON -> E_MANIFEST_INVALID', async () => {
    const p = legacyParts(layerA);
    const files = p.files.map((f) => (f.name === p.configName ? { ...f, body: '{not json' } : f));
    await expectRejected(legacySave({ manifest: p.manifest, files }), 'E_MANIFEST_INVALID');
  });
  it('more layers than diff_ids -> E_MANIFEST_INVALID', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ manifest: [{ ...p.manifest[0], Layers: ['l0/layer.tar', 'l0/layer.tar'] }], files: p.files }), 'E_MANIFEST_INVALID');
  });
});

describe('missing blobs', () => {
  it('a layer the manifest names is missing -> E_BLOB_MISSING', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ manifest: [{ ...p.manifest[0], Layers: ['l1/layer.tar'] }], files: p.files }), 'E_BLOB_MISSING');
  });
  it('the config is missing -> E_BLOB_MISSING', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ manifest: p.manifest, files: p.files.filter((f) => f.name !== p.configName) }), 'E_BLOB_MISSING');
  });
  it('an OCI archive whose index names a manifest that is not in it -> E_BLOB_MISSING', async () => {
    const tar = ociRaw({ layer: layerA });
    const hs = tarHeaders(tar);
    const idx = hs.find((h) => h.name === 'index.json')!;
    const index = JSON.parse(tar.subarray(idx.dataStart, idx.dataStart + idx.size).toString()) as { manifests: Array<{ digest: string }> };
    const mhex = index.manifests[0]!.digest.slice(7);
    const entries: RawEntry[] = hs
      .filter((h) => h.name !== `blobs/sha256/${mhex}`)
      .map((h) => ({
        name: h.name,
        type: h.name.endsWith('/') ? 'dir' : 'file',
        body: h.name.endsWith('/') ? undefined : tar.subarray(h.dataStart, h.dataStart + h.size),
      }));
    await expectRejected(rawTar(entries), 'E_BLOB_MISSING');
  });
});

describe('content that does not match its claims', () => {
  it("a layer whose bytes do not match the config's diff_ids -> E_DIFFID_MISMATCH", async () => {
    const p = legacyParts(layerA);
    const files = p.files.map((f) => (f.name === 'l0/layer.tar' ? { ...f, body: layerB } : f));
    const err = await expectRejected(legacySave({ manifest: p.manifest, files }), 'E_DIFFID_MISMATCH');
    expect(err.expected).toBe(`sha256:${sha256hex(layerA)}`);
    expect(err.actual).toBe(`sha256:${sha256hex(layerB)}`);
  });
  it('a gzip layer whose uncompressed bytes do not match diff_ids -> E_DIFFID_MISMATCH', async () => {
    const p = legacyParts(layerA);
    const files = p.files.map((f) => (f.name === 'l0/layer.tar' ? { ...f, body: zlib.gzipSync(layerB) } : f));
    await expectRejected(legacySave({ manifest: p.manifest, files }), 'E_DIFFID_MISMATCH');
  });
  it('a Docker 25+ save whose layer blob does not hash to its blobs/sha256/<hex> name -> E_DIGEST_MISMATCH', async () => {
    const tampered = flipByte(layerA, 600); // inside the first file's data
    const err = await expectRejected(ociRaw({ layer: layerA, storedLayer: tampered, docker: true }), 'E_DIGEST_MISMATCH');
    expect(err.expected).toBe(`sha256:${sha256hex(layerA)}`);
    expect(err.actual).toBe(`sha256:${sha256hex(tampered)}`);
  });
  it('an OCI archive whose layer blob does not hash to its name -> E_DIGEST_MISMATCH', async () => {
    await expectRejected(ociRaw({ layer: layerA, storedLayer: flipByte(layerA, 600) }), 'E_DIGEST_MISMATCH');
  });
  it('a manifest.json-only save whose blobs/sha256/<hex> config does not hash to its name -> E_DIGEST_MISMATCH', async () => {
    const p = legacyParts(layerA);
    const fakeHex = sha256hex('something else');
    const files: RawEntry[] = [
      { name: `blobs/sha256/${fakeHex}`, body: p.config },
      { name: 'l0/layer.tar', body: layerA },
    ];
    await expectRejected(legacySave({ manifest: [{ ...p.manifest[0], Config: `blobs/sha256/${fakeHex}` }], files }), 'E_DIGEST_MISMATCH');
  });
  it('an OCI descriptor with the wrong size -> E_SIZE_MISMATCH', async () => {
    const err = await expectRejected(ociRaw({ layer: layerA, layerSize: layerA.length + 1 }), 'E_SIZE_MISMATCH');
    expect(err.expected).toBe(layerA.length + 1);
    expect(err.actual).toBe(layerA.length);
  });
  it('a gzip layer that is corrupt (damaged deflate data) -> E_DECOMPRESS', async () => {
    const p = legacyParts(layerA);
    const gz = zlib.gzipSync(layerA);
    const files = p.files.map((f) => (f.name === 'l0/layer.tar' ? { ...f, body: flipByte(gz, Math.floor(gz.length / 2)) } : f));
    await expectRejected(legacySave({ manifest: p.manifest, files }), 'E_DECOMPRESS');
  });
  it('a gzip layer that is cut short -> E_DECOMPRESS', async () => {
    const p = legacyParts(layerA);
    const gz = zlib.gzipSync(layerA);
    const files = p.files.map((f) => (f.name === 'l0/layer.tar' ? { ...f, body: truncate(gz, -10) } : f));
    await expectRejected(legacySave({ manifest: p.manifest, files }), 'E_DECOMPRESS');
  });
});

describe('unsafe entry names', () => {
  const cases: Array<[string, string]> = [
    ['absolute', '/manifest.json'],
    ['parent', '../escape'],
    ['escaping through a directory', 'a/../../b'],
    ['backslash', 'a\\b'],
    ['backslash traversal', '..\\..\\escape'],
  ];
  for (const [what, name] of cases) {
    it(`${what} entry name ${JSON.stringify(name)} -> E_UNSAFE_PATH, nothing written outside the store`, async () => {
      const en = await env('deep/er/store');
      const outsideBefore = await snapshotStore(en.dir);
      const tmpBefore = new Set(await fsp.readdir(os.tmpdir()));
      const parentBefore = new Set(await fsp.readdir(path.dirname(en.dir)));
      const p = legacyParts(layerA);
      const tar = rawTar([{ name, body: 'owned\n' }, ...p.files, { name: 'manifest.json', body: JSON.stringify(p.manifest) }]);
      const err = await expectRejected(tar, 'E_UNSAFE_PATH', en);
      expect(err.entry).toBe(name);
      // nothing appeared anywhere in the temp dir outside the store (except the input we wrote)
      const outsideAfter = await snapshotStore(en.dir);
      for (const k of [...outsideAfter.keys()]) if (k.startsWith('deep/er/store/') || k === 'bad.tar') outsideAfter.delete(k);
      for (const k of [...outsideBefore.keys()]) if (k.startsWith('deep/er/store/')) outsideBefore.delete(k);
      expect(snapshotObject(outsideAfter)).toEqual(snapshotObject(outsideBefore));
      // ... nor in the temp dir's parent (other processes may create their own temp dirs there)
      const suspicious = ['escape', 'b', 'manifest.json', 'owned'];
      for (const dir of [os.tmpdir(), path.dirname(en.dir)]) {
        const before = dir === os.tmpdir() ? tmpBefore : parentBefore;
        const added = (await fsp.readdir(dir)).filter((n) => !before.has(n));
        expect(added.filter((n) => suspicious.includes(n))).toEqual([]);
      }
      await expect(fsp.lstat('/manifest.json')).rejects.toMatchObject({ code: 'ENOENT' });
    });
  }

  it('a NUL byte in an entry name (possible only through a pax path record) -> E_UNSAFE_PATH', async () => {
    const p = legacyParts(layerA);
    const tar = rawTar([
      { name: 'PaxHeader', typeflag: 'x', body: pax(['path=manifest.json\u0000.evil']) },
      { name: 'x', body: 'x' },
      ...p.files,
      { name: 'manifest.json', body: JSON.stringify(p.manifest) },
    ]);
    await expectRejected(tar, 'E_UNSAFE_PATH');
  });
  it('a pax path record that escapes (../escape) -> E_UNSAFE_PATH', async () => {
    const p = legacyParts(layerA);
    const tar = rawTar([
      { name: 'PaxHeader', typeflag: 'x', body: pax(['path=../escape']) },
      { name: 'harmless', body: 'x' },
      ...p.files,
      { name: 'manifest.json', body: JSON.stringify(p.manifest) },
    ]);
    const err = await expectRejected(tar, 'E_UNSAFE_PATH');
    expect(err.entry).toBe('../escape');
  });
  it('a GNU long name (typeflag L) that is absolute -> E_UNSAFE_PATH', async () => {
    const p = legacyParts(layerA);
    const long = `/${'x'.repeat(150)}/layer.tar`;
    const tar = rawTar([
      { name: '././@LongLink', typeflag: 'L', body: `${long}\u0000` },
      { name: 'harmless', body: 'x' },
      ...p.files,
      { name: 'manifest.json', body: JSON.stringify(p.manifest) },
    ]);
    await expectRejected(tar, 'E_UNSAFE_PATH');
  });
  it('a regular file named "./" (the archive root) -> E_UNSAFE_PATH', async () => {
    const p = legacyParts(layerA);
    await expectRejected(
      rawTar([{ name: './', typeflag: '0', body: 'x' }, ...p.files, { name: 'manifest.json', body: JSON.stringify(p.manifest) }]),
      'E_UNSAFE_PATH',
    );
  });

  for (const layerName of ['../../etc/passwd', '/etc/passwd', 'l0/../../etc/passwd', 'l0\\..\\..\\etc\\passwd']) {
    it(`manifest.json Layers naming ${JSON.stringify(layerName)} -> E_UNSAFE_PATH`, async () => {
      const en = await env('deep/er/store');
      const outsideBefore = await snapshotStore(en.dir);
      const p = legacyParts(layerA);
      await expectRejected(legacySave({ manifest: [{ ...p.manifest[0], Layers: [layerName] }], files: p.files }), 'E_UNSAFE_PATH', en);
      const outsideAfter = await snapshotStore(en.dir);
      outsideAfter.delete('bad.tar');
      expect([...outsideAfter.keys()].filter((k) => !outsideBefore.has(k))).toEqual([]);
    });
  }
  it('manifest.json Config naming an absolute path -> E_UNSAFE_PATH', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ manifest: [{ ...p.manifest[0], Config: '/etc/passwd' }], files: p.files }), 'E_UNSAFE_PATH');
  });
});

describe('links', () => {
  const manifestFor = (p: ReturnType<typeof legacyParts>, layer: string) => [{ ...p.manifest[0], Layers: [layer] }];

  it('a layer.tar symlink cycle (a -> b, b -> a) -> E_LINK', async () => {
    const p = legacyParts(layerA);
    const files: RawEntry[] = [
      { name: p.configName, body: p.config },
      { name: 'a/layer.tar', type: 'symlink', linkname: '../b/layer.tar' },
      { name: 'b/layer.tar', type: 'symlink', linkname: '../a/layer.tar' },
    ];
    await expectRejected(legacySave({ manifest: manifestFor(p, 'a/layer.tar'), files }), 'E_LINK');
  });
  it('a self-referencing symlink -> E_LINK', async () => {
    const p = legacyParts(layerA);
    await expectRejected(
      legacySave({ manifest: manifestFor(p, 'a/layer.tar'), files: [...p.files, { name: 'a/layer.tar', type: 'symlink', linkname: 'layer.tar' }] }),
      'E_LINK',
    );
  });
  it('a symlink pointing outside the archive (../../../etc/passwd) -> E_LINK', async () => {
    const p = legacyParts(layerA);
    await expectRejected(
      legacySave({ manifest: manifestFor(p, 'a/layer.tar'), files: [...p.files, { name: 'a/layer.tar', type: 'symlink', linkname: '../../../etc/passwd' }] }),
      'E_LINK',
    );
  });
  it('an absolute symlink target -> E_LINK', async () => {
    const p = legacyParts(layerA);
    await expectRejected(
      legacySave({ manifest: manifestFor(p, 'a/layer.tar'), files: [...p.files, { name: 'a/layer.tar', type: 'symlink', linkname: '/etc/passwd' }] }),
      'E_LINK',
    );
  });
  it('a hardlink pointing outside the archive -> E_LINK', async () => {
    const p = legacyParts(layerA);
    await expectRejected(
      legacySave({ manifest: manifestFor(p, 'a/layer.tar'), files: [...p.files, { name: 'a/layer.tar', type: 'link', linkname: '../etc/passwd' }] }),
      'E_LINK',
    );
  });
  it('a dangling symlink -> E_BLOB_MISSING', async () => {
    const p = legacyParts(layerA);
    await expectRejected(
      legacySave({ manifest: manifestFor(p, 'a/layer.tar'), files: [...p.files, { name: 'a/layer.tar', type: 'symlink', linkname: '../nowhere/layer.tar' }] }),
      'E_BLOB_MISSING',
    );
  });
  it('a config reached through a symlink that escapes -> E_LINK', async () => {
    const p = legacyParts(layerA);
    await expectRejected(
      legacySave({ manifest: [{ ...p.manifest[0], Config: 'cfg.json' }], files: [...p.files, { name: 'cfg.json', type: 'symlink', linkname: '../cfg.json' }] }),
      'E_LINK',
    );
  });
  it('a pax linkpath record giving a layer symlink an absolute target -> E_LINK', async () => {
    const p = legacyParts(layerA);
    const files: RawEntry[] = [
      ...p.files,
      { name: 'PaxHeader', typeflag: 'x', body: pax(['linkpath=/etc/passwd']) },
      { name: 'a/layer.tar', type: 'symlink', linkname: '../l0/layer.tar' },
    ];
    await expectRejected(legacySave({ manifest: manifestFor(p, 'a/layer.tar'), files }), 'E_LINK');
  });
  it('a directory symlink that escapes, used as a path component -> E_LINK', async () => {
    const p = legacyParts(layerA);
    await expectRejected(
      legacySave({ manifest: manifestFor(p, 'up/l0/layer.tar'), files: [...p.files, { name: 'up', type: 'symlink', linkname: '..' }] }),
      'E_LINK',
    );
  });
  it('manifest.json itself a symlink pointing outside the archive -> E_LINK', async () => {
    // TarView.has() swallows the link error, so this currently reads as "no manifest".
    const p = legacyParts(layerA);
    await expectRejected(rawTar([...p.files, { name: 'manifest.json', type: 'symlink', linkname: '../../../manifest.json' }]), 'E_LINK');
  });
  it('in-archive symlinks (docker save shared layers, directory links) are accepted', async () => {
    const en = await env();
    const p = legacyParts(layerA);
    const files: RawEntry[] = [
      ...p.files,
      { name: 'dup', type: 'dir' },
      { name: 'dup/layer.tar', type: 'symlink', linkname: '../l0/layer.tar' },
      { name: 'dirlink', type: 'symlink', linkname: 'l0' },
    ];
    const f = path.join(en.dir, 'links.tar');
    await fsp.writeFile(
      f,
      legacySave({
        manifest: [
          { ...p.manifest[0], Layers: ['dup/layer.tar'] },
          { ...p.manifest[0], RepoTags: ['bad/dirlink:1'], Layers: ['dirlink/layer.tar'] },
        ],
        files,
      }),
    );
    const r = await ingestPath(en.store, f);
    expect(r.images).toHaveLength(1); // both items are the same image
    expect(r.images[0]!.layers).toEqual([`sha256:${sha256hex(layerA)}`]);
    expect(r.images[0]!.refs.sort()).toEqual(['bad/dirlink:1', 'bad/legacy:1']);
  });
  it('a layer.tar that is a hardlink (target relative to the archive root) is accepted', async () => {
    const en = await env();
    const p = legacyParts(layerA);
    const f = path.join(en.dir, 'hardlink.tar');
    await fsp.writeFile(
      f,
      legacySave({ manifest: manifestFor(p, 'h/layer.tar'), files: [...p.files, { name: 'h/layer.tar', type: 'link', linkname: 'l0/layer.tar' }] }),
    );
    const r = await ingestPath(en.store, f);
    expect(r.images[0]!.layers).toEqual([`sha256:${sha256hex(layerA)}`]);
  });
});

describe('duplicate entries', () => {
  it('the same file name twice -> E_DUPLICATE_ENTRY', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ manifest: p.manifest, files: [...p.files, { name: 'l0/layer.tar', body: layerB }] }), 'E_DUPLICATE_ENTRY');
  });
  it('the same file twice with identical bytes -> E_DUPLICATE_ENTRY', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ manifest: p.manifest, files: [...p.files, { name: 'l0/layer.tar', body: layerA }] }), 'E_DUPLICATE_ENTRY');
  });
  it('manifest.json twice -> E_DUPLICATE_ENTRY', async () => {
    const p = legacyParts(layerA);
    await expectRejected(
      legacySave({ manifest: p.manifest, manifestFirst: true, files: [...p.files, { name: 'manifest.json', body: JSON.stringify(p.manifest) }] }),
      'E_DUPLICATE_ENTRY',
    );
  });
  it('"./manifest.json" and "manifest.json" (the same name once normalized) -> E_DUPLICATE_ENTRY', async () => {
    const p = legacyParts(layerA);
    await expectRejected(legacySave({ manifest: p.manifest, files: [{ name: './manifest.json', body: '[]' }, ...p.files] }), 'E_DUPLICATE_ENTRY');
  });
  it('a file and a symlink of the same name -> E_DUPLICATE_ENTRY', async () => {
    const p = legacyParts(layerA);
    await expectRejected(
      legacySave({ manifest: p.manifest, files: [...p.files, { name: 'l0/layer.tar', type: 'symlink', linkname: '../x' }] }),
      'E_DUPLICATE_ENTRY',
    );
  });
});

describe('smuggling a second archive past the end-of-archive check', () => {
  // The block scanner and tar-stream must agree on how many data bytes follow each header;
  // if they do not, tar-stream parses as headers what the scanner skipped as data, and an
  // inner end-of-archive marker followed by more entries goes unnoticed.
  const smuggle = (paxRecords: string[][]) => {
    const p = legacyParts(layerA);
    const first = rawTar([
      { name: p.configName, body: p.config },
      { name: 'manifest.json', body: JSON.stringify(p.manifest) },
    ]); // ends with 2 zero blocks
    const second = rawTar([{ name: 'l0/layer.tar', body: layerA }], { endBlocks: 0 });
    const inner = Buffer.concat([first, second]);
    const paxEntries: RawEntry[] = paxRecords.map((r, i) => ({
      name: `PaxHeader${i}`,
      typeflag: 'x',
      body: pax(r.map((x) => x.replace('$N', String(inner.length)))),
    }));
    return Buffer.concat([rawTar([...paxEntries, { name: 'pad' }], { endBlocks: 0 }), inner, Buffer.alloc(1024)]);
  };
  it('a pax record without "=" before size=N (tar-stream stops parsing at it) -> E_TRAILING_DATA', async () => {
    await expectRejected(smuggle([['comment', 'size=$N']]), 'E_TRAILING_DATA');
  });
  it('two local pax headers, only the first with size=N (tar-stream keeps only the second) -> E_TRAILING_DATA', async () => {
    await expectRejected(smuggle([['size=$N'], ['comment=x']]), 'E_TRAILING_DATA');
  });
  it('size=N then an empty size= record (tar-stream takes the last, empty one) -> E_TRAILING_DATA', async () => {
    await expectRejected(smuggle([['size=$N', 'size=']]), 'E_TRAILING_DATA');
  });
});

describe('input paths', () => {
  it('a path that does not exist -> E_INPUT_NOT_FOUND', async () => {
    const en = await env();
    await expectPathRejected(path.join(en.dir, 'no-such.tar'), 'E_INPUT_NOT_FOUND', en);
  });
  it('a directory that is not an image layout -> E_NO_MANIFEST', async () => {
    const en = await env();
    const d = path.join(en.dir, 'not-a-layout');
    await fsp.mkdir(d);
    await fsp.writeFile(path.join(d, 'README'), 'hello');
    await expectPathRejected(d, 'E_NO_MANIFEST', en);
  });
});

describe('CLI: several inputs, one bad', () => {
  // ensureBuilt builds only when dist/ is stale, under the build lock: a tsc run here rewrote
  // dist/ while other test files ran the CLI, which then loaded a half-written module (exit 2).
  beforeAll(() => ensureBuilt(), 180_000);

  it('exit 2, both good images stored, one error line naming bad.tar, no stack trace', async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-cli-'));
    work.push(dir);
    const storeDir = path.join(dir, 'store');
    const good1 = path.join(dir, 'good1.tar');
    const good2 = path.join(dir, 'good2.tar');
    const bad = path.join(dir, 'bad.tar');
    await fsp.writeFile(good1, validLegacy(layerA, 'cli/one:1'));
    await fsp.writeFile(good2, await dockerSaveV25([{ repoTags: ['cli/two:2'], layers: [{ tar: layerB, compression: 'gzip' }] }]));
    const p = legacyParts(layerA, 'cli/bad:1');
    await fsp.writeFile(bad, legacySave({ manifest: p.manifest, files: p.files, tar: { trailing: prng('garbage', 100) } }));

    const bin = path.join(ROOT, 'bin', 'layerstore.js');
    const r = spawnSync(process.execPath, [bin, '--store', storeDir, 'ingest', good1, bad, good2], { cwd: dir, encoding: 'utf8' });
    expect(r.status).toBe(2);
    const errLines = r.stderr.split('\n').filter((l) => l.startsWith('layerstore: error:'));
    expect(errLines).toHaveLength(1);
    expect(errLines[0]).toContain(bad);
    expect(errLines[0]).not.toContain(good1);
    expect(errLines[0]).toContain('E_TRAILING_DATA');
    expect(r.stderr).not.toContain('    at ');
    expect(r.stdout).toContain(good1);
    expect(r.stdout).toContain(good2);
    expect(r.stdout).not.toContain(bad);

    const ls = spawnSync(process.execPath, [bin, '--store', storeDir, 'ls', '--json'], { encoding: 'utf8' });
    expect(ls.status).toBe(0);
    const listed = JSON.parse(ls.stdout) as { images: Array<{ refs: string[] }> };
    expect(listed.images.map((i) => i.refs).sort()).toEqual([['cli/one:1'], ['cli/two:2']]);
    const snap = await snapshotStore(storeDir);
    expect(filesUnder(snap, '.layerstore/staging')).toEqual([]);
  });
});

describe('property: mutations of a valid legacy save', () => {
  it('every truncation and byte flip either ingests or rejects with a coded LayerstoreError, leaving the store unchanged', async () => {
    const en = await env();
    const base = await dockerSaveLegacy([
      {
        repoTags: ['mut/app:1'],
        layers: [
          { tar: layerA, compression: 'none' },
          { tar: layerB, compression: 'gzip' },
        ],
      },
    ]);
    const headers = tarHeaders(base);
    const endAt = headers.at(-1)!.dataStart + Math.ceil(headers.at(-1)!.size / 512) * 512; // first end-of-archive block
    const mutations: Array<{ what: string; bytes: Buffer; expect?: ErrorCode | 'ok'; oneOf?: ErrorCode[] }> = [];
    // truncation at every block boundary before the end marker: always E_TRUNCATED (k = 0: empty)
    for (let k = 0; k * 512 <= endAt; k++) {
      mutations.push({ what: `truncate at ${k * 512}`, bytes: truncate(base, k * 512), expect: k === 0 ? 'E_EMPTY' : 'E_TRUNCATED' });
    }
    mutations.push({ what: 'truncate after the first end block', bytes: truncate(base, endAt + 512), expect: 'ok' });
    // a flipped byte in any header fails its checksum
    for (const [i, h] of headers.entries()) {
      for (const off of [0, 124, 156, 200]) {
        mutations.push({ what: `flip header ${i} (${h.name}) +${off}`, bytes: flipByte(base, h.at + off), expect: h.at === 0 ? 'E_NOT_TAR' : 'E_TAR_CORRUPT' });
      }
    }
    // flipped data bytes: which error depends on what the entry is; only "coded" is promised,
    // except that v1 leftovers docker load ignores (VERSION, <id>/json, repositories) must not
    // matter and a damaged layer must be caught by its diffID (or fail to decompress)
    for (const h of headers.filter((x) => x.size > 0)) {
      const unused = /(^|\/)(VERSION|json|repositories)$/.test(h.name);
      const layer = h.name.endsWith('/layer.tar');
      for (const frac of [0, 0.5]) {
        mutations.push({
          what: `flip data of ${h.name} at ${frac}`,
          bytes: flipByte(base, h.dataStart + Math.floor(h.size * frac)),
          ...(unused ? { expect: 'ok' as const } : layer ? { oneOf: ['E_DIFFID_MISMATCH', 'E_DECOMPRESS'] as ErrorCode[] } : {}),
        });
      }
    }
    expect(mutations.length).toBeGreaterThanOrEqual(40);

    let before = await snapshotStore(en.storeDir);
    const outcomes: string[] = [];
    for (const [i, m] of mutations.entries()) {
      const f = path.join(en.dir, `m${i}.tar`);
      await fsp.writeFile(f, m.bytes);
      let err: unknown;
      try {
        // --verify-input: every mutated byte is read (by default a layer the store holds is taken
        // by its config diff_id, unread: see skip-stored.test.ts)
        await ingestPath(en.store, f, { verifyInput: true });
      } catch (e) {
        err = e;
      }
      const after = await snapshotStore(en.storeDir);
      expect(filesUnder(after, '.layerstore/staging'), m.what).toEqual([]);
      if (err === undefined) {
        outcomes.push(`${m.what}: ok`);
        before = after; // a successful ingest may add blobs or move the ref
      } else {
        expect(err, m.what).toBeInstanceOf(LayerstoreError);
        const code = (err as LayerstoreError).code;
        expect(typeof code, m.what).toBe('string');
        expect(code, m.what).toMatch(/^E_[A-Z_]+$/);
        expect((err as LayerstoreError).source, m.what).toBe(f);
        outcomes.push(`${m.what}: ${code}`);
        expect(snapshotObject(after), m.what).toEqual(snapshotObject(before));
      }
      await fsp.rm(f);
    }
    const wanted = mutations.map((m, i) =>
      m.expect
        ? `${m.what}: ${m.expect}`
        : m.oneOf && !m.oneOf.some((c) => outcomes[i] === `${m.what}: ${c}`)
          ? `${m.what}: one of ${m.oneOf.join('|')}`
          : outcomes[i],
    );
    expect(outcomes).toEqual(wanted);
  });
});

describe('OCI layout directories: layers are staged several at once', () => {
  // Three layers, staged concurrently (DirView.prefetch); one damaged layer must still fail
  // the whole ingest with nothing left in staging, while the others may already be staged.
  const layout = async (en: Env, damage?: (blobs: string, layers: string[]) => Promise<void>) => {
    const d = path.join(en.dir, `layout-${Math.random().toString(36).slice(2)}`);
    await fsp.mkdir(d);
    const tar = await ociArchive([
      {
        repoTags: ['x/dir:1'],
        layers: [
          { tar: await layerTar([{ path: 'a', content: 'A'.repeat(70_000) }]), compression: 'gzip' },
          { tar: await layerTar([{ path: 'b', content: 'B'.repeat(90_000) }]), compression: 'none' },
          { tar: await layerTar([{ path: 'c', content: 'C'.repeat(50_000) }]), compression: 'gzip' },
        ],
      },
    ]);
    await fsp.writeFile(`${d}.tar`, tar);
    execFileSync('tar', ['-xf', `${d}.tar`, '-C', d]);
    const manifest = JSON.parse(await fsp.readFile(path.join(d, 'index.json'), 'utf8')).manifests[0].digest.slice(7);
    const layers = JSON.parse(await fsp.readFile(path.join(d, 'blobs/sha256', manifest), 'utf8')).layers.map((l: { digest: string }) => l.digest.slice(7));
    await damage?.(path.join(d, 'blobs/sha256'), layers);
    return d;
  };

  it('control: the undamaged layout ingests', async () => {
    const en = await env();
    const r = await ingestPath(en.store, await layout(en));
    expect(r.images[0]!.layers).toHaveLength(3);
    expect(await fsp.readdir(storePaths(en.store).stagingDir)).toEqual([]);
  });

  it('the middle layer does not hash to its name -> E_DIGEST_MISMATCH, store and staging unchanged', async () => {
    const en = await env();
    const d = await layout(en, async (blobs, layers) => {
      const f = path.join(blobs, layers[1]!);
      const b = await fsp.readFile(f);
      b[b.length - 600] = b[b.length - 600]! ^ 0xff;
      await fsp.chmod(f, 0o644);
      await fsp.writeFile(f, b);
    });
    await expectPathRejected(d, 'E_DIGEST_MISMATCH', en);
  });

  it('the first layer is missing -> E_BLOB_MISSING, store and staging unchanged', async () => {
    const en = await env();
    const d = await layout(en, (blobs, layers) => fsp.rm(path.join(blobs, layers[0]!)));
    await expectPathRejected(d, 'E_BLOB_MISSING', en);
  });
});
