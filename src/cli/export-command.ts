import { LayerstoreError } from '../errors.js';
import { loadImages } from '../analysis/load-images.js';
import { selectImages } from '../analysis/select.js';
import { imageRoot } from '../analysis/image-root.js';
import { refCandidates } from '../formats/ref-names.js';
import { refOf } from '../store/refs.js';
import { exportArchive, type ExportRoot } from '../export/export-archive.js';
import { humanBytes } from '../report/human.js';
import { info, requireStore, type GlobalOptions } from './context.js';
import { exitCleanlyOnSignal } from './interrupt.js';
import { shortDigest } from '../digest/digest.js';

export async function exportCommand(selectors: string[], opts: GlobalOptions & { output?: string }): Promise<number> {
  if (!opts.output) throw new LayerstoreError('E_USAGE', 'say where to write the tarball: -o FILE.tar (or -o - for standard output)');
  const store = await requireStore(opts);
  const rootsInStore = (await store.readIndex()).manifests;
  const roots: ExportRoot[] = [];
  for (const sel of selectors) {
    const names = refCandidates(sel);
    const byRef = rootsInStore.find((d) => names.includes(refOf(d) ?? ''));
    if (byRef) {
      roots.push({ descriptor: { mediaType: byRef.mediaType, digest: byRef.digest, size: byRef.size }, ref: refOf(byRef) });
      continue;
    }
    for (const img of selectImages(await loadImages(store), [sel])) {
      roots.push({ descriptor: await imageRoot(store, img) });
    }
  }
  let r: Awaited<ReturnType<typeof exportArchive>>;
  // Ctrl-C, SIGTERM, a closed terminal: exit at once, the pins (staging links) removed here and
  // the temp file beside -o by output-target.ts's exit hook, so nothing is left behind.
  const stopped = `the export stopped; -o ${opts.output} was not created or replaced (a device or pipe got part of the tarball)`;
  const disposeSignals = exitCleanlyOnSignal(store, stopped);
  try {
    r = await exportArchive(store, roots, opts.output);
  } catch (e) {
    // `export -o - | head -c 100` (or -o /dev/stdout, or a FIFO): the reader stopped early.
    // Stop quietly, as every command does when its stdout closes (main.ts, closed-output.ts):
    // no error line, the exit code so far. Only a pipe or socket gives EPIPE: the tarball was
    // never a file, so nothing is left behind.
    if (e instanceof LayerstoreError && (e.cause as NodeJS.ErrnoException | undefined)?.code === 'EPIPE')
      return process.exitCode === undefined ? 0 : Number(process.exitCode);
    throw e;
  } finally {
    disposeSignals();
  }
  const unverified = await store.unverified();
  for (const m of r.manifests) {
    const why = unverified.get(m);
    if (why) info(opts, `warning: image ${shortDigest(m)} is unverified (${why}): docker load and other tools may refuse it`);
  }
  (r.toStdout ? process.stderr : process.stdout).write(
    `wrote ${r.file}: ${r.images} image${r.images === 1 ? '' : 's'}, ${r.blobs} blobs, ${humanBytes(r.bytes)}\n`,
  );
  return 0;
}
