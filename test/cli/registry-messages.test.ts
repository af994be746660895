/**
 * Issue 15, item 16 (the registry half): `pull --platform` naming a platform the image does not
 * have lists the platforms there are (E_REF_NOT_FOUND, not E_MANIFEST_INVALID), a single image of
 * another platform is refused (it was stored as if it were the one asked for), and
 * `report --registry` counts repositories in English ("4 repositories", not "repositorys").
 * Against `serve` on loopback, holding regclient's multi-platform testrepo and the fixtures.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { ensureBuilt, runCli, show } from '../helpers/cli.js';
import { realFixtures } from '../helpers/peers.js';
import { REGCLIENT_TESTREPO, startServe, type Serve } from '../registry/helpers.js';

let tmp: string;
let serve: Serve | undefined;

describe.skipIf(!realFixtures())('registry messages', () => {
  beforeAll(async () => {
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'ls-registry-messages-'));
    const fx = path.join(tmp, 'fx');
    await generateFixtures(fx);
    const store = path.join(tmp, 'served');
    const r = runCli(['--store', store, '-q', 'ingest', REGCLIENT_TESTREPO, path.join(fx, 'family-legacy.tar')]);
    expect(r.code, show(r)).toBe(0);
    serve = await startServe(store);
  }, 60_000);
  afterAll(async () => {
    await serve?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('pull --platform windows/amd64 of a multi-platform image: exit 2, E_REF_NOT_FOUND listing the platforms it has; nothing pulled', () => {
    const dest = path.join(tmp, 'dest');
    const r = runCli(['--store', dest, 'pull', `${serve!.host}/testrepo:v2`, '--platform', 'windows/amd64']);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/testrepo has no windows\/amd64 image; it has linux\/amd64, linux\/arm\/v7, linux\/arm64 \[E_REF_NOT_FOUND\]/);
    expect(runCli(['--store', dest, 'ls', '--format', '{{.Ref}}']).stdout.trim()).toBe('');
  });

  it('pull --platform of a single-platform image that is another platform: exit 2, E_REF_NOT_FOUND naming the platform it is; nothing stored; its own platform pulls', () => {
    const dest = path.join(tmp, 'dest-single');
    const r = runCli(['--store', dest, 'pull', `${serve!.host}/acme/api:1.0`, '--platform', 'linux/arm64']);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toMatch(/acme\/api has no linux\/arm64 image: it is a single linux\/amd64 image, not a multi-platform one \[E_REF_NOT_FOUND\]/);
    expect(runCli(['--store', dest, 'ls', '--format', '{{.Ref}}']).stdout.trim()).toBe('');
    const ok = runCli(['--store', dest, 'pull', `${serve!.host}/acme/api:1.0`, '--platform', 'linux/amd64']);
    expect(ok.code, show(ok)).toBe(0);
    expect(runCli(['--store', dest, 'ls', '--format', '{{.Ref}}']).stdout.trim()).toBe(`${serve!.host}/acme/api:1.0`);
  });

  it('report --registry: "4 repositories" in the header, never "repositorys"', () => {
    const r = runCli(['--store', path.join(tmp, 'scan'), 'report', '--registry', serve!.url]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^Registry: \S+ \(4 repositories, \d+ tags/m);
    expect(r.stdout).not.toContain('repositorys');
  });
});
