import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { hexOf, isDigest, type Digest } from '../digest/digest.js';
import type { StoreLayout } from './layout.js';
import { ensureRealDir, fsyncDir, lstatOrUndefined, readFileNoFollow, writeFileAtomic } from '../util/fs-safe.js';
import { kindOf, type NotWhatItShouldBe } from './sweep-check.js';

/**
 * Image manifests the store holds although their config disagrees with their layers (the
 * config's rootfs.diff_ids do not match the layers' recomputed diffIDs, or their counts
 * differ). Only a registry push stores such a manifest: a registry must keep any well-formed
 * manifest whose blobs it has (OCI artifacts, the conformance suite's test image), while
 * ingest of an archive refuses it. The verdict is state, not a cache: one small file per
 * manifest, `.layerstore/unverified/<hex>`, holding the reason, written under the store
 * lock before index.json names the manifest, and swept by gc with the manifest.
 */

/** Largest reason file read back (they are one line). */
const MAX_REASON_BYTES = 4096;

export async function markUnverified(layout: StoreLayout, entries: Map<Digest, string>): Promise<void> {
  if (entries.size === 0) return;
  await ensureRealDir(layout.unverifiedDir);
  for (const [digest, reason] of entries) await writeFileAtomic(path.join(layout.unverifiedDir, hexOf(digest)), Buffer.from(reason + '\n'));
  await fsyncDir(layout.unverifiedDir);
}

/** Every unverified manifest with its reason. A store without the folder has none. */
export async function readUnverified(layout: StoreLayout): Promise<Map<Digest, string>> {
  const out = new Map<Digest, string>();
  let names: string[];
  try {
    if (!(await fsp.lstat(layout.unverifiedDir)).isDirectory()) return out;
    names = await fsp.readdir(layout.unverifiedDir);
  } catch {
    return out;
  }
  for (const n of names) {
    const digest = `sha256:${n}`;
    if (!isDigest(digest)) continue;
    // A record that cannot be read still marks its manifest: unverified is the safe verdict.
    const reason = await readFileNoFollow(path.join(layout.unverifiedDir, n), MAX_REASON_BYTES).then(
      (b) => b.toString('utf8').trim() || 'its config disagrees with its layers',
      () => 'its config disagrees with its layers (the record is unreadable)',
    );
    out.set(digest, reason);
  }
  return out;
}

/**
 * The records of manifests gc (or prune) does not keep: the paths to remove. A record that is
 * not a regular file goes to `bad` (the sweep then refuses); unverified/ itself is read only
 * when it is a real directory (readUnverified).
 */
export async function unverifiedToSweep(layout: StoreLayout, keep: (d: Digest) => boolean, bad: NotWhatItShouldBe[]): Promise<string[]> {
  const out: string[] = [];
  for (const digest of (await readUnverified(layout)).keys()) {
    if (keep(digest)) continue;
    const p = path.join(layout.unverifiedDir, hexOf(digest));
    const st = await lstatOrUndefined(p);
    if (!st) continue;
    if (st.isFile()) out.push(p);
    else bad.push({ path: p, problem: `${kindOf(st)} where an unverified record belongs` });
  }
  return out;
}
