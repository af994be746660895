/**
 * `diff IMAGE container:NAME` previews what `docker commit NAME` would add. Proof against a
 * private dockerd: a container (network none) of a small real image (the host's dash and rm
 * with their libc) adds, replaces and deletes files; the preview's figures must equal those of
 * the layer `docker commit` then writes, as report --files and diff count it. On overlay2 that
 * layer is the container's whole upper directory, files overlayfs copied up unchanged (a hard
 * link to a lower file) included, which the engine's list of changes leaves out.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import tar from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliAsync } from '../registry/helpers.js';
import { engineSlot, skipWithoutEngine, startDockerd, type Dockerd } from '../helpers/engines.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { fill } from '../helpers/hand-bytes.js';

const FILE = 'engines/commit-preview.test.ts';
let tmp: string;
withFixtureTemp('ls-commit-preview-', (p) => ({ tmp } = p));

/** A root file system with /bin/sh, /bin/rm (the host's, and the libraries they load) and some data. */
async function shellRootfs(file: string): Promise<void> {
  const pack = tar.pack();
  const host = (p: string) => readFileSync(realpathSync(p));
  const files: Array<[string, Buffer, number]> = [
    ['bin/sh', host('/bin/sh'), 0o755],
    ['bin/rm', host('/bin/rm'), 0o755],
    ['bin/ln', host('/bin/ln'), 0o755],
    ['bin/mkdir', host('/bin/mkdir'), 0o755],
    ['lib/x86_64-linux-gnu/libselinux.so.1', host('/lib/x86_64-linux-gnu/libselinux.so.1'), 0o755],
    ['lib/x86_64-linux-gnu/libpcre2-8.so.0', host('/lib/x86_64-linux-gnu/libpcre2-8.so.0'), 0o755],
    ['lib/x86_64-linux-gnu/libc.so.6', host('/lib/x86_64-linux-gnu/libc.so.6'), 0o755],
    ['lib64/ld-linux-x86-64.so.2', host('/lib64/ld-linux-x86-64.so.2'), 0o755],
    ['data/keep.txt', fill(100, 'keep'), 0o644],
    ['data/replace-me.bin', fill(50_000, 'replace'), 0o644],
    ['data/delete-me.bin', fill(30_000, 'delete'), 0o644],
    ['data/gone/a', fill(7_000, 'gone-a'), 0o644],
    ['data/gone/b', fill(3_000, 'gone-b'), 0o644],
  ];
  for (const d of ['bin/', 'lib/', 'lib/x86_64-linux-gnu/', 'lib64/', 'data/', 'data/gone/', 'tmp/']) pack.entry({ name: d, type: 'directory', mode: 0o755 });
  for (const [name, body, mode] of files) pack.entry({ name, mode }, body);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  writeFileSync(file, Buffer.concat(chunks));
}

interface Preview {
  layer: { fileBytes: number; addedBytes: number; replacedBytes: number; deletedBytes: number; wasteBytes: number };
  added: Array<{ path: string; type: string; bytes: number }>;
  replaced: Array<{ path: string; type: string; bytes: number; hiddenBytes: number }>;
  deleted: Array<{ path: string; type: string; hiddenBytes: number }>;
}
interface Waste {
  deletedBytes: number;
  replacedBytes: number;
  totalFileBytes: number;
}

const canRunHostBinaries = process.arch === 'x64';

