/**
 * Run the layerstore CLI the way a user does: `node bin/layerstore.js ARGS...` in a child
 * process, with the compiled output in dist/. `ensureBuilt()` compiles it once per test
 * process (call it from beforeAll).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is test/helpers/cli.ts). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
/** Absolute path of the CLI entry point. */
export const CLI = path.join(REPO_ROOT, 'bin', 'layerstore.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  /** Added to (and overriding) the inherited environment; a key set to undefined is removed. */
  env?: Record<string, string | undefined>;
  cwd?: string;
}

function childEnv(extra?: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // A developer's own store must never leak into a test run.
  delete env.LAYERSTORE_STORE;
  for (const [k, v] of Object.entries(extra ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  return env;
}

/** Run the CLI synchronously. */
export function runCli(args: string[], opts: CliOptions = {}): CliResult {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd: opts.cwd ?? REPO_ROOT,
    env: childEnv(opts.env),
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
    timeout: 120_000,
  });
  if (r.error) throw r.error;
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Start the CLI without waiting (for races); resolves when it exits. */
export function spawnCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: opts.cwd ?? REPO_ROOT, env: childEnv(opts.env) });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** A CliResult as text, for assertion messages. */
export function show(r: CliResult): string {
  return `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}

// ---------------------------------------------------------------------------------------------
// build

let built = false;

function walkTs(dir: string, out: string[] = []): string[] {
  if (!existsSync(dir)) return out;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walkTs(p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/** Whether some source of tsconfig.build.json is newer than its compiled .js (or that is missing). */
function distIsStale(): boolean {
  const configs = ['tsconfig.json', 'tsconfig.build.json'].map((f) => path.join(REPO_ROOT, f));
  const newestConfig = Math.max(...configs.map((f) => (existsSync(f) ? statSync(f).mtimeMs : 0)));
  const sources = [
    ...walkTs(path.join(REPO_ROOT, 'src')),
    ...readdirSync(path.join(REPO_ROOT, 'fixtures'))
      .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      .map((f) => path.join(REPO_ROOT, 'fixtures', f)),
  ];
  let newestJs = statSync(path.join(REPO_ROOT, 'scripts', 'bundle-cli.mjs')).mtimeMs;
  for (const src of sources) {
    const js = path.join(REPO_ROOT, 'dist', path.relative(REPO_ROOT, src)).replace(/\.ts$/, '.js');
    if (!existsSync(js)) return true;
    const t = statSync(js).mtimeMs;
    if (t < statSync(src).mtimeMs || t < newestConfig) return true;
    newestJs = Math.max(newestJs, t);
  }
  // The CLI runs from the bundle made of dist/src (scripts/bundle-cli.mjs): it must be newer.
  return !existsSync(BUNDLED_MAIN) || statSync(BUNDLED_MAIN).mtimeMs < newestJs;
}

const BUNDLED_MAIN = path.join(REPO_ROOT, 'dist', 'bundle', 'cli', 'main.js');

/** `npm run build`, package.json's one definition of the build (tsc, then the CLI's bundle). */
function build(): void {
  const r = spawnSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, encoding: 'utf8', timeout: 170_000 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`npm run build failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
}

