/**
 * Promise 6 (DESIGN.md §7): "The store never writes outside its root and never follows a
 * symlink inside its tree."
 *
 * Symlinks are planted in a store (blobs/sha256, blobs, .layerstore/staging, .layerstore,
 * index.json, quarantine, derived, and blob-named links to a file outside, to /etc/passwd and
 * to a FIFO) and every command that could write or read through them runs as a real process.
 * Each must either refuse with one coded error line (exit 2 or 3) or, where the link is
 * legitimately ignorable (gc removing an unreferenced blob-named link), leave its target alone.
 * The directory the links point to is byte-for-byte unchanged afterwards and /etc/passwd too.
 * A FIFO target proves a blob is never opened through a link: reading it would hang, and a
 * hung command is killed and fails the test.
 *
 * Hostile inputs: archives with "../" and absolute names, escaping symlinks and hardlinks, a
 * "blobs" symlink out of the archive, a manifest naming "../" paths. Each is rejected (exit
 * 2, coded) and the directory holding the store (store included) is unchanged.
 */
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  existsSync,
  lstatSync,
  renameSync,
  unlinkSync,
  chmodSync,
} from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { layerTar } from '../../fixtures/image-writer.js';
import { legacySave, rawTar } from '../helpers/make-tar.js';
import { readStoreImages } from '../helpers/cli.js';
import { snapshotObject, snapshotStore } from '../helpers/store-snapshot.js';
import { blobsAndIndex, checkStore, cli, hexOf, ls, prngBytes, randomLayer, sha256hex, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';

/** A pid above Linux's pid_max: its "process" is never alive, so its files are leftovers. */
const DEAD_PID = 4_194_305;
const CODED = /^layerstore: error: .*\[E_[A-Z_]+\]$/m;

describe('symlinks planted in the store are never followed (promise 6)', () => {
  let tmp: string;
  let template: string;
  let t1: string; // v25: sym/a:1 (what the template holds)
  let t2: string; // legacy: sym/b:1, shares a layer with sym/a:1
  let t2Manifest: string;
  let aImage: { configDigest: string; layers: string[] };
  let passwd: string;
  let n = 0;
  const notes: string[] = [];

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-symlinks-'));
    passwd = sha256hex(readFileSync('/etc/passwd'));
    const shared = await randomLayer('sym/shared', 40_000);
    t1 = path.join(tmp, 't1-v25.tar');
    writeFileSync(t1, await writeArchive('v25', [{ repoTags: ['sym/a:1'], layers: [shared, await randomLayer('sym/a', 30_000)] }]));
    t2 = path.join(tmp, 't2-legacy.tar');
    writeFileSync(t2, await writeArchive('legacy', [{ repoTags: ['sym/b:1'], layers: [shared, await randomLayer('sym/b', 30_000)] }]));
    template = path.join(tmp, 'template');
    const r = await cli(['--store', template, '-q', 'ingest', t1]);
    expect(r.code, showRun(r)).toBe(0);
    aImage = readStoreImages(template)[0]!;
    const ref = path.join(tmp, 'ref-b');
    const r2 = await cli(['--store', ref, '-q', 'ingest', t2]);
    expect(r2.code, showRun(r2)).toBe(0);
    t2Manifest = readStoreImages(ref)[0]!.manifestDigest;
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    if (notes.length) console.log(`[symlinks]\n${notes.join('\n')}`);
  });

  /** A fresh copy of the template store, and an outside directory with bait in it. */
  function setup() {
    const dir = path.join(tmp, `case-${++n}`);
    const S = path.join(dir, 'store');
    const O = path.join(dir, 'outside');
    mkdirSync(dir);
    cpSync(template, S, { recursive: true });
    mkdirSync(O);
    writeFileSync(path.join(O, 'sentinel.txt'), 'do not touch\n');
    writeFileSync(path.join(O, 'a'.repeat(64)), 'a blob-named file no ref reaches: gc would delete it if it got here\n');
    writeFileSync(path.join(O, `${DEAD_PID}-0123456789abcdef.partial`), 'a dead ingest leftover: gc would delete it if it got here\n');
    writeFileSync(path.join(O, `.index.json.${DEAD_PID}.abcdef.tmp`), 'an index temp file of a dead process\n');
    return { S, O };
  }

  /** Replace `p` (a store directory) by a symlink to `target`, moving its content there. */
  function swapForLink(p: string, target: string) {
    cpSync(p, target, { recursive: true });
    rmSync(p, { recursive: true, force: true });
    symlinkSync(target, p);
  }

  type Allowed = number[];
  /** Run commands; each must end in time with an allowed exit code, non-zero ones with one coded error line. */
  async function runAll(S: string, cmds: Array<[string[], Allowed]>, label: string) {
    const lines: string[] = [];
    for (const [args, allowed] of cmds) {
      const r = await cli(['--store', S, ...args], 20_000);
      expect(r.signal, `${label}: \`${args.join(' ')}\` hung (was it reading through a link to a FIFO?)\n${showRun(r)}`).toBeNull();
      expect(allowed, `${label}: \`${args.join(' ')}\`\n${showRun(r)}`).toContain(r.code);
      // verify reports damage it found as its output (exit 3); every other failure is one coded line.
      const reported = args[0] === 'verify' && r.code === 3 && /^DAMAGED/m.test(r.stdout);
      if (r.code !== 0 && !reported) expect(r.stderr, `${label}: \`${args.join(' ')}\` prints a coded error`).toMatch(CODED);
      const err = r.stderr.split('\n').find((l) => l.startsWith('layerstore: error:'));
      const said = err
        ? err.replace(/^layerstore: error: /, '')
        : reported
          ? r.stdout
              .split('\n')
              .filter((l) => /^(BAD|MISSING)/.test(l))
              .map((l) => l.slice(0, 90))
              .join(' / ')
          : '';
      lines.push(
        `  ${args[0]}${args[1]?.startsWith('-') ? ` ${args[1]}` : ''} -> exit ${r.code}${said ? `: ${said.split(S).join('STORE').slice(0, 200)}` : ''}`,
      );
    }
    notes.push(`${label}\n${lines.join('\n')}`);
  }

  const expectUnchanged = async (O: string, before: Record<string, string>, label: string) => {
    expect(snapshotObject(await snapshotStore(O)), `${label}: the directory outside the store changed`).toEqual(before);
    expect(sha256hex(readFileSync('/etc/passwd')), '/etc/passwd').toBe(passwd);
  };

  const everything = (out: string): Array<[string[], Allowed]> => [
    [
      ['ingest', t2],
      [2, 3],
    ],
    [['verify'], [2, 3]],
    [
      ['verify', '--fix'],
      [2, 3],
    ],
    [['gc'], [2, 3]],
    [['report'], [2, 3]],
    [['ls'], [2, 3]],
    [
      ['export', 'sym/a:1', '-o', out],
      [2, 3],
    ],
    [
      ['rm', 'sym/a:1'],
      [2, 3],
    ],
  ];

  it('blobs/sha256 is a symlink to a directory outside', { timeout: 90_000 }, async () => {
    const { S, O } = setup();
    swapForLink(path.join(S, 'blobs', 'sha256'), path.join(O, 'blobs'));
    const before = snapshotObject(await snapshotStore(O));
    await runAll(S, everything(path.join(O, 'out.tar')), 'blobs/sha256 -> outside dir');
    await expectUnchanged(O, before, 'blobs/sha256');
  });

  it('blobs is a symlink to a directory outside', { timeout: 90_000 }, async () => {
    const { S, O } = setup();
    swapForLink(path.join(S, 'blobs'), path.join(O, 'blobs'));
    const before = snapshotObject(await snapshotStore(O));
    // The commands that would write or delete through it.
    const cmds = everything(path.join(O, 'out.tar')).filter(([a]) => ['ingest', 'gc', 'export'].includes(a[0]!) || a[1] === '--fix');
    await runAll(S, cmds, 'blobs -> outside dir');
    await expectUnchanged(O, before, 'blobs');
  });

  it('.layerstore/staging and .layerstore are symlinks to directories outside (with dead leftovers as bait)', { timeout: 90_000 }, async () => {
    const a = setup();
    rmSync(path.join(a.S, '.layerstore', 'staging'), { recursive: true });
    symlinkSync(a.O, path.join(a.S, '.layerstore', 'staging'));
    const beforeA = snapshotObject(await snapshotStore(a.O));
    await runAll(
      a.S,
      [
        [
          ['ingest', t2],
          [2, 3],
        ],
        [['gc'], [2, 3]],
        [
          ['verify', '--fix'],
          [2, 3],
        ],
        [['verify'], [2, 3]],
      ],
      '.layerstore/staging -> outside dir',
    );
    await expectUnchanged(a.O, beforeA, '.layerstore/staging');

    const b = setup();
    mkdirSync(path.join(b.O, 'staging'));
    writeFileSync(path.join(b.O, 'staging', `${DEAD_PID}-fedcba9876543210.partial`), 'bait\n');
    swapForLink(path.join(b.S, '.layerstore'), path.join(b.O, 'private'));
    const beforeB = snapshotObject(await snapshotStore(b.O));
    await runAll(
      b.S,
      [
        [
          ['ingest', t2],
          [2, 3],
        ],
        [['gc'], [2, 3]],
        [
          ['verify', '--fix'],
          [2, 3],
        ],
        [
          ['rm', 'sym/a:1'],
          [2, 3],
        ],
      ],
      '.layerstore -> outside dir',
    );
    await expectUnchanged(b.O, beforeB, '.layerstore');
  });

  it('index.json is a symlink to a file outside: nothing writes through it', { timeout: 90_000 }, async () => {
    const { S, O } = setup();
    renameSync(path.join(S, 'index.json'), path.join(O, 'index.json'));
    symlinkSync(path.join(O, 'index.json'), path.join(S, 'index.json'));
    const before = snapshotObject(await snapshotStore(O));
    await runAll(
      S,
      [
        [
          ['ingest', t2],
          [2, 3],
        ],
        [
          ['rm', 'sym/a:1'],
          [2, 3],
        ],
        [
          ['tag', 'sym/a:1', 'sym/c:1'],
          [2, 3],
        ],
        [['gc'], [2, 3]],
        [['verify'], [2, 3]],
      ],
      'index.json -> outside file',
    );
    await expectUnchanged(O, before, 'index.json');
  });

  it('blob-named symlinks: to a file outside, to /etc/passwd, to a FIFO (never opened)', { timeout: 90_000 }, async () => {
    const { S, O } = setup();
    const blob = (d: string) => path.join(S, 'blobs', 'sha256', hexOf(d));
    // (1) The name of a blob the next ingest will commit, pointing at a file outside.
    writeFileSync(path.join(O, 'victim'), 'victim bytes\n');
    symlinkSync(path.join(O, 'victim'), blob(t2Manifest));
    // (2) A referenced config, now a link to a FIFO: whoever opens it through the link hangs.
    spawnSync('mkfifo', [path.join(O, 'fifo')]);
    expect(lstatSync(path.join(O, 'fifo')).isFIFO()).toBe(true);
    unlinkSync(blob(aImage.configDigest));
    symlinkSync(path.join(O, 'fifo'), blob(aImage.configDigest));
    // (3) A referenced layer, now a link to /etc/passwd.
    const layer = aImage.layers[1]!;
    unlinkSync(blob(layer));
    symlinkSync('/etc/passwd', blob(layer));
    const before = snapshotObject(await snapshotStore(O));
    const out = path.join(O, 'export.tar');
    await runAll(
      S,
      [
        [
          ['ingest', t2],
          [2, 3],
        ],
        [['verify'], [3]],
        [['report'], [2, 3]],
        [['ls'], [2, 3]],
        [
          ['export', 'sym/a:1', '-o', out],
          [2, 3],
        ],
      ],
      'blob-named links to outside file / FIFO / /etc/passwd',
    );
    const v = await cli(['--store', S, 'verify', '--json']);
    const bad = JSON.parse(v.stdout).badBlobs as Array<{ name: string; problem: string; roots: string[] }>;
    expect(bad.map((b) => [b.name, b.problem]).sort()).toEqual(
      [
        [hexOf(t2Manifest), 'not-a-regular-file'],
        [hexOf(aImage.configDigest), 'not-a-regular-file'],
        [hexOf(layer), 'not-a-regular-file'],
      ].sort(),
    );
    // An export, if one was written at all, does not carry /etc/passwd's bytes.
    if (existsSync(out)) expect(readFileSync(out).includes(readFileSync('/etc/passwd'))).toBe(false);
    await expectUnchanged(
      O,
      { ...before, ...(existsSync(out) ? { 'export.tar': snapshotObject(await snapshotStore(O))['export.tar']! } : {}) },
      'blob-named links',
    );

    // verify --fix and gc deal with the links themselves, never with their targets.
    await runAll(
      S,
      [
        [['verify', '--fix'], [3]],
        [['gc'], [0]],
      ],
      'blob-named links: verify --fix, then gc',
    );
    expect(lstatSync(path.join(O, 'fifo')).isFIFO(), 'the FIFO is still there').toBe(true);
    expect(readFileSync(path.join(O, 'victim'), 'utf8')).toBe('victim bytes\n');
    expect(sha256hex(readFileSync('/etc/passwd'))).toBe(passwd);
    expect(
      ls(path.join(S, 'blobs', 'sha256')).filter((nm) => lstatSync(path.join(S, 'blobs', 'sha256', nm)).isSymbolicLink()),
      'no link left in blobs/',
    ).toEqual([]);
    // Re-ingesting the source restores the real blobs.
    const again = await cli(['--store', S, '-q', 'ingest', t1]);
    expect(again.code, showRun(again)).toBe(0);
    expect(checkStore(S)).toMatchObject({ badBlobs: [], missing: [] });
  });

  it("a referenced blob replaced by a symlink: verify names the ref that needs it, gc keeps the image's intact blobs (promises 1, 5)", {
    timeout: 60_000,
  }, async () => {
    const { S, O } = setup();
    writeFileSync(path.join(O, 'victim'), 'victim bytes\n');
    const cfg = path.join(S, 'blobs', 'sha256', hexOf(aImage.configDigest));
    unlinkSync(cfg);
    symlinkSync(path.join(O, 'victim'), cfg);
    const v = await cli(['--store', S, 'verify', '--json']);
    expect(v.code, showRun(v)).toBe(3);
    const j = JSON.parse(v.stdout);
    const bad = (j.badBlobs as Array<{ name: string; roots: string[] }>).find((b) => b.name === hexOf(aImage.configDigest));
    const intact = aImage.layers.map(hexOf);
    const problems: string[] = [];
    if (JSON.stringify(bad?.roots) !== JSON.stringify(['sym/a:1']))
      problems.push(`verify says the symlinked config is needed by ${JSON.stringify(bad?.roots)}, not ["sym/a:1"] (text: "no image needs it")`);
    const orphaned = (j.orphans as Array<{ digest: string }>).map((o) => hexOf(o.digest)).filter((h) => intact.includes(h));
    if (orphaned.length) problems.push(`verify calls ${orphaned.length} intact layers of sym/a:1 orphans ("gc removes them")`);
    // gc may refuse to collect a damaged store (exit 3, coded) or collect around the damage.
    const gc = await cli(['--store', S, 'gc', '--json']);
    expect([0, 3], showRun(gc)).toContain(gc.code);
    if (gc.code === 3) expect(gc.stderr).toMatch(CODED);
    const removed = intact.filter((h) => !existsSync(path.join(S, 'blobs', 'sha256', h)));
    if (removed.length) problems.push(`gc deleted ${removed.length} intact layer blobs that sym/a:1 (still a ref) needs`);
    expect(readFileSync(path.join(O, 'victim'), 'utf8')).toBe('victim bytes\n');
    expect(problems).toEqual([]);
  });

  it('an ingest refused because of a planted link adds no blob either (promise 3)', { timeout: 60_000 }, async () => {
    // The refusal comes at commit time: the planted name is t2's synthesized manifest, the
    // last blob the commit renames; or index.json, read after every rename.
    const problems: string[] = [];
    for (const plant of ['blob-named link', 'index.json link'] as const) {
      const { S, O } = setup();
      if (plant === 'blob-named link') {
        writeFileSync(path.join(O, 'victim'), 'victim bytes\n');
        symlinkSync(path.join(O, 'victim'), path.join(S, 'blobs', 'sha256', hexOf(t2Manifest)));
      } else {
        renameSync(path.join(S, 'index.json'), path.join(O, 'index.json'));
        symlinkSync(path.join(O, 'index.json'), path.join(S, 'index.json'));
      }
      const before = ls(path.join(S, 'blobs', 'sha256'));
      const r = await cli(['--store', S, 'ingest', t2]);
      expect(r.code, showRun(r)).not.toBe(0);
      const added = ls(path.join(S, 'blobs', 'sha256')).filter((x) => !before.includes(x));
      if (added.length)
        problems.push(
          `${plant}: ingest failed (${/\[(E_[A-Z_]+)\]/.exec(r.stderr)?.[1]}, "the failed ones changed nothing in the store") but added ${added.length} blobs to blobs/sha256`,
        );
    }
    expect(problems, 'a failed ingest left blobs behind').toEqual([]);
  });

  it('quarantine and derived are symlinks to directories outside', { timeout: 60_000 }, async () => {
    const { S, O } = setup();
    mkdirSync(path.join(O, 'q'));
    symlinkSync(path.join(O, 'q'), path.join(S, '.layerstore', 'quarantine'));
    mkdirSync(path.join(O, 'd'));
    rmSync(path.join(S, '.layerstore', 'derived'), { recursive: true, force: true });
    symlinkSync(path.join(O, 'd'), path.join(S, '.layerstore', 'derived'));
    // A bad blob for verify --fix to move.
    const f = path.join(S, 'blobs', 'sha256', hexOf(aImage.layers[0]!));
    chmodSync(f, 0o644);
    writeFileSync(f, Buffer.concat([readFileSync(f), Buffer.from('x')]));
    const before = snapshotObject(await snapshotStore(O));
    await runAll(
      S,
      [
        [
          ['verify', '--fix'],
          [2, 3],
        ],
        [['report'], [0, 2, 3]],
      ],
      'quarantine / derived -> outside dirs',
    );
    await expectUnchanged(O, before, 'quarantine/derived');
    expect(existsSync(f), 'the bad blob was not moved out of the store').toBe(true);
  });
});

