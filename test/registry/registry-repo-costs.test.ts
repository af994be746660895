/**
 * `report --registry`'s per-repository figures against Debian's docker-registry 2.8 on
 * 127.0.0.1, filled over the API by this test, checked against the registry's own storage tree
 * (what each repository links: manifest revisions and layer links, sized by the blob data
 * files), never against layerstore alone:
 * - sizeBytes counts every blob a repository's tags reach (manifests and indexes, configs,
 *   layers, the blobs of artifacts and attestations), uniqueBytes what no other repository
 *   reaches. Before, only image configs and layers counted: a chart repository showed 0 B.
 * - one index tagged in two repositories, its child deleted in one only: the other still
 *   shows its image and its exact figures, the only error names the broken repository, on a
 *   first run and from the cache. Before, the other repository took the broken one's partial
 *   walk and showed 0 images.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/cli.js';
import { rawTar } from '../helpers/make-tar.js';
import { OCI_INDEX, OCI_MANIFEST, pushBlob, putManifest, repositoryBlobsOnDisk, sizeAndUnique, type Descriptor } from './distribution-tree.js';
import { HAVE_REGISTRY, rawRequest, registryBlobFiles, runCliAsync, showTool, startDockerRegistry, type DockerRegistry } from './helpers.js';

const LAYER = 'application/vnd.oci.image.layer.v1.tar';
const EMPTY = 'application/vnd.oci.empty.v1+json';

let tmp: string;
beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-reg-repo-costs-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** An image of the given layers (pushed into `repo` with its config); its manifest descriptor, pushed by digest or as `tag`. */
async function pushImage(url: string, repo: string, layers: Buffer[], tag?: string): Promise<Descriptor> {
  const ls = await Promise.all(layers.map((l) => pushBlob(url, repo, l, LAYER)));
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: ls.map((l) => l.digest) } }));
  const c = await pushBlob(url, repo, config, 'application/vnd.oci.image.config.v1+json');
  return putManifest(url, repo, { config: c, layers: ls }, OCI_MANIFEST, tag);
}

/** An OCI artifact: a config of `configType` and one payload blob; pushed by digest or as `tag`. */
async function pushArtifact(url: string, repo: string, artifactType: string, config: Buffer, configType: string, payload: Buffer, tag?: string) {
  const c = await pushBlob(url, repo, config, configType);
  const l = await pushBlob(url, repo, payload, `${artifactType}.payload`);
  return putManifest(url, repo, { artifactType, config: c, layers: [l] }, OCI_MANIFEST, tag);
}

interface Report {
  complete: boolean;
  errors: string[];
  registry: { blobBytes: number };
  repositories: Array<{ name: string; tags: number; images: number; sizeBytes: number; uniqueBytes: number }>;
  scan: { documents: { manifestsFetched: number } };
}

async function report(url: string, store: string, extra: string[] = []): Promise<{ code: number | null; rep: Report; out: string }> {
  const r = await runCliAsync(['--store', store, 'report', '--registry', url, '--json', ...extra]);
  return { code: r.code, rep: JSON.parse(r.stdout) as Report, out: showTool(r) };
}