/** The parent process's start time (Linux /proc), so a reused parent pid names a new run. */
function parentStartTime(): string {
  try {
    const stat = readFileSync(`/proc/${process.ppid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Build as `npm run build` does (tsc, then the CLI's bundle), once per process. Test files
 * run in parallel worker processes of one vitest run, so the build runs under a cross-process
 * lock, at most once per vitest run (the workers share a parent pid), and only when dist/ is
 * older than a source: recompiling while another file's test is running the CLI would
 * rewrite modules under it. LAYERSTORE_TEST_REBUILD=1 forces the build.
 */
export function ensureBuilt(): void {
  if (built) return;
  const lock = path.join(tmpdir(), `layerstore-build-${createHash('sha256').update(REPO_ROOT).digest('hex').slice(0, 12)}.lock`);
  const deadline = Date.now() + 180_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { recursive: true, force: true }); // a crashed builder
      } catch {
        /* gone already */
      }
      if (Date.now() > deadline) throw new Error(`ensureBuilt: could not take the build lock ${lock}`);
      sleepMs(100);
    }
  }
  const stamp = `${lock}.run-${process.ppid}-${parentStartTime()}`;
  try {
    const builtThisRun = existsSync(stamp) && process.env.LAYERSTORE_TEST_REBUILD !== '1';
    if (!builtThisRun && (distIsStale() || process.env.LAYERSTORE_TEST_REBUILD === '1')) {
      build();
    }
    if (!existsSync(BUNDLED_MAIN)) throw new Error(`ensureBuilt: ${BUNDLED_MAIN} is missing after the build`);
    writeFileSync(stamp, `${new Date().toISOString()}\n`);
    // forget the stamps of old runs
    for (const f of readdirSync(tmpdir())) {
      const old = path.join(tmpdir(), f);
      if (f.startsWith(`${path.basename(lock)}.run-`) && old !== stamp && Date.now() - statSync(old).mtimeMs > 6 * 3600_000) rmSync(old, { force: true });
    }
    built = true;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------------------------
// Reading a store (an OCI image layout) independently of src/: plain fs + JSON.parse, so tests
// can check the CLI's reports against the files themselves.

export const IMAGE_CONFIG_TYPES = new Set(['application/vnd.oci.image.config.v1+json', 'application/vnd.docker.container.image.v1+json']);
const TAR_LAYER_RE = /^application\/vnd\.(oci\.image\.layer\.(nondistributable\.)?v1\.tar|docker\.image\.rootfs\.(foreign\.)?diff\.tar)/;

export function sha256Of(bytes: Buffer | string): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

export function blobFile(store: string, digest: string): string {
  if (!/^sha256:[0-9a-f]{64}$/.test(digest)) throw new Error(`not a sha256 digest: ${digest}`);
  return path.join(store, 'blobs', 'sha256', digest.slice(7));
}

export function blobSize(store: string, digest: string): number {
  return statSync(blobFile(store, digest)).size;
}

export function readBlobJson(store: string, digest: string): any {
  return JSON.parse(readFileSync(blobFile(store, digest), 'utf8'));
}

export interface StoreImage {
  manifestDigest: string;
  configDigest: string;
  layers: string[];
  diffIds: string[];
  refs: string[];
}

/** The store's index.json, parsed. */
export function readIndexJson(store: string): any {
  return JSON.parse(readFileSync(path.join(store, 'index.json'), 'utf8'));
}

/** ref names (org.opencontainers.image.ref.name) of index.json, in file order. */
export function indexRefs(store: string): string[] {
  return (readIndexJson(store).manifests ?? [])
    .map((m: any) => m.annotations?.['org.opencontainers.image.ref.name'])
    .filter((r: unknown): r is string => typeof r === 'string');
}

/**
 * Every image (a manifest whose config is an image config and whose layers are all tar layers)
 * reachable from index.json through nested indexes, with the refs of the roots it is under.
 * Index children that are not in the layout are skipped.
 */
export function readStoreImages(store: string): StoreImage[] {
  const images = new Map<string, StoreImage>();
  const visiting = new Set<string>();
  const walk = (digest: string, refs: string[]): void => {
    if (!existsSync(blobFile(store, digest)) || visiting.has(digest)) return;
    visiting.add(digest);
    const doc = readBlobJson(store, digest);
    if (Array.isArray(doc.manifests)) {
      for (const c of doc.manifests) walk(c.digest, refs);
    } else if (doc.config && Array.isArray(doc.layers)) {
      const isImage = IMAGE_CONFIG_TYPES.has(doc.config.mediaType) && doc.layers.every((l: any) => TAR_LAYER_RE.test(l.mediaType));
      if (isImage) {
        let img = images.get(digest);
        if (!img) {
          const config = readBlobJson(store, doc.config.digest);
          img = {
            manifestDigest: digest,
            configDigest: doc.config.digest,
            layers: doc.layers.map((l: any) => l.digest),
            diffIds: config.rootfs?.diff_ids ?? [],
            refs: [],
          };
          images.set(digest, img);
        }
        for (const r of refs) if (!img.refs.includes(r)) img.refs.push(r);
      }
    }
    visiting.delete(digest);
  };
  for (const root of readIndexJson(store).manifests ?? []) {
    const ref = root.annotations?.['org.opencontainers.image.ref.name'];
    walk(root.digest, typeof ref === 'string' ? [ref] : []);
  }
  for (const img of images.values()) img.refs.sort();
  return [...images.values()];
}

export interface ExpectedSharing {
  logicalBytes: number;
  storedBytes: number;
  perImage: Map<string, { sizeBytes: number; uniqueBytes: number; sharedBytes: number }>;
  /** layer blob digest -> manifest digests of the images that use it */
  layerUsers: Map<string, Set<string>>;
}

/** A stored layer whose bytes are an empty tar and nothing else (zeros only, at most one 10 KiB record), or docker's 32-byte gzip of the 1024-byte one. */
function isEmptyTar(store: string, digest: string): boolean {
  const size = blobSize(store, digest);
  if (size === 32) return digest === 'sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4';
  if (size > 10240 || size % 512 !== 0 || size === 0) return false;
  return readFileSync(blobFile(store, digest)).every((b) => b === 0);
}

/** Sizes from stat-ing blob files, with the report's definitions (config + distinct layer blobs). */
export function expectedSharing(store: string, images: StoreImage[]): ExpectedSharing {
  const blobsOf = (img: StoreImage) => new Set([img.configDigest, ...img.layers]);
  const users = new Map<string, number>();
  const layerUsers = new Map<string, Set<string>>();
  for (const img of images) {
    for (const d of blobsOf(img)) users.set(d, (users.get(d) ?? 0) + 1);
    for (const l of img.layers) {
      if (!layerUsers.has(l)) layerUsers.set(l, new Set());
      layerUsers.get(l)!.add(img.manifestDigest);
    }
  }
  const perImage = new Map<string, { sizeBytes: number; uniqueBytes: number; sharedBytes: number }>();
  let logicalBytes = 0;
  for (const img of images) {
    let size = 0;
    let unique = 0;
    for (const d of blobsOf(img)) {
      const s = blobSize(store, d);
      size += s;
      if (users.get(d) === 1) unique += s;
    }
    perImage.set(img.manifestDigest, { sizeBytes: size, uniqueBytes: unique, sharedBytes: size - unique });
    logicalBytes += size;
  }
  // A layer that is nothing but an empty tar (all zero bytes: Go's 1024-byte one, GNU tar's
  // 10240-byte record) counts once in the logical bytes: sharing it is no saving.
  for (const [l, who] of layerUsers) if (isEmptyTar(store, l)) logicalBytes -= blobSize(store, l) * (who.size - 1);
  let storedBytes = 0;
  for (const d of users.keys()) storedBytes += blobSize(store, d);
  return { logicalBytes, storedBytes, perImage, layerUsers };
}

/** Every file in blobs/sha256 whose sha256 is not its name (should be none). */
export function badBlobs(store: string): string[] {
  const dir = path.join(store, 'blobs', 'sha256');
  const bad: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    const st = lstatSync(p);
    if (!st.isFile() || !/^[0-9a-f]{64}$/.test(name) || sha256Of(readFileSync(p)) !== `sha256:${name}`) bad.push(name);
  }
  return bad;
}

export function listBlobs(store: string): string[] {
  const dir = path.join(store, 'blobs', 'sha256');
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}
