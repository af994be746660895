import { LayerstoreError } from '../errors.js';
import { engineJson, type EngineEndpoint } from './engine-api.js';

/**
 * How many containers (running or not) use each image, by image ID, from
 * `GET /containers/json?all=1` (`ImageID`), as `docker system df -v` counts them: a stopped
 * container keeps its image from being removed too.
 */
export async function containersByImage(ep: EngineEndpoint): Promise<Map<string, number>> {
  const list = await engineJson(ep, '/containers/json?all=1');
  if (!Array.isArray(list))
    throw new LayerstoreError('E_ENGINE', `the container engine at ${ep.label} answered /containers/json with something that is not a list`);
  const counts = new Map<string, number>();
  for (const c of list as Array<{ ImageID?: unknown }>) {
    if (typeof c.ImageID !== 'string') continue;
    const id = c.ImageID.startsWith('sha256:') ? c.ImageID : `sha256:${c.ImageID}`;
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}
