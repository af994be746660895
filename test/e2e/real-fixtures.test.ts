/**
 * Ingests the real image archives of ../shared/fixtures-real (see its SOURCES.md) through the
 * CLI and checks what SOURCES.md says about each, with expected values computed from the
 * archives themselves (GNU tar, gzip, zstd, sha256) rather than taken from layerstore's output.
 * Then checks that skopeo and umoci read the resulting store, and the JSON report contract.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { realFixtures } from '../helpers/peers.js';
import {
  REPO_ROOT,
  badBlobs,
  blobFile,
  blobSize,
  ensureBuilt,
  expectedSharing,
  IMAGE_CONFIG_TYPES,
  indexRefs,
  listBlobs,
  readStoreImages,
  runCli,
  sha256Of,
  show,
} from '../helpers/cli.js';

const FIX = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures-real');
const HAVE = realFixtures();
const SKIP_REASON = `${FIX} not found: these tests need the real-fixture archives (CI has them)`;

const fx = (rel: string) => path.join(FIX, rel);

// ---------------------------------------------------------------------------------------------
// independent tools

function tool(cmd: string, args: string[], input?: Buffer): Buffer {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return r.stdout;
}
/** One member of an archive, by GNU tar (which also reads a gzipped archive). */
const tarEntry = (archive: string, name: string): Buffer => tool('tar', ['-xOf', archive, name]);
const tarJson = (archive: string, name: string): any => JSON.parse(tarEntry(archive, name).toString('utf8'));
const gunzip = (b: Buffer): Buffer => tool('gzip', ['-dc'], b);
const unzstd = (b: Buffer): Buffer => tool('zstd', ['-dc'], b);
const hexOf = (d: string) => d.replace(/^sha256:/, '');

// ---------------------------------------------------------------------------------------------
// report types (the JSON contract)

interface ReportImage {
  refs: string[];
  manifestDigest: string;
  configDigest: string;
  layers: string[];
  sizeBytes: number;
  sharedBytes: number;
  uniqueBytes: number;
  platform?: string;
}
interface ReportLayer {
  digest: string;
  diffId: string;
  mediaType: string;
  compression: string;
  sizeBytes: number;
  images: string[];
  /** Set on a well-known empty layer (its sharing is no saving). */
  wellKnown?: string;
}
interface Report {
  schemaVersion: number;
  totals: { images: number; layers: number; logicalBytes: number; storedBytes: number; savedBytes: number; dedupRatio: number };
  images: ReportImage[];
  layers: ReportLayer[];
}
interface IngestJson {
  results: Array<{ source: string; format: string; images: Array<{ refs: string[]; manifestDigest: string; configDigest: string; layers: string[] }> }>;
  failed: number;
}

const POSITIVE = [
  'dive/test-docker-image.tar',
  'dive/test-kaniko-image.tar',
  'dive/test-oci-uncompressed-image.tar',
  'dive/test-oci-gzip-image.tar',
  'dive/test-oci-zstd-image.tar',
  'dive/test-oci-estargz-image.tar',
  'go-containerregistry/tarball/test_link.tar',
  'go-containerregistry/tarball/test_bundle.tar',
  'go-containerregistry/tarball/test_image_1.tar',
  'go-containerregistry/tarball/test_image_2.tar',
  'go-containerregistry/tarball/hello-world-v25.tar',
  'go-containerregistry/mutate/source_image_with_empty_layer_history.tar',
  'go-containerregistry/mutate/whiteout_image.tar',
  'go-containerregistry/mutate/overwritten_file.tar',
  'containers-image/almostempty.tar',
  'trivy/alpine-310.tar.gz',
  'trivy/alpine-311.tar.gz',
  'stereoscope/valid-oci.tar',
  'regclient/testrepo',
];

