import { LayerstoreError } from '../errors.js';

/**
 * `--format` for listings, as docker and skopeo users write it: `table` (the default),
 * `json`, or a template printed once per row, where `{{.Field}}` is a field of the row and
 * `{{json .}}` the whole row as JSON (`\t` and `\n` are tab and newline, as in docker's).
 * An unknown field is a usage error that lists the known ones.
 */
export type RowFormat = { kind: 'table' } | { kind: 'json' } | { kind: 'template'; template: string };

/**
 * `fields` are the fields a row of the listing has: a template naming another is refused here,
 * before any work, and whether or not there are rows to print (with none it printed nothing
 * and exited 0, so a typo in a CI template went unnoticed on an empty store).
 */
export function parseRowFormat(format: string | undefined, fields: readonly string[]): RowFormat {
  if (format === undefined || format === 'table') return { kind: 'table' };
  if (format === 'json') return { kind: 'json' };
  const template = format.replace(/\\t/g, '\t').replace(/\\n/g, '\n');
  for (const m of template.matchAll(FIELD_RE)) if (m[2] && !fields.includes(m[2])) throw noField(m[2], fields);
  return { kind: 'template', template };
}

const FIELD_RE = /\{\{\s*(json\s+\.|\.([A-Za-z][A-Za-z0-9]*))\s*\}\}/g;

const noField = (name: string, fields: readonly string[]) =>
  new LayerstoreError('E_USAGE', `--format: no field .${name}; the fields are ${fields.map((f) => `.${f}`).join(', ')}`);

export function renderRows(template: string, rows: ReadonlyArray<Partial<Record<string, string | number | null>>>): string {
  const out: string[] = [];
  for (const row of rows) {
    out.push(
      template.replace(FIELD_RE, (_m, _whole: string, name: string | undefined) => {
        if (!name) return JSON.stringify(row);
        if (!(name in row)) throw noField(name, Object.keys(row));
        const v = row[name];
        return v === null || v === undefined ? '' : String(v);
      }),
    );
  }
  return out.length ? out.join('\n') + '\n' : '';
}

/** A table cell that would widen every row past a terminal: cut with "…" (--no-trunc keeps it whole). */
export function truncateCell(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}
