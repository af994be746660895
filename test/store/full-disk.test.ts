/**
 * Promise 3 (DESIGN.md §7) when the disk fills up: "A failed or rejected ingest leaves blobs
 * and refs byte-for-byte unchanged."
 *
 * As root, the store goes on a small tmpfs (mount -t tmpfs -o size=3m) and an input bigger than
 * the free space is ingested: exit 2, one `E_IO` error line naming ENOSPC, and the whole store
 * (blobs/, index.json, .layerstore/) byte-for-byte as before with an empty staging folder. Then
 * the space is tuned page by page around the point where every staged file fits but the
 * index.json temp file does not, where a failure happens after the blobs were renamed in.
 *
 * Without root or tmpfs, the same input runs under RLIMIT_FSIZE (`ulimit -f`): the kernel
 * kills the writer with SIGXFSZ (a crash, so promise 2 applies: consistent store, verify
 * clean, gc removes the leftovers). That variant always runs too; the log says which ran.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { snapshotObject, snapshotStore } from '../helpers/store-snapshot.js';
import { checkStore, cli, leftovers, randomLayer, run, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

const PAGE = 4096;

function tryMount(dir: string, size: string): string | undefined {
  if (process.getuid?.() !== 0) return 'not running as root';
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { encoding: 'utf8' });
  return r.status === 0 ? undefined : `mount -t tmpfs failed: ${r.stderr || r.error?.message}`;
}

function umount(dir: string): void {
  spawnSync('umount', [dir]);
}

describe('a full disk during ingest', () => {
  let tmp: string;
  let small: string;
  let big: string;
  let edge: string;
  let edgePages = 0;
  const mounts: string[] = [];
  let mountCount = 0;
  const log: string[] = [];

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-full-'));
    small = path.join(tmp, 'small.tar');
    writeFileSync(small, await writeArchive('v25', [{ repoTags: ['full/small:1'], layers: [await randomLayer('full/small', 150_000)] }]));
    big = path.join(tmp, 'big.tar');
    const layers = await Promise.all([0, 1, 2, 3, 4].map((i) => randomLayer(`full/big${i}`, 1_000_000 + i)));
    writeFileSync(big, await writeArchive('legacy', [{ repoTags: ['full/big:1'], layers }]));
    // An oci-archive: ingest stages exactly its regular files and writes nothing else before
    // the commit (a legacy save would also stage synthesized manifests).
    edge = path.join(tmp, 'edge.tar');
    const el = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => randomLayer(`full/edge${i}`, 100_000 + 333 * i)));
    const edgeBytes = await writeArchive('oci', [{ repoTags: ['full/edge:1'], layers: el }]);
    writeFileSync(edge, edgeBytes);
    edgePages = fileSizesPages(edgeBytes);
  });

  afterAll(() => {
    for (const m of mounts) umount(m);
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (log.length) console.log(`[full-disk]\n${log.join('\n')}`);
  });

  /** A fresh tmpfs of `size`, mounted under tmp; undefined (with the reason logged) if impossible. */
  function mountTmpfs(size: string): string | undefined {
    const dir = path.join(tmp, `mnt-${++mountCount}`);
    mkdirSync(dir);
    const why = tryMount(dir, size);
    if (why) {
      log.push(`tmpfs unavailable: ${why}`);
      return undefined;
    }
    mounts.push(dir);
    return dir;
  }

  async function rlimitVariant(): Promise<void> {
    const S = path.join(tmp, `rlimit-store-${Date.now()}`);
    const pre = await cli(['--store', S, '-q', 'ingest', small]);
    expect(pre.code, showRun(pre)).toBe(0);
    const before = snapshotObject(await snapshotStore(S));
    // 512 KiB per file: the 1 MB layers of `big` cannot be written.
    const r = await run('bash', ['-c', 'ulimit -f 512 && exec "$0" "$@"', process.execPath, stableCli(), '--store', S, 'ingest', big]);
    const how = r.signal ? `killed by ${r.signal}` : r.code === 153 ? 'killed by SIGXFSZ (exit 153)' : `exit ${r.code}`;
    log.push(`RLIMIT_FSIZE variant ran: ulimit -f 512 (KiB), ingest of a 5 MB tarball -> ${how}`);
    expect(r.code === 0, `the ingest cannot succeed under the limit\n${showRun(r)}`).toBe(false);
    const c = checkStore(S);
    expect(c.badBlobs).toEqual([]);
    expect(c.missing).toEqual([]);
    const after = await snapshotStore(S);
    // Blobs and refs as before; only staging leftovers of the dead process may differ.
    const outsideStaging = (o: Record<string, string>) => Object.fromEntries(Object.entries(o).filter(([k]) => !k.startsWith('.layerstore/staging/')));
    expect(outsideStaging(snapshotObject(after))).toEqual(outsideStaging(before));
    const v = await cli(['--store', S, 'verify', '--json']);
    expect(v.code, showRun(v)).toBe(0);
    const gc = await cli(['--store', S, 'gc']);
    expect(gc.code, showRun(gc)).toBe(0);
    expect(leftovers(S)).toEqual({ staging: [], tmp: [], lock: false });
    expect(snapshotObject(await snapshotStore(S))).toEqual(before);
  }

  it('ENOSPC while staging: exit 2, E_IO naming ENOSPC, the store byte-for-byte unchanged', { timeout: 60_000 }, async () => {
    const mnt = mountTmpfs('3m');
    if (!mnt) {
      log.push('tmpfs could not be mounted; running the RLIMIT_FSIZE variant instead');
      await rlimitVariant();
      return;
    }
    const S = path.join(mnt, 'store');
    const pre = await cli(['--store', S, '-q', 'ingest', small]);
    expect(pre.code, showRun(pre)).toBe(0);
    const before = snapshotObject(await snapshotStore(S));

    const r = await cli(['--store', S, 'ingest', big]);
    log.push(
      `tmpfs variant ran: 3 MB tmpfs, ingest of a ${(statSync(big).size / 1e6).toFixed(1)} MB tarball -> exit ${r.code}; ${r.stderr.split('\n').find((l) => l.includes('error:')) ?? ''}`,
    );
    expect(r.code, showRun(r)).toBe(2);
    expect(r.stderr, 'one coded error line naming ENOSPC').toMatch(/^layerstore: error: .*ENOSPC.*\[E_IO\]$/m);
    expect(snapshotObject(await snapshotStore(S)), 'blobs/, index.json and .layerstore/ unchanged, staging empty').toEqual(before);
    expect(leftovers(S)).toEqual({ staging: [], tmp: [], lock: false });

    const v = await cli(['--store', S, 'verify', '--json']);
    expect(v.code, showRun(v)).toBe(0);
    expect(JSON.parse(v.stdout)).toMatchObject({ damaged: false, orphans: [], leftovers: [] });
    // The space the failed ingest used is free again: a small ingest still fits.
    const again = await cli(['--store', S, '-q', 'ingest', edge]);
    expect(again.code, showRun(again)).toBe(0);
  });

  it('ENOSPC at any point, up to the index.json write: either success or no change', { timeout: 90_000 }, async () => {
    if (!mountTmpfs('4m')) {
      log.push('tmpfs could not be mounted; the page-by-page variant needs it: running the RLIMIT_FSIZE variant instead');
      await rlimitVariant();
      return;
    }
    umount(mounts.pop()!);
    // Free space (in pages) = what the staged files need + extra. At extra 0 every staged file
    // fits and the index.json temp file does not.
    const outcomes: string[] = [];
    const violations: string[] = [];
    for (const extra of [-1, 0, 1, 3]) {
      const mnt = mountTmpfs('4m')!;
      const S = path.join(mnt, 'store');
      const pre = await cli(['--store', S, '-q', 'ingest', small]);
      expect(pre.code, showRun(pre)).toBe(0);
      const before = snapshotObject(await snapshotStore(S));
      const st = statfsSync(mnt);
      const fill = st.bavail * st.bsize - (edgePages + extra) * PAGE;
      writeFileSync(path.join(mnt, 'filler'), Buffer.alloc(Math.max(0, fill)));
      const r = await cli(['--store', S, 'ingest', edge]);
      const after = snapshotObject(await snapshotStore(S));
      const changed = Object.keys({ ...before, ...after }).filter((k) => before[k] !== after[k]);
      outcomes.push(`free = staged + ${extra} pages: exit ${r.code}${r.code === 0 ? '' : `, ${changed.length} store paths changed`}`);
      if (r.code !== 0) {
        expect(r.code, showRun(r)).toBe(2);
        expect(r.stderr).toMatch(/ENOSPC.*\[E_IO\]/);
        if (changed.length)
          violations.push(
            `free = staged + ${extra} pages: exit 2 (E_IO ENOSPC, "the failed ones changed nothing in the store") but changed: ${changed.join(', ')}`,
          );
      }
      // Whatever happened, the store is consistent.
      const c = checkStore(S);
      expect(c.badBlobs).toEqual([]);
      expect(c.missing).toEqual([]);
      umount(mounts.pop()!);
    }
    log.push(`page-by-page: ${outcomes.join('; ')}`);
    expect(outcomes.some((o) => /exit 2/.test(o)) && outcomes.some((o) => /exit 0/.test(o)), 'the sizes straddle the boundary').toBe(true);
    expect(violations, 'a failed ingest left blobs behind (promise 3)').toEqual([]);
  });

  it('RLIMIT_FSIZE (SIGXFSZ kills the writer): the store stays consistent and recovers', { timeout: 60_000 }, async () => {
    await rlimitVariant();
  });
});

/** Pages of 4 KiB that the regular files of a tar take on tmpfs once staged. */
function fileSizesPages(tar: Buffer): number {
  let off = 0;
  let pages = 0;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) break;
    const size = parseInt(h.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    const flag = String.fromCharCode(h[156] ?? 0);
    if (flag === '0' || flag === '\0') pages += Math.ceil(size / PAGE);
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return pages;
}
