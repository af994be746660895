/**
 * A bare OCI ref name ("api-1.1": org.opencontainers.image.ref.name with no repository and no
 * io.containerd.image.name) is stored under a repository, as `ctr images import --base-name`
 * does: `ingest --repo NAME`, else the input's own name ("api-layout/", "My App!.tar" ->
 * "my-app"). Then `ls`, `serve` (and its _catalog), `push` and `export` see REPO:TAG.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexRefs } from '../helpers/cli.js';
import { commands } from '../helpers/peers.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { cli, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';
import { MANIFEST_ACCEPT, startServe } from '../registry/helpers.js';

let tmp: string;
beforeAll(() => {
  stableCli();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-ingest-repo-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** An oci-archive (tar) of one image whose index.json ref.name is `refName`. */
async function ociTar(file: string, refName: string, seed: string): Promise<string> {
  writeFileSync(file, await writeArchive('oci', [{ repoTags: [refName], layers: [await randomLayer(seed, 5000)] }]));
  return file;
}

/** The same as an OCI layout directory (the archive unpacked, as skopeo and umoci write it). */
async function ociDir(dir: string, refName: string, seed: string): Promise<string> {
  const tar = await ociTar(`${dir}.src.tar`, refName, seed);
  mkdirSync(dir, { recursive: true });
  const r = spawnSync('tar', ['-xf', tar, '-C', dir], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return dir;
}

describe('ingest: a bare OCI ref name gets a repository', () => {
  it('layout dir api-layout/ with ref api-1.1 -> api-layout:api-1.1, named on stderr, served by serve and listed in _catalog', async () => {
    const dir = await ociDir(path.join(tmp, 'api-layout'), 'api-1.1', 'repo-dir');
    const store = path.join(tmp, 's-dir');
    const r = await cli(['--store', store, 'ingest', `${dir}/`]);
    expect(r.code, showRun(r)).toBe(0);
    expect(indexRefs(store)).toEqual(['api-layout:api-1.1']);
    expect(r.stdout).toContain('api-layout:api-1.1');
    expect(r.stderr).toMatch(/ref api-1\.1 .*stored as api-layout:api-1\.1 .*input's name.*--repo/);
    const lsOut = await cli(['--store', store, 'ls', '--format', '{{.Ref}}']);
    expect(lsOut.stdout.trim()).toBe('api-layout:api-1.1');

    const serve = await startServe(store);
    try {
      const m = await fetch(`${serve.url}/v2/api-layout/manifests/api-1.1`, { headers: { accept: MANIFEST_ACCEPT } });
      expect(m.status).toBe(200);
      const catalog = (await (await fetch(`${serve.url}/v2/_catalog`)).json()) as { repositories: string[] };
      expect(catalog.repositories).toEqual(['api-layout']);
      const tags = (await (await fetch(`${serve.url}/v2/api-layout/tags/list`)).json()) as { tags: string[] };
      expect(tags.tags).toEqual(['api-1.1']);
    } finally {
      await serve.stop();
    }
  });

  it('--repo corp/api -> corp/api:api-1.1 (and export finds it by that name)', async () => {
    const dir = await ociDir(path.join(tmp, 'other-layout'), 'api-1.1', 'repo-opt');
    const store = path.join(tmp, 's-opt');
    const r = await cli(['--store', store, 'ingest', '--repo', 'corp/api', dir]);
    expect(r.code, showRun(r)).toBe(0);
    expect(indexRefs(store)).toEqual(['corp/api:api-1.1']);
    expect(r.stderr).toMatch(/stored as corp\/api:api-1\.1 .*--repo/);
    const out = path.join(tmp, 'corp-api.tar');
    const ex = await cli(['--store', store, 'export', 'corp/api:api-1.1', '-o', out]);
    expect(ex.code, showRun(ex)).toBe(0);
  });

  it('an archive named "My App!.tar" -> repository my-app', async () => {
    const f = await ociTar(path.join(tmp, 'My App!.tar'), 'api-1.1', 'repo-myapp');
    const store = path.join(tmp, 's-myapp');
    const r = await cli(['--store', store, 'ingest', f]);
    expect(r.code, showRun(r)).toBe(0);
    expect(indexRefs(store)).toEqual(['my-app:api-1.1']);
  });

  it('a name with nothing valid left keeps the bare ref and says to pass --repo; a ref with a repository is untouched', async () => {
    const bad = await ociTar(path.join(tmp, '!!!.tar'), 'api-1.1', 'repo-nothing');
    const named = await ociTar(path.join(tmp, 'named.oci.tar'), 'corp/web:2', 'repo-named');
    const store = path.join(tmp, 's-nothing');
    const r = await cli(['--store', store, 'ingest', bad, named]);
    expect(r.code, showRun(r)).toBe(0);
    expect(indexRefs(store).sort()).toEqual(['api-1.1', 'corp/web:2']);
    expect(r.stderr).toMatch(/ref api-1\.1 has no repository.*--repo NAME/);
  });

  it('names with a repository are kept as docker keeps them, whatever the format: skopeo oci:DIR:NAME gives the refs a docker save of the same names gives', async () => {
    if (!commands([['skopeo', 'skopeo']])) return;
    const src = await ociTar(path.join(tmp, 'src-names.tar'), 'src:1', 'repo-names');
    const layout = path.join(tmp, 'names-layout');
    const save = path.join(tmp, 'names-save.tar');
    for (const n of ['docker.io/library/busybox:latest', 'corp/app', 'UPPER/repo:tag']) {
      const r = spawnSync('skopeo', ['copy', '-q', `oci-archive:${src}`, `oci:${layout}:${n}`], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
    const s = spawnSync(
      'skopeo',
      ['copy', '-q', `oci-archive:${src}`, `docker-archive:${save}:docker.io/library/busybox:latest`, '--additional-tag', 'corp/app:latest'],
      {
        encoding: 'utf8',
      },
    );
    expect(s.status, s.stderr).toBe(0);
    const fromLayout = path.join(tmp, 's-names-layout');
    const r = await cli(['--store', fromLayout, 'ingest', layout]);
    expect(r.code, showRun(r)).toBe(0);
    // The upper-case one is not a Docker-style name: kept as it is, with a note.
    expect(indexRefs(fromLayout).sort()).toEqual(['UPPER/repo:tag', 'busybox:latest', 'corp/app:latest']);
    expect(r.stderr).toMatch(/ref UPPER\/repo:tag is not a Docker-style name.*stored as it is/);
    const fromSave = path.join(tmp, 's-names-save');
    expect((await cli(['--store', fromSave, 'ingest', save])).code).toBe(0);
    expect(indexRefs(fromSave).sort()).toEqual(['busybox:latest', 'corp/app:latest']);
    // Found by the names a user types, and served under them.
    for (const ref of ['busybox', 'docker.io/library/busybox:latest', 'corp/app'])
      expect((await cli(['--store', fromLayout, 'report', ref])).code, ref).toBe(0);
    const serve = await startServe(fromLayout);
    try {
      const catalog = (await (await fetch(`${serve.url}/v2/_catalog`)).json()) as { repositories: string[] };
      expect(catalog.repositories).toEqual(['busybox', 'corp/app']);
    } finally {
      await serve.stop();
    }
  });

  it('a bare name that is a valid OCI ref but not a docker tag stays bare, with the note', async () => {
    const f = await ociTar(path.join(tmp, 'plus.tar'), 'v1+build', 'repo-plus');
    const store = path.join(tmp, 's-plus');
    const r = await cli(['--store', store, 'ingest', '--repo', 'corp/plus', f]);
    expect(r.code, showRun(r)).toBe(0);
    expect(indexRefs(store)).toEqual(['v1+build']);
    expect(r.stderr).toMatch(/ref v1\+build is not a valid tag.*stored as it is/);
  });

  it('--repo that is not a repository (uppercase, with a tag) is E_USAGE, exit 2, store unchanged; --tag still works beside it', async () => {
    const f = await ociTar(path.join(tmp, 'tagged.tar'), 'api-1.1', 'repo-usage');
    const store = path.join(tmp, 's-usage');
    expect((await cli(['--store', store, '-q', 'ingest', '--repo', 'corp/x', '--tag', 'corp/x:stable', f])).code).toBe(0);
    expect(indexRefs(store).sort()).toEqual(['corp/x:api-1.1', 'corp/x:stable']);
    const before = await snapshotStore(store);
    for (const repo of ['Corp/API', 'corp/api:1', `corp/api@sha256:${'a'.repeat(64)}`]) {
      const bad = await cli(['--store', store, 'ingest', '--repo', repo, f]);
      expect(bad.code, showRun(bad)).toBe(2);
      expect(bad.stderr).toMatch(/--repo .*\[E_USAGE\]/);
    }
    expect(await snapshotStore(store)).toEqual(before);
  });
});
