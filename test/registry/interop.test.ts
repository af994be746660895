/**
 * layerstore's registry client and server against the real thing: Debian's distribution
 * registry (docker-registry 2.8) and skopeo 1.9. Every expectation is checked against what
 * the other tool says (skopeo inspect, --digestfile) or against files on disk (sha256 of blob
 * files, the registry's blobs/.../data files), never against layerstore alone.
 * All servers listen on 127.0.0.1 and are stopped in afterAll.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { badBlobs, blobFile, blobSize, ensureBuilt, readIndexJson, runCli, sha256Of, show } from '../helpers/cli.js';
import {
  HAVE_REGISTRY,
  HAVE_SKOPEO,
  errorCodes,
  uploadBlob,
  REGCLIENT_TESTREPO,
  layoutBlobHashes,
  rawRequest,
  registryBlobFiles,
  skopeo,
  startDockerRegistry,
  startServe,
  type DockerRegistry,
  type Serve,
} from './helpers.js';

const READY = HAVE_SKOPEO && HAVE_REGISTRY;
if (!READY) console.warn('registry/interop.test.ts skipped: skopeo and docker-registry are needed');

interface ReportImage {
  refs: string[];
  manifestDigest: string;
  configDigest: string;
  layers: string[];
  sizeBytes: number;
  sharedBytes: number;
  uniqueBytes: number;
  platform?: string;
}

describe.skipIf(!READY)('registry interop: layerstore, docker-registry 2.8 and skopeo', () => {
  let tmp: string;
  let fx: string;
  let src: string; // store with the generated fixtures
  let policy: string;
  let reg: DockerRegistry;
  let ro: Serve; // read-only serve of src
  let rw: Serve; // serve --allow-push of rwStore
  let rwStore: string;
  const p = (...x: string[]) => path.join(tmp, ...x);

  const sk = (args: string[]) => skopeo(['--policy', policy, ...args]);
  const ok = (store: string, args: string[]) => {
    const r = runCli(['--store', store, ...args]);
    expect(r.code, show(r)).toBe(0);
    return r;
  };
  const json = (store: string, args: string[]): any => JSON.parse(ok(store, [...args, '--json']).stdout);
  const reportImage = (store: string, ref: string): ReportImage => {
    const img = (json(store, ['report', ref]).images as ReportImage[]).find((i) => i.refs.includes(ref));
    if (!img) throw new Error(`no ${ref} in ${store}`);
    return img;
  };
  const rawManifest = (ref: string): Buffer => Buffer.from(sk(['inspect', '--raw', '--tls-verify=false', ref]), 'utf8');
  const digestFile = (f: string) => readFileSync(f, 'utf8').trim();
  const rootDigest = (store: string, ref: string): string | undefined =>
    (readIndexJson(store).manifests as any[]).find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref)?.digest;

  beforeAll(async () => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'ls-reg-interop-'));
    fx = p('fx');
    await generateFixtures(fx);
    policy = p('policy.json');
    writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    src = p('src');
    ok(src, ['ingest', path.join(fx, 'family-legacy.tar'), path.join(fx, 'api-v25.tar')]);
    rwStore = p('rw-store');
    [reg, ro, rw] = await Promise.all([startDockerRegistry(p('registry')), startServe(src), startServe(rwStore, ['--allow-push'])]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([reg?.stop(), ro?.stop(), rw?.stop()]);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  // -------------------------------------------------------------------------------------------
  // our push -> distribution -> skopeo

  it('push to docker-registry: skopeo sees our manifest digest and copies out exactly our blobs', () => {
    const img = reportImage(src, 'acme/api:1.0');
    const pushed = json(src, ['push', 'acme/api:1.0', `${reg.host}/acme/api:1.0`]);
    expect(pushed.manifestDigest).toBe(img.manifestDigest);
    expect(pushed.blobsSent).toBe(1 + img.layers.length);

    const ref = `docker://${reg.host}/acme/api:1.0`;
    const inspect = JSON.parse(sk(['inspect', '--tls-verify=false', ref]));
    expect(inspect.Digest).toBe(img.manifestDigest);
    const raw = rawManifest(ref);
    expect(sha256Of(raw)).toBe(img.manifestDigest);
    expect(raw.equals(readFileSync(blobFile(src, img.manifestDigest)))).toBe(true);

    // skopeo's own copy (digests preserved) into an OCI layout: every blob hashes to its name
    // and the set is exactly manifest + config + layers of the store's image.
    const out = p('out-api');
    sk(['copy', '--preserve-digests', '--src-tls-verify=false', ref, `oci:${out}:x`]);
    const outIndex = JSON.parse(readFileSync(path.join(out, 'index.json'), 'utf8'));
    expect(outIndex.manifests.map((m: any) => m.digest)).toEqual([img.manifestDigest]);
    const hashes = layoutBlobHashes(out);
    for (const [name, actual] of hashes) expect(actual, name).toBe(name);
    expect([...hashes.keys()].sort()).toEqual([img.manifestDigest, img.configDigest, ...img.layers].sort());
    for (const d of [img.configDigest, ...img.layers])
      expect(readFileSync(path.join(out, 'blobs', 'sha256', d.slice(7))).equals(readFileSync(blobFile(src, d))), d).toBe(true);

    // ... and the registry's own storage has each blob with the store's size.
    const onDisk = registryBlobFiles(reg.root);
    for (const d of [img.manifestDigest, img.configDigest, ...img.layers]) expect(onDisk.get(d), d).toBe(blobSize(src, d));
  });

  it('push dedup on the wire: the shared base layer is skipped for acme/api:1.1 and mounted for acme/worker', () => {
    const a10 = reportImage(src, 'acme/api:1.0');
    const a11 = reportImage(src, 'acme/api:1.1');
    const w = reportImage(src, 'acme/worker:1.0');
    const shared = a11.layers.filter((l) => a10.layers.includes(l));
    expect(shared).toHaveLength(1); // the family's base layer
    const base = shared[0]!;
    expect(w.layers).toContain(base);

    ok(src, ['push', 'acme/api:1.0', `${reg.host}/acme/api:1.0`]); // (done by the test above; idempotent)
    const r11 = json(src, ['push', 'acme/api:1.1', `${reg.host}/acme/api:1.1`]);
    expect(r11.blobsSkipped).toBe(1);
    expect(r11.bytesSkipped).toBe(blobSize(src, base));
    expect(r11.blobsSent).toBe(1 + a11.layers.length - 1);
    expect(r11.bytesSent).toBe(blobSize(src, a11.configDigest) + a11.layers.filter((l) => l !== base).reduce((n, l) => n + blobSize(src, l), 0));
    expect(sha256Of(rawManifest(`docker://${reg.host}/acme/api:1.1`))).toBe(a11.manifestDigest);

    const rw_ = json(src, ['push', 'acme/worker:1.0', `${reg.host}/acme/worker:1.0`, '--mount-from', 'acme/api']);
    expect(rw_.blobsMounted).toBe(1);
    expect(rw_.bytesMounted).toBe(blobSize(src, base));
    expect(rw_.blobsSkipped).toBe(0);
    expect(rw_.blobsSent).toBe(1 + w.layers.length - 1);
    expect(sha256Of(rawManifest(`docker://${reg.host}/acme/worker:1.0`))).toBe(w.manifestDigest);

    // Pushing again sends nothing.
    const again = json(src, ['push', 'acme/worker:1.0', `${reg.host}/acme/worker:1.0`]);
    expect(again.blobsSent).toBe(0);
    expect(again.blobsSkipped).toBe(1 + w.layers.length);
  });

  // -------------------------------------------------------------------------------------------
  // skopeo -> distribution -> our pull

  let idxRaw: Buffer;
  let idxDigest: string;

  it('skopeo pushes a multi-platform index (--all); our pull stores it with identical digests', () => {
    const df = p('digest-multi');
    sk(['copy', '--all', '--dest-tls-verify=false', '--digestfile', df, `oci:${REGCLIENT_TESTREPO}:v2`, `docker://${reg.host}/multi/arch:v2`]);
    idxRaw = rawManifest(`docker://${reg.host}/multi/arch:v2`);
    idxDigest = sha256Of(idxRaw);
    expect(digestFile(df)).toBe(idxDigest);
    // skopeo --all kept the source index as it was
    expect(readFileSync(path.join(REGCLIENT_TESTREPO, 'blobs', 'sha256', idxDigest.slice(7))).equals(idxRaw)).toBe(true);
    const children = JSON.parse(idxRaw.toString('utf8')).manifests as Array<{
      digest: string;
      platform: { os: string; architecture: string; variant?: string };
    }>;
    expect(children.length).toBeGreaterThan(1);

    const store = p('pull-multi');
    const pulled = json(store, ['pull', `${reg.host}/multi/arch:v2`]);
    expect(pulled.images.map((i: any) => i.manifestDigest).sort()).toEqual(children.map((c) => c.digest).sort());
    expect(rootDigest(store, `${reg.host}/multi/arch:v2`)).toBe(idxDigest);
    expect(readFileSync(blobFile(store, idxDigest)).equals(idxRaw)).toBe(true);

    const ls = json(store, ['ls']).images as Array<{ manifestDigest: string; configDigest: string; platform: string }>;
    expect(ls.map((i) => i.manifestDigest).sort()).toEqual(children.map((c) => c.digest).sort());
    for (const c of children) {
      const m = JSON.parse(rawManifest(`docker://${reg.host}/multi/arch@${c.digest}`).toString('utf8'));
      const row = ls.find((i) => i.manifestDigest === c.digest)!;
      expect(row.configDigest).toBe(m.config.digest);
      expect(row.platform).toBe([c.platform.os, c.platform.architecture, c.platform.variant].filter(Boolean).join('/'));
      for (const l of m.layers) expect(blobSize(store, l.digest)).toBe(l.size);
    }
    expect(badBlobs(store)).toEqual([]);
    const v = runCli(['--store', store, 'verify']);
    expect(v.code, show(v)).toBe(0);
  });

  it('pull --platform linux/arm64 pulls that platform only: the index, one manifest, its config and layers', () => {
    const children = JSON.parse(idxRaw.toString('utf8')).manifests as Array<{
      digest: string;
      platform: { os: string; architecture: string; variant?: string };
    }>;
    const arm64 = children.find((c) => c.platform.os === 'linux' && c.platform.architecture === 'arm64' && !c.platform.variant)!;
    expect(arm64).toBeDefined();
    const m = JSON.parse(rawManifest(`docker://${reg.host}/multi/arch@${arm64.digest}`).toString('utf8'));
    const store = p('pull-arm64');
    const pulled = json(store, ['pull', `${reg.host}/multi/arch:v2`, '--platform', 'linux/arm64']);
    expect(pulled.images.map((i: any) => i.manifestDigest)).toEqual([arm64.digest]);
    const ls = json(store, ['ls']).images as Array<{ manifestDigest: string; platform: string }>;
    expect(ls.map((i) => [i.manifestDigest, i.platform])).toEqual([[arm64.digest, 'linux/arm64']]);
    const expected = new Set([idxDigest, arm64.digest, m.config.digest, ...m.layers.map((l: any) => l.digest)]);
    expect(
      readdirSync(path.join(store, 'blobs', 'sha256'))
        .map((n) => `sha256:${n}`)
        .sort(),
    ).toEqual([...expected].sort());
    expect(badBlobs(store)).toEqual([]);
    const v = runCli(['--store', store, 'verify']);
    expect(v.code, show(v)).toBe(0);
  });

  it("skopeo pushes a docker-archive image; our pull has skopeo's manifest, config and layer digests", () => {
    const df = p('digest-legacy-worker');
    sk([
      'copy',
      '--dest-tls-verify=false',
      '--digestfile',
      df,
      `docker-archive:${path.join(fx, 'family-legacy.tar')}:acme/worker:1.0`,
      `docker://${reg.host}/legacy/worker:1.0`,
    ]);
    const raw = rawManifest(`docker://${reg.host}/legacy/worker:1.0`);
    expect(sha256Of(raw)).toBe(digestFile(df));
    const m = JSON.parse(raw.toString('utf8'));
    const store = p('pull-legacy');
    const pulled = json(store, ['pull', `${reg.host}/legacy/worker:1.0`]);
    expect(pulled.images).toHaveLength(1);
    expect(pulled.images[0].manifestDigest).toBe(digestFile(df));
    const img = reportImage(store, `${reg.host}/legacy/worker:1.0`);
    expect(img.configDigest).toBe(m.config.digest);
    expect(img.layers).toEqual(m.layers.map((l: any) => l.digest));
    expect(img.sizeBytes).toBe(m.config.size + m.layers.reduce((n: number, l: any) => n + l.size, 0));
    // same image content as the tarball: the config is byte-identical to the store's acme/worker:1.0 config
    expect(m.config.digest).toBe(reportImage(src, 'acme/worker:1.0').configDigest);
    expect(badBlobs(store)).toEqual([]);
    const v = runCli(['--store', store, 'verify']);
    expect(v.code, show(v)).toBe(0);
    // pulling again downloads nothing
    const again = json(store, ['pull', `${reg.host}/legacy/worker:1.0`]);
    expect(again.bytesDownloaded).toBe(0);
  });

  it('report --registry on docker-registry: blobBytes is what the registry stores on disk; totals and repositories add up', () => {
    const r = runCli(['--store', p('unused-store'), 'report', '--registry', reg.url, '--json']);
    expect(r.code, show(r)).toBe(0);
    const rep = JSON.parse(r.stdout);
    expect(rep.errors).toEqual([]);
    const onDisk = registryBlobFiles(reg.root);
    const diskBytes = [...onDisk.values()].reduce((n, s) => n + s, 0);
    expect(rep.registry.blobBytes).toBe(diskBytes);

    // the catalog and tags, straight from the registry
    expect(rep.repositories.map((x: any) => x.name).sort()).toEqual(['acme/api', 'acme/worker', 'legacy/worker', 'multi/arch']);
    expect(rep.registry.repositories).toBe(4);
    expect(rep.registry.tags).toBe(5);
    const byName = new Map<string, any>(rep.repositories.map((x: any) => [x.name, x]));
    expect(byName.get('acme/api').tags).toBe(2);
    expect(byName.get('multi/arch').images).toBe(3);

    // every image's size is its descriptors' sizes (from skopeo's raw manifests), and each
    // descriptor size is the size of the registry's data file
    const images = rep.images as ReportImage[];
    expect(rep.totals.images).toBe(images.length);
    expect(images.length).toBe(2 + 1 + 1 + 3);
    for (const img of images) {
      const repo = img.refs[0]!.split(':')[0]!;
      const m = JSON.parse(rawManifest(`docker://${reg.host}/${repo}@${img.manifestDigest}`).toString('utf8'));
      expect(img.configDigest).toBe(m.config.digest);
      expect(img.layers).toEqual(m.layers.map((l: any) => l.digest));
      const distinct = new Map<string, number>([[m.config.digest, m.config.size], ...m.layers.map((l: any) => [l.digest, l.size] as [string, number])]);
      expect(img.sizeBytes).toBe([...distinct.values()].reduce((n, s) => n + s, 0));
      for (const [d, s] of distinct) expect(onDisk.get(d), d).toBe(s);
      expect(img.uniqueBytes + img.sharedBytes).toBe(img.sizeBytes);
    }
    const logical = images.reduce((n, i) => n + i.sizeBytes, 0);
    expect(rep.totals.logicalBytes).toBe(logical);
    expect(rep.totals.savedBytes).toBe(rep.totals.logicalBytes - rep.totals.storedBytes);
    expect(rep.registry.blobBytes).toBe(rep.totals.storedBytes + rep.registry.manifestBytes);
    for (const repo of rep.repositories) {
      expect(repo.uniqueBytes, repo.name).toBeLessThanOrEqual(repo.sizeBytes);
      const imgs = images.filter((i) => i.refs.some((ref) => ref.startsWith(`${repo.name}:`)));
      // every blob the repository's tags reach, each once: the tagged manifests and indexes, and each image's manifest, config and layers
      const blobs = new Map<string, number>();
      for (const tag of JSON.parse(sk(['list-tags', '--tls-verify=false', `docker://${reg.host}/${repo.name}`])).Tags as string[]) {
        const raw = rawManifest(`docker://${reg.host}/${repo.name}:${tag}`);
        blobs.set(sha256Of(raw), raw.length);
      }
      for (const i of imgs) {
        const raw = rawManifest(`docker://${reg.host}/${repo.name}@${i.manifestDigest}`);
        blobs.set(i.manifestDigest, raw.length);
        const m = JSON.parse(raw.toString('utf8'));
        blobs.set(m.config.digest, m.config.size);
        for (const l of m.layers) blobs.set(l.digest, l.size);
      }
      expect(repo.sizeBytes, repo.name).toBe([...blobs.values()].reduce((n, s) => n + s, 0));
    }
    // acme/api and acme/worker share the base layer, so neither alone frees it
    expect(byName.get('acme/api').uniqueBytes).toBeLessThan(byName.get('acme/api').sizeBytes);
  });

  // -------------------------------------------------------------------------------------------
  // skopeo <- our serve

  it('skopeo copies from our serve: same manifest digest, every blob hashes to its name and matches the store', () => {
    const img = reportImage(src, 'acme/worker:1.0');
    const ref = `docker://${ro.host}/acme/worker:1.0`;
    const inspect = JSON.parse(sk(['inspect', '--tls-verify=false', ref]));
    expect(inspect.Digest).toBe(img.manifestDigest);
    expect(sha256Of(rawManifest(ref))).toBe(img.manifestDigest);
    const out = p('out-worker');
    sk(['copy', '--preserve-digests', '--src-tls-verify=false', ref, `oci:${out}:w`]);
    const outIndex = JSON.parse(readFileSync(path.join(out, 'index.json'), 'utf8'));
    expect(outIndex.manifests.map((m: any) => m.digest)).toEqual([img.manifestDigest]);
    const hashes = layoutBlobHashes(out);
    for (const [name, actual] of hashes) expect(actual, name).toBe(name);
    expect([...hashes.keys()].sort()).toEqual([img.manifestDigest, img.configDigest, ...img.layers].sort());
    for (const d of hashes.keys()) expect(blobSize(src, d)).toBe(readFileSync(path.join(out, 'blobs', 'sha256', d.slice(7))).length);
  });

  it('catalog and tags/list paging: following Link headers lists every repository and tag exactly once', async () => {
    const expectedRepos = [
      ...new Set(
        (readIndexJson(src).manifests as any[])
          .map((m) => m.annotations['org.opencontainers.image.ref.name'] as string)
          .map((r) => r.slice(0, r.lastIndexOf(':'))),
      ),
    ].sort();
    expect(expectedRepos).toEqual(['acme/api', 'acme/base', 'acme/worker']);
    const follow = async (first: string, key: string) => {
      const seen: string[] = [];
      const links: string[] = [];
      let next: string | undefined = first;
      for (let i = 0; next && i < 50; i++) {
        const r = await rawRequest(ro.url + next);
        expect(r.status, `${next}: ${r.body}`).toBe(200);
        const items = JSON.parse(r.body.toString('utf8'))[key] as string[];
        seen.push(...items);
        const link = r.headers.link as string | undefined;
        if (link) links.push(link);
        const m = link ? /<([^>]+)>\s*;\s*rel="next"/.exec(link) : null;
        next = m ? m[1] : undefined;
      }
      return { seen, links };
    };
    for (const n of [1, 2]) {
      const cat = await follow(`/v2/_catalog?n=${n}`, 'repositories');
      expect(cat.links.length).toBeGreaterThan(0);
      expect(cat.seen).toEqual(expectedRepos);
      expect(new Set(cat.seen).size).toBe(cat.seen.length);
    }
    const tags = await follow('/v2/acme/api/tags/list?n=1', 'tags');
    expect(tags.links.length).toBeGreaterThan(0);
    expect(tags.seen).toEqual(['1.0', '1.1']);
    // no paging asked: all at once, no Link
    const all = await rawRequest(`${ro.url}/v2/_catalog`);
    expect(JSON.parse(all.body.toString('utf8')).repositories).toEqual(expectedRepos);
    expect(all.headers.link).toBeUndefined();
  });

  it('a blob GET with Range: bytes=10-19 answers 206 with exactly those 10 bytes', async () => {
    const img = reportImage(src, 'acme/worker:1.0');
    const layer = img.layers[0]!;
    const bytes = readFileSync(blobFile(src, layer));
    const r = await rawRequest(`${ro.url}/v2/acme/worker/blobs/${layer}`, { headers: { Range: 'bytes=10-19' } });
    expect(r.status).toBe(206);
    expect(r.body.length).toBe(10);
    expect(r.body.equals(bytes.subarray(10, 20))).toBe(true);
    expect(r.headers['content-range']).toBe(`bytes 10-19/${bytes.length}`);
    const full = await rawRequest(`${ro.url}/v2/acme/worker/blobs/${layer}`);
    expect(full.status).toBe(200);
    expect(sha256Of(full.body)).toBe(layer);
  });

  it("a repository serves only what its own tags reach: another repository's blobs and manifests are 404", async () => {
    const base = reportImage(src, 'acme/base:1.0');
    const api = reportImage(src, 'acme/api:1.0');
    const apiOnly = api.layers.find((l) => !base.layers.includes(l))!;
    expect(apiOnly).toBeDefined();
    const blob = await rawRequest(`${ro.url}/v2/acme/base/blobs/${apiOnly}`, { method: 'HEAD' });
    expect(blob.status).toBe(404);
    const get = await rawRequest(`${ro.url}/v2/acme/base/blobs/${apiOnly}`);
    expect(get.status).toBe(404);
    expect(errorCodes(get.body)).toEqual(['BLOB_UNKNOWN']);
    const man = await rawRequest(`${ro.url}/v2/acme/base/manifests/${api.manifestDigest}`);
    expect(man.status).toBe(404);
    expect(errorCodes(man.body)).toEqual(['MANIFEST_UNKNOWN']);
    // the same requests in the right repository succeed
    expect((await rawRequest(`${ro.url}/v2/acme/api/blobs/${apiOnly}`, { method: 'HEAD' })).status).toBe(200);
    expect((await rawRequest(`${ro.url}/v2/acme/api/manifests/${api.manifestDigest}`)).status).toBe(200);
    // an unknown repository
    const unknown = await rawRequest(`${ro.url}/v2/acme/nothing/tags/list`);
    expect(unknown.status).toBe(404);
    expect(errorCodes(unknown.body)).toEqual(['NAME_UNKNOWN']);
  });

  it('pull by digest from docker-registry keeps the digest ref (prune leaves it); a digest the registry does not have fails cleanly', () => {
    const img = reportImage(src, 'acme/api:1.0');
    ok(src, ['push', 'acme/api:1.0', `${reg.host}/acme/api:1.0`]); // (again: idempotent)
    const store = p('pull-by-digest');
    const pulled = json(store, ['pull', `${reg.host}/acme/api@${img.manifestDigest}`]);
    expect(pulled.images.map((i: any) => i.manifestDigest)).toEqual([img.manifestDigest]);
    const ls = json(store, ['ls']).images as Array<{ refs: string[]; manifestDigest: string }>;
    expect(ls.map((i) => i.manifestDigest)).toEqual([img.manifestDigest]);
    expect(ls[0]!.refs).toEqual([`${reg.host}/acme/api@${img.manifestDigest}`]);
    expect(badBlobs(store)).toEqual([]);
    // As docker keeps a RepoDigest: the image is not untagged, so prune leaves it.
    const pruned = ok(store, ['prune']);
    expect(pruned.stdout).toMatch(/freed 0 B \(0 untagged images\)/);
    expect((json(store, ['ls']).images as unknown[]).length).toBe(1);
    // NAME:TAG@DIGEST: the digest decides (docker ignores the tag); the tag is not put on this image.
    const both = p('pull-tag-and-digest');
    json(both, ['pull', `${reg.host}/acme/api:not-this-one@${img.manifestDigest}`]);
    expect((json(both, ['ls']).images as Array<{ refs: string[] }>).map((i) => i.refs)).toEqual([[`${reg.host}/acme/api@${img.manifestDigest}`]]);
    const missing = runCli(['--store', p('pull-missing'), 'pull', `${reg.host}/acme/api@sha256:${'0'.repeat(64)}`]);
    expect(missing.code, show(missing)).toBe(2);
    expect(missing.stderr).toMatch(/E_REGISTRY|MANIFEST_UNKNOWN|404/);
    const noTag = runCli(['--store', p('pull-missing'), 'pull', `${reg.host}/acme/api:no-such-tag`]);
    expect(noTag.code, show(noTag)).toBe(2);
    expect(noTag.stderr).not.toMatch(/at .*\.js:\d+/); // an error line, not a stack trace
  });

  // -------------------------------------------------------------------------------------------
  // skopeo -> our serve --allow-push

  it("skopeo pushes docker-archive images and a multi-platform index into serve --allow-push; verify passes and ls has skopeo's digests", () => {
    const refs = ['acme/base:1.0', 'acme/api:1.0', 'acme/worker:1.0'];
    const digests = new Map<string, string>();
    for (const ref of refs) {
      const df = p(`digest-rw-${ref.replace(/[/:]/g, '_')}`);
      sk(['copy', '--dest-tls-verify=false', '--digestfile', df, `docker-archive:${path.join(fx, 'family-legacy.tar')}:${ref}`, `docker://${rw.host}/${ref}`]);
      digests.set(ref, digestFile(df));
    }
    const dfm = p('digest-rw-multi');
    sk(['copy', '--all', '--dest-tls-verify=false', '--digestfile', dfm, `oci:${REGCLIENT_TESTREPO}:v2`, `docker://${rw.host}/multi/arch:v2`]);
    const multi = digestFile(dfm);

    const v = runCli(['--store', rwStore, 'verify']);
    expect(v.code, show(v)).toBe(0);
    expect(badBlobs(rwStore)).toEqual([]);
    const ls = json(rwStore, ['ls']).images as Array<{ refs: string[]; manifestDigest: string }>;
    for (const [ref, d] of digests) {
      expect(ls.find((i) => i.refs.includes(ref))?.manifestDigest, ref).toBe(d);
      expect(sha256Of(rawManifest(`docker://${rw.host}/${ref}`)), ref).toBe(d);
    }
    expect(rootDigest(rwStore, 'multi/arch:v2')).toBe(multi);
    const children = (JSON.parse(readFileSync(blobFile(rwStore, multi), 'utf8')).manifests as any[]).map((c) => c.digest).sort();
    expect(
      ls
        .filter((i) => i.refs.includes('multi/arch:v2'))
        .map((i) => i.manifestDigest)
        .sort(),
    ).toEqual(children);
    expect(sha256Of(rawManifest(`docker://${rw.host}/multi/arch:v2`))).toBe(multi);
    // our own pull from our own serve gets the same
    const back = p('pull-from-rw');
    const pulled = json(back, ['pull', `${rw.host}/multi/arch:v2`]);
    expect(pulled.images.map((i: any) => i.manifestDigest).sort()).toEqual(children);
    expect(rootDigest(back, `${rw.host}/multi/arch:v2`)).toBe(multi);
  });

  // -------------------------------------------------------------------------------------------
  // the same requests to docker-registry and to our serve --allow-push (these run last: they
  // leave untagged content that the report test above must not see)

  const arm64Image = () => {
    const blob = (d: string) => readFileSync(path.join(REGCLIENT_TESTREPO, 'blobs', 'sha256', d.replace(/^sha256:/, '')));
    const top = JSON.parse(readFileSync(path.join(REGCLIENT_TESTREPO, 'index.json'), 'utf8')).manifests.find(
      (m: any) => m.annotations?.['org.opencontainers.image.ref.name'] === 'v2',
    );
    const idx = JSON.parse(blob(top.digest).toString('utf8'));
    const child = idx.manifests.find((c: any) => c.platform.architecture === 'arm64');
    const manifest = blob(child.digest);
    const m = JSON.parse(manifest.toString('utf8'));
    return {
      digest: child.digest as string,
      manifest,
      mediaType: m.mediaType as string,
      blobs: [m.config.digest, ...m.layers.map((l: any) => l.digest)].map((d: string) => ({ digest: d, bytes: blob(d) })),
    };
  };

  it.each([
    ['docker-registry', () => reg.url],
    ['layerstore serve', () => rw.url],
  ])('%s: a manifest PUT by digest is served by digest at once, and its blobs stay visible in the repository', async (_name, base) => {
    const url = base();
    const img = arm64Image();
    for (const b of img.blobs) expect(await uploadBlob(url, 'bydigest/img', b.bytes), b.digest).toBe(201);
    const put = await rawRequest(`${url}/v2/bydigest/img/manifests/${img.digest}`, {
      method: 'PUT',
      headers: { 'Content-Type': img.mediaType },
      body: img.manifest,
    });
    expect(put.status, put.body.toString()).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(img.digest);
    const head = await rawRequest(`${url}/v2/bydigest/img/manifests/${img.digest}`, { method: 'HEAD', headers: { Accept: img.mediaType } });
    expect(head.status, 'HEAD manifest by digest').toBe(200);
    const get = await rawRequest(`${url}/v2/bydigest/img/manifests/${img.digest}`, { headers: { Accept: img.mediaType } });
    expect(get.status, 'GET manifest by digest').toBe(200);
    expect(get.body.equals(img.manifest)).toBe(true);
    // A client pushing the next platform HEADs these blobs first; 404 makes it upload them again.
    for (const b of img.blobs)
      expect((await rawRequest(`${url}/v2/bydigest/img/blobs/${b.digest}`, { method: 'HEAD' })).status, `HEAD blob ${b.digest}`).toBe(200);
  });

  it.each([
    ['docker-registry', () => reg.url],
    ['layerstore serve', () => rw.url],
  ])('%s: a manifest naming blobs that only another repository holds is refused (MANIFEST_BLOB_UNKNOWN), so it cannot open them', async (_name, base) => {
    const url = base();
    const m = await rawRequest(`${url}/v2/acme/api/manifests/1.0`, {
      headers: { Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json' },
    });
    expect(m.status).toBe(200);
    const doc = JSON.parse(m.body.toString('utf8'));
    const put = await rawRequest(`${url}/v2/thief/img/manifests/latest`, {
      method: 'PUT',
      headers: { 'Content-Type': String(m.headers['content-type']) },
      body: m.body,
    });
    expect(put.status, put.body.toString()).toBe(400);
    expect(errorCodes(put.body)).toContain('MANIFEST_BLOB_UNKNOWN');
    const layer = await rawRequest(`${url}/v2/thief/img/blobs/${doc.layers[0].digest}`, { method: 'HEAD' });
    expect(layer.status).toBe(404);
  });
});
