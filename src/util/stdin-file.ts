import { accessSync, constants, fstatSync, readFileSync } from 'node:fs';

/** Opens the file behind this process's standard input afresh, at offset 0 (Linux /proc). */
const STDIN_FILE = '/proc/self/fd/0';

/**
 * A path that opens the regular file standard input reads, when the shell opened one for it
 * (`layerstore ingest - < image.tar`) and nothing has read from it yet: such an input can be
 * read by position like any named file. Undefined for a pipe, a terminal or a socket, for a
 * file read partway already (its remaining bytes are the input: only a stream starts there),
 * without /proc (another OS), and when this process may not open the file itself (the shell
 * of another user opened it).
 */
export function regularFileOnStdin(): string | undefined {
  try {
    if (!fstatSync(0).isFile()) return undefined;
    const pos = /^pos:\s*(\d+)\s*$/m.exec(readFileSync('/proc/self/fdinfo/0', 'utf8'));
    if (pos?.[1] !== '0') return undefined;
    accessSync(STDIN_FILE, constants.R_OK);
    return STDIN_FILE;
  } catch {
    return undefined;
  }
}
