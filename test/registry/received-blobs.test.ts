/**
 * Blobs pushed to `serve --allow-push` that no manifest names yet stay in their repository
 * across restarts, as distribution keeps them (store/received.ts records them durably, and gc
 * treats the records as roots for a week). Before, which repository received which blob lived
 * only in serve's memory: a restart lost it (HEAD 404, the manifest PUT 400
 * MANIFEST_BLOB_UNKNOWN), and a blob a delete-triggered gc had swept (kept only by its pin in
 * staging) was gone for good. Raw requests as a client sends them; servers on 127.0.0.1 only.
 */
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobFile, ensureBuilt, runCli, show } from '../helpers/cli.js';
import { rawTar } from '../helpers/make-tar.js';
import { digestOf, imageDocs } from '../helpers/hand-bytes.js';
import { errorCodes, rawRequest, startServe, type Serve } from './helpers.js';

let tmp: string;
beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-received-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** A one-layer image written by hand: its layer, config and manifest bytes. */
function image(tag: string) {
  const layer = rawTar([{ name: `${tag}.txt`, body: Buffer.from(`content of ${tag}\n`) }]);
  return { layer, ...imageDocs(layer) };
}

/** Monolithic upload: POST .../blobs/uploads/?digest= with the body (201 when stored). */
async function post(srv: Serve, repo: string, bytes: Buffer): Promise<number> {
  const r = await rawRequest(`${srv.url}/v2/${repo}/blobs/uploads/?digest=${digestOf(bytes)}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': bytes.length },
    body: bytes,
  });
  return r.status;
}

const head = async (srv: Serve, repo: string, bytes: Buffer) => (await rawRequest(`${srv.url}/v2/${repo}/blobs/${digestOf(bytes)}`, { method: 'HEAD' })).status;

function putManifest(srv: Serve, repo: string, tag: string, manifest: Buffer) {
  return rawRequest(`${srv.url}/v2/${repo}/manifests/${tag}`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/vnd.oci.image.manifest.v1+json', 'Content-Length': manifest.length },
    body: manifest,
  });
}

/** Wait (bounded) until `cond` holds; false if it never did. */
async function until(cond: () => boolean | Promise<boolean>, attempts = 100, delayMs = 100): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, delayMs));
  }
  return false;
}

describe('blobs pushed but not yet named by a manifest', () => {
  it('stay in their repository across a restart, and a manifest naming them is accepted', async () => {
    const store = path.join(tmp, 'restart');
    const img = image('restart');
    let srv = await startServe(store, ['--allow-push']);
    try {
      expect(await post(srv, 'rr/art', img.layer)).toBe(201);
      expect(await post(srv, 'rr/art', img.config)).toBe(201);
      expect(await head(srv, 'rr/art', img.layer)).toBe(200);
      // Only the repository that received it has it.
      expect(await head(srv, 'rr/other', img.layer)).toBe(404);
    } finally {
      await srv.stop();
    }
    srv = await startServe(store, ['--allow-push']);
    try {
      expect(await head(srv, 'rr/art', img.layer)).toBe(200);
      expect(await head(srv, 'rr/art', img.config)).toBe(200);
      expect(await head(srv, 'rr/other', img.layer)).toBe(404);
      const put = await putManifest(srv, 'rr/art', 'v1', img.manifest);
      expect(put.status, put.body.toString()).toBe(201);
    } finally {
      await srv.stop();
    }
    // Named by a manifest now: the records are gone, and the ref keeps the blobs.
    const gc = runCli(['--store', store, 'gc', '--json']);
    expect(gc.code, show(gc)).toBe(0);
    const report = JSON.parse(gc.stdout) as { blobsRemoved: unknown[]; receivedKept: number };
    expect(report.blobsRemoved).toEqual([]);
    expect(report.receivedKept).toBe(0);
  }, 60_000);

  it('survive a delete-triggered gc and a restart (the bytes are not lost), and a CLI gc keeps them too', async () => {
    const store = path.join(tmp, 'gc');
    const kept = image('kept');
    const dropped = image('dropped');
    let srv = await startServe(store, ['--allow-push', '--allow-delete']);
    try {
      expect(await post(srv, 'rr/art', kept.layer)).toBe(201);
      expect(await post(srv, 'rr/art', kept.config)).toBe(201);
      expect(await post(srv, 'rr/art', dropped.layer)).toBe(201);
      // DELETE of an uploaded blob schedules a gc: it sweeps the deleted blob, and must keep the others.
      const del = await rawRequest(`${srv.url}/v2/rr/art/blobs/${digestOf(dropped.layer)}`, { method: 'DELETE' });
      expect(del.status, del.body.toString()).toBe(202);
      expect(await head(srv, 'rr/art', dropped.layer)).toBe(404);
      expect(await until(() => !existsSync(blobFile(store, digestOf(dropped.layer)))), 'the gc after the delete ran').toBe(true);
      expect(existsSync(blobFile(store, digestOf(kept.layer)))).toBe(true);
      expect(existsSync(blobFile(store, digestOf(kept.config)))).toBe(true);
    } finally {
      await srv.stop();
    }
    // A CLI gc while serve is down keeps them as well (it reads the same records).
    const gc = runCli(['--store', store, 'gc', '--json']);
    expect(gc.code, show(gc)).toBe(0);
    expect((JSON.parse(gc.stdout) as { receivedKept: number }).receivedKept).toBe(2);
    expect(existsSync(blobFile(store, digestOf(kept.layer)))).toBe(true);

    srv = await startServe(store, ['--allow-push', '--allow-delete']);
    try {
      expect(await head(srv, 'rr/art', kept.layer)).toBe(200);
      expect(await head(srv, 'rr/art', dropped.layer)).toBe(404);
      const put = await putManifest(srv, 'rr/art', 'v1', kept.manifest);
      expect(put.status, put.body.toString()).toBe(201);
      // The deleted blob stays deleted: a manifest naming it is refused.
      const bad = await putManifest(srv, 'rr/art', 'v2', dropped.manifest);
      expect(bad.status).toBe(400);
      expect(errorCodes(bad.body)).toContain('MANIFEST_BLOB_UNKNOWN');
    } finally {
      await srv.stop();
    }
  }, 60_000);

  it('are served by a read-only serve of the same store, in their repository only', async () => {
    const store = path.join(tmp, 'read-only');
    const img = image('ro');
    let srv = await startServe(store, ['--allow-push']);
    try {
      expect(await post(srv, 'rr/art', img.layer)).toBe(201);
    } finally {
      await srv.stop();
    }
    srv = await startServe(store);
    try {
      const get = await rawRequest(`${srv.url}/v2/rr/art/blobs/${digestOf(img.layer)}`);
      expect(get.status).toBe(200);
      expect(get.body.equals(img.layer)).toBe(true);
      expect(await head(srv, 'rr/other', img.layer)).toBe(404);
    } finally {
      await srv.stop();
    }
  }, 60_000);

  it('a damaged received.json: verify calls it damage (exit 3, with the hint), gc refuses, and a read-only serve still answers what index.json names, leaking no path', async () => {
    const store = path.join(tmp, 'damaged-records');
    const img = image('dmg');
    const pushedOnly = Buffer.from('a blob no manifest names yet\n');
    let srv = await startServe(store, ['--allow-push']);
    try {
      expect(await post(srv, 'rr/img', img.layer)).toBe(201);
      expect(await post(srv, 'rr/img', img.config)).toBe(201);
      expect((await putManifest(srv, 'rr/img', '1', img.manifest)).status).toBe(201);
      expect(await post(srv, 'rr/img', pushedOnly)).toBe(201);
    } finally {
      await srv.stop();
    }
    writeFileSync(path.join(store, '.layerstore', 'received.json'), '{"version":1,"blobs":['); // a cut write, a hand edit
    const v = runCli(['--store', store, 'verify']);
    expect(v.code, show(v)).toBe(3);
    expect(v.stdout).toContain('received.json is damaged (it is not JSON) [E_STORE_INVALID]');
    expect(v.stdout).toContain('hint: it lists blobs pushed to serve that no manifest names yet; remove it to forget them');
    expect(v.stdout).not.toContain('orphan'); // gc would sweep nothing: no blob is one it "removes"
    const vj = JSON.parse(runCli(['--store', store, 'verify', '--json']).stdout);
    expect(vj.badFiles.map((f: any) => path.basename(f.path))).toEqual(['received.json']);
    expect(vj.orphans).toEqual([]);
    const gc = runCli(['--store', store, 'gc']);
    expect(gc.code, show(gc)).toBe(3);
    expect(existsSync(blobFile(store, digestOf(pushedOnly)))).toBe(true);
    srv = await startServe(store);
    try {
      // A tag and a digest index.json reaches need no received record.
      const byTag = await rawRequest(`${srv.url}/v2/rr/img/manifests/1`);
      expect(byTag.status, byTag.body.toString()).toBe(200);
      expect(byTag.body.equals(img.manifest)).toBe(true);
      expect((await rawRequest(`${srv.url}/v2/rr/img/blobs/${digestOf(img.layer)}`)).status).toBe(200);
      // The pushed-only blob needs the records: 500, saying what is wrong, with the store path taken out.
      const blob = await rawRequest(`${srv.url}/v2/rr/img/blobs/${digestOf(pushedOnly)}`);
      expect(blob.status).toBe(500);
      const text = blob.body.toString();
      expect(text).toContain('<store>/.layerstore/received.json is damaged');
      expect(text).not.toContain(tmp);
    } finally {
      await srv.stop();
    }
  }, 60_000);
});
