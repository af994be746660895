/**
 * `report --registry`'s blobBytes equals the sum of a distribution registry's
 * blobs/**\/data files (docs/COMMANDS.md) also for an index with attestation manifests (platform
 * unknown/unknown): those are manifests whose layers are not image layers, and their config
 * and layer blobs are stored like any other. Before, only their manifest bytes were counted,
 * and blobBytes came out short. The registry is Debian's docker-registry 2.8 on 127.0.0.1,
 * holding only the regclient test repository's v1 as skopeo pushes it; a second run, from
 * the scan cache, reports the same.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';
import { HAVE_REGISTRY, HAVE_SKOPEO, REGCLIENT_TESTREPO, registryBlobFiles, skopeo, startDockerRegistry, type DockerRegistry } from './helpers.js';

let tmp: string;
beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-reg-blob-bytes-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!HAVE_REGISTRY || !HAVE_SKOPEO)('report --registry blobBytes with attestation manifests', () => {
  let reg: DockerRegistry;
  beforeAll(async () => {
    reg = await startDockerRegistry(path.join(tmp, 'registry'));
    skopeo(['copy', '--all', '--dest-tls-verify=false', `oci:${REGCLIENT_TESTREPO}:v1`, `docker://${reg.host}/testrepo:v1`]);
  }, 120_000);
  afterAll(async () => {
    await reg?.stop();
  });

  it('equals the sum of the blobs/**/data files, on a first run and from the cache', () => {
    const onDisk = [...registryBlobFiles(reg.root).values()].reduce((n, s) => n + s, 0);
    const store = path.join(tmp, 'store');
    for (const run of ['first', 'cached']) {
      const r = runCli(['--store', store, 'report', '--registry', reg.url, '--json']);
      expect(r.code, show(r)).toBe(0);
      const rep = JSON.parse(r.stdout) as { complete: boolean; registry: { blobBytes: number } };
      expect(rep.complete).toBe(true);
      expect(rep.registry.blobBytes, `${run} run`).toBe(onDisk);
    }
  });
});
