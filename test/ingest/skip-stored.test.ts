/**
 * An input entry whose name claims a blob the store already holds (blobs/sha256/<hex> in an
 * OCI archive, a Docker 25 save or a layout directory), with the same size, is not read: the
 * store's copy was verified when it arrived. Proved by an input whose layer bytes were
 * changed after the first ingest (same name, same size): without --verify-input it ingests
 * (the store keeps its verified bytes, verify is clean), with --verify-input it is refused.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobFile, readStoreImages, runCli, show } from '../helpers/cli.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { legacySave, type RawEntry } from '../helpers/make-tar.js';
import { digestOf, fill } from '../helpers/hand-bytes.js';

let tmp = '';
let fx = '';
withFixtureTemp('ls-skip-stored-', (p) => ({ tmp, fx } = p));

/** An OCI layout directory copied from the fixtures' gzip layout, with its biggest layer's bytes flipped (same size). */
function tamperedLayoutCopy(name: string): { dir: string; layer: string } {
  const dir = path.join(tmp, name);
  cpSync(path.join(fx, 'oci-gzip'), dir, { recursive: true });
  const blobs = path.join(dir, 'blobs', 'sha256');
  const biggest = readdirSync(blobs).sort((a, b) => statSync(path.join(blobs, b)).size - statSync(path.join(blobs, a)).size)[0]!;
  const p = path.join(blobs, biggest);
  const b = readFileSync(p);
  b[b.length >> 1] = b[b.length >> 1]! ^ 0xff;
  writeFileSync(p, b);
  return { dir, layer: `sha256:${biggest}` };
}

describe('skip what the store holds', () => {
  it('a layout directory: a stored blob is not read again (a tampered copy of it goes unnoticed and changes nothing); --verify-input reads it and refuses', async () => {
    const store = path.join(tmp, 'dir-store');
    expect(runCli(['--store', store, '-q', 'ingest', path.join(fx, 'oci-gzip')]).code).toBe(0);
    const { dir, layer } = tamperedLayoutCopy('tampered-dir');
    const good = readFileSync(blobFile(store, layer));
    const r = runCli(['--store', store, 'ingest', dir]);
    expect(r.code, show(r)).toBe(0);
    expect(readFileSync(blobFile(store, layer)).equals(good)).toBe(true);
    expect(runCli(['--store', store, 'verify']).code).toBe(0);
    const before = await snapshotStore(store);
    const v = runCli(['--store', store, 'ingest', '--verify-input', dir]);
    expect(v.code, show(v)).toBe(2);
    expect(v.stderr).toMatch(/\[E_DIGEST_MISMATCH\]/);
    expect(await snapshotStore(store)).toEqual(before);
  });

  it('an uncompressed OCI archive (tar read by position): the same', () => {
    const store = path.join(tmp, 'tar-store');
    const { dir, layer } = tamperedLayoutCopy('tampered-for-tar');
    // The first ingest from the original layout; the second from a tar of the tampered copy.
    expect(runCli(['--store', store, '-q', 'ingest', path.join(fx, 'oci-gzip')]).code).toBe(0);
    const tar = path.join(tmp, 'tampered.tar');
    execFileSync('tar', ['-cf', tar, '-C', dir, 'oci-layout', 'index.json', 'blobs']);
    const r = runCli(['--store', store, 'ingest', tar]);
    expect(r.code, show(r)).toBe(0);
    expect(readStoreImages(store).flatMap((i) => i.refs)).toContain('acme/web:2.0');
    expect(runCli(['--store', store, 'verify']).code).toBe(0);
    const v = runCli(['--store', store, 'ingest', '--verify-input', tar]);
    expect(v.code, show(v)).toBe(2);
    expect(v.stderr).toMatch(new RegExp(`${layer.slice(7, 19)}.*\\[E_DIGEST_MISMATCH\\]`));
  });

  // The OCI reader parses a manifest before it checks the manifest's digest (its media type
  // decides how), so only the staged blob's digest keeps tampered bytes from being parsed.
  for (const doc of ['manifest', 'config'] as const) {
    it(`a small document (the ${doc}) of an uncompressed OCI archive, changed after it was stored: --verify-input refuses it by its digest (E_DIGEST_MISMATCH, not a parse error)`, async () => {
      const store = path.join(tmp, `${doc}-store`);
      expect(runCli(['--store', store, '-q', 'ingest', path.join(fx, 'oci-gzip')]).code).toBe(0);
      const dir = path.join(tmp, `tampered-${doc}`);
      cpSync(path.join(fx, 'oci-gzip'), dir, { recursive: true });
      const blobs = path.join(dir, 'blobs', 'sha256');
      const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
      const manifestHex = index.manifests[0]!.digest.slice(7);
      const manifest = JSON.parse(readFileSync(path.join(blobs, manifestHex), 'utf8')) as { config: { digest: string } };
      const hex = doc === 'manifest' ? manifestHex : manifest.config.digest.slice(7);
      // Same size, not JSON any more.
      const text = readFileSync(path.join(blobs, hex), 'utf8');
      writeFileSync(path.join(blobs, hex), `X${text.slice(1)}`);
      const tar = path.join(tmp, `tampered-${doc}.tar`);
      execFileSync('tar', ['-cf', tar, '-C', dir, 'oci-layout', 'index.json', 'blobs']);
      const before = await snapshotStore(store);
      const v = runCli(['--store', store, 'ingest', '--verify-input', tar]);
      expect(v.code, show(v)).toBe(2);
      expect(v.stderr).toMatch(/^layerstore: error: .*\[E_DIGEST_MISMATCH\]$/m);
      expect(await snapshotStore(store)).toEqual(before);
    });
  }

  it('a blob the store has under that digest but another size is read from the input (its bytes decide)', () => {
    const store = path.join(tmp, 'size-store');
    expect(runCli(['--store', store, '-q', 'ingest', path.join(fx, 'oci-gzip')]).code).toBe(0);
    const dir = path.join(tmp, 'resized');
    cpSync(path.join(fx, 'oci-gzip'), dir, { recursive: true });
    const blobs = path.join(dir, 'blobs', 'sha256');
    const any = readdirSync(blobs).sort((a, b) => statSync(path.join(blobs, b)).size - statSync(path.join(blobs, a)).size)[0]!;
    writeFileSync(path.join(blobs, any), Buffer.concat([readFileSync(path.join(blobs, any)), Buffer.from('x')]));
    const r = runCli(['--store', store, 'ingest', dir]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/\[E_(SIZE|DIGEST)_MISMATCH\]/);
  });
});

