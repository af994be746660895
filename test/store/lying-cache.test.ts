/**
 * A lying cache never changes an answer (issue 16, item 11). The image-record cache
 * (.layerstore/derived/records.json) is edited the way a deliberate editor would: every
 * number that is a blob size made tiny, the big layer swapped for the small one, diffIDs,
 * dates and platforms changed, compressions flipped. `ls`, `report` and `budget` must give
 * exactly the answers of a store without any cache (a budget FAIL stays a FAIL), and
 * `verify` must call a cache that lies damage that `verify --fix` repairs by deleting it.
 * The edits are made on whatever the cache holds, so the test does not depend on its format.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, cpSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStoreImages, blobSize } from '../helpers/cli.js';
import { cli, prngBytes, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';
import { layerTar } from '../../fixtures/image-writer.js';

describe('a lying image-record cache (issue 16, item 11)', () => {
  let tmp: string;
  let template: string;
  let budgetFile: string;
  let big: ReturnType<typeof readStoreImages>[number];
  let gz: ReturnType<typeof readStoreImages>[number];
  let sharedLayer: string;
  /** Outputs with no cache at all. */
  const truth = new Map<string, string>();
  let n = 0;

  const COMMANDS = [
    ['ls', '--json'],
    ['report', '--json'],
  ];

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-lyingcache-'));
    const shared = await randomLayer('lie/shared', 2_000);
    const bigLayer = await randomLayer('lie/big', 400_000);
    const gzLayer = {
      tar: await layerTar([{ path: 'data/text.txt', content: Buffer.from('compressible '.repeat(20_000) + prngBytes('lie/gz', 1000).toString('hex')) }]),
      compression: 'gzip' as const,
    };
    const tarball = path.join(tmp, 'lie.tar');
    writeFileSync(
      tarball,
      await writeArchive('oci', [
        { repoTags: ['lie/big:1'], layers: [shared, bigLayer], created: '2024-03-01T00:00:00Z' },
        { repoTags: ['lie/gz:1'], layers: [shared, gzLayer], architecture: 'arm64' },
      ]),
    );
    template = path.join(tmp, 'template');
    const r = await cli(['--store', template, '-q', 'ingest', tarball]);
    expect(r.code, showRun(r)).toBe(0);
    const images = readStoreImages(template);
    big = images.find((i) => i.refs.includes('lie/big:1'))!;
    gz = images.find((i) => i.refs.includes('lie/gz:1'))!;
    sharedLayer = big.layers[0]!;
    budgetFile = path.join(tmp, 'budget.json');
    writeFileSync(budgetFile, JSON.stringify({ budgets: [{ match: 'lie/big:1', maxSize: '100kB', maxLayerSize: '100kB' }] }));
    rmSync(path.join(template, '.layerstore', 'derived'), { recursive: true, force: true });
    for (const args of COMMANDS) {
      const t = await cli(['--store', template, ...args]);
      expect(t.code, showRun(t)).toBe(0);
      truth.set(args.join(' '), t.stdout.split(template).join('STORE'));
      rmSync(path.join(template, '.layerstore', 'derived'), { recursive: true, force: true });
    }
    expect(
      JSON.parse(truth.get('report --json')!)
        .layers.map((l: { compression: string }) => l.compression)
        .sort(),
    ).toEqual(['gzip', 'none', 'none']);
    // The cache as ls and report leave it.
    const w = await cli(['--store', template, 'report']);
    expect(w.code, showRun(w)).toBe(0);
    expect(existsSync(cacheOf(template))).toBe(true);
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  function cacheOf(S: string): string {
    return path.join(S, '.layerstore', 'derived', 'records.json');
  }
  function copy(): string {
    const S = path.join(tmp, `case-${++n}`, 'store');
    mkdirSync(path.dirname(S));
    cpSync(template, S, { recursive: true });
    return S;
  }

  /**
   * Rewrite the cache as an editor who wants the big image to look small would: sizes of
   * stored blobs -> 606, the big layer's digest -> the shared layer's, diffIDs of the big
   * layer -> the shared one's, dates and architectures changed, compressions flipped.
   */
  function lie(S: string): void {
    const sizes = new Set([big.configDigest, ...big.layers, gz.configDigest, ...gz.layers].map((d) => blobSize(S, d)));
    const bigLayer = big.layers[1]!;
    const swap: Record<string, string> = {
      [bigLayer]: sharedLayer,
      [big.diffIds[1]!]: big.diffIds[0]!,
      '2024-03-01T00:00:00Z': '1999-01-01T00:00:00Z',
      arm64: 'amd64',
      gzip: 'none',
      none: 'zstd',
    };
    const edit = (v: unknown): unknown => {
      if (typeof v === 'number') return sizes.has(v) ? 606 : v;
      if (typeof v === 'string') return swap[v] ?? v;
      if (Array.isArray(v)) return v.map(edit);
      if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, edit(x)]));
      return v;
    };
    const before = readFileSync(cacheOf(S), 'utf8');
    const after = JSON.stringify(edit(JSON.parse(before)));
    expect(after, 'the edit changed the cache').not.toBe(before);
    writeFileSync(cacheOf(S), after);
  }

  it('ls and report give the answers of a store without a cache', async () => {
    for (const args of COMMANDS) {
      const S = copy();
      lie(S);
      const r = await cli(['--store', S, ...args]);
      expect(r.code, showRun(r)).toBe(0);
      expect(r.stdout.split(S).join('STORE'), args.join(' ')).toBe(truth.get(args.join(' ')));
    }
  });

  it('a budget the big image fails still fails (exit 1)', async () => {
    const S = copy();
    lie(S);
    const r = await cli(['--store', S, 'budget', '--config', budgetFile, 'lie/big:1']);
    expect(r.code, showRun(r)).toBe(1);
    expect(r.stdout).toMatch(/FAIL/);
  });

  it('a manifest blob edited in place (sizes made tiny) is refused, not believed: ls, report and budget exit 3', async () => {
    const S = copy();
    rmSync(path.join(S, '.layerstore', 'derived'), { recursive: true, force: true });
    const f = path.join(S, 'blobs', 'sha256', big.manifestDigest.slice(7));
    const m = JSON.parse(readFileSync(f, 'utf8'));
    for (const l of m.layers) l.size = 606;
    chmodSync(f, 0o644);
    writeFileSync(f, JSON.stringify(m));
    for (const args of [['ls'], ['report'], ['budget', '--config', budgetFile, 'lie/big:1']]) {
      const r = await cli(['--store', S, ...args]);
      expect(r.code, showRun(r)).toBe(3);
      expect(r.stderr).toMatch(/does not hash to its name.*\[E_STORE_INVALID\]/);
    }
  });

  it('verify calls the lying cache damage, verify --fix deletes it, and verify is then OK', async () => {
    const S = copy();
    lie(S);
    const v = await cli(['--store', S, 'verify']);
    expect(v.code, showRun(v)).toBe(3);
    expect(v.stdout).toMatch(/records\.json/);
    const j = JSON.parse((await cli(['--store', S, 'verify', '--json'])).stdout);
    expect(j.damaged).toBe(true);
    expect(j.badCaches.map((c: { path: string }) => c.path)).toEqual([cacheOf(S)]);
    const fix = await cli(['--store', S, 'verify', '--fix']);
    expect(fix.code, showRun(fix)).toBe(0);
    expect(existsSync(cacheOf(S)), 'the lying cache was deleted').toBe(false);
    const again = await cli(['--store', S, 'verify']);
    expect(again.code, showRun(again)).toBe(0);
  });

  it('a gzip layer relabelled zstd (the one thing only the cache could say) is caught by verify', async () => {
    const S = copy();
    const cache = JSON.parse(readFileSync(cacheOf(S), 'utf8'));
    const text = JSON.stringify(cache);
    writeFileSync(cacheOf(S), text.replace('"gzip"', '"zstd"'));
    expect(readFileSync(cacheOf(S), 'utf8')).not.toBe(text);
    const v = await cli(['--store', S, 'verify']);
    expect(v.code, showRun(v)).toBe(3);
    expect(v.stdout).toContain(`BAD cache ${cacheOf(S)}: 1 cached layer compression is wrong (${gz.layers[1]} is gzip, not zstd)`);
  });

  it('a FIFO where a cache file belongs: verify names it, verify --fix removes it', async () => {
    const S = copy();
    const fifo = path.join(S, '.layerstore', 'derived', 'files', 'a'.repeat(64) + '.json');
    mkdirSync(path.dirname(fifo), { recursive: true });
    execFileSync('mkfifo', [fifo]);
    const v = await cli(['--store', S, 'verify'], 20_000);
    expect(v.code, showRun(v)).toBe(3);
    expect(v.stdout).toContain(`BAD cache ${fifo}: a FIFO where a cache file belongs`);
    const fix = await cli(['--store', S, 'verify', '--fix'], 20_000);
    expect(fix.code, showRun(fix)).toBe(0);
    expect(existsSync(fifo)).toBe(false);
  });

  it('verify leaves an honest cache alone', async () => {
    const S = copy();
    const before = readFileSync(cacheOf(S));
    const v = await cli(['--store', S, 'verify', '--fix']);
    expect(v.code, showRun(v)).toBe(0);
    expect(readFileSync(cacheOf(S)).equals(before)).toBe(true);
  });
});
