import { constants as C, promises as fsp, rmSync, type Stats } from 'node:fs';
import { isatty } from 'node:tty';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { LayerstoreError } from '../errors.js';

/**
 * Where an export's tarball goes, decided before a byte is written:
 * - `-`: standard output (refused on a terminal, as `docker save` does; so is a terminal's
 *   device, `-o /dev/stdout` or `-o /dev/tty`);
 * - a new path or a regular file: a temp file beside it, renamed over it only when complete
 *   (through a symlink, the file it names is replaced and the link stays); a process that
 *   exits first (a signal) removes it on the way out;
 * - a character device or FIFO (`/dev/null`, a named pipe, `/dev/fd/N`): written in place,
 *   never renamed over, so the node itself survives;
 * - anything else (a directory, a block device, a socket) is refused, and so is any target
 *   inside the store: an export must never replace `index.json`, `oci-layout` or a blob.
 * A write that fails (ENOSPC, EACCES, EPIPE) fails as an E_IO LayerstoreError naming the
 * target (outputError), whose `cause` keeps the system error: the export catches it, aborts
 * the target (the temp file goes) and the CLI prints one line, never a stack trace.
 */
export interface OutputTarget {
  /** What to name in messages: the path, or "standard output". */
  readonly name: string;
  /** Whether the summary line must stay off stdout (the tarball is there). */
  readonly toStdout: boolean;
  /** The stream to write the tarball into; ending it ends the tarball, never stdout itself. */
  open(): Promise<Writable>;
  /** Everything written and flushed: make it visible (rename a temp file into place). */
  commit(): Promise<void>;
  /** Something failed: leave the target as it was found where that is possible. */
  abort(): Promise<void>;
}

export async function resolveOutputTarget(output: string, storeRoot: string): Promise<OutputTarget> {
  if (output === '-') {
    if (process.stdout.isTTY)
      throw new LayerstoreError('E_USAGE', 'refusing to write a tarball to a terminal', { hint: 'redirect standard output, or pass -o FILE.tar' });
    return stdoutTarget();
  }
  const target = path.resolve(output);
  const st = await statOrUndefined(target);
  // The store check comes first, on the path with every symlink resolved: whatever is there.
  // A dangling symlink is replaced like a missing file (the link itself, never its target);
  // /dev/fd/N of a pipe has no real path, and a pipe is never inside a store.
  const real = st ? await fsp.realpath(target).catch(() => undefined) : path.join(await realDir(path.dirname(target), output), path.basename(target));
  if (real) refuseInsideStore(real, await fsp.realpath(storeRoot), output);
  if (st === undefined || st.isFile()) return replacedFileTarget(real ?? target, output);
  if (st.isCharacterDevice() && (await isTerminal(target)))
    throw new LayerstoreError('E_USAGE', `refusing to write a tarball to a terminal (-o ${output})`, {
      hint: 'pass -o FILE.tar, or -o - with standard output redirected',
    });
  if (st.isFIFO() || st.isCharacterDevice()) return inPlaceTarget(target, output);
  const what = st.isDirectory() ? 'a directory' : st.isBlockDevice() ? 'a block device' : 'not a file';
  throw new LayerstoreError('E_USAGE', `-o ${output} is ${what}; refusing to write a tarball there`, {
    hint: 'pass -o with a file name (or - for standard output)',
  });
}

/** `/dev/stdout` or `/dev/tty` on a terminal: refused as `-o -` is there. O_NOCTTY: looking never adopts it. */
async function isTerminal(device: string): Promise<boolean> {
  const fh = await fsp.open(device, C.O_WRONLY | C.O_NOCTTY | C.O_NONBLOCK).catch(() => undefined);
  if (!fh) return false; // not openable: the open for writing fails later, as one E_IO line
  try {
    return isatty(fh.fd);
  } finally {
    await fh.close();
  }
}

function refuseInsideStore(real: string, storeReal: string, output: string): void {
  const rel = path.relative(storeReal, real);
  if (rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))) {
    throw new LayerstoreError('E_USAGE', `-o ${output} is inside the store (${storeReal}); an export never writes there`, {
      hint: 'write the tarball outside the store directory',
    });
  }
}

