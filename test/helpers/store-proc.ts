/**
 * Helpers for test/store/: real CLI processes that a test can kill, deterministic big image
 * tarballs, and an independent store checker (plain fs + node:crypto, nothing from src/).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import {
  cpSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { dockerSaveLegacy, dockerSaveV25, layerTar, ociArchive, type ImageSpec, type LayerBlob } from '../../fixtures/image-writer.js';
import { ensureBuilt, REPO_ROOT, type CliResult } from './cli.js';

export const hexOf = (d: string): string => d.replace(/^sha256:/, '');
export const sha256hex = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Deterministic pseudo-random bytes (AES-256-CTR keystream keyed by `seed`): incompressible, fast. */
export function prngBytes(seed: string, size: number): Buffer {
  const key = createHash('sha256').update(`key:${seed}`).digest();
  const iv = createHash('sha256').update(`iv:${seed}`).digest().subarray(0, 16);
  const c = createCipheriv('aes-256-ctr', key, iv);
  return Buffer.concat([c.update(Buffer.alloc(size)), c.final()]);
}

/** An uncompressed layer holding one file of `size` pseudo-random bytes. */
export async function randomLayer(seed: string, size: number): Promise<LayerBlob> {
  return { tar: await layerTar([{ path: `data/${seed.replace(/[^a-z0-9]/gi, '_')}.bin`, content: prngBytes(seed, size) }]), compression: 'none' };
}

export type Shape = 'legacy' | 'v25' | 'oci';

export async function writeArchive(shape: Shape, images: ImageSpec[]): Promise<Buffer> {
  if (shape === 'legacy') return dockerSaveLegacy(images);
  if (shape === 'v25') return dockerSaveV25(images);
  return ociArchive(images);
}

/** Sum of the sizes of the regular-file entries of a (ustar / pax) tar: the bytes ingest stages. */
export function tarFileBytes(tar: Buffer): { files: number; bytes: number } {
  let off = 0;
  let files = 0;
  let bytes = 0;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(h.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    const flag = String.fromCharCode(h[156] ?? 0);
    if (flag === '0' || flag === '\0') {
      files++;
      bytes += size;
    }
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return { files, bytes };
}

// ---------------------------------------------------------------------------------------------
// processes

let runtime: string | undefined;

/** Every file under `dir` as "relative path, size, mtime" lines (a cheap fingerprint). */
function fingerprint(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of readdirSync(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...fingerprint(dir, r));
    else if (e.isFile()) {
      const st = statSync(path.join(dir, r));
      out.push(`${r} ${st.size} ${st.mtimeMs}`);
    }
  }
  return out;
}

/**
 * The CLI to run: bin/layerstore.js of a private copy of bin/, dist/ and package.json (with
 * node_modules linked), made after ensureBuilt() and shared by every test process while dist/
 * stays the same. Other people rebuild dist/ while these tests run; a test that kills and
 * restarts the CLI dozens of times must not load a module tsc is halfway through writing. A
 * copy is checked by loading every command before it is used; copies of older builds are
 * removed after an hour.
 */
export function stableCli(): string {
  if (runtime) return path.join(runtime, 'bin', 'layerstore.js');
  ensureBuilt();
  const sources = ['bin', 'dist'].flatMap((d) => fingerprint(path.join(REPO_ROOT, d)).map((l) => `${d}/${l}`));
  sources.push(`package.json ${statSync(path.join(REPO_ROOT, 'package.json')).mtimeMs}`);
  for (let attempt = 1; ; attempt++) {
    const key = createHash('sha256')
      .update(sources.join('\n'))
      .update(String(attempt > 1 ? Date.now() : ''))
      .digest('hex')
      .slice(0, 16);
    const dir = path.join(tmpdir(), `layerstore-runtime-${key}`);
    if (existsSync(path.join(dir, '.ok'))) {
      runtime = dir;
      const now = new Date();
      utimesSync(dir, now, now); // in use: not an old copy
      return path.join(dir, 'bin', 'layerstore.js');
    }
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp);
    cpSync(path.join(REPO_ROOT, 'bin'), path.join(tmp, 'bin'), { recursive: true });
    cpSync(path.join(REPO_ROOT, 'dist'), path.join(tmp, 'dist'), { recursive: true });
    cpSync(path.join(REPO_ROOT, 'package.json'), path.join(tmp, 'package.json'));
    symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(tmp, 'node_modules'));
    const r = spawnSync(process.execPath, [path.join(tmp, 'bin', 'layerstore.js'), '--version'], { encoding: 'utf8', timeout: 60_000 });
    if (r.status === 0) {
      writeFileSync(path.join(tmp, '.ok'), '');
      try {
        renameSync(tmp, dir);
      } catch {
        rmSync(tmp, { recursive: true, force: true }); // another process got there first
      }
      if (existsSync(path.join(dir, '.ok'))) {
        runtime = dir;
        removeOldRuntimes(dir);
        return path.join(dir, 'bin', 'layerstore.js');
      }
    }
    rmSync(tmp, { recursive: true, force: true });
    if (attempt >= 10) throw new Error(`stableCli: the copied CLI does not load:\n${r.stdout}\n${r.stderr}`);
    spawnSync('sleep', ['1']);
  }
}

