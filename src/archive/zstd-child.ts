import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { Duplex, PassThrough, type Readable, type Writable } from 'node:stream';
import { LayerstoreError } from '../errors.js';
import { ZSTD_WINDOW_LIMIT, ZstdFrameCheck } from './zstd-frames.js';
import { readBuffers } from '../util/buffer-pool.js';
import { readingSocketPair } from '../util/socket-pair.js';
import { findExecutable } from '../util/find-executable.js';

/**
 * zstd decompression in a `zstd -dc` child process. Node 20 has no zstd in zlib, and the
 * pure-JS fzstd decompresses ~10x slower than the C zstd (bench/README.md); a child also
 * runs on the second core while this process hashes. Native npm bindings need a compiler or
 * a download at install time, which an offline `npm ci` cannot count on; the zstd command
 * (Debian package zstd) is one apt-get away and is found on PATH.
 *
 * LAYERSTORE_ZSTD=js forces fzstd; LAYERSTORE_ZSTD=/path/to/zstd picks the binary.
 */

/** The zstd binary to run, or undefined when there is none (then fzstd is used). */
export function zstdBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const choice = env.LAYERSTORE_ZSTD;
  if (choice === 'js') return undefined;
  return findExecutable('zstd', choice, env);
}

/**
 * A Duplex: compressed bytes in, decompressed bytes out, errors as E_DECOMPRESS with zstd's
 * own message. Destroying it kills the child. Frame headers written to it are checked first
 * (ZstdFrameCheck), so a window above the limit is refused with the message fzstd's path
 * gives; zstd itself is held to the same limit (--memory), which also covers a file it
 * reads by itself (diffIdOfRange checks that file's headers).
 */
export class ZstdChild extends Duplex {
  private readonly child: ChildProcessByStdio<Writable, Readable, Readable>;
  private stderr = '';
  private readonly frames = new ZstdFrameCheck();
  private exited = false;
  /** A write waiting for stdin to drain; released by 'drain', an EPIPE or the exit. */
  private waiting: (() => void) | undefined;

  /**
   * With `inputFd` (an open file, read from its current offset to its end), zstd reads the
   * file itself: one pipe fewer (the stdin pipe from Node cost ~25% of a layer's time in
   * bench/), and nothing may be written to this stream.
   */
  constructor(binary: string, inputFd?: number) {
    super();
    // --memory: windows up to the limit decode whatever zstd's default (it is 128 MiB too).
    this.child = spawn(binary, zstdArgs(), {
      stdio: [inputFd ?? 'pipe', 'pipe', 'pipe'],
    }) as ChildProcessByStdio<Writable, Readable, Readable>;
    // No stdin pipe when zstd reads a file: writes go nowhere and end at once.
    if (inputFd !== undefined) this.child.stdin = new PassThrough().resume();
    const { stdin, stdout, stderr } = this.child;
    stderr.setEncoding('utf8');
    stderr.on('data', (s: string) => {
      if (this.stderr.length < 4096) this.stderr += s;
    });
    stdout.on('data', (c: Buffer) => {
      if (!this.push(c)) stdout.pause();
    });
    // zstd exits early on bad input; the write side then sees EPIPE, which the exit code explains.
    stdin.on('error', () => this.release());
    stdin.on('drain', () => this.release());
    stdout.on('error', (e) => this.destroy(e));
    this.child.on('error', (e) => this.destroy(new LayerstoreError('E_DECOMPRESS', `cannot run ${binary}: ${e.message}`, { cause: e })));
    this.child.on('close', (code, signal) => {
      this.exited = true;
      this.release();
      if (code === 0) {
        this.push(null);
        return;
      }
      if (this.destroyed) return;
      this.destroy(decompressError(this.stderr, code, signal));
    });
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    if (this.exited) return cb(); // the exit code reports what went wrong
    try {
      this.frames.push(chunk);
    } catch (e) {
      return cb(e as Error);
    }
    if (this.child.stdin.write(chunk)) cb();
    else this.waiting = () => cb();
  }

  private release(): void {
    const w = this.waiting;
    this.waiting = undefined;
    w?.();
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.child.stdin.end();
    cb();
  }

  override _read(): void {
    this.child.stdout.resume();
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    if (!this.exited) this.child.kill('SIGKILL');
    cb(err);
  }
}

/** zstd's arguments: -q, no progress on stderr; the frame checksum is verified; windows held to the limit. */
function zstdArgs(): string[] {
  return ['-d', '-c', '-q', `--memory=${ZSTD_WINDOW_LIMIT / (1024 * 1024)}MB`];
}

/** E_DECOMPRESS with the first line zstd printed ("zstd: /*stdin*\ : Decoding error (36) : ..."). */
function decompressError(stderr: string, code: number | null, signal: NodeJS.Signals | null): LayerstoreError {
  const why =
    stderr
      .split('\n')
      .map((l) =>
        l
          .replace(/^zstd:\s*/, '')
          .replace(/^\/\*stdin\*\\\s*:\s*/, '')
          .trim(),
      )
      .find(Boolean) ?? (signal ? `killed by ${signal}` : `exit code ${code}`);
  return new LayerstoreError('E_DECOMPRESS', `zstd data does not decompress: ${why}`);
}

/**
 * Decompress the open file `inputFd` (from its offset to its end) in a zstd child, handing
 * each piece of the output to `onData` synchronously, in a buffer reused for the next piece
 * (`onData` hashes it). The output comes through a Unix socket read into that one buffer
 * (util/socket-pair.ts): through a pipe stream every 64 KiB arrived in fresh memory, which
 * cost more CPU than zstd itself. Rejects as ZstdChild fails (E_DECOMPRESS, zstd's words).
 * False when no socket could be made: the caller uses ZstdChild.
 */
export async function zstdFileInto(binary: string, inputFd: number, onData: (bytes: Buffer) => void): Promise<boolean> {
  const buffer = readBuffers.take();
  const pair = await readingSocketPair(buffer, onData);
  if (!pair) {
    readBuffers.give([buffer]);
    return false;
  }
  let stderr = '';
  try {
    const child = spawn(binary, zstdArgs(), { stdio: [inputFd, pair.child, 'pipe'] }) as ChildProcessByStdio<null, null, Readable>;
    pair.child.destroy(); // the child holds its own copy; the reader sees the end when zstd exits
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (t: string) => {
      if (stderr.length < 4096) stderr += t;
    });
    const exited = new Promise<void>((resolve, reject) => {
      child.once('error', (e) => reject(new LayerstoreError('E_DECOMPRESS', `cannot run ${binary}: ${e.message}`, { cause: e })));
      child.once('close', (code, signal) => (code === 0 ? resolve() : reject(decompressError(stderr, code, signal))));
    });
    exited.catch(() => {});
    try {
      await Promise.all([exited, pair.ended]);
    } catch (e) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited.catch(() => {});
      throw e;
    }
    return true;
  } finally {
    pair.destroy();
    // The reader is closed: nothing reads into the buffer any more.
    readBuffers.give([buffer]);
  }
}
