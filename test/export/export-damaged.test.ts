/**
 * export re-hashes every blob on its way into the tarball: a blob damaged in the store (a
 * byte changed, or cut short) fails the export with exit 3 and E_STORE_INVALID, and no
 * tarball appears (a file already at the target is left as it was).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

const REF = 'exp/damaged:1';

describe('export of a damaged store', () => {
  let tmp = '';
  let store = '';
  let input = '';
  let layerHex = '';

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-export-damaged-'));
    input = path.join(tmp, 'in.tar');
    writeFileSync(input, await writeArchive('v25', [{ repoTags: [REF], layers: [await randomLayer('exp-damaged', 3 * 1024 * 1024)] }]));
  }, 60_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function freshStore(name: string): Promise<string> {
    store = path.join(tmp, name);
    const r = await cli(['--store', store, '-q', 'ingest', input]);
    expect(r.code, showRun(r)).toBe(0);
    const blobs = path.join(store, 'blobs', 'sha256');
    // The layer: the biggest blob.
    layerHex = readdirSync(blobs).sort((a, b) => statSync(path.join(blobs, b)).size - statSync(path.join(blobs, a)).size)[0]!;
    return path.join(blobs, layerHex);
  }

  it('a changed byte: exit 3, the blob named, no tarball written', async () => {
    const blob = await freshStore('flipped');
    const bytes = readFileSync(blob);
    bytes.writeUInt8(bytes.readUInt8(2 * 1024 * 1024 + 17) ^ 0xff, 2 * 1024 * 1024 + 17);
    writeFileSync(blob, bytes);
    const out = path.join(tmp, 'flipped.tar');
    const r = await cli(['--store', store, 'export', REF, '-o', out]);
    expect(r.code, showRun(r)).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`stored blob sha256:${layerHex} is damaged \\(its bytes hash to sha256:[0-9a-f]{64}\\).*E_STORE_INVALID`));
    expect(readdirSync(tmp).filter((n) => n.includes('flipped'))).toEqual(['flipped']); // no tarball, no temp file
  });

  it('cut short: exit 3, and a file already at the target is left as it was', async () => {
    const blob = await freshStore('short');
    truncateSync(blob, 1024 * 1024);
    const out = path.join(tmp, 'short.tar');
    writeFileSync(out, 'keep me');
    const r = await cli(['--store', store, 'export', REF, '-o', out]);
    expect(r.code, showRun(r)).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`stored blob sha256:${layerHex} is damaged .*E_STORE_INVALID`));
    expect(readFileSync(out, 'utf8')).toBe('keep me');
    expect(readdirSync(tmp).filter((n) => n.includes('short'))).toEqual(['short', 'short.tar']);
  });

  it("index.json typing a manifest as an index: exit 3 as verify says, not 2 (a bad input's code)", async () => {
    await freshStore('mistyped');
    const indexFile = path.join(store, 'index.json');
    const index = JSON.parse(readFileSync(indexFile, 'utf8'));
    index.manifests[0].mediaType = 'application/vnd.oci.image.index.v1+json';
    writeFileSync(indexFile, JSON.stringify(index));
    const verify = await cli(['--store', store, 'verify']);
    expect(verify.code, showRun(verify)).toBe(3);
    const out = path.join(tmp, 'mistyped.tar');
    const r = await cli(['--store', store, 'export', REF, '-o', out]);
    expect(r.code, showRun(r)).toBe(3);
    expect(r.stderr).toMatch(
      /stored document sha256:[0-9a-f]{64} is damaged: .*its descriptor says application\/vnd\.oci\.image\.index\.v1\+json.*\[E_STORE_INVALID\]\n {2}hint: run layerstore verify/,
    );
    expect(readdirSync(tmp).filter((n) => n.includes('mistyped'))).toEqual(['mistyped']);
  });
});
