import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Credentials {
  username: string;
  password: string;
}

/**
 * Credentials for a registry, first found wins: the flags, then LAYERSTORE_USERNAME /
 * LAYERSTORE_PASSWORD, then the "auths" of the Docker config file ($DOCKER_CONFIG/config.json,
 * default ~/.docker/config.json), as `docker login` writes it.
 */
export async function findCredentials(
  registry: string,
  flags: { username?: string; password?: string },
  env: NodeJS.ProcessEnv = process.env,
): Promise<Credentials | undefined> {
  if (flags.username && flags.password !== undefined) return { username: flags.username, password: flags.password };
  if (env.LAYERSTORE_USERNAME && env.LAYERSTORE_PASSWORD !== undefined) return { username: env.LAYERSTORE_USERNAME, password: env.LAYERSTORE_PASSWORD };
  const file = path.join(env.DOCKER_CONFIG ?? path.join(os.homedir(), '.docker'), 'config.json');
  let cfg: { auths?: Record<string, { auth?: string; username?: string; password?: string }> };
  try {
    cfg = JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
  const keys =
    registry === 'docker.io' ? ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io'] : [registry, `https://${registry}`, `http://${registry}`];
  for (const k of keys) {
    const a = cfg.auths?.[k] ?? cfg.auths?.[`${k}/`];
    if (!a) continue;
    if (a.username && a.password !== undefined) return { username: a.username, password: a.password };
    if (a.auth) {
      const decoded = Buffer.from(a.auth, 'base64').toString('utf8');
      const i = decoded.indexOf(':');
      if (i > 0) return { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
    }
  }
  return undefined;
}
