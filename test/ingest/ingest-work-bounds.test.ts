/**
 * Ingest checks before it works (security review, issue 16 item 7): an archive entry that
 * nothing references is not staged, a JSON document above its limit is refused by the size
 * its tar header (or the file system) gives before a byte of it is copied, the number of
 * entries is bounded and each costs little, and a sparse tar entry is refused as
 * unsupported instead of being reported missing.
 *
 * "Not staged" is measured as the bytes this process wrote during the ingest
 * (/proc/self/io wchar: every write() of the main thread and the hashing workers), which a
 * staged copy of the entry would exceed. Big entries cost the test little: an uncompressed
 * archive claims its big entry in a header over a hole of a sparse file, a gzip one holds
 * zeros that compress a thousandfold.
 */
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import { execFileSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerstoreError, type ErrorCode } from '../../src/errors.js';
import { ingestPath } from '../../src/ingest/ingest.js';
import { Store } from '../../src/store/store.js';
import { imageConfig, layerTar, sha256hex, writeOciLayoutDir, type ImageSpec } from '../../fixtures/image-writer.js';
import { legacySave, paxRecords, rawHeader, rawTar, type RawEntry } from '../helpers/make-tar.js';
import { filesUnder, snapshotObject, snapshotStore } from '../helpers/store-snapshot.js';
import { storePaths } from '../helpers/store-paths.js';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const HAS_PROC_IO = existsSync('/proc/self/io');

/** Bytes this process has written so far (write() calls of every thread). */
function bytesWritten(): number {
  return Number(/^wchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'utf8'))![1]);
}

const work: string[] = [];
let layer: Buffer;

beforeAll(async () => {
  layer = await layerTar([{ path: 'etc/motd', content: 'work before checks\n' }]);
});

afterAll(async () => {
  for (const d of work) await fsp.rm(d, { recursive: true, force: true }).catch(() => {});
});

async function tmpDir(): Promise<string> {
  const d = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-bounds-'));
  work.push(d);
  return d;
}

async function newStore(dir: string): Promise<Store> {
  return Store.open(path.join(dir, 'store'), { create: true });
}

/** A legacy save's entries, manifest.json last (as docker writes it); `extra` goes before the manifest. */
function legacyEntries(tag: string, opts: { configName?: string; layerName?: string } = {}): { files: RawEntry[]; manifest: RawEntry } {
  const spec: ImageSpec = { repoTags: [tag], layers: [{ tar: layer, compression: 'none' }] };
  const config = imageConfig(spec);
  const configName = opts.configName ?? `${sha256hex(config)}.json`;
  const layerName = opts.layerName ?? 'l0/layer.tar';
  return {
    files: [
      { name: configName, body: config },
      { name: layerName, body: layer },
    ],
    manifest: { name: 'manifest.json', body: JSON.stringify([{ Config: configName, RepoTags: [tag], Layers: [layerName] }]) },
  };
}

/**
 * An uncompressed tar written to `file` whose entry `big` claims `size` bytes that are a hole
 * of a sparse file: `before` entries, then big's header, the hole, then `after` entries and the
 * end-of-archive blocks. The file takes a few KiB of disk.
 */
async function sparseTar(file: string, before: RawEntry[], big: { name: string; size: number }, after: RawEntry[]): Promise<void> {
  // Sizes of 8 GiB and more do not fit the header's octal field: a pax record gives them.
  const bigHeaders: RawEntry[] =
    big.size < 8 * GiB
      ? [{ name: big.name, declaredSize: big.size }]
      : [{ name: 'PaxHeader', typeflag: 'x', body: paxRecords([`size=${big.size}`]) }, { name: big.name }];
  const head = rawTar([...before, ...bigHeaders], { endBlocks: 0 });
  const tail = rawTar(after);
  const fh = await fsp.open(file, 'w');
  try {
    await fh.write(head, 0, head.length, 0);
    await fh.write(tail, 0, tail.length, head.length + Math.ceil(big.size / 512) * 512);
  } finally {
    await fh.close();
  }
}

/** Ingest `file`; the error when it fails, and the bytes written meanwhile. */
async function ingestMeasured(store: Store, file: string): Promise<{ error?: unknown; written: number; images: number }> {
  const before = bytesWritten();
  try {
    const r = await ingestPath(store, file);
    return { written: bytesWritten() - before, images: r.images.length };
  } catch (error) {
    return { error, written: bytesWritten() - before, images: 0 };
  }
}

