/**
 * zstd windows: a layer (or a whole archive) compressed with `zstd --long=N` declares a
 * window of 2^N bytes that a decoder must hold. Up to 128 MiB (--long=27, zstd's own default
 * decoder limit) both decoders, the zstd command and the fzstd fallback (LAYERSTORE_ZSTD=js),
 * ingest it alike; above, both refuse it with the same E_DECOMPRESS line, before allocating
 * the window. Every frame of a stream is checked, not only the first.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { indexLayerStream } from '../../src/analysis/file-index.js';
import { zstdBinary } from '../../src/archive/zstd-child.js';
import { CLI, ensureBuilt, listBlobs, readStoreImages, runCli, show, type CliResult } from '../helpers/cli.js';
import { digestOf, imageDocs } from '../helpers/hand-bytes.js';
import { rawTar } from '../helpers/make-tar.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { peer } from '../helpers/peers.js';

const HAVE_ZSTD = peer('the zstd command', zstdBinary() !== undefined, 'apt-get install zstd');
const HAVE_TIME = peer('/usr/bin/time', existsSync('/usr/bin/time'), 'apt-get install time');
const REFUSAL_1GIB = 'zstd window of 1024 MiB exceeds the 128 MiB limit';

/** zstd on stdin (so no content size is written and the frame declares its window). */
function zstd(args: string[], input: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', ...args], { input, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`zstd ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

/** A skippable frame (RFC 8878 3.1.2): magic 0x184D2A5?, a 4-byte length, that many bytes. */
function skippable(payload: Buffer): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt32LE(0x184d2a53, 0);
  h.writeUInt32LE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

/** Deterministic bytes that do not compress (sha256 in counter mode). */
function noise(seed: string, n: number): Buffer {
  const out: Buffer[] = [];
  for (let i = 0, len = 0; len < n; i++, len += 32) out.push(createHash('sha256').update(`${seed}:${i}`).digest());
  return Buffer.concat(out).subarray(0, n);
}

const ENVS = { js: { LAYERSTORE_ZSTD: 'js' }, binary: {} } as const;

let tmp: string;
const p = (...x: string[]) => path.join(tmp, ...x);
let tar: Buffer;
let layers: Record<string, Buffer>;

/** The files of an OCI layout holding one image whose only layer is `layer`, compressed from `plain`. */
function layoutFiles(layer: Buffer, tag: string, plain = tar): Map<string, Buffer> {
  const { config, manifest } = imageDocs(layer, { uncompressed: plain, layerMediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' });
  const index = {
    schemaVersion: 2,
    manifests: [
      {
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        digest: digestOf(manifest),
        size: manifest.length,
        annotations: { 'org.opencontainers.image.ref.name': tag },
      },
    ],
  };
  const files = new Map<string, Buffer>([
    ['oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}')],
    ['index.json', Buffer.from(JSON.stringify(index))],
  ]);
  for (const b of [config, manifest, layer]) files.set(`blobs/sha256/${digestOf(b).slice(7)}`, b);
  return files;
}

function writeLayoutDir(dir: string, files: Map<string, Buffer>): string {
  for (const [name, bytes] of files) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), bytes);
  }
  return dir;
}

function ociArchive(files: Map<string, Buffer>): Buffer {
  return rawTar([...files].map(([name, body]) => ({ name, body })));
}

/** The error line of a failed run, with the input's path taken out (it differs per run). */
const errorLine = (r: CliResult, input: string) =>
  r.stderr
    .split('\n')
    .find((l) => l.startsWith('layerstore: error:'))
    ?.replaceAll(input, '<input>');

/** Ingest `input` into a fresh store under each decoder. */
function ingestBoth(name: string, input: string) {
  const out = {} as Record<keyof typeof ENVS, { r: CliResult; store: string }>;
  for (const [env, vars] of Object.entries(ENVS) as Array<[keyof typeof ENVS, Record<string, string>]>) {
    const store = p(`store-${name}-${env}`);
    out[env] = { r: runCli(['--store', store, 'ingest', input], { env: vars }), store };
  }
  return out;
}

