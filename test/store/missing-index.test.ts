/**
 * A store whose index.json is gone is damaged, not empty (issue 16, item 5). layerstore
 * always writes index.json before oci-layout, so a directory with oci-layout and blobs but
 * no index.json lost its refs: `verify` must not call it consistent, and `gc` must not take
 * every blob for garbage. Every command exits 3 (E_STORE_INVALID) and the store stays
 * byte-for-byte as it was.
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotObject, snapshotStore } from '../helpers/store-snapshot.js';
import { cli, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

const STORE_INVALID = /^layerstore: error: .*index\.json.*\[E_STORE_INVALID\]$/m;

describe('a store without index.json (issue 16, item 5)', () => {
  let tmp: string;
  let template: string;
  let tarball: string;
  let n = 0;

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-noindex-'));
    tarball = path.join(tmp, 'a.tar');
    writeFileSync(tarball, await writeArchive('v25', [{ repoTags: ['noindex/a:1'], layers: [await randomLayer('noindex/a', 30_000)] }]));
    template = path.join(tmp, 'template');
    const r = await cli(['--store', template, '-q', 'ingest', tarball]);
    expect(r.code, showRun(r)).toBe(0);
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** A copy of the template store with index.json removed. */
  function damagedCopy(): string {
    const S = path.join(tmp, `case-${++n}`, 'store');
    mkdirSync(path.dirname(S));
    cpSync(template, S, { recursive: true });
    rmSync(path.join(S, 'index.json'));
    return S;
  }

  it.each(['verify', 'verify --fix', 'gc', 'gc --dry-run', 'ls', 'report', 'rm noindex/a:1', 'ingest TARBALL'])(
    '`%s` exits 3 with E_STORE_INVALID naming index.json, and changes nothing',
    async (command) => {
      const S = damagedCopy();
      const before = snapshotObject(await snapshotStore(S));
      const r = await cli(['--store', S, ...command.split(' ').map((a) => (a === 'TARBALL' ? tarball : a))], 30_000);
      expect(r.code, showRun(r)).toBe(3);
      expect(r.stderr, showRun(r)).toMatch(STORE_INVALID);
      expect(r.stdout, 'no verdict of "consistent"').not.toMatch(/OK: the store is consistent/);
      expect(snapshotObject(await snapshotStore(S)), 'the store is byte-for-byte unchanged: no blob swept').toEqual(before);
    },
  );
});
