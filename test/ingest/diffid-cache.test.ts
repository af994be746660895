/**
 * The diffID of a compressed layer is remembered when the layer is ingested or pulled
 * (derived/diffids/<hex>), so the next input that names the stored layer (another image of
 * the family, another tag) takes it without inflating it again. Checked against gzip -dc |
 * sha256sum; that the next input uses it is shown by a cache edited to lie, which it believes
 * (docs/STORE.md: diffIDs in derived/ are trusted as written).
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blobFile, runCli, show } from '../helpers/cli.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { runCliAsync, showTool, startServe } from '../registry/helpers.js';

let tmp = '';
let fx = '';
withFixtureTemp('ls-diffid-cache-', (p) => ({ tmp, fx } = p));

const cacheFile = (store: string, digest: string) => path.join(store, '.layerstore', 'derived', 'diffids', digest.slice('sha256:'.length));

/** The gzip layers of a store, each with its diffID as gzip and sha256sum compute it. */
function gzipLayers(store: string): Map<string, string> {
  const out = new Map<string, string>();
  const dir = path.join(store, 'blobs', 'sha256');
  for (const hex of readdirSync(dir)) {
    const head = readFileSync(path.join(dir, hex)).subarray(0, 2);
    if (head[0] !== 0x1f || head[1] !== 0x8b) continue;
    const sum = execFileSync('sh', ['-c', 'gzip -dc "$0" | sha256sum', path.join(dir, hex)], { encoding: 'utf8' }).split(' ')[0]!;
    out.set(`sha256:${hex}`, `sha256:${sum}`);
  }
  return out;
}

function expectRemembered(store: string): Map<string, string> {
  const layers = gzipLayers(store);
  expect(layers.size).toBeGreaterThan(0);
  for (const [blob, diffId] of layers) expect(readFileSync(cacheFile(store, blob), 'utf8').trim(), blob).toBe(diffId);
  // Nothing for the uncompressed blobs (their diffID is their digest).
  const cached = readdirSync(path.join(store, '.layerstore', 'derived', 'diffids'));
  expect(cached.sort()).toEqual([...layers.keys()].map((d) => d.slice(7)).sort());
  return layers;
}

describe('diffIDs of compressed layers are remembered', () => {
  it('by an ingest: each gzip layer has its diffID cached, equal to gzip -dc | sha256sum', () => {
    const store = path.join(tmp, 'ingested');
    const r = runCli(['--store', store, '-q', 'ingest', path.join(fx, 'oci-gzip')]);
    expect(r.code, show(r)).toBe(0);
    expectRemembered(store);
  });

  it('by a pull: the same files, and the next input naming a stored layer takes its diffID from the cache', async () => {
    const source = path.join(tmp, 'source');
    expect(runCli(['--store', source, '-q', 'ingest', path.join(fx, 'oci-gzip')]).code).toBe(0);
    const srv = await startServe(source);
    try {
      const store = path.join(tmp, 'pulled');
      const p = await runCliAsync(['--store', store, 'pull', `${srv.host}/acme/web:2.0`]);
      expect(p.code, showTool(p)).toBe(0);
      const layers = expectRemembered(store);

      // The same layout under another name: its layers are the stored ones, taken with the
      // cached diffID. A cache edited to name another diffID is believed, so the config's
      // diffIDs no longer match: the layer was not inflated again.
      const [blob] = [...layers.keys()];
      const lie = `sha256:${'0'.repeat(64)}`;
      writeFileSync(cacheFile(store, blob!), `${lie}\n`);
      const layout = path.join(tmp, 'renamed');
      cpSync(path.join(fx, 'oci-gzip'), layout, { recursive: true });
      const bad = runCli(['--store', store, 'ingest', '--tag', 'acme/web:copy', layout]);
      expect(bad.code, show(bad)).toBe(2);
      expect(bad.stderr).toMatch(/\[E_DIFFID_MISMATCH\]/);
      // With the true diffID back, it commits.
      writeFileSync(cacheFile(store, blob!), `${layers.get(blob!)}\n`);
      const ok = runCli(['--store', store, 'ingest', '--tag', 'acme/web:copy', layout]);
      expect(ok.code, show(ok)).toBe(0);
      expect(existsSync(blobFile(store, blob!))).toBe(true);
    } finally {
      await srv.stop();
    }
  });
});
