import { RAW_BYTE_BASE } from '../archive/name-bytes.js';

/**
 * Characters a terminal acts on instead of showing: C0 and C1 controls (escape sequences, CR,
 * newline, BEL), DEL, and the bidirectional marks, embeddings, overrides and isolates that
 * reorder what follows on screen.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/** A name byte that is not UTF-8, as the tar reader keeps it (archive/name-bytes.ts): shown as \xNN, as the byte it is. */
const RAW_BYTES = /[\uef80-\uefff]/g;

/**
 * `s` as a table shows it: each such character written as \uXXXX, as JSON writes it. File
 * names and artifact types come from the images (anyone's bytes): raw, a name could clear the
 * screen, set the window title, or start a line that reads as a row of its own (as git's
 * core.quotePath and ls on a terminal, never the raw byte).
 */
export function printable(s: string): string {
  return s
    .replace(UNPRINTABLE, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(RAW_BYTES, (c) => `\\x${(c.charCodeAt(0) - RAW_BYTE_BASE).toString(16)}`);
}