describe.skipIf(!HAVE)(HAVE ? 'real fixture archives' : `real fixture archives (SKIPPED: ${SKIP_REASON})`, () => {
  let tmp: string;
  let store: string;
  let ingest: IngestJson;
  let report: Report;
  let reportText: string;

  const resultFor = (rel: string) => {
    const r = ingest.results.find((x) => x.source === fx(rel));
    if (!r) throw new Error(`no ingest result for ${rel}`);
    return r;
  };
  const imageBy = (pred: (i: ReportImage) => boolean, what: string): ReportImage => {
    const found = report.images.filter(pred);
    if (found.length !== 1) throw new Error(`expected exactly one image ${what}, found ${found.length}`);
    return found[0]!;
  };
  const byRef = (ref: string) => imageBy((i) => i.refs.includes(ref), `with ref ${ref}`);
  const byManifest = (d: string) => imageBy((i) => i.manifestDigest === d, `with manifest ${d}`);
  const byConfig = (d: string) => imageBy((i) => i.configDigest === d, `with config ${d}`);
  const layerRow = (d: string, r: Report = report): ReportLayer => {
    const row = r.layers.find((l) => l.digest === d);
    if (!row) throw new Error(`no layers[] row for ${d}`);
    return row;
  };
  const reportJson = (args: string[], s = store): Report => {
    const r = runCli(['--store', s, 'report', '--json', ...args]);
    expect(r.code, show(r)).toBe(0);
    return JSON.parse(r.stdout) as Report;
  };

  beforeAll(() => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-real-'));
    store = path.join(tmp, 'store');
    const r = runCli(['--store', store, 'ingest', '--json', ...POSITIVE.map(fx)]);
    if (r.code !== 0) throw new Error(`ingest of the real fixtures failed\n${show(r)}`);
    ingest = JSON.parse(r.stdout) as IngestJson;
    const rep = runCli(['--store', store, 'report', '--json']);
    if (rep.code !== 0) throw new Error(`report failed\n${show(rep)}`);
    reportText = rep.stdout;
    report = JSON.parse(reportText) as Report;
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('ingests every positive archive, one result per input, nothing failed', () => {
    expect(ingest.failed).toBe(0);
    expect(ingest.results.map((r) => r.source).sort()).toEqual(POSITIVE.map(fx).sort());
    expect(badBlobs(store)).toEqual([]);
  });

  it('dive/test-docker-image.tar: 14 uncompressed layers whose blob digests are the config diff_ids; RepoTags dive-test:latest', () => {
    const A = fx('dive/test-docker-image.tar');
    const man = tarJson(A, 'manifest.json');
    expect(man).toHaveLength(1);
    expect(man[0].RepoTags).toEqual(['dive-test:latest']);
    const cfgBytes = tarEntry(A, man[0].Config);
    const cfg = JSON.parse(cfgBytes.toString());
    const layerBytes: Buffer[] = man[0].Layers.map((l: string) => tarEntry(A, l));
    expect(layerBytes).toHaveLength(14);
    const digests = layerBytes.map((b) => sha256Of(b));
    expect(digests).toEqual(cfg.rootfs.diff_ids); // the fixture is what SOURCES.md says
    // v1 dir names are not the diff_ids
    expect(man[0].Layers.map((l: string) => `sha256:${l.split('/')[0]}`)).not.toEqual(digests);

    const img = byRef('dive-test:latest');
    expect(img.refs).toEqual(['dive-test:latest']);
    expect(img.configDigest).toBe(sha256Of(cfgBytes));
    expect(img.layers).toEqual(digests);
    for (const [i, d] of digests.entries()) {
      const row = layerRow(d);
      expect(row.diffId).toBe(d);
      expect(row.compression).toBe('none');
      expect(row.sizeBytes).toBe(layerBytes[i]!.length);
      expect(row.images).toEqual([img.manifestDigest]);
    }
    expect(img.sizeBytes).toBe(cfgBytes.length + layerBytes.reduce((n, b) => n + b.length, 0));
  });

  it('dive/test-kaniko-image.tar: 14 gzip layers, diffIDs verified by gunzip, digest != diffId, no diffId shared with the docker build', () => {
    const A = fx('dive/test-kaniko-image.tar');
    const man = tarJson(A, 'manifest.json');
    expect(man).toHaveLength(1);
    expect(man[0].Config).toMatch(/^sha256:ae16/);
    const cfgBytes = tarEntry(A, man[0].Config);
    const cfg = JSON.parse(cfgBytes.toString());
    const gz: Buffer[] = man[0].Layers.map((l: string) => tarEntry(A, l));
    expect(gz).toHaveLength(14);
    for (const b of gz) expect([b[0], b[1]]).toEqual([0x1f, 0x8b]);
    const digests = gz.map((b) => sha256Of(b));
    const diffIds = gz.map((b) => sha256Of(gunzip(b)));
    expect(diffIds).toEqual(cfg.rootfs.diff_ids);

    const img = byConfig(sha256Of(cfgBytes));
    expect(img.configDigest).toBe(man[0].Config); // the name happens to be right here
    expect(img.refs).toEqual(man[0].RepoTags);
    expect(img.layers).toEqual(digests);
    for (const [i, d] of digests.entries()) {
      const row = layerRow(d);
      expect(row.compression).toBe('gzip');
      expect(row.diffId).toBe(diffIds[i]);
      expect(row.diffId).not.toBe(row.digest);
      expect(row.sizeBytes).toBe(gz[i]!.length);
    }
    const docker = byRef('dive-test:latest');
    const dockerDiffIds = new Set(docker.layers.map((d) => layerRow(d).diffId));
    expect(diffIds.filter((d) => dockerDiffIds.has(d))).toEqual([]);
  });

  it('dive OCI archives: uncompressed/gzip/zstd share config 3eaccc… and diffId 356d5e… under three blob digests; estargz differs', () => {
    const variants = [
      { file: 'dive/test-oci-uncompressed-image.tar', compression: 'none', decode: (b: Buffer) => b },
      { file: 'dive/test-oci-gzip-image.tar', compression: 'gzip', decode: gunzip },
      { file: 'dive/test-oci-zstd-image.tar', compression: 'zstd', decode: unzstd },
      { file: 'dive/test-oci-estargz-image.tar', compression: 'gzip', decode: gunzip },
    ];
    const seen = variants.map((v) => {
      const A = fx(v.file);
      const index = tarJson(A, 'index.json');
      expect(index.manifests).toHaveLength(1);
      expect(index.manifests[0].annotations?.['org.opencontainers.image.ref.name']).toBeUndefined();
      const manifestDigest: string = index.manifests[0].digest;
      const manifest = tarJson(A, `blobs/sha256/${hexOf(manifestDigest)}`);
      const cfgBytes = tarEntry(A, `blobs/sha256/${hexOf(manifest.config.digest)}`);
      expect(sha256Of(cfgBytes)).toBe(manifest.config.digest);
      const cfg = JSON.parse(cfgBytes.toString());
      expect(manifest.layers).toHaveLength(1);
      const layer = tarEntry(A, `blobs/sha256/${hexOf(manifest.layers[0].digest)}`);
      const diffId = sha256Of(v.decode(layer)); // the whole decompressed stream
      expect(diffId).toBe(cfg.rootfs.diff_ids[0]);

      const img = byManifest(manifestDigest);
      expect(img.refs).toEqual([]);
      expect(img.configDigest).toBe(manifest.config.digest);
      expect(img.layers).toEqual([sha256Of(layer)]);
      expect(img.platform).toBe('linux/arm64');
      const row = layerRow(img.layers[0]!);
      expect(row.compression).toBe(v.compression);
      expect(row.diffId).toBe(diffId);
      expect(row.sizeBytes).toBe(layer.length);
      return { img, row, configSize: cfgBytes.length };
    });
    const [plain, gz, zst, estargz] = seen as [(typeof seen)[0], (typeof seen)[0], (typeof seen)[0], (typeof seen)[0]];
    for (const s of [plain, gz, zst]) {
      expect(s.img.configDigest).toMatch(/^sha256:3eaccc100f86/);
      expect(s.row.diffId).toMatch(/^sha256:356d5e7f4012/);
      // the config (452 bytes) is all they share
      expect(s.configSize).toBe(452);
      expect(s.img.sharedBytes).toBe(452);
    }
    expect(new Set([plain.img.configDigest, gz.img.configDigest, zst.img.configDigest]).size).toBe(1);
    expect(new Set([plain.row.digest, gz.row.digest, zst.row.digest]).size).toBe(3);
    expect(plain.row.digest).toBe(plain.row.diffId);
    expect(report.layers.filter((l) => l.diffId === plain.row.diffId)).toHaveLength(3);

    expect(estargz.row.diffId).toMatch(/^sha256:2b3dbf/);
    expect(estargz.row.diffId).not.toBe(plain.row.diffId);
    expect(estargz.img.configDigest).not.toBe(plain.img.configDigest);
    expect(estargz.row.compression).toBe('gzip');
  });

  it('test_link.tar: 2 images share the layer with diff_id 8897395f…, once through a symlink', () => {
    const A = fx('go-containerregistry/tarball/test_link.tar');
    const man = tarJson(A, 'manifest.json');
    expect(man).toHaveLength(2);
    const listing = tool('tar', ['-tvf', A]).toString();
    const linkLine = listing.split('\n').find((l) => l.includes(`${man[1].Layers[0]} -> `));
    expect(linkLine, listing).toBeDefined();
    const target = path.posix.normalize(path.posix.join(path.posix.dirname(man[1].Layers[0]), linkLine!.split(' -> ')[1]!.trim()));
    expect(target).toBe(man[0].Layers[0]);
    const shared = sha256Of(tarEntry(A, target));
    expect(shared).toMatch(/^sha256:8897395fd26d/);

    const refs = man.map((m: any) => m.RepoTags[0] as string);
    expect(refs).toEqual(['bazel/v1/tarball:test_image_1', 'bazel/v1/tarball:test_image_3']);
    const r = reportJson(refs);
    expect(r.totals.images).toBe(2);
    expect(r.images.map((i) => i.layers.length).sort()).toEqual([1, 2]);
    const row = layerRow(shared, r);
    expect(row.diffId).toBe(shared);
    expect(row.images).toHaveLength(2);
    expect(row.images.sort()).toEqual(r.images.map((i) => i.manifestDigest).sort());
    // configs differ, so the layer is all they share
    expect(r.totals.savedBytes).toBe(10240);
  });

  it('test_bundle.tar holds the same images (same manifest digests) as test_image_1.tar + test_image_2.tar', () => {
    const B = fx('go-containerregistry/tarball/test_bundle.tar');
    const bundle = tarJson(B, 'manifest.json');
    const singles = ['test_image_1.tar', 'test_image_2.tar'].map((f) => fx(`go-containerregistry/tarball/${f}`));
    // independently: the configs and layers are byte-identical
    const bundleConfigs = bundle.map((m: any) => sha256Of(tarEntry(B, m.Config))).sort();
    const singleConfigs = singles.map((s) => sha256Of(tarEntry(s, tarJson(s, 'manifest.json')[0].Config))).sort();
    expect(bundleConfigs).toEqual(singleConfigs);

    const b = resultFor('go-containerregistry/tarball/test_bundle.tar').images;
    const s = ['test_image_1.tar', 'test_image_2.tar'].map((f) => resultFor(`go-containerregistry/tarball/${f}`).images);
    expect(b).toHaveLength(2);
    expect(s.map((x) => x.length)).toEqual([1, 1]);
    expect(b.map((i) => i.manifestDigest).sort()).toEqual(
      s
        .flat()
        .map((i) => i.manifestDigest)
        .sort(),
    );
    expect(b.map((i) => i.configDigest).sort()).toEqual(singleConfigs);
    // one image each in the store, with the refs of both sources
    for (const [k, single] of singles.entries()) {
      const n = k + 1;
      const img = byConfig(sha256Of(tarEntry(single, tarJson(single, 'manifest.json')[0].Config)));
      expect(img.refs).toContain(`bazel/v1/tarball:test_image_${n}`);
      expect(img.refs.some((r) => r === `test_image_${n}` || r === `test_image_${n}:latest`)).toBe(true);
    }
  });

  it('source_image_with_empty_layer_history.tar: the config is addressed by the hash of its bytes (05b5ec12…), not its file name (6e0b0504…)', () => {
    const A = fx('go-containerregistry/mutate/source_image_with_empty_layer_history.tar');
    const man = tarJson(A, 'manifest.json');
    const cfgBytes = tarEntry(A, man[0].Config);
    const byBytes = sha256Of(cfgBytes);
    expect(byBytes).toMatch(/^sha256:05b5ec12/);
    expect(man[0].Config).toMatch(/^6e0b0504/);
    expect(byRef('bazel/pkg/v1/mutate:source_image').configDigest).toBe(byBytes);

    // alone in a fresh store: no blob is named after the file name
    const s = path.join(tmp, 'source-image-alone');
    const r = runCli(['--store', s, 'ingest', A]);
    expect(r.code, show(r)).toBe(0);
    expect(readFileSync(blobFile(s, byBytes)).equals(cfgBytes)).toBe(true);
    expect(existsSync(path.join(s, 'blobs', 'sha256', man[0].Config.replace(/\.json$/, '')))).toBe(false);
    expect(badBlobs(s)).toEqual([]);
    // config + 1 layer + the manifest layerstore wrote for the legacy save
    expect(listBlobs(s)).toHaveLength(3);
  });

  it('whiteout_image.tar + overwritten_file.tar share the 10240-byte empty tar layer (84ff9269…)', () => {
    const archives = ['whiteout_image.tar', 'overwritten_file.tar'].map((f) => fx(`go-containerregistry/mutate/${f}`));
    const info = archives.map((A) => {
      const m = tarJson(A, 'manifest.json')[0];
      return { ref: m.RepoTags[0] as string, layers: (m.Layers as string[]).map((l) => tarEntry(A, l)), config: sha256Of(tarEntry(A, m.Config)) };
    });
    const tops = info.map((i) => i.layers[i.layers.length - 1]!);
    expect(tops.map((t) => t.length)).toEqual([10240, 10240]);
    expect(tops[0]!.equals(Buffer.alloc(10240))).toBe(true);
    const empty = sha256Of(tops[0]!);
    expect(sha256Of(tops[1]!)).toBe(empty);
    expect(empty).toMatch(/^sha256:84ff92691f90/);
    expect(info[0]!.config).not.toBe(info[1]!.config);
    const digestsA = new Set(info[0]!.layers.map((b) => sha256Of(b)));
    const sharedDigests = [...new Set(info[1]!.layers.map((b) => sha256Of(b)))].filter((d) => digestsA.has(d));
    expect(sharedDigests).toEqual([empty]);

    const r = reportJson(info.map((i) => i.ref));
    expect(r.totals.images).toBe(2);
    const row = layerRow(empty, r);
    expect(row.images).toHaveLength(2);
    expect(row.sizeBytes).toBe(10240);
    expect(row.diffId).toBe(empty);
    // Both images use the blob (shared, and flagged), but the headline counts no saving for it.
    expect(row.wellKnown).toBeDefined();
    expect(r.totals.savedBytes).toBe(0);
    for (const img of r.images) expect(img.sharedBytes).toBe(10240);
  });

  it('alpine-310/311 (.tar.gz of a docker save) ingest and share nothing', () => {
    const archives = ['trivy/alpine-310.tar.gz', 'trivy/alpine-311.tar.gz'].map(fx);
    for (const A of archives) expect([...readFileSync(A).subarray(0, 2)]).toEqual([0x1f, 0x8b]);
    const mans = archives.map((A) => tarJson(A, 'manifest.json')[0]);
    expect(mans.map((m) => m.RepoTags)).toEqual([['alpine:3.10'], ['alpine:3.11']]);
    const layerDigests = archives.map((A, i) => (mans[i].Layers as string[]).map((l) => sha256Of(tarEntry(A, l))));
    for (const [i, A] of archives.entries()) expect(layerDigests[i]).toEqual(tarJson(A, mans[i].Config).rootfs.diff_ids);
    expect(layerDigests[0]!.filter((d) => layerDigests[1]!.includes(d))).toEqual([]);

    const r = reportJson(['alpine:3.10', 'alpine:3.11']);
    expect(r.totals.images).toBe(2);
    expect(r.totals.savedBytes).toBe(0);
    expect(r.totals.dedupRatio).toBe(1);
    for (const img of r.images) {
      expect(img.sharedBytes).toBe(0);
      expect(img.uniqueBytes).toBe(img.sizeBytes);
    }
    for (const l of r.layers) expect(l.images).toHaveLength(1);
    expect(byRef('alpine:3.10').layers).toEqual(layerDigests[0]);
    expect(byRef('alpine:3.11').layers).toEqual(layerDigests[1]);
  });

  it('hello-world-v25.tar (RepoTags null, index.json manifests null) ingests as one untagged image', () => {
    const A = fx('go-containerregistry/tarball/hello-world-v25.tar');
    const man = tarJson(A, 'manifest.json');
    expect(man[0].RepoTags).toBeNull();
    expect(tarJson(A, 'index.json').manifests).toBeNull();
    const cfgBytes = tarEntry(A, man[0].Config);
    const configDigest = `sha256:${man[0].Config.split('/').pop()}`;
    expect(sha256Of(cfgBytes)).toBe(configDigest);

    const res = resultFor('go-containerregistry/tarball/hello-world-v25.tar');
    expect(res.images).toHaveLength(1);
    expect(res.images[0]!.refs).toEqual([]);
    const img = byConfig(configDigest);
    expect(img.refs).toEqual([]);
    expect(img.layers).toEqual((man[0].Layers as string[]).map((l) => sha256Of(tarEntry(A, l))));
    // listed as <none> by ls, and kept as a ref-less root in index.json
    const ls = runCli(['--store', store, 'ls']);
    expect(ls.code, show(ls)).toBe(0);
    expect(ls.stdout.split('\n').some((l) => l.includes('<none>') && l.includes(configDigest.slice(7, 19)))).toBe(true);
    const lsJson = JSON.parse(runCli(['--store', store, 'ls', '--json']).stdout);
    expect(lsJson.images.filter((i: any) => i.configDigest === configDigest).map((i: any) => i.refs)).toEqual([[]]);
  });

  it('no_manifest.tar → exit 2, E_UNSUPPORTED; null_manifest.tar → exit 2, E_MANIFEST_INVALID; the store is unchanged', () => {
    const s = path.join(tmp, 'negative');
    const ok = runCli(['--store', s, 'ingest', fx('containers-image/almostempty.tar')]);
    expect(ok.code, show(ok)).toBe(0);
    const indexBefore = readFileSync(path.join(s, 'index.json'));
    const blobsBefore = listBlobs(s);
    for (const [file, code] of [
      ['go-containerregistry/tarball/no_manifest.tar', 'E_UNSUPPORTED'],
      ['go-containerregistry/tarball/null_manifest.tar', 'E_MANIFEST_INVALID'],
    ] as const) {
      const r = runCli(['--store', s, 'ingest', fx(file)]);
      expect(r.code, show(r)).toBe(2);
      expect(r.stdout).toBe('');
      const errorLines = r.stderr.split('\n').filter((l) => l.startsWith('layerstore: error:'));
      expect(errorLines, r.stderr).toHaveLength(1);
      expect(errorLines[0]).toContain(`[${code}]`);
      expect(r.stderr).not.toMatch(/^\s+at /m); // no stack trace without --debug
      expect(readFileSync(path.join(s, 'index.json')).equals(indexBefore)).toBe(true);
      expect(listBlobs(s)).toEqual(blobsBefore);
      expect(listBlobs(s).length).toBe(3);
    }
  });

  it('regclient/testrepo (OCI layout directory): every platform image of its indexes, artifacts not counted as images', () => {
    const dir = fx('regclient/testrepo');
    const readDoc = (d: string) => JSON.parse(readFileSync(path.join(dir, 'blobs', 'sha256', hexOf(d)), 'utf8'));
    const has = (d: string) => existsSync(path.join(dir, 'blobs', 'sha256', hexOf(d)));
    const images = new Set<string>();
    const artifacts = new Set<string>();
    const perRef = new Map<string, Set<string>>();
    const seen = new Set<string>();
    const walk = (d: string, ref: string | undefined) => {
      if (!has(d)) return;
      const doc = readDoc(d);
      if (Array.isArray(doc.manifests)) {
        if (seen.has(`${d} ${ref}`)) return;
        seen.add(`${d} ${ref}`);
        for (const c of doc.manifests) walk(c.digest, ref);
        return;
      }
      const isImage =
        IMAGE_CONFIG_TYPES.has(doc.config.mediaType) && doc.layers.every((l: any) => /^application\/vnd\.oci\.image\.layer\.v1\.tar/.test(l.mediaType));
      (isImage ? images : artifacts).add(d);
      if (isImage && ref) {
        if (!perRef.has(ref)) perRef.set(ref, new Set());
        perRef.get(ref)!.add(d);
      }
    };
    const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8'));
    expect(index.manifests).toHaveLength(26);
    for (const m of index.manifests) walk(m.digest, m.annotations?.['org.opencontainers.image.ref.name']);
    // b1-b3: amd64, arm64, arm/v7, arm/v6; v1: amd64, arm64 (+2 unknown/unknown attestations);
    // v2: amd64, arm64, arm/v7; v3: 4 platforms
    const counts = Object.fromEntries(['b1', 'b2', 'b3', 'v1', 'v2', 'v3'].map((t) => [t, perRef.get(t)?.size ?? 0]));
    expect(counts).toEqual({ b1: 4, b2: 4, b3: 4, v1: 2, v2: 3, v3: 4 });
    expect(images.size).toBe(21);

    const res = resultFor('regclient/testrepo');
    expect(res.format).toBe('oci-layout');
    expect(new Set(res.images.map((i) => i.manifestDigest))).toEqual(images);
    expect(res.images).toHaveLength(21);
    for (const [ref, set] of perRef) {
      if (!['b1', 'b2', 'b3', 'v1', 'v2', 'v3'].includes(ref)) continue;
      expect(new Set(report.images.filter((i) => i.refs.includes(`testrepo:${ref}`)).map((i) => i.manifestDigest)), ref).toEqual(set);
    }
    for (const a of artifacts) {
      expect(
        report.images.some((i) => i.manifestDigest === a),
        `artifact ${a} reported as an image`,
      ).toBe(false);
      expect(existsSync(blobFile(store, a)), `artifact ${a} not stored`).toBe(true);
    }
    expect(artifacts.size).toBeGreaterThan(0);
    // the layers are shared heavily across platforms and tags
    const regLayers = report.layers.filter((l) => l.images.some((m) => images.has(m)));
    expect(Math.max(...regLayers.map((l) => l.images.length))).toBeGreaterThan(4);
    // every root of the source index is a root of the store, with its ref; the bare names
    // ("b1") under the repository named after the layout directory ("testrepo:b1")
    const storeRefs = new Set(indexRefs(store));
    for (const m of index.manifests) {
      const ref = m.annotations?.['org.opencontainers.image.ref.name'];
      if (ref) expect(storeRefs.has(`testrepo:${ref}`), ref).toBe(true);
    }
  });

  it('skopeo inspect oci:STORE:REF gives our manifestDigest and layers', () => {
    for (const ref of [
      'dive-test:latest',
      'dive-test:kaniko-latest',
      'alpine:3.10',
      'sample:latest',
      'bazel/v1/tarball:test_image_3',
      'bazel/pkg/v1/mutate:source_image',
      'emptyimage:latest',
    ]) {
      const r = spawnSync('skopeo', ['inspect', `oci:${store}:${ref}`], { encoding: 'utf8' });
      expect(r.status, `${ref}: ${r.stderr}`).toBe(0);
      const out = JSON.parse(r.stdout);
      const img = byRef(ref);
      expect(out.Digest, ref).toBe(img.manifestDigest);
      expect(out.Layers, ref).toEqual(img.layers);
    }
    // an index ref: skopeo picks the requested platform from the nested index
    const r = spawnSync('skopeo', ['inspect', '--override-arch', 'arm64', '--override-os', 'linux', `oci:${store}:testrepo:v2`], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const arm = imageBy((i) => i.refs.includes('testrepo:v2') && i.platform === 'linux/arm64', 'testrepo:v2 linux/arm64');
    expect(JSON.parse(r.stdout).Layers).toEqual(arm.layers);
  });

  it('umoci ls --layout STORE lists exactly the refs of index.json', () => {
    const r = spawnSync('umoci', ['ls', '--layout', store], { encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const listed = r.stdout.split('\n').filter(Boolean).sort();
    expect(listed).toEqual([...new Set(indexRefs(store))].sort());
    for (const ref of [
      'dive-test:latest',
      'dive-test:kaniko-latest',
      'alpine:3.10',
      'alpine:3.11',
      'sample:latest',
      'emptyimage:latest',
      'testrepo:b1',
      'testrepo:v3',
      'testrepo:a1',
      'testrepo:loop',
    ]) {
      expect(listed).toContain(ref);
    }
  });

  describe('JSON report contract on the whole store', () => {
    it('schemaVersion 1, integer totals, and totals consistent with images[] and layers[]', () => {
      expect(report.schemaVersion).toBe(1);
      const t = report.totals;
      for (const k of ['images', 'layers', 'logicalBytes', 'storedBytes', 'savedBytes'] as const) expect(Number.isInteger(t[k]), k).toBe(true);
      expect(typeof t.dedupRatio).toBe('number');
      expect(t.images).toBe(report.images.length);
      expect(t.layers).toBe(report.layers.length);
      // Each well-known empty layer counts once in the logical bytes (its sharing is no saving).
      const wellKnownRepeats = report.layers.filter((l) => l.wellKnown).reduce((n, l) => n + l.sizeBytes * (l.images.length - 1), 0);
      expect(t.logicalBytes).toBe(report.images.reduce((n, i) => n + i.sizeBytes, 0) - wellKnownRepeats);
      expect(t.savedBytes).toBe(t.logicalBytes - t.storedBytes);
      expect(t.dedupRatio).toBeCloseTo(t.logicalBytes / t.storedBytes, 3);
      for (const img of report.images) {
        for (const k of ['sizeBytes', 'sharedBytes', 'uniqueBytes'] as const) expect(Number.isInteger(img[k])).toBe(true);
        expect(img.uniqueBytes + img.sharedBytes).toBe(img.sizeBytes);
      }
    });

    it('storedBytes, sizes, unique/shared bytes and layer users match the blob files (stat) and the manifests (read independently)', () => {
      const referenced = new Set<string>();
      for (const img of report.images) for (const d of [img.configDigest, ...img.layers]) referenced.add(d);
      expect(report.totals.storedBytes).toBe([...referenced].reduce((n, d) => n + blobSize(store, d), 0));
      for (const l of report.layers) expect(l.sizeBytes, l.digest).toBe(blobSize(store, l.digest));

      const independent = readStoreImages(store);
      expect(new Set(independent.map((i) => i.manifestDigest))).toEqual(new Set(report.images.map((i) => i.manifestDigest)));
      expect(independent).toHaveLength(report.images.length);
      const exp = expectedSharing(store, independent);
      expect(report.totals.logicalBytes).toBe(exp.logicalBytes);
      expect(report.totals.storedBytes).toBe(exp.storedBytes);
      for (const img of report.images) {
        const ind = independent.find((i) => i.manifestDigest === img.manifestDigest)!;
        expect(img.configDigest).toBe(ind.configDigest);
        expect(img.layers).toEqual(ind.layers);
        expect(img.refs).toEqual(ind.refs);
        const e = exp.perImage.get(img.manifestDigest)!;
        expect({ size: img.sizeBytes, unique: img.uniqueBytes, shared: img.sharedBytes }, img.manifestDigest).toEqual({
          size: e.sizeBytes,
          unique: e.uniqueBytes,
          shared: e.sharedBytes,
        });
      }
      expect(new Set(report.layers.map((l) => l.digest))).toEqual(new Set(exp.layerUsers.keys()));
      for (const l of report.layers) {
        expect(new Set(l.images), l.digest).toEqual(exp.layerUsers.get(l.digest));
        expect(l.images).toHaveLength(exp.layerUsers.get(l.digest)!.size);
      }
      // diffIds: the config's, position by position
      for (const ind of independent) for (const [i, d] of ind.layers.entries()) expect(layerRow(d).diffId).toBe(ind.diffIds[i]);
    });

    it('report --json is byte-identical when run again', () => {
      const again = runCli(['--store', store, 'report', '--json']);
      expect(again.code, show(again)).toBe(0);
      expect(again.stdout).toBe(reportText);
    });
  });
});