describe.skipIf(skipWithoutEngine('docker', FILE) || !canRunHostBinaries)('diff IMAGE container:NAME, proven by docker commit', () => {
  const slot = engineSlot<Dockerd>('dockerd');
  beforeAll(async () => {
    await slot.start(startDockerd, async (d) => {
      const rootfs = path.join(tmp, 'rootfs.tar');
      await shellRootfs(rootfs);
      await d.docker(['import', rootfs, 'shell:1']);
      const script = [
        'i=0; while [ $i -lt 1000 ]; do printf 0123456789; i=$((i+1)); done > /data/new.bin',
        'printf hello > /data/replace-me.bin',
        '/bin/rm /data/delete-me.bin',
        '/bin/rm -r /data/gone',
      ].join('; ');
      await d.docker(['run', '--network', 'none', '--name', 'changer', 'shell:1', '/bin/sh', '-c', script]);
    });
  }, 180_000);
  afterAll(() => slot.stop());

  it("the preview's added, replaced and deleted files and bytes are those of the layer docker commit writes", async (ctx) => {
    const d = slot.get(ctx);
    const store = path.join(tmp, 'store');
    const cli = (args: string[]) => runCliAsync(['--store', store, ...args, '--engine-socket', d.socket]);
    const pv = await cli(['diff', '--json', 'docker-daemon:shell:1', 'container:changer']);
    expect(pv.code, pv.stderr).toBe(0);
    const p = JSON.parse(pv.stdout) as Preview;
    expect(p.added.filter((x) => x.type === 'file')).toEqual([{ path: 'data/new.bin', type: 'file', bytes: 10_000 }]);
    expect(p.replaced.filter((x) => x.type === 'file')).toEqual([{ path: 'data/replace-me.bin', type: 'file', bytes: 5, hiddenBytes: 50_000 }]);
    expect(p.layer).toMatchObject({ fileBytes: 10_005, addedBytes: 10_000, replacedBytes: 50_000, deletedBytes: 40_000, wasteBytes: 90_000 });
    const text = await cli(['diff', 'docker-daemon:shell:1', 'container:changer']);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/waste it would bake in: 90\.0 kB/);

    await d.docker(['commit', 'changer', 'committed:1']);
    const rep = await cli(['report', '--files', '--json', 'docker-daemon:shell:1', 'docker-daemon:committed:1']);
    expect(rep.code, rep.stderr).toBe(0);
    const imgs = (JSON.parse(rep.stdout) as { images: Array<{ refs: string[]; waste: Waste }> }).images;
    const before = imgs.find((i) => i.refs.includes('shell:1'))!.waste;
    const after = imgs.find((i) => i.refs.includes('committed:1'))!.waste;
    expect(after.totalFileBytes - before.totalFileBytes).toBe(p.layer.fileBytes);
    expect(after.deletedBytes - before.deletedBytes).toBe(p.layer.deletedBytes);
    expect(after.replacedBytes - before.replacedBytes).toBe(p.layer.replacedBytes);
    // File by file: diff of the image and the committed image lists the same paths.
    const df = await cli(['diff', '--json', 'docker-daemon:shell:1', 'docker-daemon:committed:1']);
    expect(df.code, df.stderr).toBe(0);
    const files = (
      JSON.parse(df.stdout) as {
        files: {
          added: Array<{ path: string; type: string; bytes: number }>;
          removed: Array<{ path: string; type: string; bytes: number }>;
          changed: Array<{ path: string }>;
          addedBytes: number;
          removedBytes: number;
        };
      }
    ).files;
    const paths = (xs: Array<{ path: string; type: string }>) =>
      xs
        .filter((x) => x.type === 'file')
        .map((x) => x.path)
        .sort();
    expect(paths(files.added)).toEqual(paths(p.added));
    expect(files.changed.map((c) => c.path).filter((x) => p.replaced.some((r) => r.path === x && r.type === 'file'))).toEqual(['data/replace-me.bin']);
    expect(files.removedBytes).toBe(p.layer.deletedBytes);
  });

  it('a file overlayfs copied up without changing it (ln to a lower file) is in the preview, as in the committed layer', async (ctx) => {
    const d = slot.get(ctx);
    await d.docker(['run', '--network', 'none', '--name', 'linker', 'shell:1', '/bin/ln', '/bin/rm', '/rm2']);
    const store = path.join(tmp, 'store-link');
    const cli = (args: string[]) => runCliAsync(['--store', store, ...args, '--engine-socket', d.socket]);
    const pv = await cli(['diff', '--json', 'docker-daemon:shell:1', 'container:linker']);
    expect(pv.code, pv.stderr).toBe(0);
    const p = JSON.parse(pv.stdout) as Preview & { basis: string };
    await d.docker(['commit', 'linker', 'linked:1']);
    const rep = await cli(['report', '--files', '--json', 'docker-daemon:shell:1', 'docker-daemon:linked:1']);
    expect(rep.code, rep.stderr).toBe(0);
    const imgs = (JSON.parse(rep.stdout) as { images: Array<{ refs: string[]; waste: Waste }> }).images;
    const before = imgs.find((i) => i.refs.includes('shell:1'))!.waste;
    const after = imgs.find((i) => i.refs.includes('linked:1'))!.waste;
    expect(after.totalFileBytes - before.totalFileBytes).toBe(p.layer.fileBytes);
    expect(after.replacedBytes - before.replacedBytes).toBe(p.layer.replacedBytes);
    expect(after.deletedBytes - before.deletedBytes).toBe(p.layer.deletedBytes);
    if (d.storageDriver === 'overlay2') {
      // the copied-up bin/rm hides the image's copy: that is waste the commit bakes in
      expect(p.basis).toBe('upperdir');
      expect(p.replaced.filter((x) => x.type === 'file').map((x) => [x.path, x.hiddenBytes])).toEqual([['bin/rm', readFileSync('/bin/rm').length]]);
    }
  });

  it('a directory removed and made again (overlayfs: an opaque directory) is counted as the committed layer counts it', async (ctx) => {
    const d = slot.get(ctx);
    await d.docker([
      'run',
      '--network',
      'none',
      '--name',
      'opaquer',
      'shell:1',
      '/bin/sh',
      '-c',
      '/bin/rm -r /data/gone; /bin/mkdir /data/gone; printf abc > /data/gone/c',
    ]);
    const store = path.join(tmp, 'store-opaque');
    const cli = (args: string[]) => runCliAsync(['--store', store, ...args, '--engine-socket', d.socket]);
    const pv = await cli(['diff', '--json', 'docker-daemon:shell:1', 'container:opaquer']);
    expect(pv.code, pv.stderr).toBe(0);
    const p = JSON.parse(pv.stdout) as Preview;
    await d.docker(['commit', 'opaquer', 'opaque:1']);
    const rep = await cli(['report', '--files', '--json', 'docker-daemon:shell:1', 'docker-daemon:opaque:1']);
    expect(rep.code, rep.stderr).toBe(0);
    const imgs = (JSON.parse(rep.stdout) as { images: Array<{ refs: string[]; waste: Waste }> }).images;
    const before = imgs.find((i) => i.refs.includes('shell:1'))!.waste;
    const after = imgs.find((i) => i.refs.includes('opaque:1'))!.waste;
    expect(after.totalFileBytes - before.totalFileBytes).toBe(p.layer.fileBytes);
    expect(after.replacedBytes - before.replacedBytes).toBe(p.layer.replacedBytes);
    expect(after.deletedBytes - before.deletedBytes).toBe(p.layer.deletedBytes);
    expect(p.layer.deletedBytes).toBe(10_000); // data/gone/a and b, hidden below
    expect(p.added.filter((x) => x.type === 'file')).toEqual([{ path: 'data/gone/c', type: 'file', bytes: 3 }]);
  });

  it('a container of another image: exit 2 naming both', async (ctx) => {
    const d = slot.get(ctx);
    const r = await runCliAsync(['--store', path.join(tmp, 'store'), 'diff', '--engine-socket', d.socket, 'docker-daemon:committed:1', 'container:changer']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/container changer was created from image [0-9a-f]{12}, not committed:1 .*\[E_USAGE\]/);
  });

  it('a container the engine does not have: exit 2, E_REF_NOT_FOUND naming it', async (ctx) => {
    const d = slot.get(ctx);
    const r = await runCliAsync(['--store', path.join(tmp, 'store'), 'diff', '--engine-socket', d.socket, 'docker-daemon:shell:1', 'container:nope']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/has no container nope .*\[E_REF_NOT_FOUND\]/);
  });
});
