import { createHash, randomBytes } from 'node:crypto';
import os from 'node:os';
import { pidNamespace } from './pid-namespace.js';

/**
 * Names of staging files: "<pid>-<where>-<16 hex>.partial", where <where> is 8 hex of the
 * sha256 of this host's name and pid namespace (as the store lock's owner records them). A pid
 * says whether its process lives only on the host and in the namespace it came from: a gc in
 * another container sharing the store must not judge a live ingest's files by a pid of its own
 * namespace. Such files (and those of older versions, whose names do not say where they come
 * from) are judged by age instead: a leftover only once untouched for FOREIGN_STAGING_MS.
 */

/** 24 hours: far longer than an ingest leaves a staging file untouched (it writes it, or pins and commits within the run). */
export const FOREIGN_STAGING_MS = 24 * 60 * 60 * 1000;

let here: string | undefined;

/** This process's host and pid namespace, as staging names carry it. */
export function hereTag(): string {
  here ??= createHash('sha256').update(`${os.hostname()}\n${pidNamespace()}`).digest('hex').slice(0, 8);
  return here;
}

/** The prefix of every staging file this process makes. */
export function ownStagingPrefix(): string {
  return `${process.pid}-${hereTag()}-`;
}

/** A new staging file name (in staging/). */
export function stagingFileName(): string {
  return `${ownStagingPrefix()}${randomBytes(8).toString('hex')}.partial`;
}

/** Who made a staging file: its pid, and where that pid means something (absent in an older version's name). */
export function parseStagingName(name: string): { pid: number; where?: string } | undefined {
  const m = /^(\d+)-(?:([0-9a-f]{8})-)?[0-9a-f]{16}\.partial$/.exec(name) ?? /^(\d+)-/.exec(name);
  if (!m) return undefined;
  return m[2] ? { pid: Number(m[1]), where: m[2] } : { pid: Number(m[1]) };
}

/**
 * Whether a staging file may belong to a running ingest. From here: its pid lives. From another
 * host or pid namespace (or an unknown one): it was touched (data or inode: a pin's hard link
 * changes its ctime) within FOREIGN_STAGING_MS.
 */
export function stagingLive(
  who: { pid: number; where?: string } | undefined,
  ageMs: number,
  pidAlive: (pid: number) => boolean,
  hereWhere: string = hereTag(),
): boolean {
  if (!who) return false;
  if (who.where === hereWhere) return pidAlive(who.pid);
  return ageMs < FOREIGN_STAGING_MS;
}
