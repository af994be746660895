/**
 * `layerstore serve --allow-push` against the real clients (issue 14): docker (Debian's
 * dockerd 20.10, private, with whatever docker CLI is on PATH), podman 4.3, skopeo 1.9 and
 * containerd 1.6's ctr, pushing into serve and pulling back by tag and by digest, single- and
 * multi-platform, and running a container from an image pulled from serve. Not covered: zstd
 * layers with docker (dockerd 20.10 cannot unpack them; podman and skopeo can). Every expectation is checked against what the client itself reports (push
 * output, --digestfile, inspect, its content store) or against the store's files read with
 * plain fs (readStoreImages), never against layerstore alone.
 *
 * The engines run privately (test/helpers/engines.ts). Under CI=true a missing engine fails
 * these tests; elsewhere its block is skipped with a message.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { blobFile, ensureBuilt, readIndexJson, readStoreImages, runCli, sha256Of, show, type StoreImage } from '../helpers/cli.js';
import {
  engineSlot,
  runCmd,
  skipWithoutEngine,
  startContainerd,
  startDockerd,
  startPodman,
  type Containerd,
  type Dockerd,
  type Podman,
} from '../helpers/engines.js';
import { rawTar, type RawEntry } from '../helpers/make-tar.js';
import { REGCLIENT_TESTREPO, startServe, type Serve } from './helpers.js';

const FILE = 'registry/real-clients.test.ts';

interface LsImage {
  refs: string[];
  manifestDigest: string;
  configDigest: string;
  platform: string;
}

/** The regclient test repository's index digest for `tag` (multi-platform indexes v1, v2). */
function regclientRoot(tag: string): string {
  const index = JSON.parse(readFileSync(path.join(REGCLIENT_TESTREPO, 'index.json'), 'utf8'));
  const m = index.manifests.find((x: any) => x.annotations?.['org.opencontainers.image.ref.name'] === tag);
  if (!m) throw new Error(`no ${tag} in the regclient test repository`);
  return m.digest;
}

/** The linux child of the regclient index `tag` for `arch` (and variant): manifest and config digests. */
function regclientChild(tag: string, arch: string, variant?: string): { manifest: string; config: string } {
  const blob = (d: string) => JSON.parse(readFileSync(path.join(REGCLIENT_TESTREPO, 'blobs', 'sha256', d.slice(7)), 'utf8'));
  const m = blob(regclientRoot(tag)).manifests.find(
    (x: any) => x.platform?.os === 'linux' && x.platform.architecture === arch && x.platform.variant === variant,
  );
  if (!m) throw new Error(`no linux/${arch} in ${tag}`);
  return { manifest: m.digest, config: blob(m.digest).config.digest };
}

/** `docker save alpine:3.10 | gzip` of the official image (see ../shared/fixtures-real/SOURCES.md). */
const ALPINE_310 = path.resolve(REGCLIENT_TESTREPO, '..', '..', 'trivy', 'alpine-310.tar.gz');

/** This machine's architecture as OCI platforms name it. */
const HOST_ARCH = ({ x64: 'amd64', arm64: 'arm64' } as Record<string, string>)[process.arch] ?? process.arch;

/** Every blob an OCI layout holds for `digest`: itself, children of indexes, configs and layers. */
function layoutClosure(layout: string, digest: string, out = new Set<string>()): Set<string> {
  if (out.has(digest)) return out;
  out.add(digest);
  const doc = JSON.parse(readFileSync(path.join(layout, 'blobs', 'sha256', digest.slice(7)), 'utf8'));
  for (const m of doc.manifests ?? []) layoutClosure(layout, m.digest, out);
  if (doc.config) out.add(doc.config.digest);
  for (const l of doc.layers ?? []) out.add(l.digest);
  return out;
}

