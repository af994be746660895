/**
 * report, report --files, diff and budget take docker-daemon: images directly (ingested into
 * --store first, which is the cache), and `report docker-daemon:` is the engine's disk report:
 * checked against what a private dockerd (20.10) itself says in `GET /system/df` (what
 * `docker system df -v` prints), with the fixture images loaded (they share a base layer) and
 * containers created from two of them.
 */
import { createReadStream, writeFileSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliAsync } from '../registry/helpers.js';
import { blobFile, blobSize } from '../helpers/cli.js';
import { engineSlot, skipWithoutEngine, startDockerd, type Dockerd } from '../helpers/engines.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';

const FILE = 'engines/engine-report.test.ts';
let tmp: string;
let fx: string;

withFixtureTemp('ls-engine-report-', (p) => ({ tmp, fx } = p));

interface DfImage {
  Id: string;
  RepoTags: string[] | null;
  Size: number;
  SharedSize: number;
  Containers: number;
}
interface ReportImage {
  refs: string[];
  configDigest: string;
  layers: string[];
  sizeBytes: number;
  sharedBytes: number;
  uniqueBytes: number;
  containers?: number;
  waste?: { totalFileBytes: number };
}

describe.skipIf(skipWithoutEngine('docker', FILE))('docker-daemon: images in report, diff and budget, with a private dockerd', () => {
  const slot = engineSlot<Dockerd>('dockerd');

  beforeAll(async () => {
    await slot.start(startDockerd, async (d) => {
      for (const f of ['family-legacy.tar', 'api-v25.tar']) await d.docker(['load', '-i', path.join(fx, f)]);
      // Containers (never started: a created container holds its image as a running one does).
      for (const [name, image] of [
        ['api-a', 'acme/api:1.0'],
        ['api-b', 'acme/api:1.0'],
        ['base-a', 'acme/base:1.0'],
      ]) {
        await d.docker(['create', '--network', 'none', '--name', name!, image!, '/app/api/server']);
      }
    });
  }, 180_000);
  afterAll(() => slot.stop());

  it('report docker-daemon:NAME ingests the image into --store, says so on stderr, and the second run adds nothing', async (ctx) => {
    const d = slot.get(ctx);
    const store = path.join(tmp, 'report-one');
    const first = await runCliAsync(['--store', store, 'report', '--json', '--engine-socket', d.socket, 'docker-daemon:acme/api:1.0']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(
      new RegExp(`^ingested docker-daemon:acme/api:1\\.0 into ${store.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}: 1 image, 4 new blobs`, 'm'),
    );
    const rep = JSON.parse(first.stdout) as { images: ReportImage[] };
    expect(rep.images.map((i) => i.refs)).toEqual([['acme/api:1.0']]);
    const inspect = JSON.parse((await d.docker(['image', 'inspect', 'acme/api:1.0'])).stdout)[0];
    expect(rep.images[0]!.configDigest).toBe(inspect.Id);
    const second = await runCliAsync(['--store', store, 'report', '--engine-socket', d.socket, 'docker-daemon:acme/api:1.0']);
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/: 1 image, 0 new blobs \(0 B\), 4 already stored/);
    expect(second.stdout).toMatch(/acme\/api:1\.0/);
  });

  it("report --files docker-daemon:NAME looks inside the engine's image (the worker's whiteouts are waste)", async (ctx) => {
    const d = slot.get(ctx);
    const r = await runCliAsync([
      '--store',
      path.join(tmp, 'files'),
      'report',
      '--files',
      '--json',
      '--engine-socket',
      d.socket,
      'docker-daemon:acme/worker:1.0',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const img = (JSON.parse(r.stdout) as { images: Array<ReportImage & { waste: { deletedBytes: number } }> }).images[0]!;
    expect(img.refs).toEqual(['acme/worker:1.0']);
    expect(img.waste.deletedBytes).toBeGreaterThan(0);
  });

  it('diff docker-daemon:A docker-daemon:B diffs two engine images', async (ctx) => {
    const d = slot.get(ctx);
    const r = await runCliAsync([
      '--store',
      path.join(tmp, 'diff'),
      'diff',
      '--json',
      '--engine-socket',
      d.socket,
      'docker-daemon:acme/api:1.0',
      'docker-daemon:acme/api:1.1',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const diff = JSON.parse(r.stdout) as { files: { changed: Array<{ path: string }> } };
    expect(diff.files.changed.map((c) => c.path)).toContain('app/api/VERSION');
  });

  it("budget docker-daemon:NAME checks the engine's image: pass, then fail on a smaller limit (exit 1)", async (ctx) => {
    const d = slot.get(ctx);
    const store = path.join(tmp, 'budget');
    const ok = path.join(tmp, 'budget-ok.json');
    const tight = path.join(tmp, 'budget-tight.json');
    writeFileSync(ok, JSON.stringify({ budgets: [{ match: 'acme/api:*', maxSize: '1GB' }] }));
    writeFileSync(tight, JSON.stringify({ budgets: [{ match: 'acme/api:*', maxSize: '1KB' }] }));
    const pass = await runCliAsync(['--store', store, 'budget', '--config', ok, '--engine-socket', d.socket, 'docker-daemon:acme/api:1.1']);
    expect(pass.code, pass.stdout + pass.stderr).toBe(0);
    expect(pass.stderr).toMatch(/^ingested docker-daemon:acme\/api:1\.1 into /m);
    const fail = await runCliAsync(['--store', store, 'budget', '--config', tight, '--engine-socket', d.socket, 'docker-daemon:acme/api:1.1']);
    expect(fail.code).toBe(1);
    expect(fail.stdout).toMatch(/FAIL/);
  });

  it('an engine image that is not there: exit 2 naming it, in report, diff and budget', async (ctx) => {
    const d = slot.get(ctx);
    const store = path.join(tmp, 'missing');
    for (const args of [['report'], ['diff', 'docker-daemon:acme/api:1.0'], ['budget', '--config', path.join(tmp, 'budget-ok.json')]]) {
      const r = await runCliAsync(['--store', store, ...args, '--engine-socket', d.socket, 'docker-daemon:no/such:image']);
      expect(r.code, `${args[0]}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(/has no image no\/such:image .*\[E_REF_NOT_FOUND\]/);
    }
  });

  it("report docker-daemon: is the engine's disk report, figure by figure against docker's own /system/df", async (ctx) => {
    const d = slot.get(ctx);
    const store = path.join(tmp, 'df');
    const r = await runCliAsync(['--store', store, 'report', '--files', '--json', '--engine-socket', d.socket, 'docker-daemon:']);
    expect(r.code, r.stderr).toBe(0);
    const rep = JSON.parse(r.stdout) as {
      images: ReportImage[];
      layers: Array<{ digest: string; sizeBytes: number }>;
      engine: { containers: number; reclaimableBytes: number; totalBytes: number };
    };
    const df = JSON.parse((await d.api('/system/df')).body.toString()) as { LayersSize: number; Images: DfImage[] };
    // docker's figures are per layer on its disk (overlay2's diff directories): the bytes of
    // each entry that is not a directory (a regular file's size, a symlink's target length,
    // 0 for a whiteout), a hard link once. layerstore's are the bytes of the layer tars (the
    // same files plus 512-byte headers and padding) plus the config blob. So compare per layer,
    // in docker's units computed from the very tars the store holds.
    const layersOf = new Map<string, string[]>(rep.images.map((i) => [i.configDigest, i.layers]));
    const dockerSizeOf = new Map<string, number>();
    for (const l of new Set(rep.images.flatMap((i) => i.layers))) dockerSizeOf.set(l, await onDiskBytes(blobFile(store, l)));
    const sum = (ls: Iterable<string>) => [...ls].reduce((n, l) => n + dockerSizeOf.get(l)!, 0);
    const users = (l: string) => rep.images.filter((i) => i.layers.includes(l)).length;
    expect(df.Images.map((i) => i.Id).sort()).toEqual(rep.images.map((i) => i.configDigest).sort());
    for (const di of df.Images) {
      const mine = rep.images.find((i) => i.configDigest === di.Id)!;
      const layers = layersOf.get(di.Id)!;
      expect(mine.containers, di.Id).toBe(di.Containers);
      expect(di.Size, di.Id).toBe(sum(layers));
      // The same layers are shared: docker's SHARED SIZE is what layerstore counts shared.
      expect(di.SharedSize, di.Id).toBe(sum(layers.filter((l) => users(l) > 1)));
      expect(mine.sharedBytes).toBe(layers.filter((l) => users(l) > 1).reduce((n, l) => n + rep.layers.find((x) => x.digest === l)!.sizeBytes, 0));
      // layerstore's UNIQUE also holds the config blob (docker keeps it outside its layer figures).
      expect(mine.uniqueBytes - (mine.sizeBytes - mine.sharedBytes)).toBe(0);
    }
    expect(df.LayersSize).toBe(sum(dockerSizeOf.keys()));
    expect(rep.engine.containers).toBe(df.Images.reduce((n, i) => n + i.Containers, 0));
    // Reclaimable: docker's CLI prints LayersSize minus the unique size of the images in use, so
    // a layer an image in use shares (the base here) counts as reclaimable although removing
    // every unused image leaves it; layerstore counts the blobs no image in use references.
    const inUse = rep.images.filter((i) => (i.containers ?? 0) > 0);
    const dockerReclaimable = df.LayersSize - df.Images.filter((i) => i.Containers > 0).reduce((n, i) => n + i.Size - i.SharedSize, 0);
    const cli = (await d.docker(['system', 'df', '--format', '{{json .}}'])).stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { Type: string; Reclaimable: string });
    expect(cli.find((x) => x.Type === 'Images')!.Reclaimable).toMatch(new RegExp(`^${(dockerReclaimable / 1e6).toPrecision(4).replace('.', '\\.')}MB `));
    const usedLayers = new Set(inUse.flatMap((i) => i.layers));
    const freeLayers = [...dockerSizeOf.keys()].filter((l) => !usedLayers.has(l));
    expect(dockerReclaimable - sum(freeLayers)).toBe(sum([...usedLayers].filter((l) => users(l) > 1)));
    const blobsFree = rep.images
      .filter((i) => !i.containers)
      .flatMap((i) => [i.configDigest, ...i.layers])
      .filter((b) => !usedLayers.has(b));
    expect(rep.engine.reclaimableBytes).toBe([...new Set(blobsFree)].reduce((n, b) => n + blobSize(store, b), 0));
  });

  it('report docker-daemon: names each image by the tags the engine has now, not tags the store kept from an earlier run', async (ctx) => {
    const d = slot.get(ctx);
    const store = path.join(tmp, 'df-tags');
    const report = async () => {
      const r = await runCliAsync(['--store', store, 'report', '--json', '--engine-socket', d.socket, 'docker-daemon:']);
      expect(r.code, r.stderr).toBe(0);
      return new Map((JSON.parse(r.stdout) as { images: ReportImage[] }).images.map((i) => [i.configDigest, i.refs]));
    };
    await d.docker(['tag', 'acme/base:1.0', 'acme/gone:1']);
    try {
      expect((await report()).get(JSON.parse((await d.docker(['image', 'inspect', 'acme/base:1.0'])).stdout)[0].Id)).toContain('acme/gone:1');
    } finally {
      await d.docker(['rmi', 'acme/gone:1']);
    }
    const now = JSON.parse((await d.api('/images/json')).body.toString()) as Array<{ Id: string; RepoTags: string[] | null }>;
    const rows = await report();
    expect([...rows.keys()].sort()).toEqual(now.map((i) => i.Id).sort());
    for (const img of now) expect(rows.get(img.Id), img.Id).toEqual([...(img.RepoTags ?? [])].filter((t) => t !== '<none>:<none>').sort());
  });
});

/** What overlay2's diff directory of this layer tar weighs as docker counts it (see the df test). */
async function onDiskBytes(file: string): Promise<number> {
  let n = 0;
  const ex = tar.extract();
  ex.on('entry', (h, stream, next) => {
    const base = h.name.split('/').pop() ?? '';
    if (h.type === 'file' && !base.startsWith('.wh.')) n += h.size ?? 0;
    else if (h.type === 'symlink') n += Buffer.byteLength(h.linkname ?? '');
    stream.on('end', next).resume();
  });
  await pipeline(createReadStream(file), ex);
  return n;
}
