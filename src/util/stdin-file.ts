import { accessSync, constants, fstatSync, readFileSync, readlinkSync, statSync } from 'node:fs';

/**
 * The path of the regular file standard input reads, when the shell opened one for it
 * (`layerstore ingest - < image.tar`) and nothing has read from it yet: such an input can be
 * read by position like any named file. Undefined for a pipe, a terminal or a socket, for a
 * file read partway already (its remaining bytes are the input: only a stream starts there),
 * when /proc cannot name it (another OS, a deleted or replaced file), and when this process
 * may not open it by name (the shell of another user opened it).
 */
export function regularFileOnStdin(): string | undefined {
  try {
    const st = fstatSync(0);
    if (!st.isFile()) return undefined;
    const pos = /^pos:\s*(\d+)\s*$/m.exec(readFileSync('/proc/self/fdinfo/0', 'utf8'));
    if (pos?.[1] !== '0') return undefined;
    // The file's own path, not /proc/self/fd/0: a helper process (zstd) reading it by path
    // would open its own standard input.
    const file = readlinkSync('/proc/self/fd/0');
    if (!file.startsWith('/')) return undefined; // "pipe:[...]", "anon_inode:..."
    const named = statSync(file);
    if (!named.isFile() || named.dev !== st.dev || named.ino !== st.ino) return undefined;
    accessSync(file, constants.R_OK);
    return file;
  } catch {
    return undefined;
  }
}
