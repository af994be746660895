/**
 * What a descriptor may point at (issue 16, items 4 and 6).
 *
 * An index.json entry (a ref, or an untagged root) must name an image manifest or index, and
 * a descriptor's media type and the document it names must agree, as containers/image
 * requires: an index-typed descriptor naming a manifest (or a manifest-typed one naming an
 * index, or a document whose own mediaType says otherwise) is refused. Ingest refuses these
 * with E_MANIFEST_INVALID and leaves the store byte-identical, so every command can read what
 * ingest accepts. For a store written before these checks, the readers (ls, report, diff,
 * budget) still work and verify names the bad entry as damage.
 *
 * Inputs are OCI layouts built in code from fixtures/image-writer.ts's ociLayout, then edited.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, promises as fsp, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LayerstoreError, type ErrorCode } from '../../src/errors.js';
import { ingestPath } from '../../src/ingest/ingest.js';
import { Store } from '../../src/store/store.js';
import { layerTar, ociArchive, ociLayout, type ImageSpec } from '../../fixtures/image-writer.js';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';
import { rawTar, type RawEntry } from '../helpers/make-tar.js';
import { filesUnder, snapshotObject, snapshotStore } from '../helpers/store-snapshot.js';

const MT = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
};
const REF = 'org.opencontainers.image.ref.name';

interface Desc {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: { architecture: string; os: string };
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Deterministic bytes that are not JSON (sha256 in counter mode). */
function noise(seed: string, n: number): Buffer {
  const out: Buffer[] = [];
  for (let i = 0, len = 0; len < n; i++, len += 32) out.push(createHash('sha256').update(`${seed}:${i}`).digest());
  return Buffer.concat(out).subarray(0, n);
}

/** An OCI layout (path -> bytes) of one image, with handles on its parts for editing. */
class Layout {
  readonly files: Map<string, Buffer>;
  readonly manifest: Desc;
  readonly doc: { mediaType?: string; config: Desc; layers: Desc[] };

  constructor(specs: ImageSpec[]) {
    this.files = ociLayout(specs);
    const idx = JSON.parse(this.files.get('index.json')!.toString('utf8')) as { manifests: Desc[] };
    const { annotations: _a, ...m } = idx.manifests[0]!;
    this.manifest = m;
    this.doc = JSON.parse(this.blob(m.digest).toString('utf8'));
  }

  blob(d: string): Buffer {
    return this.files.get(`blobs/sha256/${d.slice('sha256:'.length)}`)!;
  }

  /** Store `bytes` as a blob; the descriptor for it, typed `mediaType`. */
  add(bytes: Buffer | string | object, mediaType: string): Desc {
    const b = Buffer.isBuffer(bytes) ? bytes : Buffer.from(typeof bytes === 'string' ? bytes : JSON.stringify(bytes));
    const digest = sha(b);
    this.files.set(`blobs/sha256/${digest.slice('sha256:'.length)}`, b);
    return { mediaType, digest, size: b.length };
  }

  /** Replace index.json's entries. */
  roots(...descs: Desc[]): this {
    this.files.set('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests: descs })));
    return this;
  }

  tar(): Buffer {
    const entries: RawEntry[] = [
      { name: 'blobs/', type: 'dir' },
      { name: 'blobs/sha256/', type: 'dir' },
    ];
    for (const name of [...this.files.keys()].sort()) entries.push({ name, body: this.files.get(name)! });
    return rawTar(entries);
  }

  writeDir(dir: string): void {
    for (const [rel, bytes] of this.files) {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), bytes);
    }
  }
}

const tagged = (d: Desc, ref: string): Desc => ({ ...d, annotations: { [REF]: ref } });

// ------------------------------------------------------------------------------------------
// harness

const work: string[] = [];
let layerSmall: Buffer; // an uncompressed layer tar of a few KiB
let layerBig: Buffer; // one above 64 KiB
let goodTar: Buffer;

beforeAll(async () => {
  ensureBuilt();
  layerSmall = await layerTar([{ path: 'etc/motd', content: 'hello\n' }]);
  layerBig = await layerTar([{ path: 'srv/blob', content: noise('big', 100 * 1024) }]);
  goodTar = await ociArchive([{ repoTags: ['good/base:1'], layers: [{ tar: layerSmall, compression: 'none' }] }]);
}, 60_000);

