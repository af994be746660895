/**
 * Where `export -o` may write. An export must never replace what is at its target by
 * renaming over it unless that is a regular file (or nothing): a device node or FIFO stays
 * what it is and receives the bytes in place; any path inside the store is refused and the
 * store stays byte-identical; `-o -` is standard output. Every tarball written to a special
 * target is compared byte for byte with the same export to a regular file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { cli, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';
import { REPO_ROOT } from '../helpers/cli.js';
import { commands } from '../helpers/peers.js';

const REF = 'exp/target:1';

describe('export -o: what is at the target survives, the store is never a target', () => {
  let tmp: string;
  let store: string;
  let reference: Buffer; // the export written to a plain new file

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-export-target-'));
    store = path.join(tmp, 'store');
    const input = path.join(tmp, 'in.tar');
    writeFileSync(input, await writeArchive('v25', [{ repoTags: [REF], layers: [await randomLayer('exp-target', 40_000)] }]));
    const r = await cli(['--store', store, '-q', 'ingest', input]);
    expect(r.code, showRun(r)).toBe(0);
    const e = await cli(['--store', store, 'export', REF, '-o', path.join(tmp, 'reference.tar')]);
    expect(e.code, showRun(e)).toBe(0);
    reference = readFileSync(path.join(tmp, 'reference.tar'));
  }, 60_000);

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it.each(['index.json', 'oci-layout', 'blobs/sha256', '.layerstore/new.tar', 'new-file.tar'])(
    '-o STORE/%s is refused (exit 2, E_USAGE) and the store is byte-identical',
    async (rel) => {
      const before = await snapshotStore(store);
      const r = await cli(['--store', store, 'export', REF, '-o', path.join(store, rel)]);
      expect(r.code, showRun(r)).toBe(2);
      expect(r.stderr).toMatch(/inside the store/);
      expect(r.stderr).toContain('[E_USAGE]');
      expect(await snapshotStore(store)).toEqual(before);
    },
  );

  it("a blob path, and a symlink outside the store that names the store's index.json, are refused too", async () => {
    const before = await snapshotStore(store);
    const blobs = [...before.keys()].filter((k) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(k));
    const viaBlob = await cli(['--store', store, 'export', REF, '-o', path.join(store, blobs[0]!)]);
    expect(viaBlob.code, showRun(viaBlob)).toBe(2);
    const link = path.join(tmp, 'sneaky.tar');
    symlinkSync(path.join(store, 'index.json'), link);
    const viaLink = await cli(['--store', store, 'export', REF, '-o', link]);
    expect(viaLink.code, showRun(viaLink)).toBe(2);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(await snapshotStore(store)).toEqual(before);
  });

  it('a FIFO receives the tarball in place and is still a FIFO afterwards', async () => {
    const fifo = path.join(tmp, 'pipe');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const received = readAll(fifo); // the reader opens first; export's open then succeeds
    const r = await cli(['--store', store, 'export', REF, '-o', fifo]);
    expect(r.code, showRun(r)).toBe(0);
    expect(sha(await received)).toBe(sha(reference));
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  });

  it('a character device reached through a symlink (/dev/null) is written in place: the link and the device stay', async () => {
    const link = path.join(tmp, 'null-link');
    symlinkSync('/dev/null', link);
    const r = await cli(['--store', store, 'export', REF, '-o', link]);
    expect(r.code, showRun(r)).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(lstatSync('/dev/null').isCharacterDevice()).toBe(true);
  });

  it('a regular file is replaced whole, and through a symlink the link stays and the file it names gets the tarball', async () => {
    const file = path.join(tmp, 'old.tar');
    writeFileSync(file, 'old contents that are longer than nothing');
    const link = path.join(tmp, 'old-link.tar');
    symlinkSync(file, link);
    const r = await cli(['--store', store, 'export', REF, '-o', link]);
    expect(r.code, showRun(r)).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(sha(readFileSync(file))).toBe(sha(reference));
  });

  it('-o - writes the tarball to standard output and the summary to stderr', async () => {
    const { code, stdout, stderr } = await runBinary([stableCli(), '--store', store, 'export', REF, '-o', '-']);
    expect(code, stderr).toBe(0);
    expect(sha(stdout)).toBe(sha(reference));
    expect(stderr).toMatch(/wrote standard output: 1 image/);
  });

  it.each(['/dev/stdout', '/dev/tty'])('-o %s on a terminal (a pty from script) is refused as -o - is: exit 2, no tar bytes on it', (dev) => {
    if (!commands([['script', 'bsdutils']])) return;
    const quote = (a: string) => `'${a.replace(/'/g, "'\\''")}'`;
    const cmd = [process.execPath, stableCli(), '--store', store, 'export', REF, '-o', dev].map(quote).join(' ');
    const env = { ...process.env };
    delete env.LAYERSTORE_STORE;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: REPO_ROOT, env, encoding: 'latin1', timeout: 60_000 });
    expect(r.status, r.stdout).toBe(2);
    expect(r.stdout).toMatch(/refusing to write a tarball to a terminal \(-o \/dev\/(stdout|tty)\) \[E_USAGE\]/);
    expect(r.stdout).not.toContain('ustar');
  });

  it('a directory, or a file in a directory that does not exist, is exit 2 with a clear line', async () => {
    const dir = path.join(tmp, 'a-dir');
    mkdirSync(dir);
    const r1 = await cli(['--store', store, 'export', REF, '-o', dir]);
    expect(r1.code, showRun(r1)).toBe(2);
    expect(r1.stderr).toMatch(/is a directory/);
    const r2 = await cli(['--store', store, 'export', REF, '-o', path.join(tmp, 'missing', 'x.tar')]);
    expect(r2.code, showRun(r2)).toBe(2);
    expect(r2.stderr).toMatch(/not a directory/);
  });
});

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function readAll(file: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    createReadStream(file)
      .on('data', (c) => chunks.push(c as Buffer))
      .on('end', () => resolve(Buffer.concat(chunks)))
      .on('error', reject);
  });
}

function runBinary(args: string[]): Promise<{ code: number | null; stdout: Buffer; stderr: string }> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.LAYERSTORE_STORE;
    const child = spawn(process.execPath, args, { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr });
    });
  });
}
