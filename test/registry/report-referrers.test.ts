/**
 * What is attached to an image (an SBOM pushed through `serve` with a `subject`) is shown by
 * `report` (a table row and images[].referrers in --json), by the HTML report's page data
 * and by the web UI's /api/report, so a regctl user finds signatures and SBOMs.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli, show } from '../helpers/cli.js';
import { digestOf } from '../helpers/hand-bytes.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { rawRequest, startServe, uploadBlob, type Serve } from './helpers.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const SBOM_TYPE = 'application/spdx+json';
let tmp: string;
let fx: string;
withFixtureTemp('ls-report-referrers-', (p) => ({ tmp, fx } = p));

describe('report shows referrers', () => {
  let store: string;
  let srv: Serve;
  let image: { ref: string; manifestDigest: string; size: number };
  let sbom: { digest: string; size: number };

  beforeAll(async () => {
    store = path.join(tmp, 'store');
    const r = runCli(['--store', store, '-q', 'ingest', path.join(fx, 'api-v25.tar')]);
    expect(r.code, show(r)).toBe(0);
    const img = JSON.parse(runCli(['--store', store, 'ls', '--json']).stdout).images[0];
    image = {
      ref: img.refs[0],
      manifestDigest: img.manifestDigest,
      size: readFileSync(path.join(store, 'blobs', 'sha256', img.manifestDigest.slice(7))).length,
    };
    srv = await startServe(store, ['--allow-push']);
    const repo = image.ref.replace(/:[^:/]+$/, '');
    const empty = Buffer.from('{}');
    const blob = Buffer.from(JSON.stringify({ spdxVersion: 'SPDX-2.3', nonce: randomBytes(8).toString('hex') }));
    for (const b of [empty, blob]) expect(await uploadBlob(srv.url, repo, b)).toBe(201);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        artifactType: SBOM_TYPE,
        config: { mediaType: 'application/vnd.oci.empty.v1+json', digest: digestOf(empty), size: 2 },
        layers: [{ mediaType: SBOM_TYPE, digest: digestOf(blob), size: blob.length }],
        subject: { mediaType: OCI_MANIFEST, digest: image.manifestDigest, size: image.size },
      }),
    );
    const put = await rawRequest(`${srv.url}/v2/${repo}/manifests/${digestOf(manifest)}`, {
      method: 'PUT',
      headers: { 'Content-Type': OCI_MANIFEST },
      body: manifest,
    });
    expect(put.status, put.body.toString()).toBe(201);
    sbom = { digest: digestOf(manifest), size: manifest.length };
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
  });

  const expected = () => [{ digest: sbom.digest, artifactType: SBOM_TYPE, mediaType: OCI_MANIFEST, size: sbom.size }];
  const imageIn = (report: any) => report.images.find((i: any) => i.manifestDigest === image.manifestDigest);

  it('report --json lists the SBOM under images[].referrers (artifactType, digest, size)', () => {
    const r = runCli(['--store', store, 'report', '--json']);
    expect(r.code, show(r)).toBe(0);
    expect(imageIn(JSON.parse(r.stdout)).referrers).toEqual(expected());
  });

  it('report prints what is attached to each image', () => {
    const r = runCli(['--store', store, 'report']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toContain('Attached to the images (referrers: signatures, SBOMs, attestations)');
    const row = r.stdout.split('\n').find((l) => l.includes(SBOM_TYPE));
    expect(row).toBeDefined();
    expect(
      row!
        .split(/[\s│]+/)
        .filter(Boolean)
        .join(' '),
    ).toBe(`${image.ref} ${SBOM_TYPE} ${sbom.digest.slice(7, 19)} ${sbom.size} B`);
  });

  it('the HTML report and the web UI carry the referrers in their report data', async () => {
    const out = path.join(tmp, 'report.html');
    const r = runCli(['--store', store, 'report', '--html', out]);
    expect(r.code, show(r)).toBe(0);
    const m = /<script type="application\/json" id="data">([\s\S]*?)<\/script>/.exec(readFileSync(out, 'utf8'));
    expect(m).not.toBeNull();
    expect(imageIn(JSON.parse(m![1]!).report).referrers).toEqual(expected());
    const api = await rawRequest(`${srv.url}/api/report`);
    expect(api.status).toBe(200);
    expect(imageIn(JSON.parse(api.body.toString('utf8'))).referrers).toEqual(expected());
  });
});
