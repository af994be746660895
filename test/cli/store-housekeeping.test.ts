/**
 * Housekeeping commands and the --store option, as a user meets them: a --store that is a
 * file is "not a store" (exit 2, E_NOT_A_STORE) for every command, never a raw ENOTDIR;
 * `rm` with a digest or image ID of a tagged image refuses without --force (as docker rmi
 * does) and leaves the store byte-identical; `rm a b` of two tags of one image says the
 * image was removed once, on the line that removed it; `--json` of verify, gc and prune on
 * a store that does not exist prints an empty store's document, as ls and report do.
 */
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { blobFile, indexRefs, readStoreImages } from '../helpers/cli.js';
import { snapshotStore } from '../helpers/store-snapshot.js';
import { onPath, peer } from '../helpers/peers.js';
import { cli, randomLayer, run, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

let tmp: string;
let input: string;

beforeAll(async () => {
  stableCli();
  tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-housekeeping-'));
  input = path.join(tmp, 'in.tar');
  writeFileSync(input, await writeArchive('v25', [{ repoTags: ['hk/app:1', 'hk/app:latest', 'hk/app:stable'], layers: [await randomLayer('hk', 20_000)] }]));
}, 60_000);
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('--store that is a file', () => {
  it.each([
    ['ls'],
    ['report'],
    ['verify'],
    ['gc'],
    ['diff', 'a', 'b'],
    ['rm', 'x'],
    ['tag', 'a', 'b'],
    ['export', 'x', '-o', '/tmp/never.tar'],
    ['ingest', '/dev/null'],
  ])('%s: exit 2, E_NOT_A_STORE, one line', async (...args) => {
    const file = path.join(tmp, 'a-file.txt');
    writeFileSync(file, 'not a store');
    const r = await cli(['--store', file, ...args]);
    expect(r.code, showRun(r)).toBe(2);
    expect(r.stderr).toMatch(/^layerstore: error: store path .*a-file\.txt is not a directory \[E_NOT_A_STORE\]$/m);
    expect(r.stderr).not.toMatch(/ENOTDIR|E_IO/);
  });
});

describe('--json on a store that does not exist', () => {
  it.each([[['verify', '--json']], [['gc', '--json']], [['gc', '--json', '--dry-run']], [['prune', '--json']], [['prune', '--json', '--dry-run']]])(
    '%j: the document of an empty store, exit 0, and no store made',
    async (args) => {
      const empty = path.join(tmp, 'empty-store');
      mkdirSync(path.join(empty, 'blobs', 'sha256'), { recursive: true });
      writeFileSync(path.join(empty, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}\n');
      writeFileSync(path.join(empty, 'index.json'), '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}\n');
      const want = await cli(['--store', empty, ...args]);
      expect(want.code, showRun(want)).toBe(0);
      const missing = path.join(tmp, 'no-such-store');
      const r = await cli(['--store', missing, ...args]);
      expect(r.code, showRun(r)).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ ...JSON.parse(want.stdout), store: missing });
      expect(existsSync(missing)).toBe(false);
    },
  );
});

describe('rm by digest or image ID', () => {
  let store: string;
  beforeAll(async () => {
    store = path.join(tmp, 'rm-store');
    const r = await cli(['--store', store, '-q', 'ingest', input]);
    expect(r.code, showRun(r)).toBe(0);
  });

  it('a manifest-digest prefix of a tagged image is refused without --force, naming its tags; the store is unchanged', async () => {
    const img = readStoreImages(store)[0]!;
    // Caches under .layerstore/derived may be filled by the lookup of an image ID; the store proper may not change.
    const proper = async () => new Map([...(await snapshotStore(store))].filter(([k]) => !k.startsWith('.layerstore/derived')));
    const before = await proper();
    for (const sel of [img.manifestDigest.slice(7, 19), img.configDigest.slice(7, 19), img.manifestDigest]) {
      const r = await cli(['--store', store, 'rm', sel]);
      expect(r.code, showRun(r)).toBe(2);
      expect(r.stderr).toContain('[E_USAGE]');
      expect(r.stderr).toContain('hk/app:1, hk/app:latest, hk/app:stable');
      expect(r.stderr).toContain('--force');
    }
    expect(await proper()).toEqual(before);
  });

  it('rm a b of two of three tags says "untagged" for each and no "removed"; the last tag\'s line says the image is removed, once', async () => {
    const two = await cli(['--store', store, 'rm', 'hk/app:1', 'hk/app:latest']);
    expect(two.code, showRun(two)).toBe(0);
    expect(two.stdout.trim().split('\n')).toEqual(['untagged hk/app:1', 'untagged hk/app:latest']);
    const tag = await cli(['--store', store, 'tag', 'hk/app:stable', 'hk/app:again']);
    expect(tag.code, showRun(tag)).toBe(0);
    const both = await cli(['--store', store, 'rm', 'hk/app:stable', 'hk/app:again']);
    expect(both.code, showRun(both)).toBe(0);
    const lines = both.stdout.trim().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines.filter((l) => l.includes('removed'))).toHaveLength(1);
    expect(lines[1]).toMatch(/^untagged hk\/app:again \(image [0-9a-f]{12} removed; layerstore gc frees its blobs\)$/);
    expect(indexRefs(store)).toEqual([]);
  });

  it('--force with a digest removes every tag of the image', async () => {
    const r0 = await cli(['--store', store, '-q', 'ingest', input]);
    expect(r0.code, showRun(r0)).toBe(0);
    const img = readStoreImages(store)[0]!;
    const r = await cli(['--store', store, 'rm', '--force', img.manifestDigest.slice(7, 19)]);
    expect(r.code, showRun(r)).toBe(0);
    expect(indexRefs(store)).toEqual([]);
  });
});

