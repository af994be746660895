/**
 * Helpers for the analysis tests: temp stores, images built in code and ingested through the
 * real ingest path, and GNU tar as the independent reader.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Store } from '../../src/store/store.js';
import { ingestPath } from '../../src/ingest/ingest.js';
import { loadImages, type ImageInfo } from '../../src/analysis/load-images.js';
import { dockerSaveLegacy, layerTar, type FileSpec, type ImageSpec, type LayerBlob } from '../../fixtures/image-writer.js';

export const FIX = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'shared', 'fixtures-real');

const dirs: string[] = [];

export function tempDir(prefix = 'ls-analysis-'): string {
  const d = mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
}

export function cleanupTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

export async function tempStore(): Promise<{ store: Store; dir: string }> {
  const dir = tempDir();
  return { store: await Store.open(path.join(dir, 'store'), { create: true }), dir };
}

let seq = 0;

/** Write `images` as a legacy docker save, ingest it, and return the ImageInfos in the given order. */
export async function ingestImages(store: Store, specs: ImageSpec[]): Promise<ImageInfo[]> {
  const dir = tempDir('ls-analysis-in-');
  const file = path.join(dir, `in-${++seq}.tar`);
  await fsp.writeFile(file, await dockerSaveLegacy(specs));
  await ingestPath(store, file);
  const all = await loadImages(store);
  return specs.map((s) => {
    const img = all.find((i) => i.refs.includes(s.repoTags[0]!));
    if (!img) throw new Error(`image ${s.repoTags[0]} not found after ingest`);
    return img;
  });
}

/** One image from layers given as file specs (or ready-made layer blobs). */
export async function imageOf(store: Store, ref: string, layers: Array<FileSpec[] | LayerBlob>, compression: 'none' | 'gzip' = 'none'): Promise<ImageInfo> {
  const blobs: LayerBlob[] = [];
  for (const l of layers) blobs.push(Array.isArray(l) ? { tar: await layerTar(l), compression } : l);
  const [img] = await ingestImages(store, [{ repoTags: [ref], layers: blobs }]);
  return img!;
}

/** `n` bytes of a repeated character: contents whose size is obvious in expectations. */
export const bytes = (ch: string, n: number): Buffer => Buffer.alloc(n, ch);

export function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer } = {}): string {
  return execFileSync(cmd, args, { cwd: opts.cwd, input: opts.input, maxBuffer: 1 << 30, stdio: ['pipe', 'pipe', 'pipe'] }).toString('utf8');
}

/** One line of `tar --numeric-owner -tvf`, parsed: type letter, size, name, link target. */
export interface TarListing {
  kind: string; // '-' file, 'd' dir, 'l' symlink, 'h' hardlink, 'c' 'b' 'p' ...
  size: number;
  name: string;
  link?: string;
}

/** What GNU tar makes of one tar file: its verbose listing and the sha256 of every extracted regular file. */
export interface GnuTarView {
  listing: TarListing[];
  /** Path (as extracted) -> sha256sum of the content. Hardlinked paths share one entry's sum. */
  shas: Map<string, string>;
}

// One shell per batch, and as few processes as possible: starting one costs ~30 ms here.
// Per tar file i: the verbose listing and an extraction into x<i> (GNU tar detects gzip and
// zstd itself). Then, over all extractions at once, inode numbers of the regular files and
// sha256sum once per inode (hardlinked busybox applets are one 1 MB file, not 400).
const BATCH_SCRIPT = `
set -e
out="$1"; shift
dirs=(); i=0
for f in "$@"; do dirs+=("$out/x$i"); i=$((i+1)); done
mkdir "\${dirs[@]}"
i=0
for f in "$@"; do
  tar --numeric-owner -tvf "$f" > "$out/$i.list" 2>/dev/null
  tar --no-same-owner -xf "$f" -C "$out/x$i" 2>/dev/null
  i=$((i+1))
done
cd "$out"
find . -path './x*' -type f -printf '%i %P\\0' > all.inodes
find . -path './x*' -type f -printf '%i %P\\n' | sort -s -u -k1,1 | cut -d' ' -f2- | tr '\\n' '\\0' | xargs -0 -r sha256sum -z -- > all.sums
`;

/** Run GNU tar (and find, sha256sum) over `tarFiles` in one shell. Names are never turned into our paths. */
export function gnuTarViews(tarFiles: string[]): GnuTarView[] {
  const out = tempDir('ls-analysis-gnu-');
  execFileSync('bash', ['-c', BATCH_SCRIPT, 'bash', out, ...tarFiles], { stdio: ['ignore', 'pipe', 'pipe'] });
  const sumOf = new Map<string, string>();
  for (const rec of readFileSync(path.join(out, 'all.sums'), 'utf8').split('\0')) if (rec) sumOf.set(rec.slice(66), rec.slice(0, 64));
  const inodes = readFileSync(path.join(out, 'all.inodes'), 'utf8')
    .split('\0')
    .filter(Boolean)
    .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)] as const);
  const firstOfInode = new Map<string, string>();
  for (const [ino, p] of inodes) if (sumOf.has(p)) firstOfInode.set(ino, p);
  const views: GnuTarView[] = tarFiles.map((_, i) => ({ listing: parseListing(readFileSync(path.join(out, `${i}.list`), 'utf8')), shas: new Map() }));
  for (const [ino, p] of inodes) {
    const s = sumOf.get(firstOfInode.get(ino) ?? '');
    if (!s) throw new Error(`no sha256sum for ${p}`);
    const slash = p.indexOf('/');
    views[Number(p.slice(1, slash))]!.shas.set(p.slice(slash + 1), s);
  }
  return views;
}

function parseListing(out: string): TarListing[] {
  const rows: TarListing[] = [];
  for (const line of out.split('\n')) {
    if (!line) continue;
    // -rw-r--r-- 0/0   6405 2018-12-28 16:50 root/saved.txt
    const m = /^(\S)\S*\s+\d+\/\d+\s+(\d+|\d+,\s*\d+)\s+\d{4}-\d\d-\d\d \d\d:\d\d (.*)$/.exec(line);
    if (!m) throw new Error(`cannot parse tar listing line: ${line}`);
    const kind = m[1]!;
    let name = m[3]!;
    let link: string | undefined;
    if (kind === 'l') [name, link] = name.split(' -> ') as [string, string];
    if (kind === 'h') [name, link] = name.split(' link to ') as [string, string];
    rows.push({ kind, size: /,/.test(m[2]!) ? 0 : Number(m[2]), name: name.replace(/^\.?\//, '').replace(/\/$/, ''), link });
  }
  return rows;
}
