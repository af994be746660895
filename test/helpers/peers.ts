/**
 * Real peers the tests compare against (skopeo, umoci, docker-registry, htpasswd, openssl,
 * zstd, GNU tar) and the real-fixture archives in ../shared. A test that cannot run because a
 * peer is missing must not pass by skipping: under CI=true it fails, naming what to install;
 * on a developer's machine it is skipped with the same message on stderr.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from './cli.js';

/** CI=true (as CI sets it); read at each call. */
export const inCi = (): boolean => process.env.CI === 'true' || process.env.CI === '1';

export function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/** The real-fixture archives (../shared/fixtures-real beside the checkout). */
export const FIXTURES_REAL = path.resolve(REPO_ROOT, '..', 'shared', 'fixtures-real');

/**
 * Whether `what` is here. When it is not: throws under CI (the test file fails, with `how`
 * to get it), else warns and returns false so the caller skips.
 */
export function peer(what: string, present: boolean, how: string): boolean {
  if (present) return true;
  const msg = `${what} is missing (${how})`;
  if (inCi()) throw new Error(`${msg}: under CI=true a test that cannot run fails instead of skipping`);
  console.warn(`SKIPPED: ${msg}`);
  return false;
}

/** `peer` for commands on PATH, with the Debian package that brings them. */
export function commands(cmds: Array<[cmd: string, pkg: string]>): boolean {
  const missing = cmds.filter(([c]) => !onPath(c));
  return peer(missing.map(([c]) => c).join(', ') || 'nothing', missing.length === 0, `apt-get install ${[...new Set(missing.map(([, p]) => p))].join(' ')}`);
}

/** `peer` for the real-fixture archives. */
export function realFixtures(): boolean {
  return peer(FIXTURES_REAL, existsSync(path.join(FIXTURES_REAL, 'SOURCES.md')), 'they come with ../shared beside the checkout');
}
