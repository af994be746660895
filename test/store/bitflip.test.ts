/**
 * Promise 1 (DESIGN.md §7): "A blob's name is the sha256 of its bytes" — and when the disk
 * breaks that, verify finds it, says who is hurt, quarantines it, and re-ingesting the source
 * restores the right bytes.
 *
 * One byte of a stored blob is flipped (the blob is 0444, so chmod u+w first):
 *   verify        -> exit 3; stdout names the blob and every ref whose image needs it
 *   verify --fix  -> the blob moves to .layerstore/quarantine/ (bytes kept, not deleted)
 *   verify        -> still exit 3: the blob is now missing, and the refs are named
 *   ingest SOURCE -> verify exit 0, the blob's bytes hash to its name again
 * Done for the base layer shared by six images (re-ingested from a legacy save, which writes
 * the bytes) and for a config only one image uses (re-ingested from a Docker 25 save, whose
 * OCI blob names make ingest pin blobs it finds stored).
 */
import {
  chmodSync,
  cpSync,
  writeFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  closeSync,
  readSync,
  writeSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { readStoreImages } from '../helpers/cli.js';
import { cli, hexOf, sha256hex, showRun, stableCli } from '../helpers/store-proc.js';

describe('a flipped bit in a stored blob (promise 1)', () => {
  let tmp: string;
  let fx: string;
  let S: string;

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-bitflip-'));
    fx = path.join(tmp, 'fx');
    await generateFixtures(fx);
    S = path.join(tmp, 'store');
    const r = await cli([
      '--store',
      S,
      '-q',
      'ingest',
      path.join(fx, 'family-legacy.tar'),
      path.join(fx, 'api-v25.tar'),
      path.join(fx, 'multi-oci-archive.tar'),
      path.join(fx, 'oci-gzip'),
    ]);
    expect(r.code, showRun(r)).toBe(0);
    const v = await cli(['--store', S, 'verify']);
    expect(v.code, showRun(v)).toBe(0);
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  function flipOneByte(file: string): void {
    chmodSync(file, 0o644);
    const size = statSync(file).size;
    const at = Math.floor(size / 2);
    const fd = openSync(file, 'r+');
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x01;
    writeSync(fd, b, 0, 1, at);
    closeSync(fd);
    chmodSync(file, 0o444);
  }

  async function damageAndRepair(digest: string, dependents: string[], source: string) {
    const hex = hexOf(digest);
    const file = path.join(S, 'blobs', 'sha256', hex);
    const good = readFileSync(file);
    expect(sha256hex(good)).toBe(hex);
    flipOneByte(file);
    const bad = readFileSync(file);

    const v1 = await cli(['--store', S, 'verify']);
    expect(v1.code, showRun(v1)).toBe(3);
    const line = v1.stdout.split('\n').find((l) => l.includes(hex));
    expect(line, `verify names the blob\n${v1.stdout}`).toBeDefined();
    expect(line).toContain(`BAD blob ${hex}`);
    expect(line).toContain(`sha256:${sha256hex(bad)}`);
    for (const ref of dependents) expect(line, `names ${ref}`).toContain(ref);
    const j1 = JSON.parse((await cli(['--store', S, 'verify', '--json'])).stdout);
    expect(j1.damaged).toBe(true);
    expect(j1.badBlobs).toEqual([{ name: hex, problem: 'hash-mismatch', actual: `sha256:${sha256hex(bad)}`, roots: [...dependents].sort() }]);

    const fix = await cli(['--store', S, 'verify', '--fix']);
    expect(fix.code, showRun(fix)).toBe(3);
    expect(existsSync(file), 'the bad blob left blobs/').toBe(false);
    const qdir = path.join(S, '.layerstore', 'quarantine');
    const moved = readdirSync(qdir).filter((n) => n.startsWith(`${hex}.`));
    expect(moved, 'the bad blob is in quarantine').toHaveLength(1);
    expect(readFileSync(path.join(qdir, moved[0]!)).equals(bad), 'quarantine keeps its bytes').toBe(true);

    const v2 = await cli(['--store', S, 'verify']);
    expect(v2.code, `missing now\n${showRun(v2)}`).toBe(3);
    // One MISSING line per manifest that names the blob; together they name every dependent.
    const missingLines = v2.stdout.split('\n').filter((l) => l.startsWith(`MISSING blob ${digest}`));
    expect(missingLines.length, v2.stdout).toBeGreaterThan(0);
    for (const ref of dependents)
      expect(
        missingLines.some((l) => l.includes(`needed by ${ref}`) || l.includes(`, ${ref}`)),
        `${ref} is named\n${v2.stdout}`,
      ).toBe(true);

    const again = await cli(['--store', S, '-q', 'ingest', source]);
    expect(again.code, showRun(again)).toBe(0);
    const v3 = await cli(['--store', S, 'verify', '--json']);
    expect(v3.code, showRun(v3)).toBe(0);
    expect(JSON.parse(v3.stdout)).toMatchObject({ damaged: false, badBlobs: [], missing: [] });
    expect(readFileSync(file).equals(good), 'the right bytes are back').toBe(true);
    expect(statSync(file).mode & 0o777).toBe(0o444);
  }

  it('a layer shared by six images: named with all six refs, quarantined, restored from a legacy save', { timeout: 60_000 }, async () => {
    const images = readStoreImages(S);
    const users = new Map<string, string[]>();
    for (const img of images) for (const l of img.layers) users.set(l, [...(users.get(l) ?? []), ...img.refs]);
    const [base, refs] = [...users].sort((a, b) => b[1].length - a[1].length)[0]!;
    expect(refs.length).toBe(6);
    await damageAndRepair(base, refs, path.join(fx, 'family-legacy.tar'));
  });

  it('a config one image uses: named with its ref, quarantined, restored from a Docker 25 save', { timeout: 60_000 }, async () => {
    const api11 = readStoreImages(S).find((i) => i.refs.includes('acme/api:1.1'))!;
    await damageAndRepair(api11.configDigest, ['acme/api:1.1'], path.join(fx, 'api-v25.tar'));
  });

  it("a flipped byte that breaks a manifest's JSON: its config and layers are not orphans, gc keeps them (promise 5)", { timeout: 60_000 }, async () => {
    const S2 = path.join(tmp, 'store-manifest');
    cpSync(S, S2, { recursive: true });
    const web = readStoreImages(S2).find((i) => i.refs.includes('acme/web:2.0'))!;
    const file = path.join(S2, 'blobs', 'sha256', hexOf(web.manifestDigest));
    chmodSync(file, 0o644);
    const bytes = readFileSync(file);
    bytes[0] = 0x23; // '{' -> '#': no longer JSON
    writeFileSync(file, bytes);
    chmodSync(file, 0o444);
    const needed = [web.configDigest, ...web.layers];

    const v = await cli(['--store', S2, 'verify', '--json']);
    expect(v.code, showRun(v)).toBe(3);
    const j = JSON.parse(v.stdout);
    expect(j.badBlobs.map((b: any) => [b.name, b.problem, b.roots])).toEqual([[hexOf(web.manifestDigest), 'hash-mismatch', ['acme/web:2.0']]]);
    const problems: string[] = [];
    const orphaned = j.orphans.map((o: any) => o.digest).filter((d: string) => needed.includes(d));
    if (orphaned.length) problems.push(`verify calls ${orphaned.length} intact blobs of acme/web:2.0 orphans ("no ref reaches; layerstore gc removes them")`);
    // gc may refuse to collect a damaged store (exit 3, coded) or collect around the damage,
    // but it must not delete what the damaged image still needs.
    const gc = await cli(['--store', S2, 'gc', '--json']);
    expect([0, 3], showRun(gc)).toContain(gc.code);
    if (gc.code === 3) expect(gc.stderr).toMatch(/\[E_[A-Z_]+\]/);
    const removed = needed.filter((d) => !existsSync(path.join(S2, 'blobs', 'sha256', hexOf(d))));
    if (removed.length) problems.push(`gc deleted ${removed.length} intact blobs (config + layers) of acme/web:2.0, which is still a ref`);
    expect(problems).toEqual([]);
  });
});
