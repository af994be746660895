/**
 * Throughput of the registry paths on one ~70 MB image (acme/api:1.1 of the fixtures generated
 * with scale 15): layerstore's push and pull against skopeo copy of the same image, and skopeo
 * copying out of layerstore serve against copying out of docker-registry. Three runs of each,
 * medians printed. Every run also checks the digests, so a fast wrong answer fails.
 *
 * Opt-in (it measures, and other test files running beside it would skew the figures):
 *   LAYERSTORE_REGISTRY_BENCH=1 npx vitest run test/registry/throughput.test.ts
 * LAYERSTORE_REGISTRY_BENCH_SCALE=N changes the fixture scale.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../fixtures/generate.js';
import { blobSize, ensureBuilt, readStoreImages, runCli, show } from '../test/helpers/cli.js';
import { HAVE_REGISTRY, HAVE_SKOPEO, runTool, startDockerRegistry, startServe, type DockerRegistry, type Serve } from '../test/registry/helpers.js';

const ENABLED = process.env.LAYERSTORE_REGISTRY_BENCH === '1' && HAVE_SKOPEO && HAVE_REGISTRY;
const SCALE = Number(process.env.LAYERSTORE_REGISTRY_BENCH_SCALE ?? 15);
const RUNS = 3;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe.runIf(ENABLED)('registry throughput (opt-in: LAYERSTORE_REGISTRY_BENCH=1)', () => {
  let tmp: string;
  let store: string;
  let reg: DockerRegistry;
  let ro: Serve;
  let policy: string;
  let digest: string;
  let bytes: number;
  const p = (...x: string[]) => path.join(tmp, ...x);
  const rows: Array<{ what: string; ms: number[] }> = [];

  const timed = (what: string, fn: (run: number) => void) => {
    const ms: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      const t0 = performance.now();
      fn(run);
      ms.push(performance.now() - t0);
    }
    rows.push({ what, ms });
  };
  const cli = (args: string[]) => {
    const r = runCli(args);
    expect(r.code, show(r)).toBe(0);
    return r;
  };
  const sk = (args: string[]) => {
    const r = runTool('skopeo', ['--policy', policy, ...args], { timeoutMs: 300_000 });
    expect(r.code, r.stderr).toBe(0);
    return r.stdout;
  };
  const ociDigest = (dir: string) => JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')).manifests[0].digest as string;

  beforeAll(async () => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'ls-reg-bench-'));
    await generateFixtures(p('fx'), { scale: SCALE });
    store = p('store');
    cli(['--store', store, 'ingest', p('fx', 'api-v25.tar')]);
    const img = readStoreImages(store).find((i) => i.refs.includes('acme/api:1.1'))!;
    digest = img.manifestDigest;
    bytes = [img.configDigest, ...img.layers].reduce((n, d) => n + blobSize(store, d), 0);
    policy = p('policy.json');
    writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    [reg, ro] = await Promise.all([startDockerRegistry(p('registry')), startServe(store)]);
  }, 300_000);

  afterAll(async () => {
    await Promise.all([reg?.stop(), ro?.stop()]);
    if (rows.length) {
      const mb = bytes / 1e6;
      const lines = [`registry throughput: acme/api:1.1, ${mb.toFixed(1)} MB (config + layers), scale ${SCALE}, ${RUNS} runs, wall clock of each command`];
      for (const r of rows)
        lines.push(
          `  ${r.what.padEnd(58)} median ${(median(r.ms) / 1000).toFixed(2)} s  (${(mb / (median(r.ms) / 1000)).toFixed(1)} MB/s)  runs: ${r.ms.map((x) => (x / 1000).toFixed(2)).join(', ')}`,
        );
      console.log(lines.join('\n'));
    }
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('push: layerstore push vs skopeo copy oci:STORE, each run into a new docker-registry', async () => {
    // A new registry per run: skopeo remembers where it saw blobs (its blob-info cache) and
    // would mount them from an earlier run's repository instead of sending the bytes.
    const fresh: DockerRegistry[] = [];
    for (let i = 0; i < 2 * RUNS; i++) fresh.push(await startDockerRegistry(p(`push-registry-${i}`)));
    try {
      timed('layerstore push -> docker-registry', (run) => {
        const r = JSON.parse(cli(['--store', store, 'push', 'acme/api:1.1', `${fresh[run]!.host}/bench/api:1.1`, '--json']).stdout);
        expect(r.manifestDigest).toBe(digest);
        expect(r.bytesSent).toBe(bytes);
      });
      timed('skopeo copy --preserve-digests oci:store -> docker-registry', (run) => {
        const host = fresh[RUNS + run]!.host;
        sk(['copy', '--preserve-digests', '--dest-tls-verify=false', `oci:${store}:acme/api:1.1`, `docker://${host}/bench/api:1.1`]);
        expect(JSON.parse(sk(['inspect', '--tls-verify=false', `docker://${host}/bench/api:1.1`])).Digest).toBe(digest);
      });
    } finally {
      await Promise.all(fresh.map((r) => r.stop()));
    }
    // the one everything below pulls from
    cli(['--store', store, 'push', 'acme/api:1.1', `${reg.host}/bench/ours-0:1.1`]);
  }, 600_000);

  it('pull: layerstore pull vs skopeo copy docker-registry -> oci: (fresh destination each run)', () => {
    timed('layerstore pull <- docker-registry', (run) => {
      const dest = p(`pull-${run}`);
      const r = JSON.parse(cli(['--store', dest, 'pull', `${reg.host}/bench/ours-0:1.1`, '--json']).stdout);
      expect(r.images[0].manifestDigest).toBe(digest);
      rmSync(dest, { recursive: true, force: true });
    });
    timed('skopeo copy --preserve-digests docker-registry -> oci:', (run) => {
      const dest = p(`skopeo-pull-${run}`);
      sk(['copy', '--preserve-digests', '--src-tls-verify=false', `docker://${reg.host}/bench/ours-0:1.1`, `oci:${dest}:x`]);
      expect(ociDigest(dest)).toBe(digest);
      rmSync(dest, { recursive: true, force: true });
    });
  }, 600_000);

  it('serve: skopeo copy out of layerstore serve vs out of docker-registry (same image)', () => {
    timed('skopeo copy layerstore serve -> oci:', (run) => {
      const dest = p(`from-serve-${run}`);
      sk(['copy', '--preserve-digests', '--src-tls-verify=false', `docker://${ro.host}/acme/api:1.1`, `oci:${dest}:x`]);
      expect(ociDigest(dest)).toBe(digest);
      rmSync(dest, { recursive: true, force: true });
    });
    timed('skopeo copy docker-registry -> oci:', (run) => {
      const dest = p(`from-registry-${run}`);
      sk(['copy', '--preserve-digests', '--src-tls-verify=false', `docker://${reg.host}/bench/ours-0:1.1`, `oci:${dest}:x`]);
      expect(ociDigest(dest)).toBe(digest);
      rmSync(dest, { recursive: true, force: true });
    });
  }, 600_000);
});
