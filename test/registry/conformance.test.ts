/**
 * The official OCI distribution-spec conformance suite (v1.1.1, all four workflows: Pull,
 * Push, Content Discovery, Content Management) against `serve --allow-push --allow-delete`
 * on a store that already holds images: every test must pass. The suite is a ready binary
 * in ../shared/conformance (run.sh prints per-workflow counts); it talks only to the URL
 * given, on 127.0.0.1. Afterwards the store must still verify: the suite's own teardown
 * deletes what it pushed, and the gc that follows deletes must have kept every fixture image.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateFixtures } from '../../fixtures/generate.js';
import { ensureBuilt, indexRefs, REPO_ROOT, runCli, show } from '../helpers/cli.js';
import { runToolAsync, startServe, type Serve } from './helpers.js';

const RUN = path.resolve(REPO_ROOT, '..', 'shared', 'conformance', 'run.sh');

describe('OCI distribution-spec conformance suite v1.1.1', () => {
  let tmp: string;
  let store: string;
  let srv: Serve;

  beforeAll(async () => {
    // The suite ships beside the checkout (../shared); without it this test cannot say anything, so it fails.
    expect(existsSync(RUN), `${RUN} is missing: the conformance suite comes with ../shared`).toBe(true);
    ensureBuilt();
    tmp = mkdtempSync(path.join(tmpdir(), 'ls-conformance-'));
    const fx = path.join(tmp, 'fx');
    await generateFixtures(fx);
    store = path.join(tmp, 'store');
    const r = runCli(['--store', store, '-q', 'ingest', path.join(fx, 'family-legacy.tar')]);
    expect(r.code, show(r)).toBe(0);
    srv = await startServe(store, ['--allow-push', '--allow-delete']);
  }, 60_000);
  afterAll(async () => {
    await srv?.stop();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('passes every test of every workflow; the store still verifies and keeps its images', { timeout: 300_000 }, async () => {
    const out = path.join(tmp, 'out');
    // serve never mounts a blob without `from`, so it declares automatic cross-mount off: the
    // suite then runs the case for that answer too.
    const r = await runToolAsync('bash', [RUN, srv.url, out], { timeoutMs: 280_000, env: { ...process.env, OCI_AUTOMATIC_CROSSMOUNT: 'false' } });
    const counts = new Map<string, { pass: number; fail: number; skip: number }>();
    for (const m of r.stdout.matchAll(/^(Pull|Push|Content Discovery|Content Management)\s+pass\s+(\d+)\s+fail\s+(\d+)\s+skip\s+(\d+)$/gm)) {
      counts.set(m[1]!, { pass: Number(m[2]), fail: Number(m[3]), skip: Number(m[4]) });
    }
    expect([...counts.keys()], r.stdout + r.stderr).toEqual(['Pull', 'Push', 'Content Discovery', 'Content Management']);
    for (const [workflow, c] of counts) {
      expect(c.fail, `${workflow}: ${r.stdout}`).toBe(0);
      expect(c.pass, workflow).toBeGreaterThan(0);
    }
    expect(r.stdout).toMatch(/^total: \d+ passed, 0 failed, \d+ skipped$/m);
    // The only skips are the cases this setup excludes by construction: pre-seeded content
    // (the suite pushes its own), the other answer of a mount (ours mounts an existing blob:
    // 201, so the 202 case is not run), and the other cross-mount mode.
    const junit = readFileSync(path.join(out, 'junit.xml'), 'utf8');
    const skipped = [...junit.matchAll(/<testcase name="([^"]*)"[^>]*>\s*<skipped/g)].map((m) => m[1]!.replace(/^OCI Distribution Conformance Tests /, ''));
    expect(skipped.sort()).toEqual(
      [
        'Content Discovery Setup Populate registry with test tags (no push)',
        'Pull Setup Get tag name from environment',
        'Push Cross-Repository Blob Mount Cross-mounting of nonexistent blob should yield session id',
        'Push Cross-Repository Blob Mount Cross-mounting without from, and automatic content discovery enabled should return a 201',
      ].sort(),
    );
    expect(r.code, r.stdout).toBe(0);
    await srv.stop(); // flushes the gc scheduled by the suite's deletes
    const v = runCli(['--store', store, 'verify']);
    expect(v.code, show(v)).toBe(0);
    expect(indexRefs(store).sort()).toEqual(['acme/api:1.0', 'acme/base:1.0', 'acme/worker:1.0']);
    expect(spawnSync('ls', [path.join(store, '.layerstore', 'staging')], { encoding: 'utf8' }).stdout.trim()).toBe('');
  });
});
