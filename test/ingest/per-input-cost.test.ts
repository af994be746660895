/**
 * What one command pays per input: the inputs of one `ingest` share one pool of hashing
 * threads (src/cli/ingest-command.ts passes IngestOptions.workers), and a small entry (a
 * config) is hashed on the main thread, so an input whose layers the store holds starts no
 * thread at all. Counted by spying on the pool's thread start-up, in-process, on real archives.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { RangeWorkers } from '../../src/digest/range-workers.js';
import { ingestPath } from '../../src/ingest/ingest.js';
import { Store } from '../../src/store/store.js';
import { BlobWriter } from '../../src/store/blob-writer.js';
import { digestOf, fill } from '../helpers/hand-bytes.js';
import { legacySave, type RawEntry } from '../helpers/make-tar.js';
import { ensureBuilt, REPO_ROOT } from '../helpers/cli.js';

let tmp = '';
const archives: string[] = [];

/** A base layer (1 MiB) shared by `n` images, each adding its own layer (200 KiB), as legacy saves. */
function family(n: number): string[] {
  const base = fill(1024 * 1024, 'family-base');
  return Array.from({ length: n }, (_, i) => {
    const layers = [base, fill(200 * 1024, `family-app-${i}`)];
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: layers.map((l) => digestOf(l)) } }));
    const configName = `${digestOf(config).slice(7)}.json`;
    const files: RawEntry[] = [{ name: configName, body: config }, ...layers.map((body, j) => ({ name: `l${j}/layer.tar`, body }))];
    const manifest = [{ Config: configName, RepoTags: [`acme/app${i}:1`], Layers: layers.map((_, j) => `l${j}/layer.tar`) }];
    const f = path.join(tmp, `image-${i}.tar`);
    writeFileSync(f, legacySave({ manifest, files }));
    return f;
  });
}

