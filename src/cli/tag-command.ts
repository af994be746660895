import { LayerstoreError } from '../errors.js';
import { shortDigest } from '../digest/digest.js';
import { loadImages } from '../analysis/load-images.js';
import { selectImages } from '../analysis/select.js';
import { imageRoot } from '../analysis/image-root.js';
import { fullyQualified, normalizeUserRef, refCandidates } from '../formats/ref-names.js';
import { refOf } from '../store/refs.js';
import type { Descriptor } from '../formats/types.js';
import { requireStore, type GlobalOptions } from './context.js';
import type { Store } from '../store/store.js';

/** The root descriptor for SRC: a root ref as it is (an index stays an index), else the image's manifest. */
async function resolveSource(store: Store, src: string): Promise<Descriptor> {
  const roots = (await store.readIndex()).manifests;
  const names = refCandidates(src);
  const byRef = roots.find((d) => names.includes(refOf(d) ?? ''));
  if (byRef) return { mediaType: byRef.mediaType, digest: byRef.digest, size: byRef.size };
  const byDigest = roots.find((d) => d.digest === src || d.digest === `sha256:${src}`);
  if (byDigest) return { mediaType: byDigest.mediaType, digest: byDigest.digest, size: byDigest.size };
  const [img, ...more] = selectImages(await loadImages(store), [src]);
  if (more.length) throw new LayerstoreError('E_USAGE', `${JSON.stringify(src)} matches ${more.length + 1} images; use a longer digest`);
  return imageRoot(store, img!);
}

export async function tagCommand(src: string, dst: string, opts: GlobalOptions): Promise<number> {
  const store = await requireStore(opts);
  const descriptor = await resolveSource(store, src);
  const ref = normalizeUserRef(dst, 'target ref');
  if (ref.includes('@')) throw new LayerstoreError('E_USAGE', `target ref ${JSON.stringify(dst)} has a digest; a tag names an image by repository:tag`);
  const [change] = await store.updateRefs([{ descriptor, ref, fullName: fullyQualified(ref) }]);
  if (change?.from) {
    const others = (await store.readIndex()).manifests
      .filter((d) => d.digest === change.from)
      .map(refOf)
      .filter((r) => r !== undefined);
    const kept = others.length ? `which keeps ${others.length === 1 ? 'its ref' : 'its refs'} ${others.join(', ')}` : 'which is kept untagged';
    process.stdout.write(`tagged ${shortDigest(descriptor.digest)} as ${ref} (moved from ${shortDigest(change.from)}, ${kept})\n`);
  } else process.stdout.write(`tagged ${shortDigest(descriptor.digest)} as ${ref}\n`);
  return 0;
}

/**
 * Untag refs; a digest or image ID removes an untagged image (a tagged one only with
 * --force, which removes every root of it). An image whose last root goes is gone from
 * listings; gc frees its unshared blobs.
 */
export async function rmCommand(selectors: string[], opts: GlobalOptions & { force?: boolean }): Promise<number> {
  const store = await requireStore(opts);
  const roots = (await store.readIndex()).manifests;
  const doomed = new Set<Descriptor>();
  for (const sel of selectors) {
    const names = refCandidates(sel);
    const byRef = roots.filter((d) => names.includes(refOf(d) ?? ''));
    if (byRef.length) {
      for (const d of byRef) doomed.add(d);
      continue;
    }
    const hex = sel.startsWith('sha256:') ? sel.slice(7) : sel;
    let matched = /^[0-9a-f]{12,64}$/.test(hex) ? roots.filter((d) => d.digest.slice(7).startsWith(hex)) : [];
    if (!matched.length && /^[0-9a-f]{12,64}$/.test(hex)) {
      const imgs = (await loadImages(store)).filter((i) => i.configDigest.slice(7).startsWith(hex));
      matched = roots.filter((d) => imgs.some((i) => i.manifestDigest === d.digest));
    }
    if (!matched.length)
      throw new LayerstoreError('E_REF_NOT_FOUND', `no ref or stored image root matches ${JSON.stringify(sel)}`, {
        hint: 'layerstore ls lists refs and image IDs',
      });
    // As docker rmi: a digest or ID removes an untagged image; a tagged one only with --force.
    const tags = matched.map(refOf).filter((r): r is string => r !== undefined);
    if (tags.length && !opts.force) {
      throw new LayerstoreError(
        'E_USAGE',
        `${sel} names an image with ${tags.length === 1 ? 'tag' : 'tags'} ${tags.join(', ')}; rm would remove ${tags.length === 1 ? 'it' : 'them all'}`,
        {
          hint: 'rm the tags themselves, or pass --force to remove every tag of the image',
        },
      );
    }
    for (const d of matched) doomed.add(d);
  }
  const removed = await store.removeRoots((d) => [...doomed].some((x) => x.digest === d.digest && refOf(x) === refOf(d)));
  const left = (await store.readIndex()).manifests;
  for (const [i, d] of removed.entries()) {
    // "removed" once, on the last line of an image whose every root went.
    const gone = !left.some((x) => x.digest === d.digest) && !removed.slice(i + 1).some((x) => x.digest === d.digest);
    process.stdout.write(
      `${refOf(d) ? `untagged ${refOf(d)}` : `removed untagged ${shortDigest(d.digest)}`}${gone ? ` (image ${shortDigest(d.digest)} removed; layerstore gc frees its blobs)` : ''}\n`,
    );
  }
  return 0;
}
