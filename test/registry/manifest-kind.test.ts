/**
 * serve --allow-push: a pushed manifest must be the kind its type says (issue 16, item 6). A
 * manifest without `mediaType` PUT with an index Content-Type was read as an empty index
 * (201, its config and layers never checked); it is refused as MANIFEST_INVALID, as
 * distribution and containers/image refuse it. Servers listen on 127.0.0.1 only.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { blobFile, ensureBuilt, listBlobs, readStoreImages, runCli, show } from '../helpers/cli.js';
import { digestOf } from '../helpers/hand-bytes.js';
import { MANIFEST_ACCEPT, errorCodes, rawRequest, startServe, type Serve } from './helpers.js';

const INDEX = 'application/vnd.oci.image.index.v1+json';
const MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let tmp: string;
let store: string;
let srv: Serve;

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-reg-kind-'));
  await generateFixtures(path.join(tmp, 'fx'));
  store = path.join(tmp, 'store');
  const r = runCli(['--store', store, 'ingest', path.join(tmp, 'fx', 'family-legacy.tar')]);
  expect(r.code, show(r)).toBe(0);
  srv = await startServe(store, ['--allow-push']);
}, 60_000);
afterAll(async () => {
  await srv?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

const staging = () => {
  const d = path.join(store, '.layerstore', 'staging');
  return existsSync(d) ? readdirSync(d).filter((n) => !n.endsWith('.pin')) : [];
};

/** acme/api:1.0's manifest as a document, without its mediaType field. */
function untypedManifest(): Buffer {
  const img = readStoreImages(store).find((i) => i.refs.includes('acme/api:1.0'))!;
  const { mediaType: _m, ...doc } = JSON.parse(readFileSync(blobFile(store, img.manifestDigest), 'utf8'));
  return Buffer.from(JSON.stringify(doc));
}

describe('a pushed manifest whose Content-Type names another kind', () => {
  it('a manifest without mediaType PUT as an index: 400 MANIFEST_INVALID, nothing committed', async () => {
    const blobs = listBlobs(store);
    const index = readFileSync(path.join(store, 'index.json'));
    const body = untypedManifest();
    const put = await rawRequest(`${srv.url}/v2/acme/api/manifests/as-index`, { method: 'PUT', headers: { 'Content-Type': INDEX }, body });
    expect(put.status, put.body.toString()).toBe(400);
    expect(errorCodes(put.body)).toEqual(['MANIFEST_INVALID']);
    expect((await rawRequest(`${srv.url}/v2/acme/api/manifests/as-index`, { headers: { Accept: `${MANIFEST_ACCEPT}, ${INDEX}` } })).status).toBe(404);
    expect(listBlobs(store)).toEqual(blobs);
    expect(readFileSync(path.join(store, 'index.json')).equals(index)).toBe(true);
    expect(staging()).toEqual([]);
  });

  it('control: the same bytes PUT as a manifest are accepted (201) and verify is clean', async () => {
    const body = untypedManifest();
    const put = await rawRequest(`${srv.url}/v2/acme/api/manifests/as-manifest`, { method: 'PUT', headers: { 'Content-Type': MANIFEST }, body });
    expect(put.status, put.body.toString()).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(digestOf(body));
    const v = runCli(['--store', store, 'verify']);
    expect(v.code, show(v)).toBe(0);
  });
});