describe.skipIf(!HAVE_REGISTRY)('report --registry: what each repository costs', () => {
  let reg: DockerRegistry;
  beforeAll(async () => {
    reg = await startDockerRegistry(path.join(tmp, 'registry'));
    const url = reg.url;
    // Two chart versions (Helm-like artifacts); apps/api tags 1.0 too, so only 2.0 is charts/mychart's alone.
    const helm = 'application/vnd.cncf.helm.config.v1+json';
    for (const v of ['1.0', '2.0']) {
      const cfg = Buffer.from(JSON.stringify({ name: 'mychart', version: v }));
      const payload = randomBytes(96 << 10);
      await pushArtifact(url, 'charts/mychart', helm, cfg, helm, payload, v);
      if (v === '1.0') await pushArtifact(url, 'apps/api', helm, cfg, helm, payload, 'chart-1.0');
    }
    const base = rawTar([{ name: 'base.txt', body: randomBytes(20 << 10) }]);
    const web = await pushImage(url, 'apps/web', [base, rawTar([{ name: 'web.txt', body: randomBytes(10 << 10) }])], 'v1');
    // An in-toto attestation in web's index (platform unknown/unknown), as buildkit writes them.
    const att = await pushArtifact(url, 'apps/web', 'application/vnd.in-toto+json', Buffer.from('{}'), EMPTY, randomBytes(64 << 10));
    await putManifest(
      url,
      'apps/web',
      {
        manifests: [
          { ...web, platform: { os: 'linux', architecture: 'amd64' } },
          { ...att, platform: { os: 'unknown', architecture: 'unknown' } },
        ],
      },
      OCI_INDEX,
      'multi',
    );
    await pushImage(url, 'apps/api', [base, rawTar([{ name: 'api.txt', body: randomBytes(12 << 10) }])], 'v1');
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('counts every blob a repository reaches, each once, and as unique what no other repository reaches: first run and cached', async () => {
    const onDisk = repositoryBlobsOnDisk(reg.root);
    expect([...onDisk.keys()].sort()).toEqual(['apps/api', 'apps/web', 'charts/mychart']);
    const blobTotal = [...registryBlobFiles(reg.root).values()].reduce((n, s) => n + s, 0);
    const store = path.join(tmp, 'store');
    for (const run of ['first', 'cached']) {
      const { code, rep, out } = await report(reg.url, store);
      expect(code, out).toBe(0);
      expect(rep.complete).toBe(true);
      expect(rep.registry.blobBytes, `${run} run`).toBe(blobTotal);
      for (const r of rep.repositories)
        expect({ name: r.name, ...sizeAndUnique(onDisk, r.name) }, `${run} run`).toEqual({ name: r.name, sizeBytes: r.sizeBytes, uniqueBytes: r.uniqueBytes });
      const chart = rep.repositories.find((r) => r.name === 'charts/mychart')!;
      expect(chart.images).toBe(0);
      expect(chart.sizeBytes).toBeGreaterThan(2 * (96 << 10));
      expect(chart.uniqueBytes).toBeGreaterThan(96 << 10);
    }
  });
});

describe.skipIf(!HAVE_REGISTRY)('report --registry: one index in two repositories, its child deleted in one', () => {
  let reg: DockerRegistry;
  let child: Descriptor;
  beforeAll(async () => {
    reg = await startDockerRegistry(path.join(tmp, 'registry-shared'));
    const layer = rawTar([{ name: 'shared.txt', body: randomBytes(16 << 10) }]);
    for (const repo of ['a/x', 'b/x']) {
      child = await pushImage(reg.url, repo, [layer]);
      await putManifest(reg.url, repo, { manifests: [{ ...child, platform: { os: 'linux', architecture: 'amd64' } }] }, OCI_INDEX, 'v1');
    }
    const del = await rawRequest(`${reg.url}/v2/a/x/manifests/${child.digest}`, { method: 'DELETE' });
    expect(del.status).toBe(202);
    const still = await rawRequest(`${reg.url}/v2/b/x/manifests/${child.digest}`, { method: 'HEAD', headers: { Accept: OCI_MANIFEST } });
    expect(still.status).toBe(200);
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('the intact repository keeps its image and exact figures; the error names only the broken one; first run and cached', async () => {
    const onDisk = repositoryBlobsOnDisk(reg.root);
    const store = path.join(tmp, 'store-shared');
    // One at a time: a/x walks the index first, so b/x meets its partial walk (as the tester's run did).
    for (const run of ['first', 'cached']) {
      const { code, rep, out } = await report(reg.url, store, ['--concurrency', '1']);
      expect(code, out).toBe(4);
      expect(rep.complete).toBe(false);
      const b = rep.repositories.find((r) => r.name === 'b/x')!;
      expect({ run, images: b.images, sizeBytes: b.sizeBytes }).toEqual({ run, images: 1, sizeBytes: sizeAndUnique(onDisk, 'b/x').sizeBytes });
      expect(rep.repositories.find((r) => r.name === 'a/x')!.images, run).toBe(0);
      expect(rep.errors.length, run).toBeGreaterThan(0);
      for (const e of rep.errors) expect(e, run).toMatch(new RegExp(`^a/x@${child.digest}: `));
    }
  });
});