/**
 * A legacy save (layers named "<id>/layer.tar", or "<hex>.tar" as skopeo writes them) names no
 * blob by its entry names, but its config's rootfs.diff_ids is the digest of each uncompressed
 * layer. Two layers of 1 MiB and 300 KiB; `corrupt` flips a byte in the middle of each, header and
 * size unchanged.
 */
function legacyFamily(opts: { corrupt?: boolean; manifestFirst?: boolean; layerName: (i: number) => string }): { tar: Buffer; diffIds: string[] } {
  const layers = [fill(1024 * 1024, 'base-layer'), fill(300 * 1024, 'app-layer')];
  const diffIds = layers.map((l) => digestOf(l));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds } }));
  const configName = `${digestOf(config).slice(7)}.json`;
  const bodies = layers.map((l) => {
    if (!opts.corrupt) return l;
    const b = Buffer.from(l);
    b[b.length >> 1] = b[b.length >> 1]! ^ 0xff;
    return b;
  });
  const files: RawEntry[] = [{ name: configName, body: config }, ...bodies.map((body, i) => ({ name: opts.layerName(i), body }))];
  const manifest = [{ Config: configName, RepoTags: ['acme/family:1'], Layers: layers.map((_, i) => opts.layerName(i)) }];
  return { tar: legacySave({ manifest, files, manifestFirst: opts.manifestFirst }), diffIds };
}

