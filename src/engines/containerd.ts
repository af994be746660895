import { spawn } from 'node:child_process';
import { PassThrough, type Readable } from 'node:stream';
import { LayerstoreError } from '../errors.js';
import { parseDockerRef } from '../formats/ref-names.js';
import { CONTAINERD } from './engine-refs.js';

export interface ContainerdOptions {
  /** containerd's socket (else $CONTAINERD_ADDRESS, else /run/containerd/containerd.sock). */
  containerdSocket?: string;
}

/**
 * Which namespace and image name `containerd:...` means. containerd keeps images under full
 * names ("docker.io/library/alpine:3.10"), so a namespace in front is told apart by what
 * follows it: `containerd:k8s.io/registry.k8s.io/pause:3.9` is namespace k8s.io;
 * `containerd:docker.io/library/alpine:3.10` and `containerd:alpine:3.10` are in `default`
 * (docker's store uses `moby`, Kubernetes `k8s.io`). A short name gets docker's defaults.
 */
export function parseContainerdRef(arg: string): { namespace: string; name: string } {
  let rest = arg.slice(CONTAINERD.length);
  let namespace = process.env.CONTAINERD_NAMESPACE || 'default';
  const slash = rest.indexOf('/');
  if (slash > 0) {
    const next = rest.slice(slash + 1).split('/')[0]!;
    if (rest.slice(slash + 1).includes('/') && (next.includes('.') || next.includes(':') || next === 'localhost')) {
      namespace = rest.slice(0, slash);
      rest = rest.slice(slash + 1);
    }
  }
  const p = rest ? parseDockerRef(rest) : undefined;
  if (!p)
    throw new LayerstoreError('E_USAGE', `${JSON.stringify(arg)} is not containerd:[NAMESPACE/]NAME[:TAG]`, {
      hint: 'e.g. containerd:docker.io/library/alpine:3.19, or containerd:k8s.io/registry.k8s.io/pause:3.9',
    });
  const name = `${p.domain}/${p.path}${p.digest ? `@${p.digest}` : `:${p.tag ?? 'latest'}`}`;
  return { namespace, name };
}

/**
 * containerd's own export of an image (`ctr images export`, an OCI archive with the image's
 * platforms) as a stream, read by ingestStream as it arrives. We go through ctr rather than
 * reading its content store in place: the names and namespaces live in containerd's bbolt
 * metadata database, which only containerd may open while it runs. The stream ends only when
 * ctr has exited 0; otherwise it fails with ctr's own message, so nothing is committed.
 */
export function exportFromContainerd(arg: string, opts: ContainerdOptions): Readable {
  const { namespace, name } = parseContainerdRef(arg);
  const socket = opts.containerdSocket || process.env.CONTAINERD_ADDRESS || '/run/containerd/containerd.sock';
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  // ctr may fail before the reader starts (the caller awaits other things first): the error
  // stays on the stream, and the reader's iterator throws it; without a listener it would
  // crash the process (exit 1) instead.
  out.on('error', () => {});
  // --skip-manifest-json: without it ctr also writes a Docker manifest.json for the host's
  // platform, and fails ("no manifest found for platform") on an image that has none (an
  // arm64-only image on amd64). The refs come from index.json's annotations either way.
  const args = ['-a', socket, '-n', namespace, 'images', 'export', '--all-platforms', '--skip-manifest-json', '-', name];
  const ctr = spawn('ctr', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  ctr.stderr.setEncoding('utf8').on('data', (c: string) => (stderr = (stderr + c).slice(-4096)));
  ctr.stdout.pipe(out, { end: false });
  ctr.on('error', (e: NodeJS.ErrnoException) => {
    out.destroy(
      new LayerstoreError('E_ENGINE', e.code === 'ENOENT' ? 'the ctr command is not on PATH (apt-get install containerd)' : `cannot run ctr: ${e.message}`),
    );
  });
  ctr.on('close', (code) => {
    if (code === 0) return void out.end();
    const why = stderr.trim().split('\n').pop() ?? '';
    // Only containerd's own "image \"NAME\": not found" is a missing image: other failures
    // end in "not found" too (a platform, a blob of the content store) and are ctr's.
    const notFound = /\bimage "[^"]*": not found/i.test(why);
    out.destroy(
      notFound
        ? new LayerstoreError('E_REF_NOT_FOUND', `containerd (namespace ${namespace}) has no image ${name}`, {
            hint: `ctr -n ${namespace} images ls lists what it has`,
          })
        : new LayerstoreError('E_ENGINE', `ctr images export of ${name} (namespace ${namespace}, socket ${socket}) failed: ${why || `exit ${code}`}`, {
            hint: 'pass --containerd-socket PATH or set CONTAINERD_ADDRESS',
          }),
    );
  });
  // A reader that stops early (bad input) stops ctr too.
  out.on('close', () => {
    if (ctr.exitCode === null) ctr.kill();
  });
  return out;
}
