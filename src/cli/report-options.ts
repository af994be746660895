import { LayerstoreError } from '../errors.js';
import { outputFormat } from './output-format.js';
import { SHARING_FIELDS } from '../report/tables.js';

/** The options of `report` whose use depends on the others. */
export interface ReportChoices {
  registry?: string;
  repo?: string;
  concurrency?: string;
  timeout?: string;
  maxTime?: string;
  insecure?: boolean;
  username?: string;
  password?: string;
  html?: string;
  json?: boolean;
  format?: string;
  files?: boolean;
  top?: string;
}

/** What only `report --registry` reads: on the store's report they would be ignored. */
const REGISTRY_ONLY: Array<[keyof ReportChoices, string]> = [
  ['repo', '--repo'],
  ['concurrency', '--concurrency'],
  ['timeout', '--timeout'],
  ['maxTime', '--max-time'],
  ['insecure', '--insecure'],
  ['username', '--username'],
  ['password', '--password'],
];

const usage = (message: string, hint?: string) => new LayerstoreError('E_USAGE', message, hint ? { hint } : {});

/**
 * Refuse, before anything is read, options that would not take effect: one that needs
 * another that is absent, or two outputs that cannot both be printed. A report that
 * silently drops an option (`report --repo acme/api` printing every image) misleads.
 */
export function checkReportOptions(refs: string[], o: ReportChoices): void {
  const format = outputFormat(o, SHARING_FIELDS);
  if (o.registry === undefined) {
    for (const [key, flag] of REGISTRY_ONLY) if (o[key] !== undefined) throw usage(`${flag} needs --registry URL: it applies only to a registry's report`);
  } else {
    if (o.files)
      throw usage(
        '--files reads every layer, and --registry reports without downloading layers',
        'pull the images you want to look inside (layerstore pull), then report --files',
      );
    if (o.html !== undefined) throw usage('--html reports on the store; it does not combine with --registry');
    if (refs.length > 0)
      throw usage(
        `--registry reports on every repository of the registry, not on images named as arguments (${JSON.stringify(refs[0])})`,
        'pick repositories with --repo GLOB',
      );
  }
  if (o.html !== undefined) {
    if (o.json) throw usage('--html FILE and --json ask for two different outputs (a page, JSON on stdout): give one');
    if (o.format !== undefined) throw usage(`--html FILE and --format ${JSON.stringify(o.format)} ask for two different outputs: give one`);
  }
  if (o.files && format.kind === 'template')
    throw usage(`--files and --format ${JSON.stringify(o.format)}: a template prints one line per image, without the --files tables`, 'use --files --json');
  if (o.top !== undefined && !o.files && o.html === undefined)
    throw usage('--top needs --files or --html: it is how many wasted and duplicate files they list');
}

/** --top N (a whole number, the option's parser checked it): how many wasted and duplicate files --files and --html list; 10 when absent, 0 lists none. */
export function topFiles(top: string | undefined): number {
  const n = top === undefined ? 10 : Number.parseInt(top, 10);
  return Number.isInteger(n) && n >= 0 ? n : 10;
}
