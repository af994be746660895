/**
 * `ingest -` (and a pipe given as a path, /dev/stdin): an archive read once, as
 * `docker save x | layerstore ingest -` sends it. The store must end up exactly as when the
 * same bytes are ingested from a file, for a legacy save whose manifest.json comes last,
 * gzip and zstd archives and an OCI archive; a stream cut short commits nothing; memory
 * stays flat for a big layer.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { readStoreImages, REPO_ROOT } from '../helpers/cli.js';
import { legacySave, rawTar } from '../helpers/make-tar.js';
import { digestOf } from '../helpers/hand-bytes.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { cli, leftovers, prngBytes, showRun, stableCli } from '../helpers/store-proc.js';
import { commands, onPath, peer } from '../helpers/peers.js';

let tmp: string;
let fx: string;

beforeAll(async () => {
  stableCli();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-stdin-'));
  fx = path.join(tmp, 'fx');
  await generateFixtures(fx);
}, 60_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

type Run = { code: number | null; stdout: string; stderr: string };

/**
 * Run the CLI (after `prefix`: GNU time, setpriv) with `stdin` as its standard input: bytes
 * fed through a pipe in 64 KiB pieces, as docker save writes them, or an open descriptor
 * handed over as it is.
 */
function runWithStdin(prefix: string[], args: string[], stdin: Buffer | number): Promise<Run> {
  return new Promise((resolve, reject) => {
    const env = { ...process.env };
    delete env.LAYERSTORE_STORE;
    const argv = [...prefix, process.execPath, stableCli(), ...args];
    const child = spawn(argv[0]!, argv.slice(1), { cwd: REPO_ROOT, env, stdio: [typeof stdin === 'number' ? stdin : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    if (typeof stdin !== 'number') {
      const pipe = child.stdin!;
      pipe.on('error', () => {}); // the CLI may stop reading early (bad input)
      (async () => {
        for (let off = 0; off < stdin.length; off += 65536) {
          if (!pipe.write(stdin.subarray(off, off + 65536))) await new Promise((r) => pipe.once('drain', r));
        }
        pipe.end();
      })().catch(() => {});
    }
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Run the CLI with `input` on its standard input through a pipe (read once, not a file). */
function cliWithStdin(args: string[], input: Buffer, opts: { time?: boolean } = {}): Promise<Run> {
  return runWithStdin(opts.time ? ['/usr/bin/time', '-f', 'MAXRSS_KB=%M'] : [], args, input);
}

/**
 * Run the CLI with the file `file` as its standard input, as `layerstore ingest - < file` gets
 * it (a descriptor of the file itself), positioned `skip` bytes in, as after a reader before it.
 */
function cliWithStdinFile(args: string[], file: string, skip = 0, asUser: string[] = []): Promise<Run> {
  const fd = openSync(file, 'r');
  try {
    if (skip > 0) readSync(fd, Buffer.alloc(skip), 0, skip, null); // advances the descriptor's offset
    return runWithStdin(asUser, args, fd); // spawned by now: the child holds its own copy
  } finally {
    closeSync(fd);
  }
}

/** Images of a store as comparable facts. */
const facts = (store: string) =>
  readStoreImages(store)
    .map((i) => ({ refs: i.refs, manifest: i.manifestDigest, config: i.configDigest, layers: i.layers }))
    .sort((a, b) => a.manifest.localeCompare(b.manifest));

/** A legacy save whose manifest.json is the LAST entry (as docker save writes it), with a config named config.json (Jib's shape). */
function legacyManifestLast(): Buffer {
  const layer = rawTar([{ name: 'etc/hello', body: 'hello from a stream\n' }]);
  const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } });
  const tar = legacySave({
    manifest: [{ Config: 'config.json', RepoTags: ['stream/last:1'], Layers: ['abc/layer.tar'] }],
    files: [
      { name: 'config.json', body: config },
      { name: 'abc/layer.tar', body: layer },
    ],
  });
  return tar;
}

describe('ingest - (standard input)', () => {
  const inputs: Array<[string, () => Buffer]> = [
    ['a legacy docker save (family-legacy.tar)', () => readFileSync(path.join(fx, 'family-legacy.tar'))],
    ['a Docker 25 save', () => readFileSync(path.join(fx, 'api-v25.tar'))],
    ['an OCI archive with two images', () => readFileSync(path.join(fx, 'multi-oci-archive.tar'))],
    ['a gzip-compressed legacy save', () => gzipSync(readFileSync(path.join(fx, 'family-legacy.tar')))],
    ['a legacy save with manifest.json last and a config named config.json', legacyManifestLast],
  ];

  it.each(inputs)('%s: the store holds exactly what ingesting the file gives', async (_what, make) => {
    const bytes = make();
    const file = path.join(tmp, `in-${Math.random().toString(36).slice(2)}.tar`);
    writeFileSync(file, bytes);
    const [fromFile, fromPipe] = [path.join(tmp, `f-${path.basename(file)}`), path.join(tmp, `p-${path.basename(file)}`)];
    const a = await cli(['--store', fromFile, '-q', 'ingest', file]);
    expect(a.code, showRun(a)).toBe(0);
    const b = await cliWithStdin(['--store', fromPipe, 'ingest', '-'], bytes);
    expect(b.code, showRun({ ...b })).toBe(0);
    expect(b.stdout).toMatch(/^-: \d+ images? /);
    expect(facts(fromPipe)).toEqual(facts(fromFile));
    const v = await cli(['--store', fromPipe, 'verify']);
    expect(v.code, showRun(v)).toBe(0);
    expect(leftovers(fromPipe).staging).toEqual([]);
    // `ingest - < file`: standard input is the file itself, read by position.
    const fromStdinFile = path.join(tmp, `s-${path.basename(file)}`);
    const c = await cliWithStdinFile(['--store', fromStdinFile, 'ingest', '-'], file);
    expect(c.code, showRun({ ...c })).toBe(0);
    expect(c.stdout).toMatch(/^-: \d+ images? /);
    expect(facts(fromStdinFile)).toEqual(facts(fromFile));
    expect(leftovers(fromStdinFile).staging).toEqual([]);
  });

  it('a file as standard input is read by position, like a named file: once its blobs are stored, only headers are read', async () => {
    const file = path.join(fx, 'family-legacy.tar');
    const store = path.join(tmp, 'stdin-file-positional');
    const first = await cliWithStdinFile(['--store', store, 'ingest', '-'], file);
    expect(first.code, showRun({ ...first })).toBe(0);
    // Again: every blob is stored, so nothing but the tar headers and manifests is read (a
    // stream has to read every byte to reach the next header).
    const again = await cliWithStdinFile(['--store', store, 'ingest', '--json', '-'], file);
    expect(again.code, showRun({ ...again })).toBe(0);
    const [result] = JSON.parse(again.stdout).results;
    expect(result.source).toBe('-');
    expect(result.bytesRead).toBeGreaterThan(0);
    expect(result.bytesRead).toBeLessThan(statSync(file).size / 10);
    // The same input as a pipe reads it whole.
    const piped = await cliWithStdin(['--store', store, 'ingest', '--json', '-'], readFileSync(file));
    expect(piped.code, showRun({ ...piped })).toBe(0);
    expect(JSON.parse(piped.stdout).results[0].bytesRead).toBe(statSync(file).size);
  });

  it('a file as standard input that a reader before has partly read is ingested from where it stands; an empty one is E_EMPTY', async () => {
    const archive = readFileSync(path.join(fx, 'api-v25.tar'));
    const junk = Buffer.alloc(4096, 0x5a); // not a tar header: read from byte 0, this fails
    const file = path.join(tmp, 'junk-then-archive.tar');
    writeFileSync(file, Buffer.concat([junk, archive]));
    const store = path.join(tmp, 'stdin-file-offset');
    const r = await cliWithStdinFile(['--store', store, 'ingest', '-'], file, junk.length);
    expect(r.code, showRun({ ...r })).toBe(0);
    expect(readStoreImages(store).flatMap((i) => i.refs)).toContain('acme/api:1.1');
    const empty = path.join(tmp, 'empty-file.tar');
    writeFileSync(empty, '');
    const e = await cliWithStdinFile(['--store', path.join(tmp, 'stdin-empty'), 'ingest', '-'], empty);
    expect(e.code, showRun({ ...e })).toBe(2);
    expect(e.stderr).toMatch(/^layerstore: error: -: .*\[E_EMPTY\]$/m);
  });

  it('a file as standard input that this user may not open by name (a root shell redirecting for another user) is read as a stream', async () => {
    if (!peer('root and setpriv (util-linux)', process.getuid?.() === 0 && onPath('setpriv'), 'run the tests as root')) return;
    const dir = mkdtempSync(path.join(tmpdir(), 'ls-stdin-nobody-'));
    chmodSync(dir, 0o777);
    // In a folder the user can search, so only the file's own mode keeps them out.
    const file = path.join(dir, 'root-only.tar');
    writeFileSync(file, readFileSync(path.join(fx, 'api-v25.tar')), { mode: 0o600 });
    try {
      const store = path.join(dir, 'store');
      const r = await cliWithStdinFile(['--store', store, 'ingest', '-'], file, 0, ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups']);
      expect(r.code, showRun({ ...r })).toBe(0);
      expect(r.stdout).toMatch(/^-: 1 image \(acme\/api:1\.1\)/);
      expect(readStoreImages(store).flatMap((i) => i.refs)).toContain('acme/api:1.1');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a zstd-compressed archive too', async () => {
    if (!commands([['zstd', 'zstd']])) return;
    const z = spawnSync('zstd', ['-q', '-c'], { input: readFileSync(path.join(fx, 'api-v25.tar')), maxBuffer: 1 << 28 });
    expect(z.status).toBe(0);
    const store = path.join(tmp, 'zstd-store');
    const r = await cliWithStdin(['--store', store, 'ingest', '-'], z.stdout);
    expect(r.code, showRun(r)).toBe(0);
    expect(readStoreImages(store).flatMap((i) => i.refs)).toContain('acme/api:1.1');
  });

  it.each([0.2, 0.5, 0.95])('a stream cut at %s of its length commits nothing: exit 2, E_TRUNCATED, store byte-identical, staging empty', async (frac) => {
    const store = path.join(tmp, `cut-${frac}`);
    const seed = await cli(['--store', store, '-q', 'ingest', path.join(fx, 'api-v25.tar')]);
    expect(seed.code, showRun(seed)).toBe(0);
    const before = await snapshotStore(store);
    const whole = readFileSync(path.join(fx, 'family-legacy.tar'));
    const r = await cliWithStdin(['--store', store, 'ingest', '-'], whole.subarray(0, Math.floor(whole.length * frac)));
    expect(r.code, showRun(r)).toBe(2);
    expect(r.stderr).toMatch(/\[E_TRUNCATED\]/);
    expect(await snapshotStore(store)).toEqual(before);
  });

  it('an empty stream is exit 2 (E_EMPTY); a pipe given as a path (/dev/stdin) is read like -', async () => {
    const e = await cliWithStdin(['--store', path.join(tmp, 'empty'), 'ingest', '-'], Buffer.alloc(0));
    expect(e.code, showRun(e)).toBe(2);
    expect(e.stderr).toContain('[E_EMPTY]');
    const store = path.join(tmp, 'devstdin');
    const r = await cliWithStdin(['--store', store, 'ingest', '/dev/stdin'], readFileSync(path.join(fx, 'api-v25.tar')));
    expect(r.code, showRun(r)).toBe(0);
    expect(readStoreImages(store).flatMap((i) => i.refs)).toContain('acme/api:1.1');
  });

  it('a named pipe given as a path is read once, like -', async () => {
    const fifo = path.join(tmp, 'a-fifo');
    expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
    const writer = spawn('sh', ['-c', `cat "$1" > "$2"`, 'sh', path.join(fx, 'api-v25.tar'), fifo]);
    const written = new Promise((res) => writer.on('close', res));
    const store = path.join(tmp, 'fifo-store');
    const r = await cli(['--store', store, 'ingest', fifo], 30_000);
    expect(r.code, showRun(r)).toBe(0);
    expect(await written).toBe(0);
    expect(readStoreImages(store).flatMap((i) => i.refs)).toContain('acme/api:1.1');
  });

  it('memory stays flat: a 192 MiB layer through a pipe peaks far below its size', async () => {
    if (!commands([['/usr/bin/time', 'time']])) return;
    const layer = rawTar([{ name: 'big.bin', body: prngBytes('stdin-big', 192 * 1024 * 1024) }]);
    const config = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf(layer)] } });
    const tar = legacySave({
      manifest: [{ Config: 'c.json', RepoTags: ['stream/big:1'], Layers: ['big/layer.tar'] }],
      files: [
        { name: 'c.json', body: config },
        { name: 'big/layer.tar', body: layer },
      ],
    });
    const r = await cliWithStdin(['--store', path.join(tmp, 'big'), '-q', 'ingest', '-'], tar, { time: true });
    expect(r.code, showRun(r)).toBe(0);
    const kb = Number(/MAXRSS_KB=(\d+)/.exec(r.stderr)?.[1]);
    expect(kb).toBeGreaterThan(0);
    expect(kb / 1024).toBeLessThan(150);
  }, 120_000);
});
