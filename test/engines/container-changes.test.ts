/**
 * upperDirChanges reads overlay2's upper directory as docker commit tars it: every entry, a
 * character device 0/0 as a deletion, an opaque directory told from /changes; a directory it
 * cannot read (an engine on another host) gives undefined, so the caller falls back to /changes.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { upperDirChanges } from '../../src/engines/container-changes.js';
import { IN_CI } from '../helpers/engines.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'ls-upper-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('upperDirChanges', () => {
  it('a directory that is not there: undefined (the caller takes /changes)', async () => {
    expect(await upperDirChanges(path.join(tmp, 'nothing'), [])).toBeUndefined();
  });

  // mknod needs root, as the engines do (under CI=true it runs, and fails without root)
  it.skipIf(process.getuid?.() !== 0 && !IN_CI)('every entry, whiteouts (char 0/0) as deletions, an opaque directory from /changes', async () => {
    const up = path.join(tmp, 'upper');
    mkdirSync(path.join(up, 'bin'), { recursive: true });
    mkdirSync(path.join(up, 'data', 'gone'), { recursive: true });
    writeFileSync(path.join(up, 'bin', 'busybox'), 'x'); // copied up unchanged: /changes does not list it
    writeFileSync(path.join(up, 'data', 'gone', 'c'), 'abc');
    execFileSync('mknod', [path.join(up, 'data', 'old.bin'), 'c', '0', '0']);
    const reported = [
      { path: 'data/gone/a', kind: 'deleted' as const }, // under an opaque directory: no whiteout for it
      { path: 'data/old.bin', kind: 'deleted' as const },
    ];
    const got = (await upperDirChanges(up, reported))!;
    expect(got.map((c) => `${c.kind} ${c.path}`).sort()).toEqual(
      [
        'modified bin',
        'modified bin/busybox',
        'modified data',
        'modified data/gone',
        'modified data/gone/c',
        'deleted data/old.bin',
        'opaque data/gone',
      ].sort(),
    );
  });
});
