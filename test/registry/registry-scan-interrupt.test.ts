/**
 * Ctrl-C (SIGINT) or SIGTERM during `report --registry`: the scan stops as --max-time stops
 * it, what it fetched is saved to the scan cache, and it exits 130 / 143 with one line on
 * stderr and no report. The next run fetches only what the interrupted one had not. Before,
 * the process died with nothing saved and the next run fetched everything again.
 * The registry is a fake on 127.0.0.1: one repository of 300 tags, each a distinct image
 * manifest (one shared config); after `HOLD_AFTER` manifest GETs it holds further ones open,
 * so the signal always lands mid-scan. Every wait is on a condition, bounded.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import type http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, REPO_ROOT, ensureBuilt } from '../helpers/cli.js';
import { digestOf } from '../helpers/hand-bytes.js';
import { fakeRegistry, send, type FakeRegistry, type Handler } from './fake-registry.js';
import { runCliAsync, showTool } from './helpers.js';

const TAGS = 300;
const HOLD_AFTER = 60;
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';

let tmp: string;
let reg: FakeRegistry;
/** Hold manifest GETs past HOLD_AFTER (the interrupted runs); answered / held so far. */
const state = { holding: true, answered: 0, held: [] as http.ServerResponse[] };

beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-reg-scan-signal-'));
  const layer = digestOf('layer');
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [digestOf('diff')] } }));
  const routes: Record<string, Handler> = {
    '/v2/_catalog': send('application/json', Buffer.from(JSON.stringify({ repositories: ['app'] }))),
    [`/v2/app/blobs/${digestOf(config)}`]: send('application/octet-stream', config),
  };
  const tags: string[] = [];
  for (let i = 0; i < TAGS; i++) {
    const tag = `t${String(i).padStart(3, '0')}`;
    tags.push(tag);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: OCI_MANIFEST,
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: layer, size: 1000 }],
        annotations: { n: String(i) },
      }),
    );
    const answer = send(OCI_MANIFEST, manifest);
    const handler: Handler = (req, res) => {
      if (req.method === 'GET' && state.holding && state.answered >= HOLD_AFTER) return void state.held.push(res);
      if (req.method === 'GET') state.answered++;
      answer(req, res);
    };
    routes[`/v2/app/manifests/${tag}`] = handler;
    routes[`/v2/app/manifests/${digestOf(manifest)}`] = handler;
  }
  routes['/v2/app/tags/list'] = send('application/json', Buffer.from(JSON.stringify({ name: 'app', tags })));
  reg = await fakeRegistry(routes);
});
afterAll(async () => {
  await reg?.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

/** Poll `cond` every 50 ms, at most `ms` in all (a bound, not a timing assertion). */
async function until(cond: () => boolean, what: string, ms = 60_000): Promise<void> {
  for (const end = Date.now() + ms; !cond(); ) {
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** A scan into `store`, signalled once manifest GETs are being held. */
async function interruptedScan(store: string, sig: 'SIGINT' | 'SIGTERM') {
  state.holding = true;
  state.answered = 0;
  const env = { ...process.env };
  delete env.LAYERSTORE_STORE;
  const child = spawn(process.execPath, [CLI, '--store', store, 'report', '--registry', reg.url, '--json'], { cwd: REPO_ROOT, env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  let gone = false;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      gone = true;
      resolve(code);
    }),
  );
  const heldBefore = state.held.length;
  await until(() => gone || state.held.length > heldBefore, 'a manifest GET to be held');
  expect(gone, `the scan ended before the signal:\n${stderr}`).toBe(false);
  child.kill(sig);
  const killer = setTimeout(() => child.kill('SIGKILL'), 60_000); // a bound if the signal is ignored
  const code = await exited;
  clearTimeout(killer);
  return { code, stdout, stderr };
}

interface Documents {
  manifestsCached: number;
  manifestsFetched: number;
}

describe('report --registry interrupted by a signal', () => {
  for (const [sig, exit] of [
    ['SIGINT', 130],
    ['SIGTERM', 143],
  ] as const) {
    it(`${sig}: exit ${exit}, one line and no report; what was fetched is kept, and the next run fetches only the rest`, async () => {
      const store = path.join(tmp, `store-${sig}`);
      const r = await interruptedScan(store, sig);
      expect(r.code, r.stderr).toBe(exit);
      expect(r.stdout).toBe('');
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      const m = new RegExp(`^layerstore: interrupted \\(${sig}\\); kept the (\\d+) manifests? and 1 config fetched for the next run; no report printed$`).exec(
        lines[0]!,
      );
      expect(m, r.stderr).not.toBeNull();
      const kept = Number(m![1]);
      expect(kept).toBeGreaterThan(0);
      expect(kept).toBeLessThanOrEqual(HOLD_AFTER);

      state.holding = false;
      const next = await runCliAsync(['--store', store, 'report', '--registry', reg.url, '--json']);
      expect(next.code, showTool(next)).toBe(0);
      const docs = (JSON.parse(next.stdout) as { scan: { documents: Documents } }).scan.documents;
      expect(docs).toMatchObject({ manifestsCached: kept, manifestsFetched: TAGS - kept });
    });
  }
});