describe('no input makes ingest write outside its store (promise 6)', () => {
  let tmp: string;
  let root: string;
  let S: string;
  const marker = `layerstore-escape-${process.pid}-${Date.now()}`;

  beforeAll(async () => {
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-escape-'));
    root = path.join(tmp, 'root');
    S = path.join(root, 'deep', 'store');
    mkdirSync(path.join(root, 'deep'), { recursive: true });
    writeFileSync(path.join(root, 'sentinel'), 'x');
    const r = await cli([
      '--store',
      S,
      '-q',
      'ingest',
      await (async () => {
        const f = path.join(tmp, 'seed.tar');
        writeFileSync(f, await writeArchive('legacy', [{ repoTags: ['esc/seed:1'], layers: [await randomLayer('esc/seed', 5000)] }]));
        return f;
      })(),
    ]);
    expect(r.code, showRun(r)).toBe(0);
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
    rmSync(path.join('/tmp', marker), { recursive: true, force: true });
  });

  const cases = async (): Promise<Array<[string, Buffer]>> => {
    const layer = await layerTar([{ path: 'f', content: prngBytes('esc/l', 3000) }]);
    const cfg = JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${sha256hex(layer)}`] } });
    const cfgName = `${sha256hex(Buffer.from(cfg))}.json`;
    const ok = { Config: cfgName, RepoTags: ['esc/x:1'], Layers: ['l/layer.tar'] };
    const base = [
      { name: cfgName, body: cfg },
      { name: 'l/layer.tar', body: layer },
    ];
    return [
      ['a "../" entry', legacySave({ manifest: [ok], files: [...base, { name: '../escaped.txt', body: 'pwned' }] })],
      ['an absolute entry', legacySave({ manifest: [ok], files: [...base, { name: `/tmp/${marker}/abs.txt`, body: 'pwned' }] })],
      ['"blobs/../../" in a name', legacySave({ manifest: [ok], files: [...base, { name: 'blobs/../../escaped2.txt', body: 'pwned' }] })],
      [
        'a symlink "blobs" pointing out, then files under it',
        rawTar([
          { name: 'blobs', type: 'symlink', linkname: `../../../../../../tmp/${marker}` },
          { name: `blobs/sha256/${sha256hex(layer)}`, body: layer },
          { name: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
          { name: 'index.json', body: '{"schemaVersion":2,"manifests":[]}' },
        ]),
      ],
      [
        'a hardlink to /etc/passwd used as the config',
        legacySave({ manifest: [{ ...ok, Config: 'evil.json' }], files: [...base, { name: 'evil.json', type: 'link', linkname: '/etc/passwd' }] }),
      ],
      [
        'a layer symlinked to ../../etc/passwd',
        legacySave({
          manifest: [{ ...ok, Layers: ['evil/layer.tar'] }],
          files: [...base, { name: 'evil/layer.tar', type: 'symlink', linkname: '../../../../../../etc/passwd' }],
        }),
      ],
      ['a manifest naming ../ paths', legacySave({ manifest: [{ ...ok, Config: '../../../../etc/passwd', Layers: ['../../x/layer.tar'] }], files: base })],
    ];
  };

  it('every hostile archive is refused (exit 2, coded) and nothing outside the store changes', { timeout: 90_000 }, async () => {
    const before = snapshotObject(await snapshotStore(tmp));
    const store = blobsAndIndex(S);
    const seen: string[] = [];
    for (const [what, bytes] of await cases()) {
      const f = path.join(tmp, 'hostile.tar');
      writeFileSync(f, bytes);
      const r = await cli(['--store', S, 'ingest', f]);
      expect(r.code, `${what}\n${showRun(r)}`).toBe(2);
      expect(r.stderr, what).toMatch(CODED);
      seen.push(`${what}: ${/\[(E_[A-Z_]+)\]/.exec(r.stderr)?.[1]}`);
      rmSync(f);
      expect(blobsAndIndex(S), `${what}: the store is unchanged`).toEqual(store);
      expect(existsSync(path.join('/tmp', marker)), `${what}: wrote to /tmp/${marker}`).toBe(false);
    }
    expect(snapshotObject(await snapshotStore(tmp)), 'the directories around the store are unchanged').toEqual(before);
    console.log(`[escape] ${seen.join('; ')}`);
  });
});
