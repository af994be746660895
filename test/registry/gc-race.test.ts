/**
 * gc running against serve --allow-push while pushes are in flight. A pushed blob is named by
 * no ref until its manifest arrives; the store records it as received by its repository
 * (store/received.ts), which gc keeps, and a manifest PUT pins what it names (hard links in
 * staging) until its commit. These tests run gc in a
 * loop (bounded) during pushes: by skopeo, and by hand with a layer whose check takes long
 * enough for gc to land between the server's checks and its commit. Servers listen on
 * 127.0.0.1 only.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { badBlobs, ensureBuilt, readIndexJson, runCli, show } from '../helpers/cli.js';
import { rawTar } from '../helpers/make-tar.js';
import {
  HAVE_SKOPEO,
  REGCLIENT_TESTREPO,
  MANIFEST_ACCEPT,
  rawRequest,
  runCliAsync,
  runToolAsync,
  showTool,
  startCapturingProxy,
  startServe,
  uploadBlob,
} from './helpers.js';
import { digestOf, imageDocs } from '../helpers/hand-bytes.js';

let tmp: string;
let fx: string;
const p = (...x: string[]) => path.join(tmp, ...x);
const ok = (store: string, args: string[]) => {
  const r = runCli(['--store', store, ...args]);
  expect(r.code, show(r)).toBe(0);
  return r;
};

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-reg-gc-'));
  fx = p('fx');
  await generateFixtures(fx);
}, 60_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe("gc between a manifest PUT's checks and its commit", () => {
  it('a manifest whose blobs were uploaded (not yet referenced) commits even when gc sweeps while the server checks its layers', async () => {
    // A gzip layer that takes the server a while to verify (its diffID is recomputed from
    // ~128 MiB of uncompressed bytes), so gc runs land between the checks and the commit.
    const store = p('gc-window');
    const srv = await startServe(store, ['--allow-push']);
    try {
      const tar = rawTar([{ name: 'zeros.bin', body: Buffer.alloc(128 << 20) }]);
      const layer = gzipSync(tar, { level: 1 });
      const { config, manifest } = imageDocs(layer, {
        uncompressed: tar,
        layerMediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        configExtra: { config: {} },
      });
      expect(await uploadBlob(srv.url, 'race/img', config)).toBe(201);
      expect(await uploadBlob(srv.url, 'race/img', layer)).toBe(201);

      let putting = true;
      const gcRuns: Array<number | null> = [];
      const gcLoop = (async () => {
        for (let i = 0; i < 30 && putting; i++) gcRuns.push((await runCliAsync(['--store', store, 'gc', '-q'], {}, 30_000)).code);
      })();
      await new Promise((r) => setTimeout(r, 200)); // let the first gc start
      const put = await rawRequest(`${srv.url}/v2/race/img/manifests/1.0`, {
        method: 'PUT',
        headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json' },
        body: manifest,
        timeoutMs: 60_000,
      });
      putting = false;
      await gcLoop;
      expect(gcRuns.length).toBeGreaterThan(0);
      expect(put.status, `${put.status} ${put.body.toString()} (gc ran ${gcRuns.length} times during the PUT)`).toBe(201);
      expect(put.headers['docker-content-digest']).toBe(digestOf(manifest));
      const v = runCli(['--store', store, 'verify']);
      expect(v.code, show(v)).toBe(0);
    } finally {
      await srv.stop();
    }
  }, 90_000);
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(!HAVE_SKOPEO)('gc running while skopeo pushes into serve --allow-push', () => {
  it('every push lands whole: verify exits 0 and ls has the digests skopeo wrote', async () => {
    const store = p('gc-race');
    ok(store, ['ingest', path.join(fx, 'api-v25.tar')]); // something for gc to keep
    const srv = await startServe(store, ['--allow-push']);
    const proxy = await startCapturingProxy(srv.port); // skopeo prints only a 5xx status: keep the bodies
    const policy = p('policy.json');
    writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
    try {
      const pushes: Array<{ ref: string; df: string; args: string[] }> = [
        ...['acme/base:1.0', 'acme/worker:1.0'].map((ref) => ({
          ref,
          df: p(`gc-digest-${ref.replace(/[/:]/g, '_')}`),
          args: [`docker-archive:${path.join(fx, 'family-legacy.tar')}:${ref}`, `docker://${proxy.host}/${ref}`],
        })),
        { ref: 'multi/arch:v2', df: p('gc-digest-multi'), args: ['--all', `oci:${REGCLIENT_TESTREPO}:v2`, `docker://${proxy.host}/multi/arch:v2`] },
      ];
      let pushing = true;
      const skopeoRuns = (async () => {
        const results = [];
        for (const x of pushes)
          results.push(
            await runToolAsync('skopeo', ['--policy', policy, 'copy', '--dest-tls-verify=false', '--digestfile', x.df, ...x.args], { timeoutMs: 60_000 }),
          );
        pushing = false;
        return results;
      })();
      const gcRuns: Array<{ code: number | null; out: string }> = [];
      for (let i = 0; i < 40 && pushing; i++) {
        const r = await runCliAsync(['--store', store, 'gc', '--json'], {}, 30_000);
        gcRuns.push({ code: r.code, out: r.code === 0 ? '' : showTool(r) });
      }
      const results = await skopeoRuns;
      const errs = JSON.stringify(proxy.serverErrors, null, 1);
      expect(proxy.serverErrors, `the server answered 5xx while gc ran:\n${errs}`).toEqual([]);
      for (const [i, r] of results.entries()) expect(r.code, `${pushes[i]!.ref}\n${showTool(r)}\n--- 5xx\n${errs}`).toBe(0);
      expect(gcRuns.length, 'gc ran during the pushes').toBeGreaterThan(0);
      for (const g of gcRuns) expect(g.code, g.out).toBe(0);

      const v = runCli(['--store', store, 'verify']);
      expect(v.code, show(v)).toBe(0);
      expect(badBlobs(store)).toEqual([]);
      const roots = new Map<string, string>(
        (readIndexJson(store).manifests as any[])
          .filter((m) => m.annotations?.['org.opencontainers.image.ref.name'])
          .map((m) => [m.annotations['org.opencontainers.image.ref.name'], m.digest]),
      );
      for (const x of pushes) expect(roots.get(x.ref), x.ref).toBe(readFileSync(x.df, 'utf8').trim());
      // one more gc after the fact keeps everything the refs reach
      ok(store, ['gc']);
      const v2 = runCli(['--store', store, 'verify']);
      expect(v2.code, show(v2)).toBe(0);
      // and the pushed images can be read back whole
      for (const x of pushes) {
        const r = await rawRequest(`${srv.url}/v2/${x.ref.replace(':', '/manifests/')}`, {
          headers: { Accept: `${MANIFEST_ACCEPT}, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json` },
        });
        expect(r.status, x.ref).toBe(200);
        expect(digestOf(r.body), x.ref).toBe(readFileSync(x.df, 'utf8').trim());
      }
    } finally {
      await proxy.close();
      await srv.stop();
    }
  });
});
