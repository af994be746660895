/**
 * A zstd stream may begin with a skippable frame (RFC 8878 section 3.1.2; moby's and
 * containerd's compression detection accept it as zstd). Such a layer, and a whole archive
 * compressed that way, are zstd to ingest too: through the zstd command and through the
 * in-process fallback (LAYERSTORE_ZSTD=js) alike. The reference is `zstd -dc`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { blobFile, runCli, sha256Of, show } from '../helpers/cli.js';
import { imageDocs } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { peer } from '../helpers/peers.js';
import { dockerSaveLegacy, layerTar } from '../../fixtures/image-writer.js';

const HAVE_ZSTD = peer('the zstd command', spawnSync('zstd', ['--version']).status === 0, 'apt-get install zstd');
const tmp = mkdtempSync(path.join(os.tmpdir(), 'ls-zstd-skip-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const zstd = (input: Buffer): Buffer => spawnSync('zstd', ['-q', '-c'], { input, maxBuffer: 1 << 26 }).stdout;
/** A skippable frame (magic 0x184D2A5N, little endian, then a 4-byte length) before zstd's own frames. */
const skippable = (nibble: number, payload: Buffer) => {
  const head = Buffer.alloc(8);
  head.writeUInt32LE(0x184d2a50 + nibble, 0);
  head.writeUInt32LE(payload.length, 4);
  return Buffer.concat([head, payload]);
};

describe.skipIf(!HAVE_ZSTD)('zstd that begins with a skippable frame', () => {
  for (const env of [{}, { LAYERSTORE_ZSTD: 'js' }]) {
    const how = 'LAYERSTORE_ZSTD' in env ? 'in process' : 'through the zstd command';
    it(`a layer: its diffID is that of what zstd -dc gives, and report --files reads it (${how})`, async () => {
      const plain = await layerTar([{ path: 'etc/hello.txt', content: 'hello from a skippable start\n' }]);
      const layer = Buffer.concat([skippable(0xa, Buffer.from('any metadata')), zstd(plain)]);
      expect(spawnSync('zstd', ['-dc'], { input: layer }).stdout.equals(plain)).toBe(true); // zstd's own verdict
      const { config, manifest } = imageDocs(layer, { uncompressed: plain, layerMediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' });
      const index = JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: 'application/vnd.oci.image.manifest.v1+json',
            digest: sha256Of(manifest),
            size: manifest.length,
            annotations: { 'org.opencontainers.image.ref.name': 'skip/layer:1' },
          },
        ],
      });
      const archive = rawTar([
        { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
        { name: 'index.json', body: index },
        ...[config, manifest, layer].map((b) => ({ name: `blobs/sha256/${sha256Of(b).slice(7)}`, body: b })),
      ]);
      const file = path.join(tmp, `layer-${how.replace(/\W/g, '')}.tar`);
      writeFileSync(file, archive);
      const store = path.join(tmp, `s-layer-${how.replace(/\W/g, '')}`);
      const r = runCli(['--store', store, 'ingest', file], { env });
      expect(r.code, show(r)).toBe(0);
      expect(readFileSync(blobFile(store, sha256Of(layer))).equals(layer)).toBe(true); // stored as given, skippable frame and all
      const files = runCli(['--store', store, 'report', '--files', '--json'], { env });
      expect(files.code, show(files)).toBe(0);
      const waste = JSON.parse(files.stdout).images[0].waste;
      expect(waste.finalFileBytes).toBe('hello from a skippable start\n'.length);
    });
  }

  it('a whole docker save compressed so: from a file and from a pipe, the same store as the plain save', async () => {
    const save = await dockerSaveLegacy([
      { repoTags: ['skip/whole:1'], layers: [{ tar: await layerTar([{ path: 'a.txt', content: 'a' }]), compression: 'none' }] },
    ]);
    const plainFile = path.join(tmp, 'whole.tar');
    const packedFile = path.join(tmp, 'whole.tar.zst');
    writeFileSync(plainFile, save);
    writeFileSync(packedFile, Buffer.concat([skippable(0, Buffer.from('abcd')), zstd(save)]));
    const ls = (store: string) => JSON.parse(runCli(['--store', store, 'ls', '--json']).stdout).images;
    const plain = runCli(['--store', path.join(tmp, 's-plain'), 'ingest', plainFile]);
    expect(plain.code, show(plain)).toBe(0);
    const fromFile = runCli(['--store', path.join(tmp, 's-file'), 'ingest', packedFile]);
    expect(fromFile.code, show(fromFile)).toBe(0);
    const piped = spawnSync('sh', ['-c', `cat "$1" | node bin/layerstore.js --store "$2" ingest -`, 'sh', packedFile, path.join(tmp, 's-pipe')], {
      cwd: path.resolve(import.meta.dirname, '../..'),
      encoding: 'utf8',
    });
    expect(piped.status, piped.stderr).toBe(0);
    expect(ls(path.join(tmp, 's-file'))).toEqual(ls(path.join(tmp, 's-plain')));
    expect(ls(path.join(tmp, 's-pipe'))).toEqual(ls(path.join(tmp, 's-plain')));
    expect(ls(path.join(tmp, 's-plain'))).toHaveLength(1);
  });
});
