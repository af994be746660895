import { LayerstoreError } from '../errors.js';

/**
 * `--format` for listings, as docker and skopeo users write it: `table` (the default),
 * `json`, or a template printed once per row, where `{{.Field}}` is a field of the row and
 * `{{json .}}` the whole row as JSON (`\t` and `\n` are tab and newline, as in docker's).
 * An unknown field is a usage error that lists the known ones.
 */
export type RowFormat = { kind: 'table' } | { kind: 'json' } | { kind: 'template'; template: string };

export function parseRowFormat(format: string | undefined): RowFormat {
  if (format === undefined || format === 'table') return { kind: 'table' };
  if (format === 'json') return { kind: 'json' };
  return { kind: 'template', template: format.replace(/\\t/g, '\t').replace(/\\n/g, '\n') };
}

export function renderRows(template: string, rows: Array<Record<string, string | number | null>>): string {
  const fields = rows[0] ? Object.keys(rows[0]) : [];
  const out: string[] = [];
  for (const row of rows) {
    out.push(
      template.replace(/\{\{\s*(json\s+\.|\.([A-Za-z][A-Za-z0-9]*))\s*\}\}/g, (_m, _whole: string, name: string | undefined) => {
        if (!name) return JSON.stringify(row);
        if (!(name in row)) throw new LayerstoreError('E_USAGE', `--format: no field .${name}; the fields are ${fields.map((f) => `.${f}`).join(', ')}`);
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
