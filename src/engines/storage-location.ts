import { existsSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LayerstoreError } from '../errors.js';

/** The transport prefix, as skopeo spells it: `containers-storage:[driver@graphroot+runroot]NAME[:TAG]`. */
export const CONTAINERS_STORAGE = 'containers-storage:';

export function isContainersStorageRef(arg: string): boolean {
  return arg.startsWith(CONTAINERS_STORAGE);
}

/** Where a containers/storage store lives (podman, buildah, CRI-O and skopeo share it). */
export interface StorageLocation {
  driver: string;
  graphroot: string;
  runroot: string;
}

export interface StorageOptions {
  /** --storage-root: the graphroot (podman --root). */
  storageRoot?: string;
  /** --storage-driver: vfs or overlay (podman --storage-driver). */
  storageDriver?: string;
}

/**
 * `containers-storage:[vfs@/var/lib/x+/run/x]docker.io/acme/api:1.0` split into the store
 * specifier (as c/image's ParseStoreReference reads it: `[driver@graphroot+runroot:options]`)
 * and the image (a name, `NAME@ID`, an ID, or nothing: every image of the store).
 */
export function parseStorageRef(arg: string): { spec: Partial<StorageLocation>; image: string } {
  let rest = arg.slice(CONTAINERS_STORAGE.length);
  const spec: Partial<StorageLocation> = {};
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0)
      throw new LayerstoreError('E_USAGE', `${JSON.stringify(arg)}: the store specifier has no closing ]`, {
        hint: 'containers-storage:[vfs@/var/lib/containers/storage+/run/containers/storage]NAME',
      });
    let s = rest.slice(1, close);
    rest = rest.slice(close + 1);
    const at = s.indexOf('@');
    if (at >= 0) {
      spec.driver = s.slice(0, at);
      s = s.slice(at + 1);
    }
    const colon = s.indexOf(':');
    if (colon >= 0) s = s.slice(0, colon); // driver options: not needed to read the store
    const plus = s.indexOf('+');
    if (plus >= 0) {
      spec.runroot = s.slice(plus + 1);
      s = s.slice(0, plus);
    }
    if (s) spec.graphroot = s;
    if (spec.graphroot && !path.isAbsolute(spec.graphroot))
      throw new LayerstoreError('E_USAGE', `${JSON.stringify(arg)}: the graphroot ${JSON.stringify(spec.graphroot)} is not an absolute path`);
  }
  return { spec, image: rest };
}

/**
 * Where the store is, in podman's order: the ref's specifier, then --storage-root/--storage-driver,
 * then storage.conf ($CONTAINERS_STORAGE_CONF, else /etc/containers/storage.conf and
 * /usr/share/containers/storage.conf as root, ~/.config/containers/storage.conf rootless), then
 * the defaults (/var/lib/containers/storage as root, ~/.local/share/containers/storage
 * rootless). A driver nothing names is the one whose `<driver>-images/images.json` exists.
 */
export function locateStore(spec: Partial<StorageLocation>, opts: StorageOptions): StorageLocation {
  const conf = readStorageConf();
  const rootless = process.getuid?.() !== 0;
  const home = os.homedir();
  const graphroot =
    spec.graphroot ??
    opts.storageRoot ??
    (rootless ? conf.rootless_storage_path : undefined) ??
    conf.graphroot ??
    (rootless ? path.join(process.env.XDG_DATA_HOME || path.join(home, '.local/share'), 'containers/storage') : '/var/lib/containers/storage'); // prettier-ignore
  const runroot =
    spec.runroot ??
    conf.runroot ??
    (rootless ? path.join(process.env.XDG_RUNTIME_DIR || `/run/user/${process.getuid?.()}`, 'containers') : '/run/containers/storage');
  const driver = spec.driver || opts.storageDriver || process.env.STORAGE_DRIVER || conf.driver || detectDriver(graphroot);
  return { driver, graphroot, runroot };
}

function detectDriver(graphroot: string): string {
  for (const d of ['overlay', 'vfs', 'btrfs', 'zfs']) if (existsSync(path.join(graphroot, `${d}-images`, 'images.json'))) return d;
  return 'overlay';
}

/** The [storage] keys of storage.conf we need (a flat TOML reading: `key = "value"` lines). */
function readStorageConf(): Record<string, string> {
  const rootless = process.getuid?.() !== 0;
  const candidates = process.env.CONTAINERS_STORAGE_CONF
    ? [process.env.CONTAINERS_STORAGE_CONF]
    : rootless
      ? [
          path.join(process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config'), 'containers/storage.conf'),
          '/etc/containers/storage.conf',
          '/usr/share/containers/storage.conf',
        ]
      : ['/etc/containers/storage.conf', '/usr/share/containers/storage.conf'];
  for (const file of candidates) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    const out: Record<string, string> = {};
    let section = '';
    for (const raw of text.split('\n')) {
      const line = raw.replace(/#.*$/, '').trim();
      const sec = /^\[([^\]]+)\]$/.exec(line);
      if (sec) section = sec[1]!.trim();
      const kv = /^([a-z_]+)\s*=\s*"([^"]*)"$/.exec(line);
      if (kv && section === 'storage') out[kv[1]!] = kv[2]!;
    }
    return out;
  }
  return {};
}
