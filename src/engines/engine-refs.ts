/**
 * The transport prefixes of images that live in an engine, and their tests: what the CLI
 * checks on every argument. Kept apart from the engine clients so that a run given no such
 * argument never loads them (node:http and node:child_process cost ~12 ms of start-up).
 */

/** `docker-daemon:NAME[:TAG]`, as skopeo spells it, or alone for every image. */
export const DOCKER_DAEMON = 'docker-daemon:';

/** `containerd:[NAMESPACE/]NAME[:TAG]`. */
export const CONTAINERD = 'containerd:';

export function isDockerDaemonRef(arg: string): boolean {
  return arg.startsWith(DOCKER_DAEMON);
}

export function isContainerdRef(arg: string): boolean {
  return arg.startsWith(CONTAINERD);
}
