/**
 * A FIFO planted in the store never hangs a command (issue 16, item 10). Opening a FIFO for
 * reading waits for a writer, forever; every store read opens with O_NONBLOCK and refuses
 * what fstat says is not a regular file. So:
 *   - at index.json or oci-layout: every command exits 3 (E_STORE_INVALID);
 *   - as a blob: the commands that read it exit 3 (E_STORE_INVALID);
 *   - at a derived cache (records.json, files/<hex>.json): the cache is ignored and rebuilt,
 *     the output is the one an intact store gives;
 *   - in `serve`, GET /api/report answers (an error or the report) and the server keeps
 *     answering other requests.
 * Every CLI run is killed after 20 s, so a hang fails the test instead of the suite.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, readStoreImages } from '../helpers/cli.js';
import { cli, hexOf, randomLayer, showRun, stableCli, writeArchive } from '../helpers/store-proc.js';
import { rawRequest, startServe } from '../registry/helpers.js';

const HANG_MS = 20_000;
const STORE_INVALID = /^layerstore: error: .*\[E_STORE_INVALID\]$/m;

describe('a FIFO planted in the store (issue 16, item 10)', () => {
  let tmp: string;
  let template: string;
  let tarball: string;
  let images: ReturnType<typeof readStoreImages>;
  /** Outputs of the intact template store. */
  const want = new Map<string, string>();
  let n = 0;

  beforeAll(async () => {
    ensureBuilt();
    stableCli();
    tmp = mkdtempSync(path.join(tmpdir(), 'layerstore-fifo-'));
    const shared = await randomLayer('fifo/shared', 30_000);
    tarball = path.join(tmp, 'ab.tar');
    writeFileSync(
      tarball,
      await writeArchive('v25', [
        { repoTags: ['fifo/a:1'], layers: [shared, await randomLayer('fifo/a', 20_000)] },
        { repoTags: ['fifo/b:1'], layers: [shared, await randomLayer('fifo/b', 20_000)] },
      ]),
    );
    template = path.join(tmp, 'template');
    const r = await cli(['--store', template, '-q', 'ingest', tarball]);
    expect(r.code, showRun(r)).toBe(0);
    images = readStoreImages(template);
    for (const args of [
      ['ls', '--json'],
      ['report', '--json'],
      ['report', '--files', '--json'],
      ['diff', 'fifo/a:1', 'fifo/b:1', '--json'],
    ]) {
      const ok = await cli(['--store', template, ...args], HANG_MS);
      expect(ok.code, showRun(ok)).toBe(0);
      want.set(args.join(' '), ok.stdout.split(template).join('STORE'));
    }
    // The caches the runs above wrote: what a FIFO will stand in for.
    expect(lstatSync(path.join(template, '.layerstore', 'derived', 'records.json')).isFile()).toBe(true);
    expect(readdirSync(path.join(template, '.layerstore', 'derived', 'files')).length).toBe(3);
  });

  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  function copy(): string {
    const S = path.join(tmp, `case-${++n}`, 'store');
    mkdirSync(path.dirname(S));
    cpSync(template, S, { recursive: true });
    return S;
  }
  /** Replace `rel` (a file of store S) by a FIFO. */
  function plantFifo(S: string, rel: string): void {
    const p = path.join(S, rel);
    rmSync(p, { force: true });
    execFileSync('mkfifo', [p]);
    expect(lstatSync(p).isFIFO()).toBe(true);
  }
  async function run(S: string, args: string[]) {
    const r = await cli(['--store', S, ...args], HANG_MS);
    expect(r.signal, `\`${args.join(' ')}\` hung on the FIFO and was killed\n${showRun(r)}`).toBeNull();
    return r;
  }
  const blobRel = (d: string) => path.join('blobs', 'sha256', hexOf(d));
  const a = () => images.find((i) => i.refs.includes('fifo/a:1'))!;

  it.each(['index.json', 'oci-layout'])('at %s, every command exits 3 with E_STORE_INVALID instead of hanging', async (rel) => {
    const S = copy();
    plantFifo(S, rel);
    for (const args of [
      ['ls'],
      ['report'],
      ['report', '--files'],
      ['diff', 'fifo/a:1', 'fifo/b:1'],
      ['verify'],
      ['gc'],
      ['rm', 'fifo/a:1'],
      ['ingest', tarball],
      ['export', 'fifo/a:1', '-o', path.join(S, '..', 'out.tar')],
    ]) {
      const r = await run(S, args);
      expect(r.code, `${args[0]}\n${showRun(r)}`).toBe(3);
      expect(r.stderr, `${args[0]}\n${showRun(r)}`).toMatch(STORE_INVALID);
    }
    expect(lstatSync(path.join(S, rel)).isFIFO(), 'left as it was').toBe(true);
  });

  it('as a layer blob: report, report --files, diff and export exit 3 with E_STORE_INVALID; verify names it', async () => {
    const S = copy();
    rmSync(path.join(S, '.layerstore', 'derived'), { recursive: true }); // nothing cached: the layer's head is read
    plantFifo(S, blobRel(a().layers[1]!));
    for (const args of [['report'], ['report', '--files'], ['diff', 'fifo/a:1', 'fifo/b:1'], ['export', 'fifo/a:1', '-o', path.join(S, '..', 'out.tar')]]) {
      const r = await run(S, args);
      expect(r.code, `${args[0]}\n${showRun(r)}`).toBe(3);
      expect(r.stderr, `${args[0]}\n${showRun(r)}`).toMatch(STORE_INVALID);
    }
    const v = await run(S, ['verify']);
    expect(v.code, showRun(v)).toBe(3);
    expect(v.stdout).toContain(`BAD blob ${hexOf(a().layers[1]!)}: not a regular file`);
  });

  it('as a config blob: ls and report exit 3 with E_STORE_INVALID', async () => {
    const S = copy();
    rmSync(path.join(S, '.layerstore', 'derived'), { recursive: true }); // nothing cached: the config is read
    plantFifo(S, blobRel(a().configDigest));
    for (const args of [['ls'], ['report']]) {
      const r = await run(S, args);
      expect(r.code, `${args[0]}\n${showRun(r)}`).toBe(3);
      expect(r.stderr, `${args[0]}\n${showRun(r)}`).toMatch(STORE_INVALID);
    }
  });

  it('at the derived caches (records.json, every files/<hex>.json): ignored and rebuilt, the outputs of an intact store', async () => {
    for (const args of [
      ['ls', '--json'],
      ['report', '--json'],
      ['report', '--files', '--json'],
      ['diff', 'fifo/a:1', 'fifo/b:1', '--json'],
    ]) {
      const S = copy();
      const derived = path.join(S, '.layerstore', 'derived');
      const caches = ['records.json', ...readdirSync(path.join(derived, 'files')).map((f) => path.join('files', f))];
      for (const rel of caches) plantFifo(derived, rel);
      const r = await run(S, args);
      expect(r.code, `${args.join(' ')}\n${showRun(r)}`).toBe(0);
      expect(r.stdout.split(S).join('STORE'), args.join(' ')).toBe(want.get(args.join(' ')));
      // What the command used is cached again, as a regular file.
      expect(lstatSync(path.join(derived, 'records.json')).isFile(), `${args.join(' ')}: records.json rebuilt`).toBe(true);
    }
  });

  describe('serve', () => {
    async function expectServerAnswers(S: string, wantReport: 'ok' | 'error') {
      const srv = await startServe(S);
      try {
        const [report, v2] = await Promise.all([
          rawRequest(srv.url, { path: '/api/report', timeoutMs: HANG_MS }),
          rawRequest(srv.url, { path: '/v2/', timeoutMs: HANG_MS }),
        ]);
        expect(v2.status, 'GET /v2/ answers beside the report').toBe(200);
        if (wantReport === 'ok') {
          expect(report.status, report.body.toString()).toBe(200);
          expect(report.body.toString().split(S).join('STORE')).toBe(want.get('report --files --json'));
        } else {
          expect(report.status, report.body.toString()).toBeGreaterThanOrEqual(500);
          expect(report.body.toString()).toMatch(/not a regular file/);
        }
        // And the server is not wedged afterwards: the store's blobs are still served.
        const blob = await rawRequest(srv.url, { path: `/v2/fifo/b/blobs/${images.find((i) => i.refs.includes('fifo/b:1'))!.layers[1]}`, timeoutMs: HANG_MS });
        expect(blob.status).toBe(200);
      } finally {
        await srv.stop();
      }
    }

    it('with FIFOs at the derived caches: GET /api/report answers with the report, GET /v2/ answers beside it', { timeout: 90_000 }, async () => {
      const S = copy();
      const derived = path.join(S, '.layerstore', 'derived');
      for (const rel of ['records.json', ...readdirSync(path.join(derived, 'files')).map((f) => path.join('files', f))]) plantFifo(derived, rel);
      await expectServerAnswers(S, 'ok');
    });

    it('with a FIFO as a layer blob: GET /api/report answers with an error, GET /v2/ answers beside it', { timeout: 90_000 }, async () => {
      const S = copy();
      rmSync(path.join(S, '.layerstore', 'derived'), { recursive: true });
      plantFifo(S, blobRel(a().layers[1]!));
      await expectServerAnswers(S, 'error');
    });
  });
});
