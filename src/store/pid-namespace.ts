import { readlinkSync } from 'node:fs';

/**
 * This process's pid namespace (Linux: the link text of /proc/self/ns/pid, e.g.
 * "pid:[4026531836]"); '' where there is none to read. A pid names a process only within its
 * namespace: containers sharing a store volume each count pids from 1.
 */
export function pidNamespace(): string {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return '';
  }
}
