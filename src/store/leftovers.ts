import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { StoreLayout } from './layout.js';
import { parseStagingName, stagingLive } from './staging-names.js';

/** A file an ingest or an index update left behind, and whether its process still runs. */
export interface Leftover {
  path: string;
  size: number;
  pid?: number;
  live: boolean;
}

function pidAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Staging files (staging-names.ts) and index temp files (".index.json.<pid>.<random>.tmp").
 * Files of a live process belong to a running ingest and must not be touched; the rest
 * are leftovers of a crash or kill -9. (A recycled pid only delays their removal.) A staging
 * file from another host or pid namespace is judged by its age, never by a pid of this one.
 * Index temp files are written only under the store lock, which gc and verify --fix hold.
 */
export async function findLeftovers(layout: StoreLayout, now = Date.now()): Promise<Leftover[]> {
  const out: Leftover[] = [];
  const add = async (p: string, pid: number | undefined, live: (ageMs: number) => boolean) => {
    // Only regular files (staged bytes, pins): anything else there is not an ingest's, and
    // a removal must never go through a link.
    const st = await fsp.lstat(p).catch(() => undefined);
    if (!st?.isFile()) return;
    out.push({ path: p, size: st.size, pid, live: live(now - Math.max(st.mtimeMs, st.ctimeMs)) });
  };
  for (const n of await fsp.readdir(layout.stagingDir).catch(() => [] as string[])) {
    const who = parseStagingName(n);
    await add(path.join(layout.stagingDir, n), who?.pid, (age) => stagingLive(who, age, pidAlive));
  }
  for (const n of await fsp.readdir(layout.root).catch(() => [] as string[])) {
    const m = /^\.(?:index\.json|oci-layout)\.(\d+)\.[0-9a-f]+\.tmp$/.exec(n);
    if (m) await add(path.join(layout.root, n), Number(m[1]), () => pidAlive(Number(m[1])));
  }
  return out;
}
