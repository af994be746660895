import { accessSync, constants as C } from 'node:fs';
import path from 'node:path';

/** PATH lookups done so far, by command name (null: not found). */
const found = new Map<string, string | null>();

/**
 * A helper command to run: `choice` when it is an absolute path to an executable (a user's
 * pick, e.g. LAYERSTORE_ZSTD=/opt/zstd), else the first `name` on PATH (looked up once per
 * process); undefined when there is none. Only absolute paths: a relative PATH entry would
 * run whatever the current directory holds.
 */
export function findExecutable(name: string, choice: string | undefined, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (choice && path.isAbsolute(choice)) return executable(choice) ? choice : undefined;
  const key = `${name}\0${env.PATH ?? ''}`;
  if (!found.has(key)) {
    let hit: string | null = null;
    for (const dir of (env.PATH ?? '').split(path.delimiter)) {
      const p = path.join(dir || '.', name);
      if (path.isAbsolute(p) && executable(p)) {
        hit = p;
        break;
      }
    }
    found.set(key, hit);
  }
  return found.get(key) ?? undefined;
}

function executable(p: string): boolean {
  try {
    accessSync(p, C.X_OK);
    return true;
  } catch {
    return false;
  }
}