describe("refs: one grammar (docker's) for every command", () => {
  let store: string;
  beforeAll(async () => {
    store = path.join(tmp, 'ref-store');
    const r = await cli(['--store', store, '-q', 'ingest', input]);
    expect(r.code, showRun(r)).toBe(0);
  });

  it.each([
    ['MyOrg/App:1', /repository names are lowercase/],
    ['Bad Ref!!', /characters docker does not allow/],
    ['corp/api:-bad', /a tag is up to 128/],
    [`corp/api@sha256:${'a'.repeat(64)}`, /has a digest/],
  ])('tag X %s is exit 2 E_USAGE (%s), and the store is unchanged', async (dst, why) => {
    const before = await snapshotStore(store);
    const r = await cli(['--store', store, 'tag', 'hk/app:1', dst]);
    expect(r.code, showRun(r)).toBe(2);
    expect(r.stderr).toContain('[E_USAGE]');
    expect(r.stderr).toMatch(why);
    expect(await snapshotStore(store)).toEqual(before);
  });

  it('"corp/api" means corp/api:latest and docker.io/library/busybox means busybox:latest, in tag, report, export and rm', async () => {
    expect((await cli(['--store', store, 'tag', 'hk/app:1', 'corp/api'])).code).toBe(0);
    expect((await cli(['--store', store, 'tag', 'hk/app:1', 'docker.io/library/busybox'])).code).toBe(0);
    expect(indexRefs(store)).toEqual(expect.arrayContaining(['corp/api:latest', 'busybox:latest']));
    const rep = await cli(['--store', store, 'report', '--json', 'corp/api']);
    expect(rep.code, showRun(rep)).toBe(0);
    expect(JSON.parse(rep.stdout).images[0].refs).toContain('corp/api:latest');
    const ex = await cli(['--store', store, 'export', 'docker.io/corp/api', '-o', path.join(tmp, 'corp.tar')]);
    expect(ex.code, showRun(ex)).toBe(0);
    const rm = await cli(['--store', store, 'rm', 'corp/api', 'docker.io/library/busybox:latest']);
    expect(rm.code, showRun(rm)).toBe(0);
    expect(indexRefs(store)).not.toEqual(expect.arrayContaining(['corp/api:latest']));
    expect(indexRefs(store)).not.toEqual(expect.arrayContaining(['busybox:latest']));
  });

  it('a ref moved off an image that keeps other refs says so, not "kept untagged"', async () => {
    const other = path.join(tmp, 'other.tar');
    writeFileSync(other, await writeArchive('v25', [{ repoTags: ['hk/other:1'], layers: [await randomLayer('hk-other', 10_000)] }]));
    expect((await cli(['--store', store, '-q', 'ingest', other])).code).toBe(0);
    const r = await cli(['--store', store, 'tag', 'hk/other:1', 'hk/app:latest']);
    expect(r.code, showRun(r)).toBe(0);
    expect(r.stdout).toMatch(/moved from [0-9a-f]{12}, which keeps its refs hk\/app:1, hk\/app:stable\)/);
  });
});

describe('tag of an image whose manifest is missing from the store', () => {
  it('exit 3, E_STORE_INVALID, and index.json is byte-identical (never a ref to a missing blob)', async () => {
    const store = path.join(tmp, 'tag-missing');
    expect((await cli(['--store', store, '-q', 'ingest', input])).code).toBe(0);
    const [img] = readStoreImages(store);
    rmSync(blobFile(store, img!.manifestDigest));
    const before = readFileSync(path.join(store, 'index.json'));
    const r = await cli(['--store', store, 'tag', 'hk/app:1', 'hk/copy:1']);
    expect(r.code, showRun(r)).toBe(3);
    expect(r.stderr).toMatch(new RegExp(`^layerstore: error: .*hk/copy:1.*${img!.manifestDigest}.* missing from the store.*\\[E_STORE_INVALID\\]$`, 'm'));
    expect(readFileSync(path.join(store, 'index.json')).equals(before)).toBe(true);
    expect(indexRefs(store)).not.toContain('hk/copy:1');
  });
});