afterAll(async () => {
  for (const d of work) await fsp.rm(d, { recursive: true, force: true }).catch(() => {});
});

function image(ref: string, layer = layerSmall): Layout {
  return new Layout([{ repoTags: [ref], layers: [{ tar: layer, compression: 'none' }] }]);
}

interface Env {
  dir: string;
  storeDir: string;
  store: Store;
}

/** A temp dir holding `store/` with one good image (good/base:1) already in it. */
async function env(): Promise<Env> {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-kinds-'));
  work.push(dir);
  const storeDir = path.join(dir, 'store');
  const store = await Store.open(storeDir, { create: true });
  await fsp.writeFile(path.join(dir, 'good.tar'), goodTar);
  await ingestPath(store, path.join(dir, 'good.tar'));
  return { dir, storeDir, store };
}

/** Ingest `input` (an archive, or a layout written as a directory) and assert the rejection and an unchanged store. */
async function expectRejected(input: Layout, code: ErrorCode, as: 'tar' | 'dir' = 'tar'): Promise<LayerstoreError> {
  const en = await env();
  const file = path.join(en.dir, as === 'tar' ? 'bad.tar' : 'bad-layout');
  if (as === 'tar') await fsp.writeFile(file, input.tar());
  else input.writeDir(file);
  const before = await snapshotStore(en.storeDir);
  const caught = await ingestPath(en.store, file).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(caught, 'ingest must reject').toBeInstanceOf(LayerstoreError);
  const err = caught as LayerstoreError;
  expect(err.code, err.describe()).toBe(code);
  const after = await snapshotStore(en.storeDir);
  expect(filesUnder(after, '.layerstore/staging')).toEqual([]);
  expect(snapshotObject(after)).toEqual(snapshotObject(before));
  return err;
}

/** Run the CLI on a store; the result. */
const cli = (storeDir: string, ...args: string[]) => runCli(['--store', storeDir, ...args], { cwd: path.dirname(storeDir) });

/** Every command that reads the whole store: each must exit 0. */
async function expectReadersWork(storeDir: string): Promise<void> {
  await fsp.writeFile(path.join(path.dirname(storeDir), 'layerstore-budget.json'), JSON.stringify({ budgets: [{ match: '**', maxLayers: 100 }] }));
  for (const args of [['ls'], ['report'], ['report', '--json'], ['diff', 'good/base:1', 'good/base:1'], ['budget']]) {
    const r = cli(storeDir, ...args);
    expect(r.code, `${args.join(' ')}\n${show(r)}`).toBe(0);
  }
}

/** The refs `ls --json` lists, per manifest digest. */
function lsRefs(storeDir: string): Record<string, string[]> {
  const r = cli(storeDir, 'ls', '--json');
  expect(r.code, show(r)).toBe(0);
  const out: Record<string, string[]> = {};
  for (const img of JSON.parse(r.stdout).images as Array<{ manifestDigest: string; refs: string[] }>) out[img.manifestDigest] = img.refs;
  return out;
}

/** Append `desc` to the store's own index.json, as a store written before these checks could hold. */
async function plantRoot(en: Env, desc: Desc): Promise<void> {
  const p = path.join(en.storeDir, 'index.json');
  const idx = JSON.parse(await fsp.readFile(p, 'utf8')) as { manifests: Desc[] };
  idx.manifests.push(desc);
  await fsp.writeFile(p, JSON.stringify(idx));
}

// ------------------------------------------------------------------------------------------

