/**
 * The headline "saved by sharing" (report, report --json, the HTML page's data) must not
 * count the sharing of a well-known empty layer: three images that share nothing but the
 * 1024-byte empty tar save nothing.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layerTar } from '../../fixtures/image-writer.js';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';
import { EMPTY_TAR_DIGEST } from '../helpers/hand-bytes.js';
import { randomLayer, writeArchive } from '../helpers/store-proc.js';

let tmp: string;
let store: string;
beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-headline-'));
  const empty = { tar: await layerTar([]), compression: 'none' as const };
  const images = await Promise.all(['a', 'b', 'c'].map(async (n) => ({ repoTags: [`wk/${n}:1`], layers: [empty, await randomLayer(`wk-${n}`, 5000)] })));
  const file = path.join(tmp, 'in.tar');
  writeFileSync(file, await writeArchive('oci', images));
  store = path.join(tmp, 'store');
  const r = runCli(['--store', store, '-q', 'ingest', file]);
  expect(r.code, show(r)).toBe(0);
}, 60_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('headline savings leave well-known empty layers out', () => {
  it('three images sharing only the empty tar: savedBytes 0, logical = stored, in JSON and text', () => {
    const r = runCli(['--store', store, 'report', '--json']);
    expect(r.code, show(r)).toBe(0);
    const j = JSON.parse(r.stdout);
    const wk = j.layers.find((l: any) => l.digest === EMPTY_TAR_DIGEST);
    expect(wk.images).toHaveLength(3); // the empty layer is shared, and flagged
    expect(wk.wellKnown).toBeDefined();
    expect(j.totals.savedBytes).toBe(0);
    expect(j.totals.logicalBytes).toBe(j.totals.storedBytes);
    expect(j.totals.dedupRatio).toBe(1);
    const text = runCli(['--store', store, 'report']).stdout;
    expect(text).toMatch(/0 B saved by sharing \(0\.0%, dedup ratio 1(\.00)?x\)/);
  });
});

describe('duplicate contents say where their copies are', () => {
  it('two copies in one layer are listed with layers: 1 and a sha256:-prefixed digest; the table says "in one layer or across layers"', async () => {
    const content = Buffer.alloc(3000, 7);
    const layer = {
      tar: await layerTar([
        { path: 'a.bin', content },
        { path: 'b.bin', content },
      ]),
      compression: 'none' as const,
    };
    const file = path.join(tmp, 'dup.tar');
    writeFileSync(file, await writeArchive('v25', [{ repoTags: ['dup/one:1'], layers: [layer] }]));
    const s = path.join(tmp, 'dup-store');
    expect(runCli(['--store', s, '-q', 'ingest', file]).code).toBe(0);
    const j = JSON.parse(runCli(['--store', s, 'report', '--files', '--json']).stdout);
    const sha = createHash('sha256').update(content).digest('hex');
    expect(j.duplicateFiles).toEqual([expect.objectContaining({ digest: `sha256:${sha}`, sha256: sha, layers: 1, sizeBytes: 3000, savedBytes: 3000 })]);
    expect(runCli(['--store', s, 'report', '--files']).stdout).toContain('Contents stored more than once, in one layer or across layers');
  });
});