describe('a store this user cannot write (run as nobody through setpriv)', () => {
  const asNobody = (args: string[]) => {
    const env = { ...process.env };
    delete env.LAYERSTORE_STORE;
    return run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, stableCli(), ...args], { env });
  };

  it('gc, tag and rm say the store is not writable (exit 2, E_IO), never "remove the lock"; gc --dry-run works; the store is unchanged', async () => {
    if (!peer('root and setpriv (util-linux)', process.getuid?.() === 0 && onPath('setpriv'), 'run the tests as root, as CI does')) return;
    chmodSync(tmp, 0o755);
    const store = path.join(tmp, 'read-only');
    expect((await cli(['--store', store, '-q', 'ingest', input])).code).toBe(0);
    expect((await cli(['--store', store, 'rm', 'hk/app:stable'])).code).toBe(0); // an orphan-free untag: gc has nothing, dry run says so
    const before = await snapshotStore(store);
    for (const args of [['gc'], ['tag', 'hk/app:1', 'hk/app:2'], ['rm', 'hk/app:1']]) {
      const r = await asNobody(['--store', store, ...args]);
      expect(r.code, showRun(r)).toBe(2);
      expect(r.stderr).toMatch(/^layerstore: error: the store at .* is not writable by this user \(EACCES .*\) \[E_IO\]$/m);
      expect(r.stderr).not.toMatch(/E_LOCKED|remove \.layerstore/);
    }
    const dry = await asNobody(['--store', store, 'gc', '--dry-run', '--json']);
    expect(dry.code, showRun(dry)).toBe(0);
    expect(JSON.parse(dry.stdout).dryRun).toBe(true);
    expect(await snapshotStore(store)).toEqual(before);
  });

  it('without .layerstore/staging (a store another tool made, or copied without it), ls, report and export still read it; ingest says it is not writable', async () => {
    if (!peer('root and setpriv (util-linux)', process.getuid?.() === 0 && onPath('setpriv'), 'run the tests as root, as CI does')) return;
    chmodSync(tmp, 0o755);
    const store = path.join(tmp, 'read-only-no-staging');
    expect((await cli(['--store', store, '-q', 'ingest', input])).code).toBe(0);
    rmSync(path.join(store, '.layerstore'), { recursive: true, force: true });
    const out = path.join(tmp, 'nobody-out');
    mkdirSync(out);
    chmodSync(out, 0o777);
    const before = await snapshotStore(store);
    for (const args of [['ls'], ['report', '--json'], ['export', 'hk/app:1', '-o', path.join(out, 'x.tar')]]) {
      const r = await asNobody(['--store', store, ...args]);
      expect(r.code, `${args.join(' ')}\n${showRun(r)}`).toBe(0);
    }
    const back = path.join(tmp, 'no-staging-back');
    expect((await cli(['--store', back, '-q', 'ingest', path.join(out, 'x.tar')])).code).toBe(0);
    const w = await asNobody(['--store', store, 'ingest', input]);
    expect(w.code, showRun(w)).toBe(2);
    expect(w.stderr).toMatch(/is not writable by this user .*\[E_IO\]$/m);
    expect(await snapshotStore(store)).toEqual(before);
  });

  it('ingest and pull say so too, the same way (exit 2, E_IO), before reading anything; the store is unchanged', async () => {
    if (!peer('root and setpriv (util-linux)', process.getuid?.() === 0 && onPath('setpriv'), 'run the tests as root, as CI does')) return;
    chmodSync(tmp, 0o755);
    const store = path.join(tmp, 'read-only-ingest');
    expect((await cli(['--store', store, '-q', 'ingest', input])).code).toBe(0);
    const other = path.join(tmp, 'other.tar');
    writeFileSync(other, await writeArchive('v25', [{ repoTags: ['hk/other:1'], layers: [await randomLayer('hk-other', 20_000)] }]));
    const before = await snapshotStore(store);
    // Nothing is reached over the network before the store is opened: port 9 never answers.
    for (const args of [
      ['ingest', other],
      ['ingest', input],
      ['pull', '127.0.0.1:9/hk/other:1'],
    ]) {
      const r = await asNobody(['--store', store, ...args]);
      expect(r.code, showRun(r)).toBe(2);
      expect(r.stderr).toMatch(/^layerstore: error: the store at .* is not writable by this user \(EACCES .*\) \[E_IO\]$/m);
      expect(r.stderr).not.toMatch(/permission denied|\.partial|E_LOCKED/);
      expect(r.stderr, 'refused before the input is read: no line names it').not.toContain('.tar:');
    }
    expect(await snapshotStore(store)).toEqual(before);
    // A store this user could not even create is said the same way.
    const r = await asNobody(['--store', path.join(store, 'inside'), 'ingest', other]);
    expect(r.code, showRun(r)).toBe(2);
    expect(r.stderr).toMatch(/^layerstore: error: the store at .*inside is not writable by this user \(EACCES creating .*inside\) \[E_IO\]$/m);
  });
});
