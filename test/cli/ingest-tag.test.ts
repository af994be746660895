/**
 * ingest --tag REPO[:TAG]: a name for what an input holds when it has none a registry could
 * serve (an untagged save, an OCI layout whose ref is a bare name such as "api-1.1"). The
 * input must hold one image (or one index); otherwise exit 2 and nothing is committed.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexRefs, readStoreImages } from '../helpers/cli.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { cli, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

let tmp: string;
beforeAll(() => {
  stableCli();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-ingest-tag-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('ingest --tag', () => {
  it('an untagged save gets the ref (docker grammar: "corp/x" is corp/x:latest), instead of <none>', async () => {
    const f = path.join(tmp, 'untagged.tar');
    writeFileSync(f, await writeArchive('legacy', [{ repoTags: [], layers: [await randomLayer('tag-untagged', 5000)] }]));
    const store = path.join(tmp, 's1');
    const r = await cli(['--store', store, 'ingest', '--tag', 'corp/x', f]);
    expect(r.code, showRun(r)).toBe(0);
    expect(readStoreImages(store).map((i) => i.refs)).toEqual([['corp/x:latest']]);
  });

  it('an OCI archive whose ref is a bare name keeps it (under the archive name: bare.tar -> bare) and gets the --tag ref too', async () => {
    const f = path.join(tmp, 'bare.tar');
    writeFileSync(f, await writeArchive('oci', [{ repoTags: ['api-1.1'], layers: [await randomLayer('tag-bare', 5000)] }]));
    const store = path.join(tmp, 's2');
    const r = await cli(['--store', store, 'ingest', '--tag', 'corp/api:1.1', f]);
    expect(r.code, showRun(r)).toBe(0);
    expect(indexRefs(store).sort()).toEqual(['bare:api-1.1', 'corp/api:1.1'].sort());
  });

  it('an input with two images: exit 2 (E_USAGE), nothing committed; a bad --tag is E_USAGE too', async () => {
    const f = path.join(tmp, 'two.tar');
    writeFileSync(
      f,
      await writeArchive('v25', [
        { repoTags: ['two/a:1'], layers: [await randomLayer('tag-a', 4000)] },
        { repoTags: ['two/b:1'], layers: [await randomLayer('tag-b', 4000)] },
      ]),
    ); // prettier-ignore
    const store = path.join(tmp, 's3');
    expect((await cli(['--store', store, '-q', 'ingest', path.join(tmp, 'untagged.tar')])).code).toBe(0);
    const before = await snapshotStore(store);
    const r = await cli(['--store', store, 'ingest', '--tag', 'corp/one:1', f]);
    expect(r.code, showRun(r)).toBe(2);
    expect(r.stderr).toMatch(/--tag names one image, but the input holds 2 .*\[E_USAGE\]/);
    expect(await snapshotStore(store)).toEqual(before);
    const bad = await cli(['--store', store, 'ingest', '--tag', 'Corp/One', f]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/repository names are lowercase \[E_USAGE\]/);
  });
});