async function realDir(dir: string, output: string): Promise<string> {
  try {
    const real = await fsp.realpath(dir);
    if (!(await fsp.stat(real)).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
    return real;
  } catch (e) {
    throw new LayerstoreError('E_USAGE', `cannot write -o ${output}: ${dir} is not a directory (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
}

async function statOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fsp.stat(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new LayerstoreError('E_USAGE', `cannot write -o ${p}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}

function stdoutTarget(): OutputTarget {
  return {
    name: 'standard output',
    toStdout: true,
    // A writer in front of stdout, so ending the tarball waits for its bytes to leave this
    // process but leaves stdout open (tar-stream's pack does not honour pipeline's end: false).
    open: async () =>
      new Writable({
        write: (chunk: Buffer, _enc, cb) => void process.stdout.write(chunk, (e) => cb(e ? outputError('standard output', e) : e)),
        final: (cb) => void process.stdout.write('', (e) => cb(e ? outputError('standard output', e) : e)),
      }),
    commit: async () => {},
    abort: async () => {},
  };
}

function replacedFileTarget(real: string, name: string): OutputTarget {
  const tmp = path.join(path.dirname(real), `.${path.basename(real)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  let file: FileHandleWritable | undefined;
  // The process ends before commit or abort (Ctrl-C, SIGTERM: the export command exits from
  // its signal handler): the temp file is outside the store, so nothing else would remove it.
  const removeTmp = () => rmSync(tmp, { force: true });
  return {
    name,
    toStdout: false,
    // Opened here, not lazily by a stream: a directory this user cannot write fails now, as
    // one E_IO line, and abort() never runs before the temp file exists.
    open: async () => {
      process.once('exit', removeTmp);
      try {
        return (file = await openWritable(tmp, 'wx', name)).stream;
      } catch (e) {
        process.off('exit', removeTmp);
        throw e;
      }
    },
    commit: async () => {
      try {
        await file?.close(); // already closed when the stream ended; a failed close fails here
        const fh = await fsp.open(tmp, 'r');
        try {
          await fh.sync();
        } finally {
          await fh.close();
        }
        await fsp.rename(tmp, real);
        process.off('exit', removeTmp);
      } catch (e) {
        throw outputError(name, e);
      }
    },
    abort: async () => {
      process.off('exit', removeTmp);
      await file?.close().catch(() => {});
      await fsp.rm(tmp, { force: true });
    },
  };
}

function inPlaceTarget(target: string, name: string): OutputTarget {
  let file: FileHandleWritable | undefined;
  return {
    name,
    toStdout: false,
    // 'w' on a device or FIFO truncates nothing and replaces nothing: the node stays what it is.
    open: async () => (file = await openWritable(target, 'w', name)).stream,
    commit: async () => {
      await file?.close().catch((e: unknown) => {
        throw outputError(name, e);
      });
    },
    abort: async () => {
      await file?.close().catch(() => {});
    },
  };
}

interface FileHandleWritable {
  stream: Writable;
  /** Close the file, once (ending the stream closes it too); the same promise on every call. */
  close: () => Promise<void>;
}

/**
 * A Writable over a file opened now: each write is one write(2) at the file's position (the
 * tar writer hands over one block at a time and waits for it), and its failure is
 * outputError's E_IO, passed to that write's callback.
 */
async function openWritable(file: string, flags: 'w' | 'wx', name: string): Promise<FileHandleWritable> {
  let fh: FileHandle;
  try {
    fh = await fsp.open(file, flags, 0o644);
  } catch (e) {
    throw outputError(name, e);
  }
  let closing: Promise<void> | undefined;
  const closeOnce = () => (closing ??= fh.close());
  const stream = new Writable({
    highWaterMark: 1024 * 1024,
    write: (chunk: Buffer, _enc, cb) => {
      writeAll(fh, chunk).then(
        () => cb(),
        (e: unknown) => cb(outputError(name, e)),
      );
    },
    final: (cb) => {
      closeOnce().then(
        () => cb(),
        (e: unknown) => cb(outputError(name, e)),
      );
    },
    destroy: (err, cb) => {
      closeOnce().then(
        () => cb(err),
        () => cb(err),
      );
    },
  });
  return { stream, close: closeOnce };
}

/** The whole chunk: a write(2) may take fewer bytes than it was given. */
async function writeAll(fh: FileHandle, chunk: Buffer): Promise<void> {
  for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
}

const OUTPUT_HINTS: Record<string, string> = {
  ENOSPC: 'free some space where -o points, or write the tarball elsewhere; no partial file was left',
  EDQUOT: 'free some space where -o points, or write the tarball elsewhere; no partial file was left',
  EACCES: 'choose a -o path in a directory you may write to',
  EPERM: 'choose a -o path in a directory you may write to',
  EROFS: 'choose a -o path on a writable file system',
};

/**
 * A failure to write the tarball, as one line naming the target (not the temp file beside it)
 * and the system's code; `cause` keeps the system error (the CLI reads EPIPE from it).
 */
export function outputError(name: string, e: unknown): LayerstoreError {
  if (e instanceof LayerstoreError) return e;
  const err = e as NodeJS.ErrnoException;
  const code = err?.code ?? 'error';
  const why = code === 'ENOSPC' ? 'no space left on the device' : code === 'EACCES' || code === 'EPERM' ? 'permission denied' : (err?.message ?? String(e));
  return new LayerstoreError('E_IO', `cannot write the tarball to ${name}: ${why} (${code})`, { hint: OUTPUT_HINTS[code], cause: e });
}