/** Files of a tar (what `docker cp` writes): name -> sha256 of a file, or "dir", or "-> target". */
async function tarFiles(tar: Buffer): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const ex = extract();
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (h, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: unknown) => chunks.push(c as Buffer));
      stream.on('end', () => {
        const name = h.name.replace(/\/$/, '');
        if (h.type === 'file') files.set(name, sha256Of(Buffer.concat(chunks)));
        else if (h.type === 'directory') files.set(name, 'dir');
        else files.set(name, `${h.type} -> ${h.linkname}`);
        next();
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  Readable.from([tar]).pipe(ex);
  await done;
  return files;
}

let tmp: string;
let fx: string;
let store: string;
let serve: Serve;
let policy: string;
const p = (...x: string[]) => path.join(tmp, ...x);

const ok = (args: string[], st = store) => {
  const r = runCli(['--store', st, ...args]);
  expect(r.code, show(r)).toBe(0);
  return r;
};
const lsImages = (st = store): LsImage[] => JSON.parse(ok(['ls', '--json'], st).stdout).images;
/** The store's image under `ref`, read from its files (not through layerstore). */
const storeImage = (ref: string, st = store): StoreImage => {
  const img = readStoreImages(st).find((i) => i.refs.includes(ref));
  if (!img)
    throw new Error(
      `no ${ref} in ${st}; refs: ${readStoreImages(st)
        .flatMap((i) => i.refs)
        .join(', ')}`,
    );
  return img;
};
const expectVerified = (st = store) => expect(JSON.parse(ok(['verify', '--json'], st).stdout)).toMatchObject({ damaged: false, badBlobs: [], missing: [] });

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-real-clients-'));
  fx = p('fx');
  await generateFixtures(fx);
  policy = p('policy.json');
  writeFileSync(policy, JSON.stringify({ default: [{ type: 'insecureAcceptAnything' }] }));
  store = p('store');
  // a multi-platform index for the clients to pull, put there by layerstore itself
  ok(['ingest', REGCLIENT_TESTREPO]);
  ok(['tag', 'testrepo:v2', 'mp/testrepo:v2']); // the layout's bare "v2", under the directory's name
  serve = await startServe(store, ['--allow-push']);
}, 60_000);

