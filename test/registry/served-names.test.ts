/**
 * `serve` of a store whose refs name a registry with a port (`pull 127.0.0.1:PORT/rc/testrepo:v1`
 * keeps the ref "127.0.0.1:PORT/rc/testrepo:v1"). The distribution spec's <name> has no ":",
 * so such a repository cannot be asked for by any client; serve lists and answers it under its
 * path on that registry ("rc/testrepo"), as `docker pull host:port/rc/testrepo` names the
 * repository rc/testrepo there. Before, the catalog listed "127.0.0.1:PORT/rc/testrepo" and then
 * answered 400 NAME_INVALID for it, the web UI offered a `docker pull` line that could not
 * work, and `report --registry` exited 4. Every listed name must work end to end with skopeo.
 * Servers on 127.0.0.1 only.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';
import { HAVE_SKOPEO, MANIFEST_ACCEPT, REGCLIENT_TESTREPO, rawRequest, skopeo, startServe, type Serve } from './helpers.js';

let tmp: string;
let src: Serve | undefined;
let dst: Serve | undefined;
let store: string;
/** The manifest digests of the source's v1 and v2. */
let v1: string;
let v2: string;

const ok = (args: string[]) => {
  const r = runCli(['--store', store, ...args]);
  expect(r.code, show(r)).toBe(0);
  return r;
};
const INDEX_ACCEPT = `application/vnd.oci.image.index.v1+json, ${MANIFEST_ACCEPT}`;

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-served-names-'));
  // The source registry: the regclient test repository as rc/testrepo.
  const srcStore = path.join(tmp, 'src');
  const ing = runCli(['--store', srcStore, '-q', 'ingest', '--repo', 'rc/testrepo', REGCLIENT_TESTREPO]);
  expect(ing.code, show(ing)).toBe(0);
  src = await startServe(srcStore);
  const digestOf = async (tag: string) =>
    String(
      (await rawRequest(`${src!.url}/v2/rc/testrepo/manifests/${tag}`, { method: 'HEAD', headers: { Accept: INDEX_ACCEPT } })).headers['docker-content-digest'],
    );
  v1 = await digestOf('v1');
  v2 = await digestOf('v2');
  expect(v1).not.toBe(v2);
  // The store under test pulls from it, as the tester did, and gets refs with host:port.
  store = path.join(tmp, 'dst');
  ok(['pull', `${src.host}/rc/testrepo:v1`]);
  ok(['pull', `${src.host}/rc/testrepo:v2`]);
  // Another registry's refs collapsing to the same repository: "v1" there is another image.
  // "127.0.0.1:..." sorts before "localhost:...", so the pulled v1 wins, whatever the port.
  ok(['tag', `${src.host}/rc/testrepo:v2`, 'localhost:5999/rc/testrepo:v1']);
  ok(['tag', `${src.host}/rc/testrepo:v2`, 'localhost:5999/rc/testrepo:only']);
  await src.stop();
  src = undefined;
  dst = await startServe(store);
}, 120_000);

afterAll(async () => {
  await src?.stop();
  await dst?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('serve of refs that name a registry with a port (as pull keeps them)', () => {
  it('the catalog lists only names the server answers: the repository path, with its tags', async () => {
    const cat = await rawRequest(`${dst!.url}/v2/_catalog`);
    expect(cat.status).toBe(200);
    const repositories = (JSON.parse(cat.body.toString()) as { repositories: string[] }).repositories;
    expect(repositories).toEqual(['rc/testrepo']);
    for (const name of repositories) {
      const tags = await rawRequest(`${dst!.url}/v2/${name}/tags/list`);
      expect(tags.status, `${name}: ${tags.body.toString()}`).toBe(200);
      expect((JSON.parse(tags.body.toString()) as { tags: string[] }).tags).toEqual(['only', 'v1', 'v2']);
    }
    // Two refs give rc/testrepo a tag v1: the one of the smaller store repository wins, on every request.
    for (let i = 0; i < 3; i++) {
      const m = await rawRequest(`${dst!.url}/v2/rc/testrepo/manifests/v1`, { method: 'HEAD', headers: { Accept: INDEX_ACCEPT } });
      expect(m.status).toBe(200);
      expect(m.headers['docker-content-digest']).toBe(v1);
    }
    const only = await rawRequest(`${dst!.url}/v2/rc/testrepo/manifests/only`, { method: 'HEAD', headers: { Accept: INDEX_ACCEPT } });
    expect(only.headers['docker-content-digest']).toBe(v2);
  });

  it.skipIf(!HAVE_SKOPEO)('skopeo copies every platform of a listed tag, byte for byte', () => {
    const out = path.join(tmp, 'copied');
    skopeo(['copy', '--all', '--src-tls-verify=false', `docker://${dst!.host}/rc/testrepo:v1`, `oci:${out}:v1`]);
    const index = JSON.parse(readFileSync(path.join(out, 'index.json'), 'utf8')) as { manifests: Array<{ digest: string }> };
    expect(index.manifests.map((m) => m.digest)).toEqual([v1]);
    const inspect = JSON.parse(skopeo(['inspect', '--raw', '--tls-verify=false', `docker://${dst!.host}/rc/testrepo:only`])) as { manifests?: unknown[] };
    expect(Array.isArray(inspect.manifests)).toBe(true);
  });

  it("the web UI's pull lines name the served repository, and report --registry reads it all (exit 0)", async () => {
    const api = await rawRequest(`${dst!.url}/api/repositories`);
    expect(api.status).toBe(200);
    const body = JSON.parse(api.body.toString()) as {
      repositories: Array<{ name: string; tags: Array<{ tag: string; ref: string; pull: { docker: string } }> }>;
    };
    expect(body.repositories.map((r) => r.name)).toEqual(['rc/testrepo']);
    const v1Tag = body.repositories[0]!.tags.find((t) => t.tag === 'v1')!;
    expect(v1Tag.pull.docker).toBe(`docker pull ${dst!.host}/rc/testrepo:v1`);
    expect(v1Tag.ref).toMatch(/^127\.0\.0\.1:\d+\/rc\/testrepo:v1$/); // the store ref behind it, as ls shows it

    const rep = runCli(['--store', path.join(tmp, 'scan-store'), 'report', '--registry', dst!.url, '--json']);
    expect(rep.code, show(rep)).toBe(0);
    const report = JSON.parse(rep.stdout) as { complete: boolean; registry: { repositories: number; tags: number } };
    expect(report.complete).toBe(true);
    expect(report.registry).toMatchObject({ repositories: 1, tags: 3 });
  });

  it('a tag DELETE removes the ref behind the tag (here "localhost:5999/rc/testrepo:only")', async () => {
    await dst!.stop();
    dst = await startServe(store, ['--allow-delete']);
    const del = await rawRequest(`${dst.url}/v2/rc/testrepo/manifests/only`, { method: 'DELETE' });
    expect(del.status, del.body.toString()).toBe(202);
    const tags = await rawRequest(`${dst.url}/v2/rc/testrepo/tags/list`);
    expect((JSON.parse(tags.body.toString()) as { tags: string[] }).tags).toEqual(['v1', 'v2']);
    const refs = (JSON.parse(ok(['ls', '--json']).stdout) as { images: Array<{ refs: string[] }> }).images.flatMap((i) => i.refs);
    expect(refs).not.toContain('localhost:5999/rc/testrepo:only');
    expect(refs).toContain('localhost:5999/rc/testrepo:v1');
  });
});
