/**
 * What the conformance suite needs from `serve`, each cause on its own, with the store's
 * files checked directly:
 * - an image manifest whose config disagrees with its layers is stored (201) and recorded as
 *   unverified: ls marks it, verify names it (exit 0, not damage), report --files leaves it
 *   out, export warns; an archive with the same disagreement is still refused by ingest;
 * - a GET/HEAD of a manifest reference that cannot exist is 404 MANIFEST_UNKNOWN, not 400;
 * - referrers: a manifest with a `subject` gets OCI-Subject on its PUT and is listed by
 *   GET /v2/NAME/referrers/DIGEST with its artifactType, filterable;
 * - deletes (--allow-delete): tag, manifest by digest, uploaded blob; a blob a manifest uses
 *   is refused; gc frees the bytes after; a manifest pushed by digest survives a restart.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobFile, indexRefs, runCli, show } from '../helpers/cli.js';
import { digestOf, imageDocs } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { legacySave } from '../helpers/make-tar.js';
import { errorCodes, rawRequest, startServe, uploadBlob, type Serve } from './helpers.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
let tmp: string;
let fx: string;

withFixtureTemp('ls-artifacts-', (p) => ({ tmp, fx } = p));

/** An image: one uncompressed layer and a config whose diff_ids are `diffIds` (right by default). */
function image(diffIds?: string[]) {
  const layer = rawTar([{ name: 'f.txt', body: randomBytes(3000) }]);
  const { config, manifest } = imageDocs(layer, { diffIds });
  return { layer, config, manifest, digest: digestOf(manifest) };
}

/** An artifact (an SBOM, say) attached to `subject`: empty config, one blob, OCI 1.1 artifactType. */
function artifact(subject: { digest: string; size: number }, artifactType: string) {
  const empty = Buffer.from('{}');
  const blob = Buffer.from(JSON.stringify({ sbom: randomBytes(8).toString('hex') }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      artifactType,
      config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(empty), size: 2 },
      layers: [{ mediaType: 'application/json', digest: digestOf(blob), size: blob.length }],
      subject: { mediaType: OCI_MANIFEST, ...subject },
      annotations: { 'org.opencontainers.image.created': '2026-12-03T00:00:00Z' },
    }),
  );
  return { blobs: [empty, blob], manifest, digest: digestOf(manifest) };
}

async function push(srv: Serve, repo: string, ref: string, blobs: Buffer[], manifest: Buffer) {
  for (const b of blobs) expect(await uploadBlob(srv.url, repo, b)).toBe(201);
  return rawRequest(`${srv.url}/v2/${repo}/manifests/${ref}`, { method: 'PUT', headers: { 'Content-Type': OCI_MANIFEST }, body: manifest });
}