/** The ingest of `file` fails with `code`, and the store is as it was, staging empty. */
async function expectRejected(store: Store, file: string, code: ErrorCode): Promise<LayerstoreError> {
  const dir = storePaths(store).root;
  const before = await snapshotStore(dir);
  let caught: unknown;
  try {
    await ingestPath(store, file);
  } catch (e) {
    caught = e;
  }
  expect(caught, 'ingest must reject').toBeInstanceOf(LayerstoreError);
  const err = caught as LayerstoreError;
  expect(err.code, err.describe()).toBe(code);
  const after = await snapshotStore(dir);
  expect(filesUnder(after, '.layerstore/staging')).toEqual([]);
  expect(snapshotObject(after)).toEqual(snapshotObject(before));
  return err;
}

describe.skipIf(!HAS_PROC_IO)('an entry nothing references is not staged', () => {
  it('uncompressed: a 1 GiB entry named like a legacy layer that manifest.json does not list is never copied', async () => {
    const dir = await tmpDir();
    const store = await newStore(dir);
    const { files, manifest } = legacyEntries('bounds/plain:1');
    const file = path.join(dir, 'unreferenced.tar');
    await sparseTar(file, files, { name: `${'a'.repeat(64)}/layer.tar`, size: GiB }, [manifest]);
    const r = await ingestMeasured(store, file);
    expect(r.error).toBeUndefined();
    expect(r.images).toBe(1);
    expect(r.written).toBeLessThan(64 * MiB);
    expect(await fsp.readdir(storePaths(store).stagingDir)).toEqual([]);
  });

  it('gzip: a 256 MiB entry whose name no format can reference is never copied', async () => {
    const dir = await tmpDir();
    const store = await newStore(dir);
    const { files, manifest } = legacyEntries('bounds/gzip:1');
    const file = path.join(dir, 'unreferenced.tar.gz');
    await fsp.writeFile(file, zlib.gzipSync(rawTar([...files, { name: 'junk/blob.bin', body: Buffer.alloc(256 * MiB) }, manifest]), { level: 1 }));
    const r = await ingestMeasured(store, file);
    expect(r.error).toBeUndefined();
    expect(r.images).toBe(1);
    expect(r.written).toBeLessThan(64 * MiB);
  });

  it('gzip: legacy leftovers docker load ignores (<id>/json, <id>/VERSION, repositories) are not copied', async () => {
    const dir = await tmpDir();
    const store = await newStore(dir);
    const { files, manifest } = legacyEntries('bounds/leftovers:1');
    const id = 'b'.repeat(64);
    const big = Buffer.alloc(100 * MiB);
    const tar = rawTar([...files, { name: `${id}/json`, body: big }, { name: `${id}/VERSION`, body: big }, { name: 'repositories', body: big }, manifest]);
    const file = path.join(dir, 'leftovers.tar.gz');
    await fsp.writeFile(file, zlib.gzipSync(tar, { level: 1 }));
    const r = await ingestMeasured(store, file);
    expect(r.error).toBeUndefined();
    expect(r.written).toBeLessThan(64 * MiB);
  });
});

describe('a compressed archive that fails during its pass', () => {
  it('gzip, cut short after an entry staged on the way (a 1 MiB blob) -> E_TRUNCATED, nothing left in staging', async () => {
    const dir = await tmpDir();
    const store = await newStore(dir);
    const blob = Buffer.alloc(MiB, 7);
    // 64 MiB after it, so the cut is found long after the blob was staged.
    const tar = rawTar([
      { name: `blobs/sha256/${sha256hex(blob)}`, body: blob },
      { name: 'more', body: Buffer.alloc(64 * MiB) },
    ]);
    const file = path.join(dir, 'cut.tar.gz');
    await fsp.writeFile(file, zlib.gzipSync(tar.subarray(0, tar.length - 3000), { level: 1 }));
    await expectRejected(store, file, 'E_TRUNCATED');
  });
});

