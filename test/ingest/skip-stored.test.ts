/**
 * An input entry whose name claims a blob the store already holds (blobs/sha256/<hex> in an
 * OCI archive, a Docker 25 save or a layout directory), with the same size, is not read: the
 * store's copy was verified when it arrived. Proved by an input whose layer bytes were
 * changed after the first ingest (same name, same size): without --verify-input it ingests
 * (the store keeps its verified bytes, verify is clean), with --verify-input it is refused.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobFile, readStoreImages, runCli, show } from '../helpers/cli.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';

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