describe('an index.json entry must name an image manifest or index (item 4)', () => {
  it('control: the unedited layout ingests, and a ref on an image manifest is fine', async () => {
    const en = await env();
    const l = image('ok/img:1');
    await fsp.writeFile(path.join(en.dir, 'ok.tar'), l.tar());
    const r = await ingestPath(en.store, path.join(en.dir, 'ok.tar'));
    expect(r.images.map((i) => i.refs)).toEqual([['ok/img:1']]);
  });

  it('a ref naming a layer blob (layer media type, not JSON) -> E_MANIFEST_INVALID, store unchanged', async () => {
    const l = image('hostile/img:1');
    await expectRejected(l.roots(tagged(l.doc.layers[0]!, 'hostile/img:1')), 'E_MANIFEST_INVALID');
  });

  it('a ref naming a layer blob above 64 KiB -> E_MANIFEST_INVALID, store unchanged', async () => {
    const l = image('hostile/img:1', layerBig);
    expect(l.doc.layers[0]!.size).toBeGreaterThan(64 * 1024);
    await expectRejected(l.roots(tagged(l.doc.layers[0]!, 'hostile/img:1')), 'E_MANIFEST_INVALID');
  });

  it('a ref naming the image config (JSON, config media type) -> E_MANIFEST_INVALID, store unchanged', async () => {
    const l = image('hostile/img:1');
    await expectRejected(l.roots(tagged(l.doc.config, 'hostile/img:1')), 'E_MANIFEST_INVALID');
  });

  it('an untagged index.json entry naming a layer blob, next to a good ref -> E_MANIFEST_INVALID, store unchanged', async () => {
    const l = image('hostile/img:1');
    await expectRejected(l.roots(tagged(l.manifest, 'hostile/img:1'), l.doc.layers[0]!), 'E_MANIFEST_INVALID');
  });

  it('a ref typed as a manifest whose blob is a layer (not JSON) -> E_MANIFEST_INVALID, store unchanged', async () => {
    const l = image('hostile/img:1');
    await expectRejected(l.roots(tagged({ ...l.doc.layers[0]!, mediaType: MT.manifest }, 'hostile/img:1')), 'E_MANIFEST_INVALID');
  });

  it('a ref typed as a manifest whose blob is above the 8 MiB JSON limit -> E_TOO_LARGE, store unchanged', async () => {
    const l = image('hostile/img:1');
    const big = l.add(noise('huge', 8 * 1024 * 1024 + 1), MT.manifest);
    await expectRejected(l.roots(tagged(big, 'hostile/img:1')), 'E_TOO_LARGE');
  });

  it('the same from an OCI layout directory: a ref naming a layer -> E_MANIFEST_INVALID, store unchanged', async () => {
    const l = image('hostile/img:1');
    await expectRejected(l.roots(tagged(l.doc.layers[0]!, 'hostile/img:1')), 'E_MANIFEST_INVALID', 'dir');
  });

  it('CLI: ingest exits 2 with one E_MANIFEST_INVALID line, and ls, report, diff, budget, verify still exit 0', async () => {
    const en = await env();
    const l = image('hostile/img:1');
    await fsp.writeFile(path.join(en.dir, 'bad.tar'), l.roots(tagged(l.doc.layers[0]!, 'hostile/img:1')).tar());
    const r = cli(en.storeDir, 'ingest', path.join(en.dir, 'bad.tar'));
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr.split('\n').filter((x) => x.startsWith('layerstore: error:'))).toEqual([expect.stringContaining('[E_MANIFEST_INVALID]')]);
    await expectReadersWork(en.storeDir);
    expect(cli(en.storeDir, 'verify').code).toBe(0);
  });
});

describe('what ingest accepts, every command reads (item 4)', () => {
  it('an index listing a layer blob directly ingests (stored, not analysed) and ls, report, diff, budget, verify read the store', async () => {
    const en = await env();
    const l = image('multi/img:1', layerBig);
    const index = l.add(
      { schemaVersion: 2, mediaType: MT.index, manifests: [{ ...l.manifest, platform: { architecture: 'amd64', os: 'linux' } }, l.doc.layers[0]] },
      MT.index,
    );
    await fsp.writeFile(path.join(en.dir, 'multi.tar'), l.roots(tagged(index, 'multi/img:1')).tar());
    const r = cli(en.storeDir, 'ingest', path.join(en.dir, 'multi.tar'));
    expect(r.code, show(r)).toBe(0);
    await expectReadersWork(en.storeDir);
    expect(cli(en.storeDir, 'ls').stdout).toContain('multi/img:1');
    const v = cli(en.storeDir, 'verify');
    expect(v.code, show(v)).toBe(0);
  });

  it('a store whose index.json already names a layer: ls, report, diff, budget still work; verify exits 3 naming it', async () => {
    const en = await env();
    const l = image('hostile/img:1');
    await fsp.writeFile(path.join(en.dir, 'ok.tar'), l.tar());
    await ingestPath(en.store, path.join(en.dir, 'ok.tar'));
    const layer = l.doc.layers[0]!;
    await plantRoot(en, tagged(layer, 'planted/layer:1'));
    await expectReadersWork(en.storeDir);
    expect(Object.values(lsRefs(en.storeDir)).flat().sort()).toEqual(['good/base:1', 'hostile/img:1']);
    const v = cli(en.storeDir, 'verify');
    expect(v.code, show(v)).toBe(3);
    expect(v.stdout + v.stderr).toContain(layer.digest);
  });
});