beforeAll(() => {
  if (!HAVE_ZSTD) return;
  ensureBuilt();
  tmp = mkdtempSync(path.join(os.tmpdir(), 'ls-zstd-window-'));
  // three 128 KiB files: several zstd blocks, split across frames below
  tar = rawTar([0, 1, 2].map((i) => ({ name: `f${i}.bin`, body: noise(`f${i}`, 128 * 1024) })));
  const half = 512 * 100 + 77; // anywhere: frames decompress to one concatenated stream
  layers = {
    long30: zstd(['--long=30'], tar),
    long28: zstd(['--long=28'], tar),
    long27: zstd(['--long=27'], tar),
    // a small-window frame, a skippable frame, then a 1 GiB-window frame
    laterFrame30: Buffer.concat([zstd(['-3'], tar.subarray(0, half)), skippable(Buffer.from('hello')), zstd(['--long=30'], tar.subarray(half))]),
    // a 128 MiB-window frame, a skippable frame, a small-window frame
    frames27: Buffer.concat([zstd(['--long=27'], tar.subarray(0, half)), skippable(Buffer.from('hello')), zstd(['-3'], tar.subarray(half))]),
  };
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe.skipIf(!HAVE_ZSTD)('zstd windows: the same answer from the zstd command and from fzstd', () => {
  it('the inputs declare the windows they are named after (zstd -lv)', () => {
    const f = p('check.zst');
    for (const [name, want] of [
      ['long30', '1.000 GiB'],
      ['long27', '128 MiB'],
    ] as const) {
      writeFileSync(f, layers[name]!);
      expect(spawnSync('zstd', ['-lv', f], { encoding: 'utf8' }).stdout).toContain(`Window Size: ${want}`);
    }
  });

  it.each([
    ['long30', REFUSAL_1GIB],
    ['long28', 'zstd window of 256 MiB exceeds the 128 MiB limit'],
    ['laterFrame30', REFUSAL_1GIB],
  ])('a layer of a layout directory, %s: refused by both with the same E_DECOMPRESS line; the store is unchanged', async (name, refusal) => {
    const dir = writeLayoutDir(p(`layout-${name}`), layoutFiles(layers[name]!, name));
    const runs = ingestBoth(`dir-${name}`, dir);
    for (const { r, store } of Object.values(runs)) {
      expect(r.code, show(r)).toBe(2);
      expect(errorLine(r, dir)).toContain('[E_DECOMPRESS]');
      expect(errorLine(r, dir)).toContain(refusal);
      expect(existsSync(store) ? listBlobs(store) : []).toEqual([]);
    }
    expect(errorLine(runs.js.r, dir)).toBe(errorLine(runs.binary.r, dir));
  });

  it.each(['long30', 'laterFrame30'])('a layer of an oci-archive, %s: refused by both with the same line', (name) => {
    const file = p(`archive-${name}.tar`);
    writeFileSync(file, ociArchive(layoutFiles(layers[name]!, name)));
    const runs = ingestBoth(`tar-${name}`, file);
    for (const { r } of Object.values(runs)) {
      expect(r.code, show(r)).toBe(2);
      expect(errorLine(r, file)).toContain(`${REFUSAL_1GIB} [E_DECOMPRESS]`);
    }
    expect(errorLine(runs.js.r, file)).toBe(errorLine(runs.binary.r, file));
  });

  it('a whole archive compressed with --long=30: refused by both with the same line, nothing stored', async () => {
    const file = p('whole-long30.tar.zst');
    writeFileSync(file, zstd(['--long=30'], ociArchive(layoutFiles(tar, 'plain'))));
    const runs = ingestBoth('whole30', file);
    for (const { r, store } of Object.values(runs)) {
      expect(r.code, show(r)).toBe(2);
      expect(errorLine(r, file)).toContain(`${REFUSAL_1GIB} [E_DECOMPRESS]`);
      expect(existsSync(store) ? listBlobs(store) : []).toEqual([]);
    }
    expect(errorLine(runs.js.r, file)).toBe(errorLine(runs.binary.r, file));
  });

  it('a refusal leaves an existing store byte-identical', async () => {
    const store = p('store-existing');
    const ok = runCli(['--store', store, 'ingest', writeLayoutDir(p('layout-ok'), layoutFiles(layers.long27!, 'ok'))]);
    expect(ok.code, show(ok)).toBe(0);
    const before = await snapshotStore(store);
    for (const vars of Object.values(ENVS)) {
      const r = runCli(['--store', store, 'ingest', writeLayoutDir(p('layout-bad'), layoutFiles(layers.long30!, 'bad'))], { env: vars });
      expect(r.code, show(r)).toBe(2);
      expect(await snapshotStore(store)).toEqual(before);
    }
  });

  it.each(['long27', 'frames27'])('within the limit, %s: a layout and an oci-archive ingest with both decoders to the same image', (name) => {
    const files = layoutFiles(layers[name]!, name);
    const dir = writeLayoutDir(p(`layout-ok-${name}`), files);
    const file = p(`archive-ok-${name}.tar`);
    writeFileSync(file, ociArchive(files));
    for (const input of [dir, file]) {
      const runs = ingestBoth(`ok-${name}-${path.basename(input)}`, input);
      const images = Object.values(runs).map(({ r, store }) => {
        expect(r.code, show(r)).toBe(0);
        return readStoreImages(store);
      });
      expect(images[0]).toEqual(images[1]);
      expect(images[0]![0]!.layers).toEqual([digestOf(layers[name]!)]);
      expect(images[0]![0]!.diffIds).toEqual([digestOf(tar)]);
    }
  });

  it('report --files on a --long=27 layer lists the same files with both decoders', () => {
    const store = p('store-files');
    const r = runCli(['--store', store, 'ingest', writeLayoutDir(p('layout-files'), layoutFiles(layers.long27!, 'files:1'))]);
    expect(r.code, show(r)).toBe(0);
    const out = Object.values(ENVS).map((vars) => {
      const rep = runCli(['--store', store, 'report', '--files', '--json'], { env: vars });
      expect(rep.code, show(rep)).toBe(0);
      return JSON.parse(rep.stdout);
    });
    expect(out[0]).toEqual(out[1]);
  });

  it('the file index (report --files) of a --long=30 layer: the same refusal from both decoders', async () => {
    const results: string[] = [];
    const prev = process.env.LAYERSTORE_ZSTD;
    try {
      for (const choice of ['js', undefined]) {
        if (choice === undefined) delete process.env.LAYERSTORE_ZSTD;
        else process.env.LAYERSTORE_ZSTD = choice;
        const e = await indexLayerStream(Readable.from([layers.long30!]), 'zstd').then(
          () => undefined,
          (err: { code?: string; message: string }) => `${err.message} [${err.code}]`,
        );
        results.push(String(e));
      }
    } finally {
      if (prev === undefined) delete process.env.LAYERSTORE_ZSTD;
      else process.env.LAYERSTORE_ZSTD = prev;
    }
    expect(results[0]).toContain(`${REFUSAL_1GIB} [E_DECOMPRESS]`);
    expect(results[1]).toBe(results[0]);
  });

  it.skipIf(!HAVE_TIME)('refusing 1 GiB windows allocates none of them: peak RSS of fzstd ingesting three such layers stays under 300 MB', () => {
    // three images of one 1 GiB-window layer each (different tars), in one layout: staged at once
    const all = new Map<string, Buffer>();
    const manifests: Buffer[] = [];
    for (const i of [1, 2, 3]) {
      const plain = Buffer.concat([tar.subarray(0, tar.length - 1024), Buffer.alloc(512 * i), Buffer.alloc(1024)]);
      const files = layoutFiles(zstd(['--long=30'], plain), `three:${i}`, plain);
      manifests.push(...JSON.parse(files.get('index.json')!.toString('utf8')).manifests);
      for (const [k, v] of files) if (k.startsWith('blobs/')) all.set(k, v);
    }
    all.set('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
    all.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests })));
    const dir = writeLayoutDir(p('layout-three'), all);
    const env: NodeJS.ProcessEnv = { ...process.env, LAYERSTORE_ZSTD: 'js' };
    delete env.LAYERSTORE_STORE;
    const r = spawnSync('/usr/bin/time', ['-f', 'maxrss_kb=%M', process.execPath, CLI, '--store', p('store-three'), 'ingest', dir], { encoding: 'utf8', env });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(REFUSAL_1GIB);
    const kb = Number(/maxrss_kb=(\d+)/.exec(r.stderr)?.[1]);
    expect(kb).toBeGreaterThan(0);
    expect(kb * 1024).toBeLessThan(300e6);
  });
});
