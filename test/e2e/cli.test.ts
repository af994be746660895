/**
 * End-to-end: the CLI (`node bin/layerstore.js`) on the generated fixtures (fixtures/generate.ts).
 * Every number the CLI reports is checked against the store's own files (index.json, manifests,
 * configs, blob sizes, recomputed diffIDs), read here with fs + JSON.parse.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { dockerSaveLegacy, layerTar } from '../../fixtures/image-writer.js';
import { legacySave } from '../helpers/make-tar.js';
import {
  badBlobs,
  blobFile,
  blobSize,
  ensureBuilt,
  expectedSharing,
  indexRefs,
  listBlobs,
  readIndexJson,
  readStoreImages,
  runCli,
  sha256Of,
  show,
  type CliResult,
} from '../helpers/cli.js';

const ALL_REFS = ['acme/api:1.0', 'acme/api:1.1', 'acme/base:1.0', 'acme/cli:1.0', 'acme/cli:1.1', 'acme/web:2.0', 'acme/worker:1.0'];

const hex = (d: string) => d.replace(/^sha256:/, '');
const tarEntry = (archive: string, name: string): Buffer => {
  const r = spawnSync('tar', ['-xOf', archive, name], { maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`tar -xOf ${archive} ${name}: ${r.stderr}`);
  return r.stdout;
};
const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

interface LsJson {
  schemaVersion: number;
  store: string;
  images: Array<{
    refs: string[];
    manifestDigest: string;
    configDigest: string;
    platform: string | null;
    layers: number;
    sizeBytes: number;
    created: string | null;
  }>;
}

describe('layerstore CLI end to end', () => {
  let tmp: string;
  let fx: string;
  let n = 0;
  /** A new, not yet existing store path. */
  const newStore = () => path.join(tmp, 'stores', `s${++n}`);
  const F = (name: string) => path.join(fx, name);

  const ok = (r: CliResult): CliResult => {
    expect(r.code, show(r)).toBe(0);
    return r;
  };
  const ls = (store: string): LsJson => JSON.parse(ok(runCli(['--store', store, 'ls', '--json'])).stdout) as LsJson;
  const report = (store: string, refs: string[] = []): any => JSON.parse(ok(runCli(['--store', store, 'report', '--json', ...refs])).stdout);
  const refsOf = (l: LsJson) => l.images.flatMap((i) => i.refs).sort();

  /** A store with every fixture, ingested once (read-only for the tests that use it). */
  let full: string;
  let fullIngest: CliResult;

  beforeAll(async () => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-e2e-'));
    fx = path.join(tmp, 'fx');
    mkdirSync(path.join(tmp, 'stores'));
    await generateFixtures(fx);
    full = newStore();
    fullIngest = runCli(['--store', full, 'ingest', `${fx}/*.tar`, F('oci-gzip')]);
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('ingest expands a quoted glob itself: exit 0, one summary line per input', () => {
    expect(fullIngest.code, show(fullIngest)).toBe(0);
    const lines = fullIngest.stdout.split('\n').filter(Boolean);
    const inputs = [F('api-v25.tar'), F('family-legacy.tar'), F('multi-oci-archive.tar'), F('oci-gzip')];
    expect(lines).toHaveLength(inputs.length);
    for (const input of inputs)
      expect(
        lines.filter((l) => l.startsWith(`${input}: `)),
        input,
      ).toHaveLength(1);
    // the image counts each line states
    const count = (input: string) => Number(/: (\d+) images?/.exec(lines.find((l) => l.startsWith(`${input}: `))!)![1]);
    expect(inputs.map(count)).toEqual([1, 3, 2, 1]);
    expect(badBlobs(full)).toEqual([]);
  });

  it('a glob that matches nothing is bad input (exit 2, E_INPUT_NOT_FOUND) and creates no store', () => {
    const s = newStore();
    const r = runCli(['--store', s, 'ingest', `${fx}/*.nothing`]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('[E_INPUT_NOT_FOUND]');
    expect(existsSync(s)).toBe(false);
  });

  it('a refused input leaves no store where there was none (absent: still absent; an empty directory: still empty)', () => {
    const bad = path.join(tmp, 'trailing-garbage.tar');
    writeFileSync(bad, Buffer.concat([readFileSync(`${fx}/family-legacy.tar`), Buffer.from('GARBAGE')]));
    const absent = newStore();
    const r = runCli(['--store', absent, '-q', 'ingest', bad]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toContain('[E_TRAILING_DATA]');
    // one input: its error line says it all (no "0 of 1 inputs ingested" after it)
    expect(r.stderr.split('\n').filter((l) => l.startsWith('layerstore:'))).toHaveLength(1);
    expect(existsSync(absent)).toBe(false);
    const empty = newStore();
    mkdirSync(empty);
    expect(runCli(['--store', empty, 'ingest', bad]).code).toBe(2);
    expect(readdirSync(empty)).toEqual([]);
    // a failed pull into a new store leaves none either (nothing listens on port 1)
    const pulled = newStore();
    const p = runCli(['--store', pulled, 'pull', '127.0.0.1:1/nobody/here:1']);
    expect(p.code, show(p)).toBe(2);
    expect(existsSync(pulled)).toBe(false);
    // with a good input beside it, the store stays with what the good one brought, and the count is given
    const mixed = newStore();
    const m = runCli(['--store', mixed, 'ingest', bad, `${fx}/oci-gzip`]);
    expect(m.code, show(m)).toBe(2);
    expect(m.stderr).toContain('1 of 2 inputs ingested, 1 failed');
    expect(indexRefs(mixed)).toEqual(['acme/web:2.0']);
  });

  it('ls --json lists the seven refs, matching index.json and the inputs’ own digests', () => {
    const l = ls(full);
    expect(l.schemaVersion).toBe(1);
    expect(refsOf(l)).toEqual(ALL_REFS);
    expect(l.images).toHaveLength(7);
    expect([...indexRefs(full)].sort()).toEqual(ALL_REFS);
    const byRef = (r: string) => l.images.find((i) => i.refs.includes(r))!;
    // legacy save: the config digest is the hash of the config entry's bytes
    const fam = JSON.parse(tarEntry(F('family-legacy.tar'), 'manifest.json').toString());
    for (const m of fam) {
      expect(byRef(m.RepoTags[0]).configDigest).toBe(sha256Of(tarEntry(F('family-legacy.tar'), m.Config)));
      expect(byRef(m.RepoTags[0]).layers).toBe(m.Layers.length);
    }
    // OCI inputs keep their manifests
    const cliIndex = JSON.parse(tarEntry(F('multi-oci-archive.tar'), 'index.json').toString());
    for (const m of cliIndex.manifests) expect(byRef(m.annotations['org.opencontainers.image.ref.name']).manifestDigest).toBe(m.digest);
    const webIndex = JSON.parse(readFileSync(F('oci-gzip/index.json'), 'utf8'));
    expect(byRef('acme/web:2.0').manifestDigest).toBe(webIndex.manifests[0].digest);
    const v25 = JSON.parse(tarEntry(F('api-v25.tar'), 'index.json').toString());
    expect(byRef('acme/api:1.1').manifestDigest).toBe(v25.manifests[0].digest);
    // sizeBytes = config + layer blobs, by stat
    const ind = readStoreImages(full);
    for (const img of l.images) {
      const i = ind.find((x) => x.manifestDigest === img.manifestDigest)!;
      expect(img.sizeBytes).toBe([i.configDigest, ...new Set(i.layers)].reduce((s, d) => s + blobSize(full, d), 0));
    }
  });

  it('report --json agrees with an independent computation from the store files', () => {
    const r = report(full);
    const ind = readStoreImages(full);
    const exp = expectedSharing(full, ind);
    expect(r.schemaVersion).toBe(1);
    expect(r.totals.images).toBe(7);
    expect(r.totals.logicalBytes).toBe(exp.logicalBytes);
    expect(r.totals.storedBytes).toBe(exp.storedBytes);
    expect(r.totals.savedBytes).toBe(exp.logicalBytes - exp.storedBytes);
    expect(r.totals.savedBytes).toBeGreaterThan(0);
    expect(r.totals.dedupRatio).toBeCloseTo(exp.logicalBytes / exp.storedBytes, 3);
    expect(r.totals.layers).toBe(exp.layerUsers.size);
    for (const img of r.images) {
      const e = exp.perImage.get(img.manifestDigest)!;
      expect(e, img.manifestDigest).toBeDefined();
      expect([img.sizeBytes, img.uniqueBytes, img.sharedBytes]).toEqual([e.sizeBytes, e.uniqueBytes, e.sharedBytes]);
      const i = ind.find((x) => x.manifestDigest === img.manifestDigest)!;
      expect(img.refs).toEqual(i.refs);
      expect(img.configDigest).toBe(i.configDigest);
      expect(img.layers).toEqual(i.layers);
    }
    for (const l of r.layers) {
      const bytes = readFileSync(blobFile(full, l.digest));
      expect(l.sizeBytes).toBe(bytes.length);
      expect(l.diffId, l.digest).toBe(sha256Of(isGzip(bytes) ? gunzipSync(bytes) : bytes));
      expect(l.compression).toBe(isGzip(bytes) ? 'gzip' : 'none');
      expect(new Set(l.images)).toEqual(exp.layerUsers.get(l.digest));
      expect(l.savedBytes).toBe(l.sizeBytes * (l.images.length - 1));
    }
    // the uncompressed base layer is in every image but acme/web:2.0 (which has it gzipped)
    const base = ind.find((i) => i.refs.includes('acme/base:1.0'))!;
    expect(base.layers).toHaveLength(1);
    const baseRow = r.layers.find((l: any) => l.digest === base.layers[0]);
    expect(baseRow.images).toHaveLength(6);
    expect(r.layers[0].digest).toBe(base.layers[0]); // most bytes saved first
    // report --json is deterministic
    expect(ok(runCli(['--store', full, 'report', '--json'])).stdout).toBe(ok(runCli(['--store', full, 'report', '--json'])).stdout);
  });

  it('the gzip base layer of oci-gzip has the uncompressed base’s diffId under a different digest', () => {
    const webIndex = JSON.parse(readFileSync(F('oci-gzip/index.json'), 'utf8'));
    const manifest = JSON.parse(readFileSync(F(`oci-gzip/blobs/sha256/${hex(webIndex.manifests[0].digest)}`), 'utf8'));
    const gzBase = readFileSync(F(`oci-gzip/blobs/sha256/${hex(manifest.layers[0].digest)}`));
    expect(isGzip(gzBase)).toBe(true);
    const fam = JSON.parse(tarEntry(F('family-legacy.tar'), 'manifest.json').toString());
    const plainBase = tarEntry(F('family-legacy.tar'), fam[0].Layers[0]);
    expect(sha256Of(gunzipSync(gzBase))).toBe(sha256Of(plainBase));

    const r = report(full);
    const gzRow = r.layers.find((l: any) => l.digest === sha256Of(gzBase));
    const plainRow = r.layers.find((l: any) => l.digest === sha256Of(plainBase));
    expect(gzRow.diffId).toBe(plainRow.diffId);
    expect(gzRow.diffId).toBe(sha256Of(plainBase));
    expect(gzRow.digest).not.toBe(plainRow.digest);
    expect([gzRow.compression, plainRow.compression]).toEqual(['gzip', 'none']);
    expect(gzRow.images).toEqual([webIndex.manifests[0].digest]);
  });

  it('ingesting the same input twice adds no blob and leaves index.json byte-identical', () => {
    const s = newStore();
    ok(runCli(['--store', s, 'ingest', F('family-legacy.tar'), F('oci-gzip')]));
    const index1 = readFileSync(path.join(s, 'index.json'));
    const blobs1 = listBlobs(s);
    for (const input of [F('family-legacy.tar'), F('oci-gzip')]) {
      const again = ok(runCli(['--store', s, 'ingest', input]));
      expect(again.stdout).toMatch(/; 0 new blobs \(0 B\), \d+ already stored;/);
      expect(readFileSync(path.join(s, 'index.json')).equals(index1)).toBe(true);
      expect(listBlobs(s)).toEqual(blobs1);
    }
    const j = JSON.parse(ok(runCli(['--store', s, 'ingest', '--json', F('family-legacy.tar')])).stdout);
    expect(j.results[0].blobsAdded).toBe(0);
    expect(j.results[0].bytesAdded).toBe(0);
    expect(j.results[0].refChanges.filter((c: any) => c.from)).toEqual([]);
    expect(readdirSync(path.join(s, '.layerstore', 'staging'))).toEqual([]);
  });

  it('a ref that arrives with a different image moves; the old image stays, untagged', async () => {
    const s = newStore();
    ok(runCli(['--store', s, 'ingest', F('family-legacy.tar')]));
    const oldImg = ls(s).images.find((i) => i.refs.includes('acme/api:1.0'))!;
    const other = await dockerSaveLegacy([
      { repoTags: ['acme/api:1.0'], layers: [{ tar: await layerTar([{ path: 'hotfix.txt', content: 'a different api 1.0\n' }]), compression: 'none' }] },
    ]);
    writeFileSync(path.join(tmp, 'api-1.0-other.tar'), other);
    const r = ok(runCli(['--store', s, 'ingest', path.join(tmp, 'api-1.0-other.tar')]));
    expect(r.stderr).toMatch(/acme\/api:1\.0 moved/);

    const after = ls(s);
    const now = after.images.filter((i) => i.refs.includes('acme/api:1.0'));
    expect(now).toHaveLength(1);
    expect(now[0]!.manifestDigest).not.toBe(oldImg.manifestDigest);
    expect(now[0]!.configDigest).toBe(
      sha256Of(tarEntry(path.join(tmp, 'api-1.0-other.tar'), JSON.parse(tarEntry(path.join(tmp, 'api-1.0-other.tar'), 'manifest.json').toString())[0].Config)),
    );
    const kept = after.images.find((i) => i.manifestDigest === oldImg.manifestDigest);
    expect(kept, 'the old acme/api:1.0 image was dropped').toBeDefined();
    expect(kept!.refs).toEqual([]);
    expect(after.images).toHaveLength(4); // base, worker, the old api:1.0, the new api:1.0
    // in index.json: the old manifest is a root without a ref name
    const roots = readIndexJson(s).manifests.filter((m: any) => m.digest === oldImg.manifestDigest);
    expect(roots).toHaveLength(1);
    expect(roots[0].annotations?.['org.opencontainers.image.ref.name']).toBeUndefined();
    // and the table shows it as <none>
    const table = ok(runCli(['--store', s, 'ls'])).stdout;
    expect(table.split('\n').some((l) => l.includes('<none>') && l.includes(hex(oldImg.configDigest).slice(0, 12)))).toBe(true);
    expect(badBlobs(s)).toEqual([]);
  });

  it('an untagged image (RepoTags null) is kept, and stays when other images come and go', async () => {
    const s = newStore();
    const layer = await layerTar([{ path: 'untagged.txt', content: 'no name\n' }]);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Of(layer)] } }));
    const tar = legacySave({
      files: [
        { name: `${hex(sha256Of(config))}.json`, body: config },
        { name: 'abc/layer.tar', body: layer },
      ],
      manifest: [{ Config: `${hex(sha256Of(config))}.json`, RepoTags: null, Layers: ['abc/layer.tar'] }],
    });
    writeFileSync(path.join(tmp, 'untagged.tar'), tar);
    const r = ok(runCli(['--store', s, 'ingest', path.join(tmp, 'untagged.tar')]));
    expect(r.stdout).toMatch(/1 image \(<none>@[0-9a-f]{12}\)/);
    ok(runCli(['--store', s, 'ingest', F('api-v25.tar')]));
    ok(runCli(['--store', s, 'ingest', path.join(tmp, 'untagged.tar')]));
    const l = ls(s);
    const u = l.images.filter((i) => i.configDigest === sha256Of(config));
    expect(u).toHaveLength(1);
    expect(u[0]!.refs).toEqual([]);
    expect(u[0]!.layers).toBe(1);
    expect(l.images).toHaveLength(2);
    expect(readIndexJson(s).manifests).toHaveLength(2);
    const rep = report(s, [hex(sha256Of(config)).slice(0, 12)]); // selectable by image ID prefix
    expect(rep.images.map((i: any) => i.configDigest)).toEqual([sha256Of(config)]);
  });

  it('the store location: --store, else $LAYERSTORE_STORE, else $XDG_DATA_HOME/layerstore', () => {
    const home = path.join(tmp, 'home');
    mkdirSync(home);
    const xdg = path.join(tmp, 'xdg');
    const envStore = path.join(tmp, 'env-store');
    const flagStore = path.join(tmp, 'flag-store');
    const baseEnv = { HOME: home, XDG_DATA_HOME: xdg, LAYERSTORE_STORE: undefined };

    // default: $XDG_DATA_HOME/layerstore
    ok(runCli(['ingest', F('api-v25.tar')], { env: baseEnv }));
    expect(indexRefs(path.join(xdg, 'layerstore'))).toEqual(['acme/api:1.1']);
    expect(refsOf(JSON.parse(ok(runCli(['ls', '--json'], { env: baseEnv })).stdout))).toEqual(['acme/api:1.1']);

    // $LAYERSTORE_STORE wins over the default
    const withEnv = { ...baseEnv, LAYERSTORE_STORE: envStore };
    ok(runCli(['ingest', F('multi-oci-archive.tar')], { env: withEnv }));
    expect([...indexRefs(envStore)].sort()).toEqual(['acme/cli:1.0', 'acme/cli:1.1']);
    expect(indexRefs(path.join(xdg, 'layerstore'))).toEqual(['acme/api:1.1']);
    expect(refsOf(JSON.parse(ok(runCli(['ls', '--json'], { env: withEnv })).stdout))).toEqual(['acme/cli:1.0', 'acme/cli:1.1']);

    // --store wins over both
    ok(runCli(['--store', flagStore, 'ingest', F('oci-gzip')], { env: withEnv }));
    expect(indexRefs(flagStore)).toEqual(['acme/web:2.0']);
    expect([...indexRefs(envStore)].sort()).toEqual(['acme/cli:1.0', 'acme/cli:1.1']);
    expect(refsOf(JSON.parse(ok(runCli(['--store', flagStore, 'ls', '--json'], { env: withEnv })).stdout))).toEqual(['acme/web:2.0']);
    expect(JSON.parse(ok(runCli(['report', '--json'], { env: withEnv })).stdout).totals.images).toBe(2);
    expect(existsSync(path.join(home, '.local'))).toBe(false);

    // a relative $XDG_DATA_HOME is invalid (XDG spec) and ignored: ~/.local/share/layerstore
    const home2 = path.join(tmp, 'home2');
    mkdirSync(home2);
    ok(runCli(['ingest', F('oci-gzip')], { env: { HOME: home2, XDG_DATA_HOME: 'relative/xdg', LAYERSTORE_STORE: undefined }, cwd: tmp }));
    expect(indexRefs(path.join(home2, '.local', 'share', 'layerstore'))).toEqual(['acme/web:2.0']);
    expect(existsSync(path.join(tmp, 'relative'))).toBe(false);
  });

  it('report REF restricts the report to that image', () => {
    const r = report(full, ['acme/api:1.1']);
    const ind = readStoreImages(full).find((i) => i.refs.includes('acme/api:1.1'))!;
    expect(r.totals.images).toBe(1);
    expect(r.images.map((i: any) => i.refs)).toEqual([['acme/api:1.1']]);
    expect(r.images[0].manifestDigest).toBe(ind.manifestDigest);
    expect(r.layers.map((l: any) => l.digest).sort()).toEqual([...ind.layers].sort());
    const size = [ind.configDigest, ...ind.layers].reduce((s, d) => s + blobSize(full, d), 0);
    expect(r.totals).toMatchObject({ layers: 2, logicalBytes: size, storedBytes: size, savedBytes: 0, dedupRatio: 1 });
    // Unique is what removing the image from the store frees: its blobs no other image of the store uses.
    const others = readStoreImages(full)
      .filter((i) => i.manifestDigest !== ind.manifestDigest)
      .flatMap((i) => [i.configDigest, ...i.layers]);
    const unique = [ind.configDigest, ...ind.layers].filter((d) => !others.includes(d)).reduce((s, d) => s + blobSize(full, d), 0);
    expect(unique).toBeLessThan(size); // its base layer is shared with the rest of the store
    expect(r.images[0]).toMatchObject({ sizeBytes: size, uniqueBytes: unique, sharedBytes: size - unique });

    // two refs: they share the base layer, and only that
    const two = report(full, ['acme/api:1.0', 'acme/api:1.1']);
    const base = readStoreImages(full).find((i) => i.refs.includes('acme/base:1.0'))!.layers[0]!;
    expect(two.totals.images).toBe(2);
    expect(two.totals.savedBytes).toBe(blobSize(full, base));
    // by docker.io-qualified name and by manifest digest too
    expect(report(full, ['docker.io/acme/api:1.1']).images[0].manifestDigest).toBe(ind.manifestDigest);
    expect(report(full, [ind.manifestDigest]).images[0].manifestDigest).toBe(ind.manifestDigest);
  });

  it('report nosuch:ref is bad input: exit 2, one error line, nothing on stdout', () => {
    for (const args of [
      ['report', 'nosuch:ref'],
      ['report', '--json', 'nosuch:ref'],
      ['report', 'acme/api:1.1', 'nosuch:ref'],
    ]) {
      const r = runCli(['--store', full, ...args]);
      expect(r.code, show(r)).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr.split('\n').filter((l) => l.startsWith('layerstore: error:'))).toHaveLength(1);
      expect(r.stderr).toContain('[E_REF_NOT_FOUND]');
    }
  });

  it('ls on a store directory that does not exist: exit 0, empty list, nothing created', () => {
    const s = path.join(tmp, 'no', 'such', 'store');
    const j = runCli(['--store', s, 'ls', '--json']);
    expect(j.code, show(j)).toBe(0);
    expect(JSON.parse(j.stdout).images).toEqual([]);
    const t = runCli(['--store', s, 'ls']);
    expect(t.code, show(t)).toBe(0);
    expect(t.stdout).toContain('No images yet');
    const rep = runCli(['--store', s, 'report', '--json']);
    expect(rep.code, show(rep)).toBe(0);
    expect(JSON.parse(rep.stdout).totals).toEqual({ images: 0, layers: 0, logicalBytes: 0, storedBytes: 0, savedBytes: 0, dedupRatio: 1 });
    expect(existsSync(path.join(tmp, 'no'))).toBe(false);
  });

  it('a --store that is not a store (a non-empty directory, a file) is bad usage: exit 2, not 3 ("store damaged"), and it is left alone', () => {
    const dir = path.join(tmp, 'my-documents');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'notes.txt'), 'not a store\n');
    const file = path.join(tmp, 'a-file');
    writeFileSync(file, 'not a store either\n');
    for (const s of [dir, file]) {
      const r = runCli(['--store', s, 'ingest', F('api-v25.tar')]);
      expect(r.code, `ingest --store ${s}\n${show(r)}`).toBe(2);
      expect(r.stderr.split('\n').filter((l) => l.startsWith('layerstore: error:'))).toHaveLength(1);
    }
    expect(readdirSync(dir)).toEqual(['notes.txt']);
    expect(readFileSync(file, 'utf8')).toBe('not a store either\n');
    const lsFile = runCli(['--store', file, 'ls']);
    expect(lsFile.code, show(lsFile)).toBe(2);
  });
});
