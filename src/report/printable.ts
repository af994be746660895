/**
 * `s` as a table shows it. File names, history lines and artifact types come from the images
 * (anyone's bytes): raw, a name could clear the screen, set the window title, reorder what
 * follows, hide a character or start a line that reads as a row of its own (as git's
 * core.quotePath and ls on a terminal, never the raw character). So these are written as
 * \uXXXX, as JSON writes them:
 *
 * - C0 and C1 controls (escape sequences, CR, newline, BEL) and DEL;
 * - the bidirectional marks, embeddings, overrides and isolates (U+061C, U+200E/F,
 *   U+202A-U+202E, U+2066-U+2069), which reorder text on screen;
 * - invisible characters (zero-width space, non-joiner and joiner U+200B-U+200D, word joiner
 *   U+2060, BOM U+FEFF): "ad\u200bmin" would read as "admin" (an emoji joined by U+200D
 *   shows its parts: the price of never hiding a character);
 * - the line and paragraph separators U+2028/U+2029, which break the line as a newline does.
 *
 * A name byte that is not UTF-8, as the tar reader keeps it (U+EF00 + byte, see
 * archive/name-bytes.ts, RAW_BYTE_BASE), is written as \xNN, as the byte it is.
 *
 * One self-contained function declaration (no module constant): the report page carries its
 * source (html/page-script.ts), so the page escapes exactly as the CLI does.
 */
export function printable(s: string): string {
  return s
    .replace(
      // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
      /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060\u2066-\u2069\ufeff]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
    )
    .replace(/[\uef80-\uefff]/g, (c) => `\\x${(c.charCodeAt(0) - 0xef00).toString(16)}`);
}
