import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type { Writable } from 'node:stream';
import zlib from 'node:zlib';
import { createHasher, type Hasher } from '../digest/hasher.js';
import type { Digest } from '../digest/digest.js';
import { readBuffers } from '../util/buffer-pool.js';
import { findExecutable } from '../util/find-executable.js';
import { readingSocketPair, type SocketPair } from '../util/socket-pair.js';

/**
 * The sha256 of a gzip stream's decompressed bytes (a layer's diffID), decompressed by ISA-L's
 * `igzip -dc` in a child process: ~4x zlib's speed (a 44 MB layer: 0.10 s against 0.43 s for
 * gzip and 0.5 s for node:zlib), and on the second core while this process hashes. The
 * Debian package `isal` has it; without it (or with LAYERSTORE_GZIP=js) node:zlib does the
 * work as before. LAYERSTORE_GZIP=/path/to/igzip picks the binary.
 *
 * igzip must never accept what node:zlib refuses, or a layer's verdict would depend on what
 * is installed. It does in one way: after the last member it stops, silently, at any byte
 * that does not start another member (zlib refuses trailing bytes other than zeros). So a
 * gzip member of 16 random bytes (the marker) is written after the input: only when every
 * input byte belonged to complete members does igzip go on to decompress it, and the output
 * end with the marker. finish() vouches for the digest only then, with igzip's exit code 0;
 * otherwise the caller computes the diffID with node:zlib, which also gives zlib's words for
 * the error. (igzip also ignores reserved header flags, which zlib refuses: checked here for
 * the first member; a later member with them is the one case left where the two differ.)
 */
export class IgzipHash {
  private readonly hasher: Hasher = createHasher();
  /** The last MARKER_BYTES bytes of output seen, held back from the hash until the end. */
  private readonly tail = Buffer.alloc(MARKER_BYTES);
  private tailLen = 0;
  private readonly marker = randomBytes(MARKER_BYTES);
  private readonly head = Buffer.alloc(4);
  private headLen = 0;
  /** Set when igzip's answer cannot be taken (odd header flags, a write it refused). */
  private doubt = false;
  private finished = false;
  private readonly exited: Promise<number | null>;

  private constructor(
    private readonly child: ChildProcessByStdio<Writable, null, null>,
    private readonly pair: SocketPair,
    private readonly buffer: Buffer,
  ) {
    this.exited = new Promise((resolve) => {
      child.once('error', () => resolve(null));
      child.once('close', (code) => resolve(code));
    });
    // igzip exits early on bad input; the writes then fail with EPIPE, which finish() sees as doubt.
    child.stdin.on('error', () => {
      this.doubt = true;
    });
  }

  /** An igzip child ready for input, or undefined when it cannot be started (no socket). */
  static async start(binary: string): Promise<IgzipHash | undefined> {
    const buffer = readBuffers.take();
    let self: IgzipHash | undefined;
    const pair = await readingSocketPair(buffer, (b) => self!.output(b));
    if (!pair) {
      readBuffers.give([buffer]);
      return undefined;
    }
    const child = spawn(binary, ['-d', '-c'], { stdio: ['pipe', pair.child, 'ignore'] }) as ChildProcessByStdio<Writable, null, null>;
    pair.child.destroy(); // the child holds its own copy; the reader sees the end when igzip exits
    self = new IgzipHash(child, pair, buffer);
    return self;
  }

  /** Hash all output but the last MARKER_BYTES bytes, which may be the marker. */
  private output(b: Buffer): void {
    if (b.length >= MARKER_BYTES) {
      if (this.tailLen) this.hasher.update(this.tail.subarray(0, this.tailLen));
      this.hasher.update(b.subarray(0, b.length - MARKER_BYTES));
      b.copy(this.tail, 0, b.length - MARKER_BYTES);
      this.tailLen = MARKER_BYTES;
      return;
    }
    const all = Buffer.concat([this.tail.subarray(0, this.tailLen), b]);
    const keep = Math.min(all.length, MARKER_BYTES);
    if (all.length > keep) this.hasher.update(all.subarray(0, all.length - keep));
    all.copy(this.tail, 0, all.length - keep);
    this.tailLen = keep;
  }

  /** Hand igzip the next compressed bytes; resolves once the pipe has taken them (the caller may reuse `chunk`). */
  async write(chunk: Buffer): Promise<void> {
    if (this.headLen < this.head.length) {
      this.headLen += chunk.copy(this.head, this.headLen, 0);
      // FLG bits 5-7 are reserved: zlib refuses them, igzip does not look.
      if (this.headLen === this.head.length && (this.head[3]! & 0xe0) !== 0) this.doubt = true;
    }
    if (this.doubt) return;
    await new Promise<void>((resolve) => this.child.stdin.write(chunk, () => resolve()));
  }

  /**
   * The diffID, when igzip decompressed every byte written as complete gzip members; else
   * undefined (bad or odd input, or igzip failed): the caller uses node:zlib instead.
   */
  async finish(): Promise<Digest | undefined> {
    this.finished = true;
    try {
      if (!this.doubt) {
        this.child.stdin.end(zlib.gzipSync(this.marker, { level: 0 }));
        const [code] = await Promise.all([this.exited, this.pair.ended.catch(() => {})]);
        if (code === 0 && !this.doubt && this.tailLen === MARKER_BYTES && this.tail.equals(this.marker)) return this.hasher.digest();
      }
      return undefined;
    } finally {
      this.close();
      await this.exited; // no child outlives the answer
    }
  }

  /** Stop the child (a failed input); nothing is computed. */
  abort(): void {
    if (!this.finished) {
      this.finished = true;
      this.close();
    }
  }

  private close(): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    this.child.stdin.destroy();
    this.pair.destroy();
    // The reader is closed: nothing reads into the buffer any more.
    readBuffers.give([this.buffer]);
  }
}

/** Random bytes per child: input cannot be made to end with them. */
const MARKER_BYTES = 16;

/**
 * gzip below this size is inflated by node:zlib in this process: starting igzip (a process,
 * ~5-15 ms here) costs more than zlib takes for 1 MiB (~5 ms).
 */
export const IGZIP_MIN_BYTES = 1024 * 1024;

/** The igzip binary to run, or undefined when there is none (then node:zlib is used). */
export function gzipBinary(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const choice = env.LAYERSTORE_GZIP;
  if (choice === 'js') return undefined;
  return findExecutable('igzip', choice, env);
}
