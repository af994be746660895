import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** Write text chunk by chunk, waiting when the stream asks to (output stays flat however long it is). */
export async function writeChunks(stream: Writable, chunks: Iterable<string>): Promise<void> {
  for (const chunk of chunks) {
    if (!stream.write(chunk)) await once(stream, 'drain');
  }
}
