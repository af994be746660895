/**
 * streamChunks (src/util/stream-chunks.ts) hands out a stream's chunks as the stream emits
 * them: never a concatenation of several (the stream's own async iterator makes one, in new
 * memory, whenever more than one chunk waits), with backpressure, and with the stream's
 * iterator's errors and ends.
 */
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { streamChunks } from '../../src/util/stream-chunks.js';

describe('streamChunks', () => {
  it('gives the very buffers the stream emitted, in order, where the stream’s own iterator joins them', async () => {
    const parts = Array.from({ length: 10 }, (_, i) => Buffer.alloc(1000, i));
    const mine: Buffer[] = [];
    const s = new PassThrough();
    for (const p of parts) s.write(p);
    s.end();
    for await (const c of streamChunks(s)) mine.push(c);
    expect(mine).toHaveLength(10);
    for (const [i, c] of mine.entries()) expect(c).toBe(parts[i]);

    const theirs: Buffer[] = [];
    const t = new PassThrough();
    for (const p of parts) t.write(p);
    t.end();
    for await (const c of t) theirs.push(c as Buffer);
    expect(theirs.length).toBeLessThan(10); // joined: what streamChunks avoids
    expect(Buffer.concat(theirs).equals(Buffer.concat(parts))).toBe(true);
  });

  it('pauses the stream while a few chunks wait, and resumes it as they are taken', async () => {
    let pushed = 0;
    const s = new Readable({
      highWaterMark: 1, // the stream itself buffers next to nothing: what is read ahead is ours
      read() {
        pushed++;
        this.push(pushed <= 100 ? Buffer.alloc(10, pushed) : null);
      },
    });
    const it = streamChunks(s)[Symbol.asyncIterator]();
    await it.next();
    await new Promise((r) => setTimeout(r, 20));
    expect(s.isPaused()).toBe(true);
    expect(pushed).toBeLessThan(10);
    let n = 1;
    while (!(await it.next()).done) n++;
    expect(n).toBe(100);
  });

  it('an error of the stream is thrown; a stream destroyed before its end is a premature close', async () => {
    const s = new PassThrough();
    s.write(Buffer.from('a'));
    setTimeout(() => s.destroy(Object.assign(new Error('EIO: read failed'), { code: 'EIO' })), 5);
    await expect(
      (async () => {
        for await (const _ of streamChunks(s));
      })(),
    ).rejects.toMatchObject({ code: 'EIO' });

    const t = new PassThrough();
    setTimeout(() => t.destroy(), 5);
    await expect(
      (async () => {
        for await (const _ of streamChunks(t));
      })(),
    ).rejects.toMatchObject({ code: 'ERR_STREAM_PREMATURE_CLOSE' });

    const ended = new PassThrough();
    ended.end();
    ended.resume();
    await new Promise((r) => ended.once('end', r));
    const got: Buffer[] = [];
    for await (const c of streamChunks(ended)) got.push(c);
    expect(got).toEqual([]);
  });
});