describe('entries with names of no known shape are still read when manifest.json lists them', () => {
  // A compressed archive is read in one pass, where only names of known shapes are kept;
  // a second pass fetches what manifest.json turns out to list (Jib names its config
  // "config.json"), so no archive that ingested before is refused now.
  for (const [what, compress] of [
    ['gzip', (b: Buffer) => zlib.gzipSync(b)],
    ['uncompressed', (b: Buffer) => b],
  ] as const) {
    it(`${what}: config "config.json" and layer "layers/app.tar", manifest.json last`, async () => {
      const dir = await tmpDir();
      const store = await newStore(dir);
      const { files, manifest } = legacyEntries('bounds/jib:1', { configName: 'config.json', layerName: 'layers/app.tar' });
      const file = path.join(dir, `jib.tar${what === 'gzip' ? '.gz' : ''}`);
      await fsp.writeFile(file, compress(rawTar([{ name: 'junk', body: 'x' }, ...files, manifest])));
      const r = await ingestPath(store, file);
      expect(r.images.map((i) => i.refs)).toEqual([['bounds/jib:1']]);
      expect(r.images[0]!.layers).toEqual([`sha256:${sha256hex(layer)}`]);
      expect(await fsp.readdir(storePaths(store).stagingDir)).toEqual([]);
    });
  }

  it('gzip: a layer reached through a symlink of no known shape', async () => {
    const dir = await tmpDir();
    const store = await newStore(dir);
    const { files, manifest } = legacyEntries('bounds/link:1', { layerName: 'layers/app.tar' });
    const file = path.join(dir, 'link.tar.gz');
    const linked = JSON.parse(manifest.body as string);
    linked[0].Layers = ['shared.tar'];
    await fsp.writeFile(
      file,
      zlib.gzipSync(
        rawTar([...files, { name: 'shared.tar', type: 'symlink', linkname: 'layers/app.tar' }, { name: 'manifest.json', body: JSON.stringify(linked) }]),
      ),
    );
    const r = await ingestPath(store, file);
    expect(r.images[0]!.layers).toEqual([`sha256:${sha256hex(layer)}`]);
  });
});

