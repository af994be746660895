/**
 * ctr can fail before anything reads its export (the caller awaits other work first: under
 * load, `ingest containerd:no/such:image` exited 1 with an unhandled 'error' event instead of
 * 2 with E_REF_NOT_FOUND). The failure must wait on the stream for its reader. A stand-in
 * `ctr` on PATH fails at once, as the real one does for a missing image.
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { exportFromContainerd } from '../../src/engines/containerd.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'ls-ctr-early-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('a ctr that fails before the export is read: the reader gets its error (E_REF_NOT_FOUND), nothing crashes', async () => {
  writeFileSync(path.join(dir, 'ctr'), '#!/bin/sh\necho \'ctr: image "docker.io/no/such:image": not found\' >&2\nexit 1\n');
  chmodSync(path.join(dir, 'ctr'), 0o755);
  const PATH = process.env.PATH;
  process.env.PATH = `${dir}:${PATH}`;
  try {
    const s = exportFromContainerd('containerd:no/such:image', { containerdSocket: path.join(dir, 'none.sock') });
    await new Promise((r) => setTimeout(r, 500)); // ctr has failed by now; nobody reads yet
    const read = async () => {
      for await (const _ of s) {
        /* nothing comes */
      }
    };
    await expect(read()).rejects.toMatchObject({ code: 'E_REF_NOT_FOUND' });
  } finally {
    process.env.PATH = PATH;
  }
});