function removeOldRuntimes(keep: string): void {
  const hourAgo = Date.now() - 3_600_000;
  for (const name of readdirSync(tmpdir())) {
    if (!name.startsWith('layerstore-runtime-')) continue;
    const p = path.join(tmpdir(), name);
    if (p === keep) continue;
    try {
      if (statSync(p).mtimeMs < hourAgo) rmSync(p, { recursive: true, force: true });
    } catch {
      /* another process removed it */
    }
  }
}

/** A module of the private copy of dist/ (for helper processes), as a file path. */
export function stableDist(rel: string): string {
  stableCli();
  return path.join(runtime!, 'dist', rel);
}

export interface Running {
  child: ChildProcess;
  started: number;
  done: Promise<CliResult & { signal: NodeJS.Signals | null; ms: number }>;
}

/** Start `node bin/layerstore.js ARGS` and return the child, so a test can kill it. */
export function startCli(args: string[], opts: { timeoutMs?: number } = {}): Running {
  const env = { ...process.env };
  delete env.LAYERSTORE_STORE;
  const started = Date.now();
  const child = spawn(process.execPath, [stableCli(), ...args], { cwd: REPO_ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const timer = opts.timeoutMs ? setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs) : undefined;
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null; ms: number }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
  return { child, started, done };
}

/** Run the CLI to completion (async, so several can run at once); killed after `timeoutMs`. */
export function cli(args: string[], timeoutMs = 90_000) {
  return startCli(args, { timeoutMs }).done;
}

/** Run any program to completion. */
export function run(
  cmd: string,
  args: string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {},
): Promise<CliResult & { signal: NodeJS.Signals | null }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: REPO_ROOT, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

