/**
 * `report` refuses options that would not take effect: one that applies only to `report
 * --registry` given without it (`report --repo acme/api` printed every image, exit 0), and
 * two outputs that cannot both be printed (`--html F --json` printed no JSON; `--json
 * --format '{{.Ref}}'` printed JSON and dropped the template). Each is exit 2 with one
 * E_USAGE line naming the options, before anything is read or written. The combinations
 * the docs give (--html with --files, --files --top N --json, --format json) still work.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli, show } from '../helpers/cli.js';
import { withFixtureTemp } from '../helpers/fixture-temp.js';

let tmp = '';
let fx = '';
withFixtureTemp('ls-report-options-', (p) => ({ tmp, fx } = p));

const store = () => path.join(tmp, 'store');
const cli = (args: string[], dir = store()) => runCli(['--store', dir, ...args]);

beforeAll(() => {
  const r = cli(['-q', 'ingest', path.join(fx, 'family-legacy.tar')]);
  expect(r.code, show(r)).toBe(0);
});

/** Exit 2, one E_USAGE line matching `why`, nothing on stdout. */
function refused(args: string[], why: RegExp, dir = store()): void {
  const r = cli(args, dir);
  expect(r.code, show(r)).toBe(2);
  expect(r.stdout).toBe('');
  const errors = r.stderr.split('\n').filter((l) => l.startsWith('layerstore: error:'));
  expect(errors, r.stderr).toHaveLength(1);
  expect(errors[0]).toMatch(/\[E_USAGE\]$/);
  expect(errors[0]).toMatch(why);
}

describe('report: an option that only --registry reads, without --registry', () => {
  it.each([
    [['--repo', 'acme/api'], '--repo'],
    [['--concurrency', '4'], '--concurrency'],
    [['--timeout', '5'], '--timeout'],
    [['--max-time', '3'], '--max-time'],
    [['--insecure'], '--insecure'],
    [['--username', 'u'], '--username'],
    [['--password', 'p'], '--password'],
  ])('report %j: E_USAGE naming it and that it needs --registry', (opts, flag) => {
    refused(['report', ...opts], new RegExp(`error: ${flag} needs --registry URL`));
    refused(['report', '--json', 'acme/api:1.0', ...opts], new RegExp(`error: ${flag} needs --registry URL`));
  });

  it('is refused before an engine is asked or a store made', () => {
    const none = path.join(tmp, 'never-made');
    refused(['report', 'docker-daemon:acme/api:1.0', '--repo', 'acme/api'], /--repo needs --registry URL/, none);
    expect(existsSync(none)).toBe(false);
  });
});

describe('report: two outputs that cannot both be printed', () => {
  it('--html FILE with --json, or with --format: refused, and no page written', () => {
    const page = path.join(tmp, 'never.html');
    refused(['report', '--html', page, '--json'], /--html FILE and --json ask for two different outputs/);
    refused(['report', '--html', page, '--format', '{{.Ref}}'], /--html FILE and --format "\{\{\.Ref\}\}"/);
    expect(existsSync(page)).toBe(false);
  });

  it('--json with a --format other than json: refused (report and ls)', () => {
    refused(['report', '--json', '--format', '{{.Ref}}'], /--json and --format "\{\{\.Ref\}\}" ask for two different outputs/);
    refused(['report', '--json', '--format', 'table'], /--json and --format "table"/);
    refused(['ls', '--json', '--format', '{{.Ref}}'], /--json and --format "\{\{\.Ref\}\}"/);
  });

  it('--files with a --format template (which prints no --files table), and --top without --files or --html', () => {
    refused(['report', '--files', '--format', '{{.Ref}}'], /--files and --format "\{\{\.Ref\}\}"/);
    refused(['report', '--top', '3'], /--top needs --files or --html/);
  });

  it('--registry with --html, --files, or image refs (it reports on every repository): refused before the registry is asked', () => {
    // Port 9 (discard) on loopback: nothing answers, so a request would fail with E_REGISTRY.
    const reg = 'http://127.0.0.1:9';
    refused(['report', '--registry', reg, '--html', path.join(tmp, 'never.html')], /--html reports on the store; it does not combine with --registry/);
    refused(['report', '--registry', reg, '--files'], /--files reads every layer, and --registry reports without downloading layers/);
    refused(
      ['report', '--registry', reg, 'acme/api:1.0'],
      /--registry reports on every repository of the registry, not on images named as arguments \("acme\/api:1\.0"\)/,
    );
  });
});

describe('--format: a template naming a field rows do not have', () => {
  it('is refused before anything is read, even where there are no rows (ls and report on a store that does not exist)', () => {
    const none = path.join(tmp, 'no-store');
    for (const cmd of ['ls', 'report']) refused([cmd, '--format', '{{.Ref}} {{.Nope}}'], /--format: no field \.Nope; the fields are \.Ref, /, none);
    expect(existsSync(none)).toBe(false);
    const ok = cli(['ls', '--format', '{{.Ref}}'], none);
    expect(ok.code, show(ok)).toBe(0);
  });
});

describe('report: the combinations the docs give still work', () => {
  it('--html FILE --files --top N writes the page', () => {
    const page = path.join(tmp, 'report.html');
    const r = cli(['report', '--html', page, '--files', '--top', '2']);
    expect(r.code, show(r)).toBe(0);
    expect(existsSync(page)).toBe(true);
  });

  it('--html FILE --top 0 lists no files, as report --files --top 0 (it was taken as 10)', () => {
    const pageData = (top: string) => {
      const page = path.join(tmp, `top-${top}.html`);
      const r = cli(['report', '--html', page, '--top', top]);
      expect(r.code, show(r)).toBe(0);
      const json = /<script type="application\/json" id="data">([\s\S]*?)<\/script>/.exec(readFileSync(page, 'utf8'))![1]!;
      return JSON.parse(json).report;
    };
    const zero = pageData('0');
    expect(zero.duplicateFiles).toEqual([]);
    expect(zero.images.every((i: { wastedFiles: unknown[] }) => i.wastedFiles.length === 0)).toBe(true);
    expect(pageData('10').duplicateFiles.length).toBeGreaterThan(0);
  });

  it('--files --top N --json, and --json --format json, print the JSON report', () => {
    const files = cli(['report', '--files', '--top', '1', '--json']);
    expect(files.code, show(files)).toBe(0);
    expect(JSON.parse(files.stdout).images.every((i: { wastedFiles: unknown[] }) => i.wastedFiles.length <= 1)).toBe(true);
    const both = cli(['report', '--json', '--format', 'json']);
    expect(both.code, show(both)).toBe(0);
    expect(JSON.parse(both.stdout).schemaVersion).toBe(1);
  });
});