describe("a descriptor's media type and its document must agree (item 6)", () => {
  it('an entry typed as an index whose blob is an image manifest without mediaType -> E_MANIFEST_INVALID, store unchanged', async () => {
    const l = image('hostile/img:1');
    const { mediaType: _m, ...untyped } = l.doc;
    const m = l.add(untyped, MT.index);
    await expectRejected(l.roots(tagged(m, 'hostile/img:1')), 'E_MANIFEST_INVALID');
  });

  it('an entry typed as an index whose blob is the image manifest (its own mediaType says manifest) -> E_MANIFEST_INVALID', async () => {
    const l = image('hostile/img:1');
    await expectRejected(l.roots(tagged({ ...l.manifest, mediaType: MT.index }, 'hostile/img:1')), 'E_MANIFEST_INVALID');
  });

  it('the image manifest named by one ref as a manifest and by another as an index -> E_MANIFEST_INVALID (the first does not vouch for the second)', async () => {
    const l = image('hostile/img:1');
    await expectRejected(l.roots(tagged(l.manifest, 'hostile/img:1'), tagged({ ...l.manifest, mediaType: MT.index }, 'hostile/img:2')), 'E_MANIFEST_INVALID');
  });

  it('an index document that also has config and layers -> E_MANIFEST_INVALID', async () => {
    const l = image('hostile/img:1');
    const both = l.add({ schemaVersion: 2, mediaType: MT.index, manifests: [l.manifest], config: l.doc.config, layers: l.doc.layers }, MT.index);
    await expectRejected(l.roots(tagged(both, 'hostile/img:1')), 'E_MANIFEST_INVALID');
  });

  it('an index document without a manifests list -> E_MANIFEST_INVALID', async () => {
    const l = image('hostile/img:1');
    const empty = l.add({ schemaVersion: 2, mediaType: MT.index }, MT.index);
    await expectRejected(l.roots(tagged(empty, 'hostile/img:1')), 'E_MANIFEST_INVALID');
  });

  it('an entry typed as a manifest whose blob is an index without mediaType -> E_MANIFEST_INVALID', async () => {
    const l = image('hostile/img:1');
    const idx = l.add({ schemaVersion: 2, manifests: [l.manifest] }, MT.manifest);
    await expectRejected(l.roots(tagged(idx, 'hostile/img:1')), 'E_MANIFEST_INVALID');
  });

  it('an entry typed as an OCI manifest whose document says it is a Docker manifest -> E_MANIFEST_INVALID', async () => {
    const l = image('hostile/img:1');
    const docker = l.add({ ...l.doc, mediaType: MT.dockerManifest }, MT.manifest);
    await expectRejected(l.roots(tagged(docker, 'hostile/img:1')), 'E_MANIFEST_INVALID');
  });

  it('a nested index child typed as an index whose blob is a manifest -> E_MANIFEST_INVALID, store unchanged', async () => {
    const l = image('hostile/img:1');
    const { mediaType: _m, ...untyped } = l.doc;
    const inner = l.add(untyped, MT.index);
    const outer = l.add({ schemaVersion: 2, mediaType: MT.index, manifests: [inner] }, MT.index);
    await expectRejected(l.roots(tagged(outer, 'hostile/img:1')), 'E_MANIFEST_INVALID');
  });

  it('a store whose index.json names a manifest as an index: ls, report, diff, budget still work; verify exits 3 naming it', async () => {
    const en = await env();
    const l = image('hostile/img:1', layerBig);
    await fsp.writeFile(path.join(en.dir, 'ok.tar'), l.tar());
    await ingestPath(en.store, path.join(en.dir, 'ok.tar'));
    await plantRoot(en, tagged({ ...l.manifest, mediaType: MT.index }, 'planted/index:1'));
    await expectReadersWork(en.storeDir);
    // the image is still listed under its own ref, and not under the one that misnames it
    expect(lsRefs(en.storeDir)[l.manifest.digest]).toEqual(['hostile/img:1']);
    const v = cli(en.storeDir, 'verify');
    expect(v.code, show(v)).toBe(3);
    expect(v.stdout + v.stderr).toContain(l.manifest.digest);
  });
});
