import { createWriteStream, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { LayerstoreError } from '../errors.js';

/**
 * Where an export's tarball goes, decided before a byte is written:
 * - `-`: standard output (refused on a terminal, as `docker save` does);
 * - a new path or a regular file: a temp file beside it, renamed over it only when complete
 *   (through a symlink, the file it names is replaced and the link stays);
 * - a character device or FIFO (`/dev/null`, a named pipe, `/dev/fd/N`): written in place,
 *   never renamed over, so the node itself survives;
 * - anything else (a directory, a block device, a socket) is refused, and so is any target
 *   inside the store: an export must never replace `index.json`, `oci-layout` or a blob.
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
  if (st.isFIFO() || st.isCharacterDevice()) return inPlaceTarget(target, output);
  const what = st.isDirectory() ? 'a directory' : st.isBlockDevice() ? 'a block device' : 'not a file';
  throw new LayerstoreError('E_USAGE', `-o ${output} is ${what}; refusing to write a tarball there`, {
    hint: 'pass -o with a file name (or - for standard output)',
  });
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
        write: (chunk: Buffer, _enc, cb) => void process.stdout.write(chunk, cb),
        final: (cb) => void process.stdout.write('', cb),
      }),
    commit: async () => {},
    abort: async () => {},
  };
}

function replacedFileTarget(real: string, name: string): OutputTarget {
  const tmp = path.join(path.dirname(real), `.${path.basename(real)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  return {
    name,
    toStdout: false,
    open: async () => createWriteStream(tmp, { flags: 'wx', highWaterMark: 1024 * 1024 }),
    commit: async () => {
      const fh = await fsp.open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fsp.rename(tmp, real);
    },
    abort: async () => {
      await fsp.rm(tmp, { force: true });
    },
  };
}

function inPlaceTarget(target: string, name: string): OutputTarget {
  return {
    name,
    toStdout: false,
    // 'w' on a device or FIFO truncates nothing and replaces nothing: the node stays what it is.
    open: async () => createWriteStream(target, { flags: 'w', highWaterMark: 1024 * 1024 }),
    commit: async () => {},
    abort: async () => {},
  };
}
