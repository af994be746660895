import { promises as fsp } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The two ends of a connected Unix socket: `child` to hand to a child process, `reader` to read here. */
export interface SocketPair {
  /** The end for a child's stdio (spawn's `stdio` takes it); destroy it here once spawned. */
  child: net.Socket;
  /** Resolves once what was written to the other end has been read to its end. */
  ended: Promise<void>;
  /** Stop reading and close both ends. */
  destroy(): void;
}

/** Longest Unix socket path Linux takes (sun_path is 108 bytes with its NUL). */
const MAX_SOCKET_PATH = 107;

/**
 * A connected Unix socket pair whose reading end reads into one buffer, reused for every
 * read (net.Socket's `onread`), and hands each piece to `onData` synchronously: `onData`
 * must be done with the bytes when it returns (a hash). Node has no socketpair(), so the
 * pair is made by connecting to a listening socket in a private temporary directory (mode
 * 0700: nobody else can connect), removed once connected.
 *
 * Why: a child's output read through a pipe stream arrives in a new 64 KiB buffer per read,
 * and touching fresh memory costs a page fault per 4 KiB: ~240 µs of CPU per read here, five
 * times zstd's own work for a layer. Undefined when no such socket can be made (no writable
 * temporary directory, or its path is too long): the caller falls back to a pipe.
 */
export async function readingSocketPair(buffer: Buffer, onData: (bytes: Buffer) => void): Promise<SocketPair | undefined> {
  let dir: string;
  try {
    dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'layerstore-sock-'));
  } catch {
    return undefined;
  }
  const sock = path.join(dir, 's');
  const server = net.createServer();
  let reader: net.Socket | undefined;
  try {
    if (Buffer.byteLength(sock) > MAX_SOCKET_PATH) return undefined;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(sock, resolve);
    });
    const accepted = new Promise<net.Socket>((resolve, reject) => {
      server.once('connection', resolve);
      server.once('error', reject);
    });
    let failure: Error | undefined;
    const onread = {
      buffer,
      callback: (n: number, buf: Uint8Array): boolean => {
        if (failure) return false;
        try {
          onData(Buffer.from(buf.buffer, buf.byteOffset, n));
        } catch (e) {
          failure = e as Error;
          reader?.destroy(failure);
          return false;
        }
        return true;
      },
    };
    // Node reads `onread` from the constructor's options (connect()'s is ignored for a Unix
    // socket); @types/node 20 lists it only on connect()'s.
    const socket = new net.Socket({ onread } as net.SocketConstructorOpts);
    reader = socket;
    const ended = new Promise<void>((resolve, reject) => {
      socket.once('end', () => (failure ? reject(failure) : resolve()));
      socket.once('error', reject);
      socket.once('close', () => (failure ? reject(failure) : resolve()));
    });
    ended.catch(() => {}); // observed by the caller
    socket.connect(sock);
    const child = await Promise.race([accepted, ended.then(() => Promise.reject(new Error('the socket closed before it connected')))]);
    return {
      child,
      ended,
      destroy: () => {
        child.destroy();
        socket.destroy();
      },
    };
  } catch {
    reader?.destroy();
    return undefined;
  } finally {
    server.close();
    await fsp.rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}
