import { LayerstoreError } from '../errors.js';
import { parseRowFormat, type RowFormat } from '../report/row-format.js';

/**
 * The one output `--json` and `--format` choose (ls, report). Both given, they must agree
 * (`--format json`): `--json --format '{{.Ref}}'` printed JSON and dropped the template.
 */
export function outputFormat(opts: { json?: boolean; format?: string }, fields: readonly string[]): RowFormat {
  if (opts.json && opts.format !== undefined && opts.format !== 'json')
    throw new LayerstoreError('E_USAGE', `--json and --format ${JSON.stringify(opts.format)} ask for two different outputs: give one`);
  return parseRowFormat(opts.json ? 'json' : opts.format, fields);
}