describe('skip what the store holds: legacy docker saves, by the config diff_ids', () => {
  const shapes = [
    { what: 'docker save (<id>/layer.tar, manifest.json last)', layerName: (i: number) => `l${i}/layer.tar`, manifestFirst: false },
    { what: 'skopeo-style <hex>.tar names, manifest.json first', layerName: (i: number) => `${'ab'.repeat(31)}${i}0.tar`, manifestFirst: true },
  ];
  for (const shape of shapes) {
    it(`${shape.what}: stored layers are not read (a corrupted copy commits the image the diff_ids name); --verify-input reads them and refuses`, async () => {
      const store = path.join(tmp, `legacy-store-${shape.manifestFirst}`);
      const good = path.join(tmp, `legacy-good-${shape.manifestFirst}.tar`);
      const bad = path.join(tmp, `legacy-bad-${shape.manifestFirst}.tar`);
      const { tar, diffIds } = legacyFamily(shape);
      writeFileSync(good, tar);
      writeFileSync(bad, legacyFamily({ ...shape, corrupt: true }).tar);
      expect(statSync(bad).size).toBe(statSync(good).size);
      expect(runCli(['--store', store, '-q', 'ingest', good]).code).toBe(0);
      const before = readStoreImages(store);
      const storedLayers = diffIds.map((d) => readFileSync(blobFile(store, d)));

      const r = runCli(['--store', store, 'ingest', '--json', bad]);
      expect(r.code, show(r)).toBe(0);
      const result = JSON.parse(r.stdout).results[0];
      expect(result.images[0].layers).toEqual(diffIds);
      expect(result.bytesRead).toBeLessThan(64 * 1024); // the config, not the 1.3 MB of layers
      expect(readStoreImages(store)).toEqual(before);
      expect(diffIds.map((d, i) => readFileSync(blobFile(store, d)).equals(storedLayers[i]!))).toEqual([true, true]);
      expect(runCli(['--store', store, 'verify']).code).toBe(0);

      const snap = await snapshotStore(store);
      const v = runCli(['--store', store, 'ingest', '--verify-input', bad]);
      expect(v.code, show(v)).toBe(2);
      expect(v.stderr).toMatch(/\[E_DIFFID_MISMATCH\]/);
      expect(await snapshotStore(store)).toEqual(snap);
    });
  }
});

describe('a re-ingest commits only what changes (no lock, no write when nothing does)', () => {
  /** A legacy save of one image tagged `tag` with one layer of `seed`'s bytes. */
  function oneImage(file: string, tag: string, seed: string): string {
    const layer = fill(200 * 1024, seed);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } }));
    const configName = `${digestOf(config).slice(7)}.json`;
    const manifest = [{ Config: configName, RepoTags: [tag], Layers: ['l0/layer.tar'] }];
    writeFileSync(
      file,
      legacySave({
        manifest,
        files: [
          { name: configName, body: config },
          { name: 'l0/layer.tar', body: layer },
        ],
      }),
    );
    return digestOf(layer);
  }

  it('every blob stored, but the ref now names another image: it moves back, as it would from any input', () => {
    const store = path.join(tmp, 'ref-moves-back');
    const a = path.join(tmp, 'moves-a.tar');
    const b = path.join(tmp, 'moves-b.tar');
    oneImage(a, 'acme/moves:1', 'moves-a');
    oneImage(b, 'acme/moves:1', 'moves-b');
    const first = JSON.parse(runCli(['--store', store, 'ingest', '--json', a]).stdout).results[0];
    expect(runCli(['--store', store, '-q', 'ingest', b]).code).toBe(0);
    const r = runCli(['--store', store, 'ingest', '--json', a]);
    expect(r.code, show(r)).toBe(0);
    const again = JSON.parse(r.stdout).results[0];
    expect(again.blobsAdded).toBe(0);
    expect(again.refChanges).toEqual([expect.objectContaining({ to: first.images[0].manifestDigest })]);
    const refs = readStoreImages(store);
    expect(refs.find((i) => i.refs.some((x) => x.endsWith('acme/moves:1')))?.manifestDigest).toBe(first.images[0].manifestDigest);
  });

  it('refs in place, but a blob was deleted from blobs/ by hand: the re-ingest puts it back (verify is clean after)', () => {
    const store = path.join(tmp, 'blob-deleted');
    const a = path.join(tmp, 'deleted-a.tar');
    const layer = oneImage(a, 'acme/deleted:1', 'deleted-a');
    expect(runCli(['--store', store, '-q', 'ingest', a]).code).toBe(0);
    const good = readFileSync(blobFile(store, layer));
    rmSync(blobFile(store, layer));
    expect(runCli(['--store', store, 'verify']).code).toBe(3);
    const r = runCli(['--store', store, 'ingest', '--json', a]);
    expect(r.code, show(r)).toBe(0);
    expect(JSON.parse(r.stdout).results[0].blobsAdded).toBe(1);
    expect(readFileSync(blobFile(store, layer)).equals(good)).toBe(true);
    expect(runCli(['--store', store, 'verify']).code).toBe(0);
  });
});
