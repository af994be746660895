/**
 * Checks the fixture writers against external tools: determinism of the generator, GNU tar
 * listing every archive, sha256sum of every layer matching the config's diff_ids, skopeo reading
 * the archives, and GNU tar accepting hand-built rawTar output.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../fixtures/generate.js';
import { flipByte, legacySave, rawTar, truncate } from './helpers/make-tar.js';
import { commands } from './helpers/peers.js';

const TARBALLS = ['family-legacy.tar', 'api-v25.tar', 'multi-oci-archive.tar'];

type RunResult = { stdout: Buffer; stderr: string; status: number | null };

function run(cmd: string, args: string[], input?: Buffer): RunResult {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  return { stdout: r.stdout, stderr: r.stderr.toString(), status: r.status };
}

/** Runs a command that must succeed with empty stderr; returns stdout as text. */
function runOk(cmd: string, args: string[], input?: Buffer): string {
  const r = run(cmd, args, input);
  if (r.status !== 0 || r.stderr !== '') {
    throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  }
  return r.stdout.toString();
}

/** "sha256:<hex>" of a file (following symlinks) or of stdin bytes, computed by sha256sum. */
function sha256sum(pathOrBytes: string | Buffer): string {
  const out = typeof pathOrBytes === 'string' ? runOk('sha256sum', [pathOrBytes]) : runOk('sha256sum', ['-'], pathOrBytes);
  return `sha256:${out.split(/\s+/)[0]}`;
}

function gunzip(path: string): Buffer {
  const r = run('gzip', ['-dc', path]);
  if (r.status !== 0) throw new Error(`gzip -dc ${path}: ${r.stderr}`);
  return r.stdout;
}

