/**
 * Roots of index.json that name no image — an artifact (a Helm chart), a referrer whose image
 * the store does not hold, a document that is not what index.json says — are not rows of
 * `ls`/`report`, so those commands say they are there (a store holding only a chart is not
 * "No images yet"), `ls --json` lists them (notImages), and damage is a warning on stderr.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';

const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const HELM = 'application/vnd.cncf.helm.config.v1+json';
const SBOM = 'application/spdx+json';
const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

let tmp = '';
afterAll(() => tmp && rmSync(tmp, { recursive: true, force: true }));

/** An OCI layout with a Helm chart (tagged) and an SBOM whose subject is not in it (untagged root). */
function writeLayout(dir: string): { chart: string; sbom: string; subject: string } {
  mkdirSync(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (b: Buffer) => {
    writeFileSync(path.join(dir, 'blobs', 'sha256', sha(b).slice(7)), b);
    return { digest: sha(b), size: b.length };
  };
  const empty = put(Buffer.from('{}'));
  /** An artifact manifest of one blob (an empty config, as ORAS writes them), stored; its descriptor fields. */
  const artifact = (artifactType: string, layer: { mediaType: string; body: Buffer }, subject?: string) =>
    put(
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: OCI_MANIFEST,
          artifactType,
          config: { mediaType: 'application/vnd.oci.empty.v1+json', ...empty },
          layers: [{ mediaType: layer.mediaType, ...put(layer.body) }],
          ...(subject ? { subject: { mediaType: OCI_MANIFEST, digest: subject, size: 1234 } } : {}),
        }),
      ),
    );
  const subject = sha(randomBytes(8));
  const c = artifact(HELM, { mediaType: 'application/vnd.cncf.helm.chart.content.v1.tar+gzip', body: randomBytes(3000) });
  const s = artifact(SBOM, { mediaType: SBOM, body: Buffer.from('{"spdxVersion":"SPDX-2.3"}') }, subject);
  writeFileSync(path.join(dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        { mediaType: OCI_MANIFEST, ...c, annotations: { 'org.opencontainers.image.ref.name': 'charts/web:1.0' } },
        { mediaType: OCI_MANIFEST, ...s, artifactType: SBOM },
      ],
    }),
  );
  return { chart: c.digest, sbom: s.digest, subject };
}

describe('what index.json names besides images', () => {
  let store = '';
  let d: ReturnType<typeof writeLayout>;
  beforeAll(() => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'ls-not-images-'));
    store = path.join(tmp, 'store');
    d = writeLayout(path.join(tmp, 'layout'));
    const r = runCli(['--store', store, 'ingest', path.join(tmp, 'layout')]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^.*layout: 0 images; 5 new blobs/m); // no empty "()" after the count
  });

  it('ls and report: no images, and what is stored instead', () => {
    const notes = `No images. Also stored, not images: charts/web:1.0 (artifact ${HELM}), ${d.sbom.slice(7, 19)} (attached to ${d.subject.slice(7, 19)}, which the store does not hold)\n`;
    for (const cmd of [['ls'], ['report']]) {
      const r = runCli(['--store', store, ...cmd]);
      expect(r.code, show(r)).toBe(0);
      expect(r.stdout).toBe(`Store: ${store}\n${notes}`);
      expect(r.stderr).toBe('');
    }
  });

  it('ls --json lists them under notImages', () => {
    const j = JSON.parse(runCli(['--store', store, 'ls', '--json']).stdout);
    expect(j.images).toEqual([]);
    expect(j.notImages).toEqual([
      { ref: 'charts/web:1.0', digest: d.chart, mediaType: OCI_MANIFEST, size: expect.any(Number), artifactType: HELM, subject: null, damaged: null },
      { ref: null, digest: d.sbom, mediaType: OCI_MANIFEST, size: expect.any(Number), artifactType: SBOM, subject: d.subject, damaged: null },
    ]);
  });

  it('a document index.json mistypes: a warning on stderr naming it, verify exit 3', () => {
    const damaged = path.join(tmp, 'damaged');
    rmSync(damaged, { recursive: true, force: true });
    expect(runCli(['--store', damaged, '-q', 'ingest', path.join(tmp, 'layout')]).code).toBe(0);
    const indexFile = path.join(damaged, 'index.json');
    const index = JSON.parse(readFileSync(indexFile, 'utf8'));
    index.manifests.find((m: { digest: string }) => m.digest === d.chart).mediaType = 'application/vnd.oci.image.index.v1+json';
    writeFileSync(indexFile, JSON.stringify(index));
    const r = runCli(['--store', damaged, 'ls']);
    expect(r.code, show(r)).toBe(0);
    expect(r.stderr).toBe(
      `layerstore: warning: index.json names a document that is not what it says, left out: charts/web:1.0 (its descriptor says application/vnd.oci.image.index.v1+json but the document's mediaType is "${OCI_MANIFEST}"); layerstore verify reports it (exit 3)\n`,
    );
    expect(r.stdout).not.toContain('charts/web');
    expect(runCli(['--store', damaged, 'verify']).code).toBe(3);
  });
});
