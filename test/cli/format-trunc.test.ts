/**
 * Listings a script or a terminal can use: `--format` (json, table, or a {{.Field}} template
 * per row, as docker and skopeo users write them) for ls and report; on a terminal a long ref
 * is cut so it cannot widen every row past the screen, and --no-trunc shows it whole (with
 * whole digests in ls, as docker's --no-trunc does).
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, readStoreImages, REPO_ROOT, runCli, show } from '../helpers/cli.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';
import { commands } from '../helpers/peers.js';

let tmp = '';
let fx = '';
withFixtureTemp('ls-format-', (p) => ({ tmp, fx } = p));

const LONG = 'corp/a-rather-long-repository-name/for-the-table/that-goes-on:and-a-long-tag-too';
const store = () => path.join(tmp, 'store');
const ok = (args: string[]) => {
  const r = runCli(['--store', store(), ...args]);
  expect(r.code, show(r)).toBe(0);
  return r.stdout;
};

/** The CLI on a pseudo-terminal (util-linux script), where tables are for a person. */
function onTerminal(args: string[]): string {
  const cmd = [process.execPath, CLI, '--store', store(), ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, COLUMNS: '200' } });
  expect(r.status, r.stdout + r.stderr).toBe(0);
  return r.stdout;
}

describe('--format and --no-trunc', () => {
  it('ls --format: a template per row, json, and a clear error for an unknown field', () => {
    ok(['-q', 'ingest', path.join(fx, 'family-legacy.tar')]);
    const imgs = readStoreImages(store());
    const lines = ok(['ls', '--format', '{{.Ref}}\\t{{.ManifestDigest}}']).trim().split('\n');
    expect(lines.sort()).toEqual(imgs.flatMap((i) => i.refs.map((r) => `${r}\t${i.manifestDigest}`)).sort());
    expect(JSON.parse(ok(['ls', '--format', 'json'])).images).toHaveLength(imgs.length);
    const bad = runCli(['--store', store(), 'ls', '--format', '{{.Nope}}']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--format: no field \.Nope; the fields are \.Ref, .* \[E_USAGE\]/);
  });

  it('report --format prints one row per image with its figures', () => {
    const want = JSON.parse(ok(['report', '--json'])).images.map((i: any) => `${i.refs[0]} ${i.uniqueBytes}`);
    expect(ok(['report', '--format', '{{.Ref}} {{.UniqueBytes}}']).trim().split('\n')).toEqual(want);
  });

  it('on a terminal a long ref is cut with …; --no-trunc shows it whole, and ls shows whole digests', () => {
    if (!commands([['script', 'bsdutils']])) return;
    ok(['tag', 'acme/base:1.0', LONG]);
    const cut = onTerminal(['ls']);
    expect(cut).not.toContain(LONG);
    expect(cut).toContain(`${LONG.slice(0, 47)}…`);
    const whole = onTerminal(['ls', '--no-trunc']);
    expect(whole).toContain(LONG);
    expect(whole).toContain(readStoreImages(store()).find((i) => i.refs.includes(LONG))!.manifestDigest);
    expect(onTerminal(['report'])).toContain(`${LONG.slice(0, 47)}…`);
    expect(onTerminal(['report', '--no-trunc'])).toContain(LONG);
    // Not a terminal (a pipe, a file): never cut.
    expect(ok(['ls'])).toContain(LONG);
  });
});

describe('multi-platform images in tables (issue 15, item 18)', () => {
  it("one row per platform, each named REPO:TAG (not a bare 'b1') with its platform, in ls and report", async () => {
    const { realFixtures } = await import('../helpers/peers.js');
    if (!realFixtures()) return;
    const { REGCLIENT_TESTREPO } = await import('../registry/helpers.js');
    const s = path.join(tmp, 'multi');
    expect(runCli(['--store', s, '-q', 'ingest', REGCLIENT_TESTREPO]).code).toBe(0);
    for (const cmd of ['ls', 'report']) {
      const r = runCli(['--store', s, cmd, '--format', '{{.Ref}} {{.Platform}}']);
      expect(r.code, show(r)).toBe(0);
      const b1 = r.stdout.split('\n').filter((l) => l.startsWith('testrepo:b1 '));
      expect(b1.sort(), cmd).toEqual(['testrepo:b1 linux/amd64', 'testrepo:b1 linux/arm/v6', 'testrepo:b1 linux/arm/v7', 'testrepo:b1 linux/arm64']);
    }
  });
});