function listFiles(root: string, sub = ''): string[] {
  const out: string[] = [];
  for (const name of readdirSync(join(root, sub)).sort()) {
    const rel = sub ? `${sub}/${name}` : name;
    if (statSync(join(root, rel)).isDirectory()) out.push(...listFiles(root, rel));
    else out.push(rel);
  }
  return out;
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

function extract(tarPath: string, into: string): string {
  rmSync(into, { recursive: true, force: true });
  runOk('mkdir', ['-p', into]);
  runOk('tar', ['-xf', tarPath, '-C', into]);
  return into;
}

function _onPath(cmd: string): boolean {
  return (process.env.PATH ?? '').split(delimiter).some((d) => d !== '' && existsSync(join(d, cmd)));
}

type ImageConfigJson = { rootfs: { type: string; diff_ids: string[] }; history: unknown[] };
type DockerManifestJson = Array<{ Config: string; RepoTags: string[]; Layers: string[] }>;
type Descriptor = { mediaType: string; digest: string; size: number; annotations?: Record<string, string> };
type OciIndexJson = { schemaVersion: number; manifests: Descriptor[] };
type OciManifestJson = { schemaVersion: number; config: Descriptor; layers: Descriptor[] };

/** Checks manifest.json of an extracted docker save; returns image tag → diff_ids. */
function checkDockerManifest(dir: string): Map<string, string[]> {
  const result = new Map<string, string[]>();
  const manifest = readJson<DockerManifestJson>(join(dir, 'manifest.json'));
  for (const entry of manifest) {
    const configPath = join(dir, entry.Config);
    const configHex = entry.Config.replace(/^blobs\/sha256\//, '').replace(/\.json$/, '');
    expect(sha256sum(configPath)).toBe(`sha256:${configHex}`);
    const config = readJson<ImageConfigJson>(configPath);
    expect(config.rootfs.type).toBe('layers');
    expect(config.rootfs.diff_ids).toHaveLength(entry.Layers.length);
    expect(config.history).toHaveLength(entry.Layers.length);
    entry.Layers.forEach((layer, i) => {
      // Layers are uncompressed in both docker save formats; sha256sum follows symlinks.
      expect(sha256sum(join(dir, layer)), `${entry.RepoTags.join(',')} layer ${i}`).toBe(config.rootfs.diff_ids[i]);
    });
    for (const tag of entry.RepoTags) result.set(tag, config.rootfs.diff_ids);
  }
  return result;
}

/** Checks an OCI layout directory: digests, sizes, diff_ids. Returns ref.name → diff_ids. */
function checkOciLayout(dir: string): Map<string, string[]> {
  const result = new Map<string, string[]>();
  expect(readJson<unknown>(join(dir, 'oci-layout'))).toEqual({ imageLayoutVersion: '1.0.0' });
  const index = readJson<OciIndexJson>(join(dir, 'index.json'));
  expect(index.schemaVersion).toBe(2);
  const blobPath = (d: Descriptor): string => {
    const p = join(dir, 'blobs', 'sha256', d.digest.replace(/^sha256:/, ''));
    expect(sha256sum(p)).toBe(d.digest);
    expect(statSync(p).size).toBe(d.size);
    return p;
  };
  for (const desc of index.manifests) {
    expect(desc.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
    const manifest = readJson<OciManifestJson>(blobPath(desc));
    expect(manifest.schemaVersion).toBe(2);
    expect(manifest.config.mediaType).toBe('application/vnd.oci.image.config.v1+json');
    const config = readJson<ImageConfigJson>(blobPath(manifest.config));
    expect(config.rootfs.diff_ids).toHaveLength(manifest.layers.length);
    manifest.layers.forEach((layer, i) => {
      const p = blobPath(layer);
      let diffId: string;
      if (layer.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip') {
        diffId = sha256sum(gunzip(p));
        expect(diffId).not.toBe(layer.digest);
      } else {
        expect(layer.mediaType).toBe('application/vnd.oci.image.layer.v1.tar');
        diffId = sha256sum(p);
      }
      expect(diffId, `${desc.digest} layer ${i}`).toBe(config.rootfs.diff_ids[i]);
    });
    result.set(desc.annotations?.['org.opencontainers.image.ref.name'] ?? desc.digest, config.rootfs.diff_ids);
  }
  return result;
}

describe('fixture generator', () => {
  let root: string;
  let outA: string;
  let outB: string;

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'layerstore-fixtures-'));
    outA = join(root, 'a');
    outB = join(root, 'b');
    await generateFixtures(outA);
    await generateFixtures(outB);
    // Regenerating over existing output must give the same bytes too.
    await generateFixtures(outB);
  });

  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  it('writes the expected fixtures, a few MB in total', () => {
    const files = listFiles(outA);
    for (const t of TARBALLS) expect(files).toContain(t);
    expect(files).toContain('oci-gzip/index.json');
    expect(files).toContain('oci-gzip/oci-layout');
    const total = files.reduce((n, f) => n + statSync(join(outA, f)).size, 0);
    expect(total).toBeGreaterThan(2_000_000);
    expect(total).toBeLessThan(20_000_000);
  });

  it('is deterministic: two runs give byte-identical output', () => {
    const a = listFiles(outA);
    const b = listFiles(outB);
    expect(b).toEqual(a);
    for (const f of a) {
      expect(readFileSync(join(outB, f)).equals(readFileSync(join(outA, f))), f).toBe(true);
    }
  });

  it('GNU tar lists every tarball cleanly', () => {
    for (const t of TARBALLS) {
      const listing = runOk('tar', ['-tvf', join(outA, t)]);
      expect(listing.trim().split('\n').length).toBeGreaterThan(3);
    }
  });

  it('family-legacy.tar has symlinked duplicate layers and manifest.json last', () => {
    const tarPath = join(outA, 'family-legacy.tar');
    const names = runOk('tar', ['-tf', tarPath]).trim().split('\n');
    expect(names[names.length - 1]).toBe('manifest.json');
    expect(names).toContain('repositories');

    const verbose = runOk('tar', ['-tvf', tarPath]).trim().split('\n');
    const symlinks = verbose.filter((l) => l.startsWith('l'));
    expect(symlinks.length).toBeGreaterThanOrEqual(1);
    for (const line of symlinks) {
      const m = /\s([0-9a-f]{64})\/layer\.tar -> \.\.\/([0-9a-f]{64})\/layer\.tar$/.exec(line);
      expect(m, line).not.toBeNull();
      // The target is a regular file in the archive.
      expect(names).toContain(`${m![2]}/layer.tar`);
      expect(verbose.some((l) => l.startsWith('-') && l.endsWith(` ${m![2]}/layer.tar`))).toBe(true);
    }

    const dir = extract(tarPath, join(root, 'x-family'));
    const manifest = readJson<DockerManifestJson>(join(dir, 'manifest.json'));
    expect(manifest.map((m) => m.RepoTags)).toEqual([['acme/base:1.0'], ['acme/api:1.0'], ['acme/worker:1.0']]);
    expect(manifest.map((m) => m.Layers.length)).toEqual([1, 2, 3]);
    // The base layer is referenced by all three images; only one path is a real file.
    const basePaths = new Set(manifest.map((m) => m.Layers[0]));
    const realFiles = [...basePaths].filter((p) => names.includes(p!) && !symlinks.some((l) => l.includes(` ${p} -> `)));
    expect(realFiles).toHaveLength(1);
    expect(basePaths.size).toBeGreaterThan(1);
    for (const entry of manifest) {
      for (const layer of entry.Layers) {
        const id = layer.split('/')[0]!;
        expect(readFileSync(join(dir, id, 'VERSION'), 'utf8')).toBe('1.0');
        expect(readJson<{ id: string }>(join(dir, id, 'json')).id).toBe(id);
      }
    }
    const repos = readJson<Record<string, Record<string, string>>>(join(dir, 'repositories'));
    expect(Object.keys(repos)).toEqual(['acme/base', 'acme/api', 'acme/worker']);
  });

  it('worker top layer has whiteouts, an overwrite and a duplicated file', () => {
    const dir = extract(join(outA, 'family-legacy.tar'), join(root, 'x-family2'));
    const manifest = readJson<DockerManifestJson>(join(dir, 'manifest.json'));
    const worker = manifest.find((m) => m.RepoTags.includes('acme/worker:1.0'))!;
    const top = join(dir, worker.Layers[2]!);
    const base = join(dir, worker.Layers[0]!);
    const names = runOk('tar', ['-tf', top]).trim().split('\n');
    expect(names).toEqual(expect.arrayContaining(['etc/.wh.motd', 'etc/os-release', 'usr/share/doc/.wh..wh..opq', 'app/worker/lib/libz.so.1']));
    expect(runOk('tar', ['-tf', base]).split('\n')).toEqual(expect.arrayContaining(['etc/motd', 'etc/os-release']));
    const dup = run('tar', ['-xOf', top, 'app/worker/lib/libz.so.1']).stdout;
    const orig = run('tar', ['-xOf', base, 'usr/lib/libz.so.1']).stdout;
    expect(dup.length).toBeGreaterThan(1000);
    expect(dup.equals(orig)).toBe(true);
    const osNew = run('tar', ['-xOf', top, 'etc/os-release']).stdout;
    const osOld = run('tar', ['-xOf', base, 'etc/os-release']).stdout;
    expect(osNew.equals(osOld)).toBe(false);
  });

  it('every layer hashes (sha256sum, gunzipped if needed) to its config diff_id', () => {
    const family = checkDockerManifest(extract(join(outA, 'family-legacy.tar'), join(root, 'x-family3')));
    const v25Dir = extract(join(outA, 'api-v25.tar'), join(root, 'x-v25'));
    const v25 = checkDockerManifest(v25Dir);
    const v25Oci = checkOciLayout(v25Dir);
    const web = checkOciLayout(join(outA, 'oci-gzip'));
    const cli = checkOciLayout(extract(join(outA, 'multi-oci-archive.tar'), join(root, 'x-multi')));

    expect([...family.keys()]).toEqual(['acme/base:1.0', 'acme/api:1.0', 'acme/worker:1.0']);
    expect([...v25.keys()]).toEqual(['acme/api:1.1']);
    expect([...v25Oci.keys()]).toEqual(['1.1']);
    expect([...web.keys()]).toEqual(['acme/web:2.0']);
    expect([...cli.keys()]).toEqual(['acme/cli:1.0', 'acme/cli:1.1']);

    // The same base layer (same diff_id) starts every image.
    const baseDiffId = family.get('acme/base:1.0')![0];
    for (const ids of [...family.values(), ...v25.values(), ...web.values(), ...cli.values()]) {
      expect(ids[0]).toBe(baseDiffId);
    }
    expect(family.get('acme/api:1.0')![1]).not.toBe(v25.get('acme/api:1.1')![1]);
    expect(cli.get('acme/cli:1.0')![1]).not.toBe(cli.get('acme/cli:1.1')![1]);

    // Docker 25 index.json names the image fully qualified.
    const index = readJson<OciIndexJson>(join(v25Dir, 'index.json'));
    expect(index.manifests[0]?.annotations?.['io.containerd.image.name']).toBe('docker.io/acme/api:1.1');
  });

  it('gzip layers compress roughly 2:1', () => {
    const index = readJson<OciIndexJson>(join(outA, 'oci-gzip', 'index.json'));
    const blob = (digest: string): string => join(outA, 'oci-gzip', 'blobs', 'sha256', digest.replace('sha256:', ''));
    const manifest = readJson<OciManifestJson>(blob(index.manifests[0]!.digest));
    const base = manifest.layers[0]!;
    const ratio = gunzip(blob(base.digest)).length / base.size;
    expect(ratio).toBeGreaterThan(1.5);
    expect(ratio).toBeLessThan(3);
  });

  describe.skipIf(!commands([['skopeo', 'skopeo']]))('skopeo', () => {
    const skopeo = (args: string[]): string => runOk('skopeo', ['--override-os', 'linux', '--override-arch', 'amd64', ...args]);

    it('reads oci-gzip as an OCI layout', () => {
      const raw = JSON.parse(skopeo(['inspect', '--raw', `oci:${join(outA, 'oci-gzip')}:acme/web:2.0`])) as OciManifestJson;
      expect(raw.layers).toHaveLength(2);
      expect(raw.layers[0]?.mediaType).toBe('application/vnd.oci.image.layer.v1.tar+gzip');
    });

    it('reads family-legacy.tar as a docker-archive', () => {
      for (const [ref, n] of [
        ['acme/api:1.0', 2],
        ['acme/base:1.0', 1],
        ['acme/worker:1.0', 3],
      ] as const) {
        const info = JSON.parse(skopeo(['inspect', `docker-archive:${join(outA, 'family-legacy.tar')}:${ref}`])) as {
          Layers: string[];
        };
        expect(info.Layers, ref).toHaveLength(n);
      }
    });

    it('reads api-v25.tar as a docker-archive and multi-oci-archive.tar as an oci-archive', () => {
      const v25 = JSON.parse(skopeo(['inspect', `docker-archive:${join(outA, 'api-v25.tar')}:acme/api:1.1`])) as {
        Layers: string[];
      };
      expect(v25.Layers).toHaveLength(2);
      for (const ref of ['acme/cli:1.0', 'acme/cli:1.1']) {
        const info = JSON.parse(skopeo(['inspect', `oci-archive:${join(outA, 'multi-oci-archive.tar')}:${ref}`])) as {
          Layers: string[];
        };
        expect(info.Layers, ref).toHaveLength(2);
      }
    });
  });
});