export function showRun(r: { code: number | null; stdout: string; stderr: string; signal?: NodeJS.Signals | null }): string {
  return `exit ${r.code}${r.signal ? ` (signal ${r.signal})` : ''}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export const delay = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// an independent look at a store

export interface StoreCheck {
  /** Names in blobs/sha256 that are not a regular file named by the sha256 of its bytes. */
  badBlobs: string[];
  /** Digests that index.json or a reachable manifest/index names but blobs/ lacks. */
  missing: string[];
  /** Every blob reachable from index.json. */
  reachable: Set<string>;
  /** ref name -> root digest */
  refs: Map<string, string>;
  /** Error parsing index.json, if any. */
  indexError?: string;
}

const DOC_TYPES = /(manifest|index)\.v\d\+json|manifest\.list\.v2\+json/;

/**
 * Hash every blob; parse index.json; walk every root through indexes and manifests to their
 * config and layers. Index children that are absent are tolerated (a saved platform subset).
 */
export function checkStore(store: string): StoreCheck {
  const dir = path.join(store, 'blobs', 'sha256');
  const out: StoreCheck = { badBlobs: [], missing: [], reachable: new Set(), refs: new Map() };
  const present = new Set<string>();
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    const st = lstatSync(p);
    if (!st.isFile() || !/^[0-9a-f]{64}$/.test(name) || sha256hex(readFileSync(p)) !== name) out.badBlobs.push(name);
    else present.add(`sha256:${name}`);
  }
  let index: any;
  try {
    index = JSON.parse(readFileSync(path.join(store, 'index.json'), 'utf8'));
    if (!Array.isArray(index.manifests)) throw new Error('index.json has no manifests array');
  } catch (e) {
    out.indexError = (e as Error).message;
    return out;
  }
  const seen = new Set<string>();
  const walk = (d: { digest: string; mediaType?: string }, isRoot: boolean): void => {
    if (seen.has(d.digest)) return;
    seen.add(d.digest);
    if (!present.has(d.digest)) {
      if (isRoot || !DOC_TYPES.test(d.mediaType ?? '')) out.missing.push(d.digest);
      return;
    }
    out.reachable.add(d.digest);
    if (!DOC_TYPES.test(d.mediaType ?? '') && !isRoot) return;
    const doc = JSON.parse(readFileSync(path.join(dir, hexOf(d.digest)), 'utf8'));
    if (Array.isArray(doc.manifests)) for (const c of doc.manifests) walk(c, false);
    if (doc.config) {
      for (const b of [doc.config, ...(doc.layers ?? [])]) {
        if (present.has(b.digest)) out.reachable.add(b.digest);
        else out.missing.push(b.digest);
      }
    }
  };
  for (const root of index.manifests) {
    const ref = root.annotations?.['org.opencontainers.image.ref.name'];
    if (typeof ref === 'string') out.refs.set(ref, root.digest);
    walk(root, true);
  }
  return out;
}

/** Names of the files in a directory (sorted; [] when it does not exist). */
export function ls(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

/** Staging files, temp index files and the lock dir: what an interrupted process can leave. */
export function leftovers(store: string): { staging: string[]; tmp: string[]; lock: boolean } {
  return {
    staging: ls(path.join(store, '.layerstore', 'staging')),
    tmp: ls(store).filter((n) => n.endsWith('.tmp')),
    lock: existsSync(path.join(store, '.layerstore', 'index.json.lock')),
  };
}

/** Bytes under `dir` (regular files, recursive, no link following). */
export function bytesUnder(dir: string): number {
  let n = 0;
  for (const name of ls(dir)) {
    const p = path.join(dir, name);
    try {
      const st = lstatSync(p);
      if (st.isFile()) n += st.size;
    } catch {
      /* renamed away meanwhile */
    }
  }
  return n;
}

/** file -> "sha256:<hex>|mode|nlink" for every file in blobs/sha256, plus index.json's hash. */
export function blobsAndIndex(store: string): Record<string, string> {
  const out: Record<string, string> = {};
  const dir = path.join(store, 'blobs', 'sha256');
  for (const name of ls(dir)) {
    const p = path.join(dir, name);
    const st = lstatSync(p);
    out[`blobs/sha256/${name}`] = st.isFile() ? `${sha256hex(readFileSync(p))}|${(st.mode & 0o777).toString(8)}` : `non-file:${st.mode.toString(8)}`;
  }
  out['index.json'] = existsSync(path.join(store, 'index.json')) ? sha256hex(readFileSync(path.join(store, 'index.json'))) : 'absent';
  return out;
}

export function fileSize(p: string): number {
  return statSync(p).size;
}

/** Start one of the .mjs helper processes of test/helpers; `ready` settles when it printed "ready". */
export function startScript(script: string, args: string[]): Running & { ready: Promise<void> } {
  const started = Date.now();
  const child = spawn(process.execPath, [path.join(REPO_ROOT, 'test', 'helpers', script), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let onReady: () => void = () => {};
  const ready = new Promise<void>((r) => (onReady = r));
  child.stdout!.setEncoding('utf8').on('data', (c: string) => {
    stdout += c;
    if (stdout.includes('ready\n')) onReady();
  });
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const done = new Promise<CliResult & { signal: NodeJS.Signals | null; ms: number }>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code, signal) => {
      onReady();
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
  return { child, started, done, ready };
}

/** The last JSON line a helper process printed. */
export function lastJson(stdout: string): any {
  const lines = stdout.trim().split('\n');
  return JSON.parse(lines[lines.length - 1]!);
}

/** Hard-link count of every blob (1 when no staging file pins it). */
export function blobLinkCounts(store: string): Record<string, number> {
  const dir = path.join(store, 'blobs', 'sha256');
  return Object.fromEntries(ls(dir).map((n) => [n, lstatSync(path.join(dir, n)).nlink]));
}