afterAll(async () => {
  await serve?.stop();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipWithoutEngine('docker', FILE))('docker (private dockerd 20.10) against serve', () => {
  const slot = engineSlot<Dockerd>('dockerd');
  /** Files of the fixture images as `docker load` unpacked them, before any push or pull. */
  const loaded = new Map<string, Map<string, string>>();
  const pushed = new Map<string, string>(); // ref in the store -> digest docker printed

  const filesOf = async (d: Dockerd, image: string): Promise<Map<string, string>> => {
    const id = (await d.docker(['create', image, '/none'])).stdout.trim();
    try {
      const all = new Map<string, string>();
      for (const dir of ['/etc', '/app', '/usr']) for (const [k, v] of await tarFiles((await d.docker(['cp', `${id}:${dir}`, '-'])).out)) all.set(k, v);
      return all;
    } finally {
      await d.docker(['rm', id]);
    }
  };
  const inspect = async (d: Dockerd, image: string) => JSON.parse((await d.docker(['image', 'inspect', image])).stdout)[0];
  const removeAllImages = async (d: Dockerd) => {
    const ids = (await d.docker(['image', 'ls', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (ids.length) await d.docker(['rmi', '-f', ...new Set(ids)]);
    expect((await d.docker(['image', 'ls', '-aq'])).stdout.trim()).toBe('');
  };

  beforeAll(async () => {
    await slot.start(startDockerd, async (d) => {
      await d.docker(['load', '-i', path.join(fx, 'family-legacy.tar')]);
      for (const img of ['acme/api:1.0', 'acme/worker:1.0']) loaded.set(img, await filesOf(d, img));
    });
  }, 90_000);
  afterAll(() => slot.stop());

  it("the loaded fixtures as docker unpacked them: worker-top's whiteouts applied (the baseline the pulls are compared with)", (ctx) => {
    slot.get(ctx);
    const api = loaded.get('acme/api:1.0')!;
    const worker = loaded.get('acme/worker:1.0')!;
    expect(api.get('etc/motd')).toMatch(/^sha256:/);
    expect(worker.has('etc/motd')).toBe(false); // etc/.wh.motd
    expect(worker.get('etc/os-release')).not.toBe(api.get('etc/os-release'));
    expect([...worker.keys()].filter((k) => k.startsWith('usr/share/doc/')).length).toBeLessThan(
      [...api.keys()].filter((k) => k.startsWith('usr/share/doc/')).length,
    ); // opaque dir
  });

  it('docker push by tag: the store holds each image under its tag with the digest docker printed, config and diffIDs as docker has them', async (ctx) => {
    const d = slot.get(ctx);
    for (const name of ['acme/api:1.0', 'acme/worker:1.0']) {
      const target = `${serve.host}/${name}`;
      await d.docker(['tag', name, target]);
      const out = (await d.docker(['push', target])).stdout;
      const digest = /digest: (sha256:[0-9a-f]{64}) size: \d+/.exec(out)?.[1];
      expect(digest, out).toBeDefined();
      pushed.set(name, digest!);

      const ins = await inspect(d, target);
      expect(ins.RepoDigests).toContain(`${serve.host}/${name.split(':')[0]}@${digest}`);
      const img = storeImage(name);
      expect(img.manifestDigest).toBe(digest);
      expect(img.configDigest).toBe(ins.Id);
      expect(img.diffIds).toEqual(ins.RootFS.Layers);
      expect(lsImages().find((i) => i.refs.includes(name))?.manifestDigest).toBe(digest);
    }
    expectVerified();
  });

  it('docker pull by tag, then by digest, from serve: same manifest digest, image ID, layers and files as the loaded fixture; docker save of it ingests to the same image', async (ctx) => {
    const d = slot.get(ctx);
    expect(pushed.size, 'the push test ran first').toBe(2);
    for (const [name, digest] of pushed) {
      const repo = `${serve.host}/${name.split(':')[0]}`;
      const want = storeImage(name);
      for (const ref of [`${serve.host}/${name}`, `${repo}@${digest}`]) {
        await removeAllImages(d); // every layer has to come from serve
        const out = (await d.docker(['pull', ref])).stdout;
        expect(out).toContain(`Digest: ${digest}`);
        const ins = await inspect(d, ref);
        expect(ins.Id).toBe(want.configDigest);
        expect(ins.RootFS.Layers).toEqual(want.diffIds);
        expect(ins.RepoDigests).toContain(`${repo}@${digest}`);
        expect(await filesOf(d, ref)).toEqual(loaded.get(name));
        // the Engine API on the private socket says the same
        const listed = JSON.parse((await d.api('/v1.41/images/json')).body.toString('utf8'));
        expect(listed.map((i: any) => i.Id)).toEqual([want.configDigest]);
      }
      // docker save writes the layers it unpacked; ingested, they are the same image.
      const saved = p(`saved-${name.replace(/\W/g, '_')}.tar`);
      await d.docker(['save', '-o', saved, `${repo}@${digest}`]);
      const st2 = p(`store-saved-${name.replace(/\W/g, '_')}`);
      ok(['ingest', saved], st2);
      const again = readStoreImages(st2);
      expect(again.map((i) => [i.configDigest, i.diffIds])).toEqual([[want.configDigest, want.diffIds]]);
    }
  });

  it('docker run of an image pulled from serve by digest (real alpine 3.10): the container reads the file the loaded image has', async (ctx) => {
    const d = slot.get(ctx);
    await d.docker(['load', '-i', ALPINE_310]);
    const cat = ['run', '--rm', '--network', 'none'];
    const before = (await d.docker([...cat, 'alpine:3.10', 'cat', '/etc/alpine-release'])).stdout;
    expect(before).toMatch(/^3\.10\.\d+\n$/);
    const target = `${serve.host}/real/alpine:3.10`;
    await d.docker(['tag', 'alpine:3.10', target]);
    const digest = /digest: (sha256:[0-9a-f]{64})/.exec((await d.docker(['push', target])).stdout)?.[1];
    expect(storeImage('real/alpine:3.10').manifestDigest).toBe(digest);
    await removeAllImages(d);
    const ref = `${serve.host}/real/alpine@${digest}`;
    await d.docker(['pull', ref]);
    expect((await d.docker([...cat, ref, 'cat', '/etc/alpine-release'])).stdout).toBe(before);
  });

  it("docker manifest create + push (the CLI's multi-platform push): the store holds the list with the digest docker printed, each child under REPO@DIGEST; docker pull of it gets the linux/amd64 child", async (ctx) => {
    const d = slot.get(ctx);
    expect(pushed.size, 'the push test ran first').toBe(2);
    const list = `${serve.host}/multi/app:1`;
    // two linux/amd64 images in the store; the second is annotated as arm64 in the list
    await d.docker([
      'manifest',
      'create',
      '--insecure',
      list,
      `${serve.host}/acme/api@${pushed.get('acme/api:1.0')}`,
      `${serve.host}/acme/worker@${pushed.get('acme/worker:1.0')}`,
    ]);
    await d.docker(['manifest', 'annotate', '--arch', 'arm64', list, `${serve.host}/acme/worker@${pushed.get('acme/worker:1.0')}`]);
    const out = (await d.docker(['manifest', 'push', '--insecure', list])).stdout;
    const digest = /^(sha256:[0-9a-f]{64})\s*$/m.exec(out)?.[1];
    expect(digest, out).toBeDefined();
    const root = (readIndexJson(store).manifests as any[]).find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === 'multi/app:1');
    expect(root?.digest).toBe(digest);
    expect(sha256Of(readFileSync(blobFile(store, digest!)))).toBe(digest);
    const children = JSON.parse(readFileSync(blobFile(store, digest!), 'utf8')).manifests;
    expect(children.map((c: any) => [c.digest, c.platform.architecture])).toEqual([
      [pushed.get('acme/api:1.0'), 'amd64'],
      [pushed.get('acme/worker:1.0'), 'arm64'],
    ]);
    for (const c of children) expect(storeImage(`multi/app@${c.digest}`).manifestDigest).toBe(c.digest);
    expectVerified();

    await removeAllImages(d);
    expect((await d.docker(['pull', '--platform', 'linux/amd64', list])).stdout).toContain(`Digest: ${digest}`);
    expect((await inspect(d, list)).Id).toBe(storeImage('acme/api:1.0').configDigest);
  });

  it("docker pull of a multi-platform index, by tag (this machine's platform) and by digest with --platform linux/arm/v7: the matching child", async (ctx) => {
    const d = slot.get(ctx);
    const root = regclientRoot('v2');
    const repo = `${serve.host}/mp/testrepo`;
    for (const [ref, platform, child] of [
      [`${repo}:v2`, undefined, regclientChild('v2', HOST_ARCH)],
      [`${repo}@${root}`, 'linux/arm/v7', regclientChild('v2', 'arm', 'v7')],
    ] as const) {
      await removeAllImages(d);
      const out = (await d.docker(['pull', ...(platform ? ['--platform', platform] : []), ref])).stdout;
      expect(out).toContain(`Digest: ${root}`);
      const ins = await inspect(d, ref);
      expect(ins.Id).toBe(child.config);
      expect(ins.RepoDigests).toContain(`${repo}@${root}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipWithoutEngine('podman', FILE))('podman 4.3 against serve', () => {
  const slot = engineSlot<Podman>('podman');
  let digest = '';
  const NAME = 'pm/api:1.0';

  beforeAll(async () => {
    await slot.start(startPodman, async (pm) => {
      await pm.podman(['load', '-q', '-i', path.join(fx, 'family-legacy.tar')]);
    });
  }, 60_000);
  afterAll(() => slot.stop());

  it('podman push by tag: the store holds the image with the digest podman wrote to --digestfile', async (ctx) => {
    const pm = slot.get(ctx);
    const target = `${serve.host}/${NAME}`;
    await pm.podman(['tag', 'localhost/acme/api:1.0', target]);
    const df = p('podman.digest');
    await pm.podman(['push', '--tls-verify=false', '--digestfile', df, target]);
    digest = readFileSync(df, 'utf8').trim();
    expect(digest).toMatch(/^sha256:[0-9a-f]{64}$/);
    const img = storeImage(NAME);
    expect(img.manifestDigest).toBe(digest);
    const id = (await pm.podman(['image', 'inspect', '--format', '{{.Id}}', target])).stdout.trim();
    expect(img.configDigest).toBe(`sha256:${id}`);
    expectVerified();
  });

  it('podman pull by tag and by digest from serve: the manifest digest, image ID and layers of the store', async (ctx) => {
    const pm = slot.get(ctx);
    expect(digest, 'the push test ran first').not.toBe('');
    const want = storeImage(NAME);
    for (const ref of [`${serve.host}/${NAME}`, `${serve.host}/pm/api@${digest}`]) {
      await pm.podman(['rmi', '-a', '-f']);
      expect((await pm.podman(['images', '-q'])).stdout.trim()).toBe('');
      await pm.podman(['pull', '--tls-verify=false', ref]);
      const ins = JSON.parse((await pm.podman(['image', 'inspect', ref])).stdout)[0];
      expect(ins.Digest).toBe(digest);
      expect(`sha256:${ins.Id}`).toBe(want.configDigest);
      expect(ins.RootFS.Layers).toEqual(want.diffIds);
    }
  });

  it("podman pull of a multi-platform index, by tag (this machine's platform) and by digest with --arch arm64: the matching child", async (ctx) => {
    const pm = slot.get(ctx);
    const root = regclientRoot('v2');
    const repo = `${serve.host}/mp/testrepo`;
    for (const [ref, arch, child] of [
      [`${repo}:v2`, undefined, regclientChild('v2', HOST_ARCH)],
      [`${repo}@${root}`, 'arm64', regclientChild('v2', 'arm64')],
    ] as const) {
      await pm.podman(['rmi', '-a', '-f']);
      await pm.podman(['pull', '--tls-verify=false', ...(arch ? ['--arch', arch] : []), ref]);
      const ins = JSON.parse((await pm.podman(['image', 'inspect', ref])).stdout)[0];
      expect(`sha256:${ins.Id}`).toBe(child.config);
      expect(ins.Digest).toBe(root); // podman records the digest of what it was asked for
      expect(ins.Architecture).toBe(arch ?? HOST_ARCH);
    }
    // podman's Docker-compatible API (podman system service) lists the same image
    const api = await pm.service();
    const listed = JSON.parse((await api.api('/v1.41/images/json')).body.toString('utf8'));
    expect(listed.map((i: any) => i.Id)).toEqual([regclientChild('v2', 'arm64').config]);
  });
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipWithoutEngine('skopeo', FILE))('skopeo 1.9 copy to and from serve', () => {
  const sk = (args: string[]) => runCmd('skopeo', ['--policy', policy, ...args]);
  const rawManifest = async (ref: string) => (await sk(['inspect', '--raw', '--tls-verify=false', ref])).out;
  /** An OCI layout skopeo wrote: its one root digest; every blob hashes to its name. */
  const checkLayout = (dir: string): string => {
    const roots = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')).manifests;
    expect(roots).toHaveLength(1);
    for (const n of readdirSync(path.join(dir, 'blobs', 'sha256'))) expect(sha256Of(readFileSync(path.join(dir, 'blobs', 'sha256', n))), n).toBe(`sha256:${n}`);
    return roots[0].digest;
  };
  let rc: string; // a copy of the regclient layout (skopeo may write to an oci: source's lock)

  beforeAll(() => {
    rc = p('regclient');
    cpSync(REGCLIENT_TESTREPO, rc, { recursive: true });
  });

  it('single-platform: docker-archive -> serve by tag, serve by digest -> oci layout, oci layout -> serve by digest and by tag; digests are kept', async () => {
    const df = p('sk-worker.digest');
    await sk([
      'copy',
      '--dest-tls-verify=false',
      '--digestfile',
      df,
      `docker-archive:${path.join(fx, 'family-legacy.tar')}:acme/worker:1.0`,
      `docker://${serve.host}/sk/worker:1.0`,
    ]);
    const digest = readFileSync(df, 'utf8').trim();
    const img = storeImage('sk/worker:1.0');
    expect(img.manifestDigest).toBe(digest);

    const out = p('sk-worker-oci');
    await sk(['copy', '--src-tls-verify=false', '--preserve-digests', `docker://${serve.host}/sk/worker@${digest}`, `oci:${out}:w`]);
    expect(checkLayout(out)).toBe(digest);
    for (const b of [img.configDigest, ...img.layers])
      expect(readFileSync(path.join(out, 'blobs', 'sha256', b.slice(7))).equals(readFileSync(blobFile(store, b))), b).toBe(true);

    // skopeo reads back only OCI media types from an oci: layout, so convert once, then push
    // that OCI manifest by digest (no tag) and by tag.
    const oci = p('sk-worker-oci-format');
    await sk(['copy', '--src-tls-verify=false', '--format', 'oci', `docker://${serve.host}/sk/worker@${digest}`, `oci:${oci}:w`]);
    const ociDigest = checkLayout(oci);
    expect(ociDigest).not.toBe(digest);
    await sk(['copy', '--dest-tls-verify=false', '--preserve-digests', `oci:${oci}:w`, `docker://${serve.host}/sk/worker-oci@${ociDigest}`]);
    expect(sha256Of(await rawManifest(`docker://${serve.host}/sk/worker-oci@${ociDigest}`))).toBe(ociDigest);
    expect(readStoreImages(store).find((i) => i.manifestDigest === ociDigest)?.refs).toContain(`sk/worker-oci@${ociDigest}`);
    const df2 = p('sk-worker-oci.digest');
    await sk(['copy', '--dest-tls-verify=false', '--preserve-digests', '--digestfile', df2, `oci:${oci}:w`, `docker://${serve.host}/sk/worker-oci:1.0`]);
    expect(readFileSync(df2, 'utf8').trim()).toBe(ociDigest);
    expect(storeImage('sk/worker-oci:1.0')).toMatchObject({ manifestDigest: ociDigest, diffIds: img.diffIds });
    expectVerified();
  });

  it('multi-platform with --all: an OCI index -> serve by tag and by digest, serve -> OCI layout by tag and by digest; every digest and blob is kept', async () => {
    for (const [tag, byDigest] of [
      ['v2', false],
      ['v1', true],
    ] as const) {
      const root = regclientRoot(tag);
      const dest = byDigest ? `docker://${serve.host}/rc/testrepo@${root}` : `docker://${serve.host}/rc/testrepo:${tag}`;
      const df = p(`rc-${tag}.digest`);
      await sk(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', '--digestfile', df, `oci:${rc}:${tag}`, dest]);
      expect(readFileSync(df, 'utf8').trim()).toBe(root);
      expect(sha256Of(await rawManifest(dest))).toBe(root);

      const out = p(`rc-out-${tag}`);
      await sk(['copy', '--all', '--preserve-digests', '--src-tls-verify=false', dest, `oci:${out}:${tag}`]);
      expect(checkLayout(out)).toBe(root);
      const want = layoutClosure(rc, root);
      expect(new Set(readdirSync(path.join(out, 'blobs', 'sha256')).map((n) => `sha256:${n}`))).toEqual(want);
      for (const b of want) expect(readFileSync(blobFile(store, b)).equals(readFileSync(path.join(rc, 'blobs', 'sha256', b.slice(7)))), b).toBe(true);
    }
    // The platforms of v2 as ls shows them.
    const v2 = lsImages().filter((i) => i.refs.includes('rc/testrepo:v2'));
    expect(v2.map((i) => i.platform).sort()).toEqual(['linux/amd64', 'linux/arm/v7', 'linux/arm64']);
    expectVerified();
  });

  it('a multi-platform tag copied without --all gives the one platform asked for, byte for byte', async () => {
    const root = regclientRoot('v2');
    await sk(['copy', '--all', '--dest-tls-verify=false', '--preserve-digests', `oci:${rc}:v2`, `docker://${serve.host}/rc/single:v2`]);
    const index = JSON.parse(readFileSync(path.join(rc, 'blobs', 'sha256', root.slice(7)), 'utf8'));
    const arm64 = index.manifests.find((m: any) => m.platform.architecture === 'arm64').digest;
    const out = p('rc-single');
    await sk([
      '--override-os',
      'linux',
      '--override-arch',
      'arm64',
      'copy',
      '--preserve-digests',
      '--src-tls-verify=false',
      `docker://${serve.host}/rc/single:v2`,
      `oci:${out}:one`,
    ]);
    expect(checkLayout(out)).toBe(arm64);
    expect(new Set(readdirSync(path.join(out, 'blobs', 'sha256')).map((n) => `sha256:${n}`))).toEqual(layoutClosure(rc, arm64));
  });
});

// ---------------------------------------------------------------------------------------------

describe.skipIf(skipWithoutEngine('containerd', FILE))('containerd 1.6 (ctr) against serve', () => {
  const slot = engineSlot<Containerd>('containerd');
  beforeAll(() => slot.start(() => startContainerd()), 60_000);
  afterAll(() => slot.stop());

  /** A tar of an OCI layout holding only the regclient repository's `tag` (ctr imports every ref of a layout). */
  const layoutTar = (tag: string): string => {
    const root = regclientRoot(tag);
    const blob = (d: string) => readFileSync(path.join(REGCLIENT_TESTREPO, 'blobs', 'sha256', d.slice(7)));
    const rootBytes = blob(root);
    const entries: RawEntry[] = [
      { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
      {
        name: 'index.json',
        body: JSON.stringify({
          schemaVersion: 2,
          manifests: [
            {
              mediaType: JSON.parse(rootBytes.toString()).mediaType,
              digest: root,
              size: rootBytes.length,
              annotations: { 'org.opencontainers.image.ref.name': tag },
            },
          ],
        }),
      },
      { name: 'blobs', type: 'dir' },
      { name: 'blobs/sha256', type: 'dir' },
      ...[...layoutClosure(REGCLIENT_TESTREPO, root)].map((d): RawEntry => ({ name: `blobs/sha256/${d.slice(7)}`, body: blob(d) })),
    ];
    const file = p(`ctr-${tag}.tar`);
    writeFileSync(file, rawTar(entries));
    return file;
  };
  const digestOf = async (c: Containerd, name: string) => {
    const line = (await c.ctr(['images', 'ls'])).stdout.split('\n').find((l) => l.startsWith(`${name} `));
    return /sha256:[0-9a-f]{64}/.exec(line ?? '')?.[0];
  };

  it('ctr push by tag, single- and multi-platform: the store holds each with the digest ctr has', async (ctx) => {
    const c = slot.get(ctx);
    await c.ctr(['images', 'import', path.join(fx, 'family-legacy.tar')]);
    // docker-save images are named by their RepoTags
    await c.ctr(['images', 'tag', 'docker.io/acme/worker:1.0', `${serve.host}/ctr/worker:1.0`]);
    await c.ctr(['images', 'import', '--all-platforms', '--base-name', `${serve.host}/ctr/testrepo`, layoutTar('v2')]);
    for (const ref of ['ctr/worker:1.0', 'ctr/testrepo:v2']) {
      const name = `${serve.host}/${ref}`;
      await c.ctr(['images', 'push', '--plain-http', name]);
      const digest = await digestOf(c, name);
      expect(digest, name).toBeDefined();
      const root = (readIndexJson(store).manifests as any[]).find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === ref);
      expect(root?.digest, ref).toBe(digest);
    }
    expect(await digestOf(c, `${serve.host}/ctr/testrepo:v2`)).toBe(regclientRoot('v2'));
    expectVerified();
  });

  it('ctr pull --all-platforms by tag and by digest from serve: its content store gets every blob, named by the sha256 of its bytes', async (ctx) => {
    const c = slot.get(ctx);
    const root = regclientRoot('v2');
    for (const ref of [`${serve.host}/ctr/testrepo:v2`, `${serve.host}/ctr/testrepo@${root}`]) {
      // no image left, and the garbage collector (--sync) has removed its blobs: all come from serve
      await c.ctr(['images', 'rm', '--sync', ...(await c.ctr(['images', 'ls', '-q'])).stdout.split('\n').filter(Boolean)]);
      expect(existsSync(c.contentDir) ? readdirSync(c.contentDir) : []).toEqual([]);
      await c.ctr(['images', 'pull', '--plain-http', '--all-platforms', ref]);
      expect(await digestOf(c, ref)).toBe(root);
      for (const b of layoutClosure(REGCLIENT_TESTREPO, root)) {
        const file = path.join(c.contentDir, b.slice(7));
        expect(sha256Of(readFileSync(file)), b).toBe(b);
      }
    }
  });
});
