import os from 'node:os';
import path from 'node:path';

/**
 * Where the store lives when --store is not given: $LAYERSTORE_STORE, else the per-user
 * data directory ($XDG_DATA_HOME/layerstore, default ~/.local/share/layerstore), like
 * other tools that keep images for a user (podman keeps ~/.local/share/containers).
 */
export function defaultStoreDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LAYERSTORE_STORE) return path.resolve(env.LAYERSTORE_STORE);
  const dataHome = env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME) ? env.XDG_DATA_HOME : path.join(os.homedir(), '.local', 'share');
  return path.join(dataHome, 'layerstore');
}