describe('rawTar', () => {
  let root: string;
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'layerstore-rawtar-'));
  });
  afterAll(() => {
    if (root) rmSync(root, { recursive: true, force: true });
  });

  const write = (name: string, buf: Buffer): string => {
    const p = join(root, name);
    writeFileSync(p, buf);
    return p;
  };

  it('produces archives GNU tar lists and extracts', () => {
    const longDir = `${'d'.repeat(60)}/${'e'.repeat(60)}`;
    const tar = rawTar([
      { name: 'etc/', type: 'dir' },
      { name: 'etc/hostname', body: 'box\n' },
      { name: 'etc/big', body: Buffer.alloc(1500, 7) },
      { name: 'etc/sh', type: 'symlink', linkname: '/bin/busybox' },
      { name: 'etc/hostname2', type: 'link', linkname: 'etc/hostname' },
      { name: `${longDir}/file.txt`, body: 'long name' },
    ]);
    expect(tar.length % 512).toBe(0);
    const p = write('valid.tar', tar);
    const lines = runOk('tar', ['-tvf', p]).trim().split('\n');
    expect(lines).toHaveLength(6);
    expect(lines[0]).toMatch(/^drwxr-xr-x 0\/0 +0 .* etc\/$/);
    expect(lines[1]).toMatch(/^-rw-r--r-- 0\/0 +4 .* etc\/hostname$/);
    expect(lines[2]).toMatch(/ 1500 .* etc\/big$/);
    expect(lines[3]).toMatch(/^lrwxrwxrwx .* etc\/sh -> \/bin\/busybox$/);
    expect(lines[4]).toMatch(/^h.* etc\/hostname2 link to etc\/hostname$/);
    expect(lines[5]).toMatch(new RegExp(`${longDir}/file\\.txt$`));

    const out = join(root, 'valid-x');
    runOk('mkdir', ['-p', out]);
    runOk('tar', ['-xf', p, '-C', out]);
    expect(readFileSync(join(out, 'etc/hostname'), 'utf8')).toBe('box\n');
    expect(readFileSync(join(out, 'etc/big')).equals(Buffer.alloc(1500, 7))).toBe(true);
    expect(readFileSync(join(out, longDir, 'file.txt'), 'utf8')).toBe('long name');
  });

  it('without end-of-archive blocks is still listed by GNU tar', () => {
    const tar = rawTar(
      [
        { name: 'a.txt', body: 'a' },
        { name: 'b.txt', body: 'bb' },
      ],
      { endBlocks: 0 },
    );
    expect(tar.length).toBe(4 * 512);
    const r = run('tar', ['-tf', write('noend.tar', tar)]);
    expect(r.status).toBe(0);
    expect(r.stdout.toString().trim().split('\n')).toEqual(['a.txt', 'b.txt']);
  });

  it('writes names and sizes a packer would refuse', () => {
    const tar = rawTar(
      [
        { name: '/etc/passwd', body: 'root::0:0::/:/bin/sh\n' },
        { name: '../escape', body: 'x' },
        { name: 'dup', body: '1' },
        { name: 'dup', body: '2' },
        { name: 'back\\slash', body: '' },
      ],
      { padTo: 10240, trailing: Buffer.from('garbage after the end') },
    );
    expect(tar.length).toBe(10240 + 'garbage after the end'.length);
    const r = run('tar', ['-tf', write('evil.tar', tar)]);
    expect(r.stdout.toString().trim().split('\n')).toEqual(['/etc/passwd', '../escape', 'dup', 'dup', 'back\\\\slash']);

    // NUL in a name truncates it for readers; a lying size runs past the real data.
    const nul = rawTar([{ name: 'evil\0.txt', body: 'x' }]);
    expect(nul.subarray(0, 9).toString('latin1')).toBe('evil\0.txt');
    const lying = rawTar([{ name: 'short', body: 'abc', declaredSize: 4096 }]);
    expect(lying.length).toBe(512 + 512 + 1024);
    expect(lying.subarray(124, 136).toString('latin1')).toBe('00000010000\0');
    const rl = run('tar', ['-tf', write('lying.tar', lying)]);
    expect(rl.status).not.toBe(0);
  });

  it('truncate, flipByte and legacySave', () => {
    const tar = rawTar([{ name: 'f', body: 'hello' }]);
    expect(truncate(tar, 100)).toHaveLength(100);
    expect(truncate(tar, -512)).toHaveLength(tar.length - 512);
    const flipped = flipByte(tar, 0);
    expect(flipped[0]).toBe(tar[0]! ^ 0xff);
    expect(tar[0]).toBe('f'.charCodeAt(0)); // original untouched
    // A corrupted header fails GNU tar's checksum check.
    expect(run('tar', ['-tf', write('flipped.tar', flipByte(tar, 200))]).status).not.toBe(0);

    const save = legacySave({
      manifest: [{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['missing/layer.tar'] }],
      files: [{ name: 'c.json', body: '{"rootfs":{"type":"layers","diff_ids":[]}}' }],
    });
    const p = write('save.tar', save);
    expect(runOk('tar', ['-tf', p]).trim().split('\n')).toEqual(['c.json', 'manifest.json']);
    expect(JSON.parse(run('tar', ['-xOf', p, 'manifest.json']).stdout.toString())).toEqual([
      { Config: 'c.json', RepoTags: ['x:1'], Layers: ['missing/layer.tar'] },
    ]);
    const bad = legacySave({ manifest: '[{"Config": ', files: [], manifestFirst: true });
    expect(run('tar', ['-xOf', write('bad.tar', bad), 'manifest.json']).stdout.toString()).toBe('[{"Config": ');
  });
});