beforeAll(() => {
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-per-input-'));
  archives.push(...family(4));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
afterEach(() => vi.restoreAllMocks());

/** Threads the pools start while `fn` runs. */
async function threadsStarted(fn: () => Promise<void>): Promise<number> {
  const spawn = vi.spyOn(RangeWorkers.prototype as unknown as { spawn: () => unknown }, 'spawn');
  await fn();
  return spawn.mock.calls.length;
}

/** fsync calls (FileHandle.sync and datasync) made while `fn` runs. */
async function fsyncsDuring(fn: () => Promise<void>): Promise<number> {
  const fh = await fsp.open(archives[0]!, 'r');
  const proto = Object.getPrototypeOf(fh) as { sync: () => Promise<void>; datasync: () => Promise<void> };
  await fh.close();
  const sync = vi.spyOn(proto, 'sync');
  const datasync = vi.spyOn(proto, 'datasync');
  await fn();
  return sync.mock.calls.length + datasync.mock.calls.length;
}

describe('per-input cost', () => {
  it('an input whose blobs are all stored fsyncs nothing (its manifest.json and synthesized manifest are not new blobs)', async () => {
    const store = await Store.open(path.join(tmp, 'nosync'), { create: true });
    for (const a of archives) await ingestPath(store, a);
    const syncs = await fsyncsDuring(async () => {
      for (const a of archives) expect((await ingestPath(store, a)).blobsAdded).toBe(0);
    });
    expect(syncs).toBe(0);
  });

  it('a new image is still made durable: every blob it adds was fsynced (small ones when committed)', async () => {
    const store = await Store.open(path.join(tmp, 'durable'), { create: true });
    const fh = await fsp.open(archives[0]!, 'r');
    const proto = Object.getPrototypeOf(fh) as { sync: () => Promise<void> };
    await fh.close();
    const original = proto.sync;
    const synced = new Set<number>(); // inodes: a rename into blobs/ keeps the staging file's
    vi.spyOn(proto, 'sync').mockImplementation(async function (this: FileHandle) {
      synced.add((await this.stat()).ino);
      return original.call(this);
    });
    const r = await ingestPath(store, archives[0]!);
    vi.restoreAllMocks();
    // base layer (1 MiB: synced as written), app layer, config and synthesized manifest (small: synced at commit)
    expect(r.blobsAdded).toBe(4);
    const blobsDir = path.join(store.root, 'blobs', 'sha256');
    const inodes = await Promise.all((await fsp.readdir(blobsDir)).map(async (n) => (await fsp.stat(path.join(blobsDir, n))).ino));
    expect(inodes).toHaveLength(4);
    for (const ino of inodes) expect(synced.has(ino)).toBe(true);
  });

  it('inputs sharing a pool start its threads once, not once per input', async () => {
    const store = await Store.open(path.join(tmp, 'cold'), { create: true });
    const workers = new RangeWorkers(2);
    try {
      const started = await threadsStarted(async () => {
        for (const a of archives) await ingestPath(store, a, { workers });
      });
      expect(started).toBeLessThanOrEqual(2);
    } finally {
      await workers.close();
    }
  });

  it('an input whose layers are all stored starts no hashing thread (its config is hashed on the main thread)', async () => {
    const store = await Store.open(path.join(tmp, 'warm'), { create: true });
    for (const a of archives) await ingestPath(store, a);
    const started = await threadsStarted(async () => {
      for (const a of archives) {
        const r = await ingestPath(store, a);
        expect(r.blobsAdded).toBe(0);
      }
    });
    expect(started).toBe(0);
  });

  it('a config and manifest.json are parsed from the bytes read from the archive: no staging file is opened to read them', async () => {
    const store = await Store.open(path.join(tmp, 'held'), { create: true });
    const readStaged = vi.spyOn(BlobWriter.prototype, 'readStaged');
    const r = await ingestPath(store, archives[0]!);
    expect(r.blobsAdded).toBe(4);
    expect(readStaged).not.toHaveBeenCalled();
  });

  it("a commit reads index.json once (the transaction's own copy serves its ref update)", async () => {
    const store = await Store.open(path.join(tmp, 'index-once'), { create: true });
    await ingestPath(store, archives[0]!);
    const open = vi.spyOn(fsp, 'open');
    const r = await ingestPath(store, archives[1]!);
    expect(r.blobsAdded).toBe(3);
    const indexOpens = open.mock.calls.filter(([p]) => p === path.join(store.root, 'index.json'));
    expect(indexOpens).toHaveLength(1);
  });

  it('an ingest of archives loads no engine client: node:http and the engine modules come only with an engine input', () => {
    ensureBuilt();
    const probe = path.join(tmp, 'probe.mjs');
    // At exit, the built-in modules the process loaded (the engine clients are the only users of node:http on this path).
    writeFileSync(
      probe,
      "process.on('exit', () => process.stderr.write('LOADED ' + process.moduleLoadList.filter((m) => /^NativeModule (http|_http_\\w+)$/.test(m)).join(',') + '\\n'));\n",
    );
    const run = (args: string[]) =>
      spawnSync(process.execPath, ['--import', probe, path.join(REPO_ROOT, 'bin', 'layerstore.js'), '--store', path.join(tmp, 'cli'), ...args], {
        encoding: 'utf8',
      });
    const r = run(['-q', 'ingest', ...archives]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/^LOADED \n?$/m);
    // The probe can see it: an engine input does load node:http (the daemon is absent: exit 2).
    const e = run(['-q', 'ingest', '--engine-socket', path.join(tmp, 'no.sock'), 'docker-daemon:acme/none:1']);
    expect(e.status).toBe(2);
    expect(e.stderr).toMatch(/^LOADED .*NativeModule http$/m);
  });

  it("the CLI runs from its bundle: an ingest loads a few files of layerstore's own code, not one module per source file", () => {
    ensureBuilt();
    // The probe hooks module resolution (in the loader's thread) and prints, at exit, every
    // file the process loaded from this checkout outside node_modules.
    const hooks = path.join(tmp, 'hooks.mjs');
    writeFileSync(
      hooks,
      'let port;\nexport function initialize(data) { port = data.port; }\n' +
        'export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); port.postMessage(r.url); return r; }\n',
    );
    const probe = path.join(tmp, 'module-probe.mjs');
    writeFileSync(
      probe,
      "import { register } from 'node:module';\nimport { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';\n" +
        'const { port1, port2 } = new MessageChannel();\n' +
        `register(${JSON.stringify(pathToFileURL(hooks).href)}, { data: { port: port2 }, transferList: [port2] });\n` +
        "process.on('exit', () => { const seen = []; for (let m; (m = receiveMessageOnPort(port1)); ) seen.push(m.message);\n" +
        "  process.stderr.write('OWN ' + JSON.stringify(seen) + '\\n'); });\n",
    );
    const r = spawnSync(
      process.execPath,
      ['--import', probe, path.join(REPO_ROOT, 'bin', 'layerstore.js'), '--store', path.join(tmp, 'bundle'), '-q', 'ingest', ...archives],
      {
        encoding: 'utf8',
      },
    );
    expect(r.status, r.stderr).toBe(0);
    const line = /^OWN (.*)$/m.exec(r.stderr);
    expect(line, r.stderr).not.toBeNull();
    const root = pathToFileURL(REPO_ROOT).href;
    const own = [...new Set(JSON.parse(line![1]!) as string[])]
      .filter((u) => u.startsWith(`${root}/`) && !u.includes('/node_modules/'))
      .map((u) => u.slice(root.length + 1));
    // Everything but bin/layerstore.js comes from dist/bundle/cli (scripts/bundle-cli.mjs); run
    // from dist/src, the same ingest loaded ~80 modules.
    expect(own.filter((f) => !f.startsWith('dist/bundle/cli/') && f !== 'bin/layerstore.js')).toEqual([]);
    expect(own.length, own.join('\n')).toBeGreaterThan(1);
    expect(own.length, own.join('\n')).toBeLessThanOrEqual(25);
  });
});
