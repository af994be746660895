/**
 * What a user reads when something is off: bad numbers are refused (exit 2), usage errors
 * from the option parser look like every other error (one "layerstore: error: ... [E_USAGE]"
 * line, then the help of the command they are about), no arguments at all is the help on
 * stdout, a command that needs a store says there is none (E_NOT_A_STORE; read-only serve
 * too), the README lists every error code the code can produce, and the progress bar's ETA
 * never shows NaN or Infinity.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { CLI, ensureBuilt, REPO_ROOT, runCli, show } from '../helpers/cli.js';
import { startServe } from '../registry/helpers.js';
import { etaText } from '../../src/cli/progress.js';

let tmp: string;
beforeAll(() => {
  ensureBuilt();
  tmp = mkdtempSync(path.join(tmpdir(), 'ls-messages-'));
});
afterAll(() => {
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('numbers and usage errors', () => {
  it.each([
    [['report', '--top', 'abc'], /option '--top <n>' argument 'abc' is invalid/],
    [['report', '--top', '-5'], /option '--top <n>' argument '-5' is invalid/],
    [['report', '--top', '2.5'], /is not a whole number/],
    [['report', '--registry', 'http://127.0.0.1:9', '--concurrency', '0'], /"0" is not a whole number of at least 1/],
    [['ls', '--no-such-option'], /unknown option '--no-such-option'/],
    [['report', '--registry', 'http://127.0.0.1:9', '--files'], /--files reads every layer, and --registry reports without downloading layers/],
    [['no-such-command'], /unknown command 'no-such-command'/],
  ])('%j: exit 2, one "layerstore: error: ... [E_USAGE]" line', (args, why) => {
    const r = runCli(['--store', path.join(tmp, 'empty'), ...(args as string[])]);
    expect(r.code, show(r)).toBe(2);
    const first = r.stderr.split('\n')[0]!;
    expect(first).toMatch(/^layerstore: error: .* \[E_USAGE\]$/);
    expect(first).toMatch(why);
  });

  it.each([
    [['injest', 'x'], "layerstore: error: unknown command 'injest' (did you mean ingest?) [E_USAGE]", 'layerstore'],
    [['ls', '--jsn'], "layerstore: error: unknown option '--jsn' (did you mean --json?) [E_USAGE]", 'layerstore ls'],
    [['ingest'], "layerstore: error: missing required argument 'path' [E_USAGE]", 'layerstore ingest'],
    [['report', '--top'], "layerstore: error: option '--top <n>' argument missing [E_USAGE]", 'layerstore report'],
    [['--bogus'], "layerstore: error: unknown option '--bogus' [E_USAGE]", 'layerstore'],
    [['help', 'injest'], "layerstore: error: unknown command 'injest' (did you mean ingest?) [E_USAGE]", 'layerstore'],
    [['help', 'bogus'], "layerstore: error: unknown command 'bogus' [E_USAGE]", 'layerstore'],
  ])('%j: the error in one line ending in its code, then the help of the command it is about; nothing on stdout', (args, line, helpOf) => {
    const r = runCli(['--store', path.join(tmp, 'empty'), ...(args as string[])]);
    expect(r.code, show(r)).toBe(2);
    expect(r.stderr).toBe(`${line}\n(run ${helpOf} --help for usage)\n`);
    expect(r.stdout).toBe('');
  });

  it.each([[[]], [['-q']], [['help']], [['--help']]])('%j: the help on stdout, exit 0 (as docker with no arguments)', (args) => {
    const r = runCli(args as string[]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^Usage: layerstore \[options\] \[command\]\n/);
    expect(r.stdout).toMatch(/^ {2}ingest \[options\] <path\.\.\.>/m);
    expect(r.stderr).toBe('');
  });

  it.each([[['help', 'ingest']], [['ingest', '--help']]])("%j: that command's help on stdout, exit 0", (args) => {
    const r = runCli(args as string[]);
    expect(r.code, show(r)).toBe(0);
    expect(r.stdout).toMatch(/^Usage: layerstore ingest \[options\] <path\.\.\.>\n/);
    expect(r.stderr).toBe('');
  });

  it.each([[['diff', 'a', 'b']], [['export', 'a', '-o', '/tmp/never.tar']], [['tag', 'a', 'b:1']], [['rm', 'a']], [['push', 'a', '127.0.0.1:9/a:1']]])(
    '%j on a store that does not exist: E_NOT_A_STORE, exit 2',
    (args) => {
      const r = runCli(['--store', path.join(tmp, 'missing'), ...(args as string[])]);
      expect(r.code, show(r)).toBe(2);
      expect(r.stderr).toMatch(/no store at .*missing \[E_NOT_A_STORE\]/);
    },
  );
});

describe('serve on a --store that does not exist (a typo)', () => {
  it.each([[[]], [['--allow-delete']]])('serve %j: E_NOT_A_STORE with the hint read commands give, exit 2, and no directory made', (extra) => {
    const missing = path.join(tmp, `typo${(extra as string[]).join('')}`);
    // Killed after 20 s: before the fix it served an empty store made on the spot.
    const r = spawnSync(process.execPath, [CLI, '--store', missing, 'serve', '--listen', '127.0.0.1:0', ...(extra as string[])], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, LAYERSTORE_STORE: undefined },
    });
    const seen = `exit ${r.status} ${r.signal ?? ''}\n${r.stdout}\n${r.stderr}`;
    expect(r.status, seen).toBe(2);
    expect(r.stderr).toBe(
      `layerstore: error: no store at ${missing} [E_NOT_A_STORE]\n  hint: ingest something first (layerstore ingest IMAGE.tar), or pass --store DIR\n`,
    );
    expect(existsSync(missing)).toBe(false);
  });

  it('serve --allow-push makes an empty store to push to, and says so on stderr', async () => {
    const fresh = path.join(tmp, 'to-push-to');
    const srv = await startServe(fresh, ['--allow-push']);
    try {
      for (let i = 0; i < 50 && !srv.stderr().includes('\n'); i++) await new Promise((r) => setTimeout(r, 100));
      expect(srv.stderr()).toBe(`store: ${fresh} (new and empty; push enabled)\n`);
      expect(existsSync(path.join(fresh, 'oci-layout'))).toBe(true);
    } finally {
      await srv.stop();
    }
  });
});

describe('README', () => {
  it('(or docs/) lists every error code of src/errors.ts', () => {
    const codes = [...readFileSync(path.join(REPO_ROOT, 'src', 'errors.ts'), 'utf8').matchAll(/\| '(E_[A-Z_]+)'/g)].map((m) => m[1]!);
    expect(codes.length).toBeGreaterThan(20);
    // README, or the docs/ pages it links to.
    const docs = readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md'));
    const readme = [path.join(REPO_ROOT, 'README.md'), ...docs.map((f) => path.join(REPO_ROOT, 'docs', f))].map((f) => readFileSync(f, 'utf8')).join('\n');
    for (const c of codes) expect(readme, c).toContain(`\`${c}\``);
  });
});

describe("README's commands are real", () => {
  const readme = () => readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');

  it("README stays a newcomer's page: at most 250 lines (the depth is in docs/)", () => {
    expect(readme().split('\n').length).toBeLessThanOrEqual(250);
  });

  it('every `layerstore CMD --option` in its code blocks is a command with that option (per --help)', () => {
    // Lines inside ``` fences (a fence line toggles), any language but json.
    let fence: string | undefined;
    const code: string[] = [];
    for (const l of readme().split('\n')) {
      if (l.startsWith('```')) fence = fence === undefined ? l.slice(3) : undefined;
      else if (fence !== undefined && fence !== 'json') code.push(l);
    }
    const calls = code
      .map((l) => /^(?:\$ )?(?:\S+ \| )?layerstore (.*)$/.exec(l.replace(/\s+#.*$/, ''))?.[1])
      .filter((c): c is string => c !== undefined)
      .flatMap((c) => c.split(/ ; layerstore /));
    expect(calls.length).toBeGreaterThan(15);
    const global = runCli(['--help']).stdout;
    const helps = new Map<string, string>();
    for (const call of calls) {
      const words = call.split(/\s+/).filter((w) => w !== '');
      const cmd = words.find((w) => !w.startsWith('-'))!;
      if (!helps.has(cmd)) {
        const h = runCli([cmd, '--help']);
        expect(h.code, `layerstore ${cmd}: ${show(h)}`).toBe(0);
        helps.set(cmd, h.stdout);
      }
      for (const opt of words.filter((w) => w.startsWith('--'))) {
        expect(`${helps.get(cmd)}\n${global}`, `layerstore ${call}: ${opt}`).toContain(opt.split('=')[0]);
      }
    }
  });
});

describe('progress ETA', () => {
  it('is "--" until there is a rate, then seconds, minutes or hours; never NaN or Infinity', () => {
    expect(etaText(0, 1000, 0)).toBe('--');
    expect(etaText(0, 1000, 5000)).toBe('--');
    expect(etaText(10, 1000, 100)).toBe('--');
    expect(etaText(500, 1000, 10_000)).toBe('10s');
    expect(etaText(100, 1000, 20_000)).toBe('3m00s');
    expect(etaText(1, 10_000, 10_000)).toBe('27h46m');
    expect(etaText(1000, 1000, 5000)).toBe('0s');
    expect(etaText(5, 0, 1000)).toBe('--');
    for (const t of [etaText(1, 1, 1), etaText(1e-9, 1e9, 1e9)]) expect(t).not.toMatch(/NaN|Infinity|NULL|INF/);
  });
});

describe('a reader that stops early', () => {
  it('report --files | head -c 7: no EPIPE stack trace, exit 0', async () => {
    const { spawnSync } = await import('node:child_process');
    const store = path.join(tmp, 'epipe');
    const { generateFixtures } = await import('../../fixtures/generate.js');
    await generateFixtures(path.join(tmp, 'epipe-fx'));
    expect(runCli(['--store', store, '-q', 'ingest', path.join(tmp, 'epipe-fx', 'family-legacy.tar')]).code).toBe(0);
    const r = spawnSync(
      'bash',
      ['-c', `set -o pipefail; node "$1" --store "$2" report --all-layers --files | head -c 7`, 'bash', path.join(REPO_ROOT, 'bin', 'layerstore.js'), store],
      { encoding: 'utf8' },
    );
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('Store: ');
  });

  it('ingest A B C | head -1: every input is still ingested (exit 0, no EPIPE), nothing left in staging', async () => {
    const { spawnSync } = await import('node:child_process');
    const { readdirSync } = await import('node:fs');
    const store = path.join(tmp, 'epipe-ingest');
    const fx = path.join(tmp, 'epipe-fx2');
    const { generateFixtures } = await import('../../fixtures/generate.js');
    await generateFixtures(fx);
    const inputs = ['family-legacy.tar', 'api-v25.tar', 'multi-oci-archive.tar'].map((f) => path.join(fx, f));
    for (const f of inputs) expect(readdirSync(fx)).toContain(path.basename(f));
    const r = spawnSync(
      'bash',
      ['-c', 'set -o pipefail; node "$@" | head -1', 'bash', path.join(REPO_ROOT, 'bin', 'layerstore.js'), '--store', store, 'ingest', ...inputs],
      {
        encoding: 'utf8',
      },
    );
    expect(r.stderr).not.toMatch(/EPIPE|Unhandled/);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    const ls = JSON.parse(runCli(['--store', store, 'ls', '--json']).stdout) as { images: unknown[] };
    const each = inputs.map(
      (f) => JSON.parse(runCli(['--store', path.join(tmp, `epipe-one-${path.basename(f)}`), 'ingest', '--json', f]).stdout).results[0].images.length as number,
    );
    expect(ls.images).toHaveLength(each.reduce((a, b) => a + b, 0));
    expect(readdirSync(path.join(store, '.layerstore', 'staging'))).toEqual([]);
  });
});