describe('serve --allow-push --allow-delete', () => {
  let store: string;
  let srv: Serve;

  beforeAll(async () => {
    store = path.join(tmp, 'store');
    const r = runCli(['--store', store, '-q', 'ingest', path.join(fx, 'api-v25.tar')]);
    expect(r.code, show(r)).toBe(0);
    srv = await startServe(store, ['--allow-push', '--allow-delete']);
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
  });

  it('an image whose config lists no diff_ids is stored (201) and recorded as unverified; ls, verify, report and export say so', async () => {
    const img = image([]);
    const put = await push(srv, 'odd/image', 'v1', [img.layer, img.config], img.manifest);
    expect(put.status, put.body.toString()).toBe(201);
    expect((await rawRequest(`${srv.url}/v2/odd/image/manifests/v1`, { headers: { Accept: OCI_MANIFEST } })).body.equals(img.manifest)).toBe(true);
    const ls = runCli(['--store', store, 'ls', '--json']);
    const entry = JSON.parse(ls.stdout).images.find((i: any) => i.refs.includes('odd/image:v1'));
    expect(entry.unverified).toBe('the manifest lists 1 layers but its config has 0 diff_ids');
    expect(runCli(['--store', store, 'ls']).stdout).toMatch(/odd\/image:v1 !/);
    const v = runCli(['--store', store, 'verify']);
    expect(v.code, show(v)).toBe(0);
    expect(v.stdout).toContain(`UNVERIFIED image ${img.digest}: the manifest lists 1 layers but its config has 0 diff_ids`);
    const rep = runCli(['--store', store, 'report', '--files', '--json']);
    expect(rep.code, show(rep)).toBe(0);
    const row = JSON.parse(rep.stdout).images.find((i: any) => i.manifestDigest === img.digest);
    expect(row.unverified).toBeDefined();
    expect(row.waste).toBeNull();
    const ex = runCli(['--store', store, 'export', 'odd/image:v1', '-o', path.join(tmp, 'odd.tar')]);
    expect(ex.code, show(ex)).toBe(0);
    expect(ex.stderr).toMatch(/is unverified .* docker load and other tools may refuse it/);
  });

  it('an image whose layer does not hash to its diff_id is stored as unverified too; a good one is not', async () => {
    const bad = image([digestOf(randomBytes(10))]);
    expect((await push(srv, 'odd/diffid', 'v1', [bad.layer, bad.config], bad.manifest)).status).toBe(201);
    const good = image();
    expect((await push(srv, 'odd/good', 'v1', [good.layer, good.config], good.manifest)).status).toBe(201);
    const images = JSON.parse(runCli(['--store', store, 'ls', '--json']).stdout).images;
    expect(images.find((i: any) => i.refs.includes('odd/diffid:v1')).unverified).toMatch(
      /^layer 0: the uncompressed layer hashes to sha256:[0-9a-f]{64}, but the config's rootfs.diff_ids says/,
    );
    expect(images.find((i: any) => i.refs.includes('odd/good:v1')).unverified).toBeNull();
  });

  it('ingest of an archive stays strict: the same disagreement in a docker save is refused', () => {
    const layer = rawTar([{ name: 'x', body: 'x' }]);
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } });
    const tar = legacySave({
      manifest: [{ Config: 'c.json', RepoTags: ['strict/x:1'], Layers: ['l/layer.tar'] }],
      files: [
        { name: 'c.json', body: config },
        { name: 'l/layer.tar', body: layer },
      ],
    });
    const f = path.join(tmp, 'strict.tar');
    writeFileSync(f, tar);
    const r = runCli(['--store', path.join(tmp, 'strict-store'), 'ingest', f]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('[E_MANIFEST_INVALID]');
  });

  it('GET and HEAD of a manifest reference that cannot exist answer 404 MANIFEST_UNKNOWN', async () => {
    for (const method of ['GET', 'HEAD']) {
      const r = await rawRequest(`${srv.url}/v2/acme/api/manifests/not:a:valid!ref`, { method });
      expect(r.status, method).toBe(404);
      if (method === 'GET') expect(errorCodes(r.body)).toEqual(['MANIFEST_UNKNOWN']);
    }
  });

  it('referrers: a manifest with a subject gets OCI-Subject; GET referrers lists it with its artifactType, filters, and is empty for other digests', async () => {
    const subject = image();
    expect((await push(srv, 'ref/app', 'v1', [subject.layer, subject.config], subject.manifest)).status).toBe(201);
    const sbom = artifact({ digest: subject.digest, size: subject.manifest.length }, 'application/spdx+json');
    const sig = artifact({ digest: subject.digest, size: subject.manifest.length }, 'application/vnd.dev.cosign.artifact.sig.v1+json');
    for (const a of [sbom, sig]) {
      const put = await push(srv, 'ref/app', a.digest, a.blobs, a.manifest);
      expect(put.status, put.body.toString()).toBe(201);
      expect(put.headers['oci-subject']).toBe(subject.digest);
    }
    const list = await rawRequest(`${srv.url}/v2/ref/app/referrers/${subject.digest}`);
    expect(list.status).toBe(200);
    expect(list.headers['content-type']).toBe('application/vnd.oci.image.index.v1+json');
    const idx = JSON.parse(list.body.toString());
    expect(idx.manifests.map((m: any) => [m.digest, m.artifactType, m.size]).sort()).toEqual(
      [
        [sbom.digest, 'application/spdx+json', sbom.manifest.length],
        [sig.digest, 'application/vnd.dev.cosign.artifact.sig.v1+json', sig.manifest.length],
      ].sort(),
    );
    expect(idx.manifests[0].annotations['org.opencontainers.image.created']).toBe('2026-12-03T00:00:00Z');
    const filtered = await rawRequest(`${srv.url}/v2/ref/app/referrers/${subject.digest}?artifactType=application/spdx%2Bjson`);
    expect(filtered.headers['oci-filters-applied']).toBe('artifactType');
    expect(JSON.parse(filtered.body.toString()).manifests.map((m: any) => m.digest)).toEqual([sbom.digest]);
    const none = await rawRequest(`${srv.url}/v2/ref/app/referrers/${digestOf(randomBytes(5))}`);
    expect(none.status).toBe(200);
    expect(JSON.parse(none.body.toString()).manifests).toEqual([]);
    // Another repository does not see them.
    expect(JSON.parse((await rawRequest(`${srv.url}/v2/acme/api/referrers/${subject.digest}`)).body.toString()).manifests).toEqual([]);
    // The store's own listing shows what is attached to the image, as a regctl user would look for it.
    const ls = JSON.parse(runCli(['--store', store, 'ls', '--json']).stdout).images.find((i: any) => i.manifestDigest === subject.digest);
    expect(ls.referrers.map((r: any) => [r.digest, r.artifactType]).sort()).toEqual(
      [
        [sbom.digest, 'application/spdx+json'],
        [sig.digest, 'application/vnd.dev.cosign.artifact.sig.v1+json'],
      ].sort(),
    );
    expect(runCli(['--store', store, 'ls']).stdout).toMatch(/ref\/app:v1: 2 attached \(referrers\): .*application\/spdx\+json/);
  });

  it('a manifest pushed by digest stays in its repository after serve restarts', async () => {
    const img = image();
    expect((await push(srv, 'bydigest/app', img.digest, [img.layer, img.config], img.manifest)).status).toBe(201);
    expect(indexRefs(store)).toContain(`bydigest/app@${img.digest}`);
    await srv.stop();
    srv = await startServe(store, ['--allow-push', '--allow-delete']);
    const get = await rawRequest(`${srv.url}/v2/bydigest/app/manifests/${img.digest}`, { headers: { Accept: OCI_MANIFEST } });
    expect(get.status).toBe(200);
    expect(get.body.equals(img.manifest)).toBe(true);
  });

  it('deletes: a tag goes but its manifest stays by digest; then by digest; a used blob is refused; an uploaded one goes; gc frees the bytes', async () => {
    const img = image();
    expect((await push(srv, 'del/app', 'v1', [img.layer, img.config], img.manifest)).status).toBe(201);
    const tag = await rawRequest(`${srv.url}/v2/del/app/manifests/v1`, { method: 'DELETE' });
    expect(tag.status, tag.body.toString()).toBe(202);
    expect(JSON.parse((await rawRequest(`${srv.url}/v2/del/app/tags/list`)).body.toString()).tags).toEqual([]);
    expect((await rawRequest(`${srv.url}/v2/del/app/manifests/${img.digest}`, { method: 'HEAD' })).status).toBe(200);
    const used = await rawRequest(`${srv.url}/v2/del/app/blobs/${digestOf(img.layer)}`, { method: 'DELETE' });
    expect(used.status).toBe(405);
    expect(errorCodes(used.body)).toEqual(['UNSUPPORTED']);
    const byDigest = await rawRequest(`${srv.url}/v2/del/app/manifests/${img.digest}`, { method: 'DELETE' });
    expect(byDigest.status).toBe(202);
    expect((await rawRequest(`${srv.url}/v2/del/app/manifests/${img.digest}`)).status).toBe(404);
    expect((await rawRequest(`${srv.url}/v2/del/app/manifests/${img.digest}`, { method: 'DELETE' })).status).toBe(404);
    // A blob uploaded that no manifest names: DELETE takes it out of the repository.
    const loose = randomBytes(4000);
    expect(await uploadBlob(srv.url, 'del/app', loose)).toBe(201);
    expect((await rawRequest(`${srv.url}/v2/del/app/blobs/${digestOf(loose)}`, { method: 'DELETE' })).status).toBe(202);
    expect((await rawRequest(`${srv.url}/v2/del/app/blobs/${digestOf(loose)}`, { method: 'HEAD' })).status).toBe(404);
    // The gc that follows deletes frees what nothing reaches (bounded wait), and keeps everything else.
    const gone = [img.digest, digestOf(img.layer), digestOf(img.config), digestOf(loose)];
    for (let i = 0; i < 100 && gone.some((d) => existsSync(blobFile(store, d))); i++) await new Promise((r) => setTimeout(r, 100));
    for (const d of gone) expect(existsSync(blobFile(store, d)), d).toBe(false);
    const v = runCli(['--store', store, 'verify']);
    expect(v.code, show(v)).toBe(0);
  });

  it('without --allow-delete every DELETE is 405', async () => {
    const ro = await startServe(store, ['--allow-push']);
    try {
      for (const p of ['/v2/acme/api/manifests/1.1', `/v2/acme/api/blobs/${digestOf(Buffer.from('x'))}`]) {
        const r = await rawRequest(`${ro.url}${p}`, { method: 'DELETE' });
        expect(r.status, p).toBe(405);
        expect(r.body.toString()).toContain('--allow-delete');
      }
      expect(indexRefs(store)).toContain('acme/api:1.1');
    } finally {
      await ro.stop();
    }
  });
});
