/**
 * Derived caches (src/store/derived.ts) fail soft and never go through a link: a symlinked
 * directory on the way reads as absent and is never written through.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { StoreLayout } from '../../src/store/layout.js';
import { readDerived, writeDerived } from '../../src/store/derived.js';

const tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-derived-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('derived cache files', () => {
  it('write then read, creating the folders on the way; absent or too big reads as undefined', async () => {
    const layout = new StoreLayout(path.join(tmp, 'a'));
    mkdirSync(path.join(layout.root, '.layerstore'), { recursive: true });
    expect(await readDerived(layout, 'files/x.json', 100)).toBeUndefined();
    expect(await writeDerived(layout, 'files/x.json', Buffer.from('{"ok":1}'))).toBe(true);
    expect((await readDerived(layout, 'files/x.json', 100))?.toString()).toBe('{"ok":1}');
    expect(await readDerived(layout, 'files/x.json', 3)).toBeUndefined();
  });

  it.each(['derived', 'derived/files'])('a symlink at %s: reads as absent, writes are refused, nothing outside changes', async (at) => {
    const layout = new StoreLayout(path.join(tmp, at.replace('/', '-')));
    const outside = path.join(tmp, `outside-${at.replace('/', '-')}`);
    mkdirSync(outside, { recursive: true });
    writeFileSync(path.join(outside, 'x.json'), 'planted');
    const link = path.join(layout.root, '.layerstore', at);
    mkdirSync(path.dirname(link), { recursive: true });
    symlinkSync(outside, link);
    // the planted file is reachable through the link: derived/x.json or derived/files/x.json
    expect(await readDerived(layout, at === 'derived' ? 'x.json' : 'files/x.json', 100)).toBeUndefined();
    expect(await writeDerived(layout, 'files/x.json', Buffer.from('new'))).toBe(false);
    expect(readdirSync(outside)).toEqual(['x.json']);
    expect(readFileSync(path.join(outside, 'x.json'), 'utf8')).toBe('planted');
    expect(existsSync(path.join(outside, 'files'))).toBe(false);
  });
});