describe('a JSON document above its limit is refused by its size, before it is copied', () => {
  it('a layout directory whose index.json is a 20 GB sparse file -> E_TOO_LARGE', async () => {
    const dir = await tmpDir();
    const store = await newStore(dir);
    const layout = path.join(dir, 'layout');
    writeOciLayoutDir(layout, [{ repoTags: ['bounds/dir:1'], layers: [{ tar: layer, compression: 'none' }] }]);
    await fsp.truncate(path.join(layout, 'index.json'), 20 * 1000 * 1000 * 1000);
    const err = await expectRejected(store, layout, 'E_TOO_LARGE');
    expect(err.entry).toBe('index.json');
  }, 20_000);

  it('a layout directory whose manifest blob is a 20 GB sparse file -> E_TOO_LARGE', async () => {
    const dir = await tmpDir();
    const store = await newStore(dir);
    const layout = path.join(dir, 'layout');
    writeOciLayoutDir(layout, [{ repoTags: ['bounds/dir:1'], layers: [{ tar: layer, compression: 'none' }] }]);
    const manifest = JSON.parse(await fsp.readFile(path.join(layout, 'index.json'), 'utf8')).manifests[0].digest.slice(7);
    await fsp.truncate(path.join(layout, 'blobs/sha256', manifest), 20 * 1000 * 1000 * 1000);
    await expectRejected(store, layout, 'E_TOO_LARGE');
  }, 20_000);

  it('an uncompressed oci-archive whose index.json header claims 20 GB (a hole) -> E_TOO_LARGE', async () => {
    const dir = await tmpDir();
    const store = await newStore(dir);
    const file = path.join(dir, 'big-index.tar');
    await sparseTar(file, [{ name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' }], { name: 'index.json', size: 20 * 1000 * 1000 * 1000 }, []);
    const err = await expectRejected(store, file, 'E_TOO_LARGE');
    expect(err.entry).toBe('index.json');
  }, 20_000);

  it.skipIf(!HAS_PROC_IO)('gzip: a 200 MiB manifest.json -> E_TOO_LARGE, and it was never copied', async () => {
    const dir = await tmpDir();
    const store = await newStore(dir);
    const { files } = legacyEntries('bounds/bigjson:1');
    const file = path.join(dir, 'big-manifest.tar.gz');
    await fsp.writeFile(file, zlib.gzipSync(rawTar([...files, { name: 'manifest.json', body: Buffer.alloc(200 * MiB, 0x20) }]), { level: 1 }));
    const r = await ingestMeasured(store, file);
    expect((r.error as LayerstoreError).code).toBe('E_TOO_LARGE');
    expect(r.written).toBeLessThan(64 * MiB);
  });
});

describe('the number of entries is bounded, and each costs little', () => {
  /** A tar of `n` empty files named by `name(i)`, with end-of-archive blocks when `end`. */
  function emptyEntries(n: number, name: (i: number) => string, end = true): Buffer {
    const tar = Buffer.alloc(n * 512 + (end ? 1024 : 0));
    for (let i = 0; i < n; i++) rawHeader({ name: name(i) }).copy(tar, i * 512);
    return tar;
  }

  it('gzip: 200,000 empty entries -> E_TOO_LARGE (at most 100,000 entries), store unchanged', async () => {
    const dir = await tmpDir();
    const store = await newStore(dir);
    const file = path.join(dir, 'many.tar.gz');
    await fsp.writeFile(
      file,
      zlib.gzipSync(
        emptyEntries(200_000, (i) => `f${i}`),
        { level: 1 },
      ),
    );
    const err = await expectRejected(store, file, 'E_TOO_LARGE');
    expect(err.message).toContain('100000');
  }, 60_000);

  it('gzip: 90,000 empty entries named like OCI blobs, and one image: ingests, nothing left in staging', async () => {
    const dir = await tmpDir();
    const store = await newStore(dir);
    const { files, manifest } = legacyEntries('bounds/many:1');
    const image = rawTar([...files, manifest], { endBlocks: 0 });
    const hex = (i: number) => sha256hex(String(i));
    const blobs = emptyEntries(90_000, (i) => `blobs/sha256/${hex(i)}`);
    const file = path.join(dir, 'many-blobs.tar.gz');
    await fsp.writeFile(file, zlib.gzipSync(Buffer.concat([image, blobs]), { level: 1 }));
    const r = await ingestPath(store, file);
    expect(r.images).toHaveLength(1);
    expect(await fsp.readdir(storePaths(store).stagingDir)).toEqual([]);
  }, 60_000);
});

describe('sparse tar entries are refused as unsupported, naming the entry', () => {
  /** A legacy save whose layer entry is written as a GNU sparse file by GNU tar itself. */
  async function gnuSparseSave(format: 'gnu' | 'pax'): Promise<Buffer> {
    const d = await tmpDir();
    const { files, manifest } = legacyEntries('bounds/sparse:1');
    for (const f of [...files, manifest]) {
      await fsp.mkdir(path.join(d, path.dirname(f.name)), { recursive: true });
      await fsp.writeFile(path.join(d, f.name), f.body!);
    }
    // The layer, with a 1 MiB hole in front: GNU tar --sparse stores it as a sparse entry.
    const lt = path.join(d, 'l0/layer.tar');
    await fsp.truncate(lt, 0);
    await fsp.truncate(lt, MiB);
    await fsp.appendFile(lt, layer);
    const out = path.join(await tmpDir(), 'sparse.tar');
    execFileSync('tar', ['--sparse', `--format=${format}`, '-cf', out, '-C', d, files[0]!.name, 'l0/layer.tar', 'manifest.json']);
    return fsp.readFile(out);
  }

  for (const format of ['gnu', 'pax'] as const) {
    for (const compressed of [false, true]) {
      it(`GNU tar --sparse --format=${format}${compressed ? ', gzip' : ''}: the layer -> E_UNSUPPORTED naming l0/layer.tar`, async () => {
        const dir = await tmpDir();
        const store = await newStore(dir);
        const file = path.join(dir, `sparse-${format}.tar${compressed ? '.gz' : ''}`);
        const tar = await gnuSparseSave(format);
        await fsp.writeFile(file, compressed ? zlib.gzipSync(tar) : tar);
        const err = await expectRejected(store, file, 'E_UNSUPPORTED');
        expect(err.message).toContain('l0/layer.tar');
        expect(err.message).toMatch(/sparse/);
      });
    }
  }

  it('a hand-built pax GNU.sparse.* entry (format 0.1) -> E_UNSUPPORTED naming it', async () => {
    const dir = await tmpDir();
    const store = await newStore(dir);
    const { files, manifest } = legacyEntries('bounds/sparse01:1');
    const file = path.join(dir, 'sparse01.tar');
    const sparseHeader: RawEntry = {
      name: 'PaxHeader/layer.tar',
      typeflag: 'x',
      // a good map (the layer's bytes after a 1 KiB hole): refused for being sparse, not for a faulty map
      body: paxRecords([`GNU.sparse.size=${1024 + layer.length}`, 'GNU.sparse.numblocks=1', `GNU.sparse.map=1024,${layer.length}`]),
    };
    await fsp.writeFile(file, legacySave({ manifest: JSON.parse(manifest.body as string), files: [files[0]!, sparseHeader, files[1]!] }));
    const err = await expectRejected(store, file, 'E_UNSUPPORTED');
    expect(err.message).toContain('l0/layer.tar');
  });
});
