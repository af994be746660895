/**
 * push reads each blob from the store into reused buffers and sends it over node:http
 * (registry/node-transport.ts nodeUpload). A blob the store holds at the wrong size is
 * damaged: the push stops with exit 3 and E_STORE_INVALID before the registry gets a byte of
 * it, and is not retried as if the registry had failed; the intact image still pushes, and
 * skopeo reads it back with the store's digests.
 */
import { mkdtempSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { peer } from '../helpers/peers.js';
import { cli, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';
import { HAVE_REGISTRY, HAVE_SKOPEO, skopeo, startDockerRegistry, type DockerRegistry } from './helpers.js';

const READY = peer('docker-registry and skopeo', HAVE_REGISTRY && HAVE_SKOPEO, 'apt-get install docker-registry skopeo');

describe.runIf(READY)('push of a damaged blob', () => {
  let tmp = '';
  let reg: DockerRegistry;
  let input = '';

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-push-damaged-'));
    input = path.join(tmp, 'in.tar');
    writeFileSync(input, await writeArchive('v25', [{ repoTags: ['acme/pd:1'], layers: [await randomLayer('push-damaged', 3 * 1024 * 1024)] }]));
    reg = await startDockerRegistry(path.join(tmp, 'registry'));
  }, 60_000);
  afterAll(async () => {
    await reg?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  async function ingested(name: string): Promise<{ store: string; layer: string }> {
    const store = path.join(tmp, name);
    const r = await cli(['--store', store, '-q', 'ingest', input]);
    expect(r.code, showRun(r)).toBe(0);
    const blobs = path.join(store, 'blobs', 'sha256');
    const biggest = readdirSync(blobs).sort((a, b) => statSync(path.join(blobs, b)).size - statSync(path.join(blobs, a)).size)[0]!;
    return { store, layer: biggest };
  }

  it('an intact store pushes, and skopeo reads back the layer the store holds', async () => {
    const { store, layer } = await ingested('intact');
    const r = await cli(['--store', store, 'push', 'acme/pd:1', `${reg.host}/acme/pd:1`]);
    expect(r.code, showRun(r)).toBe(0);
    const inspected = JSON.parse(skopeo(['inspect', '--tls-verify=false', `docker://${reg.host}/acme/pd:1`])) as { Layers: string[] };
    expect(inspected.Layers).toContain(`sha256:${layer}`);
  });

  it('a layer cut short in the store: exit 3, E_STORE_INVALID naming it, one attempt', async () => {
    const { store, layer } = await ingested('short');
    truncateSync(path.join(store, 'blobs', 'sha256', layer), 1024 * 1024);
    const r = await cli(['--store', store, 'push', 'acme/pd:1', `${reg.host}/acme/damaged:1`]);
    expect(r.code, showRun(r)).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`stored blob sha256:${layer} is damaged \\(it is 1048576 bytes, not \\d+\\).*E_STORE_INVALID`));
    expect(r.stderr).not.toMatch(/attempts/);
  });
});
