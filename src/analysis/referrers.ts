import { isDigest, type Digest } from '../digest/digest.js';
import { isDocumentType, MAX_JSON_BYTES, type Descriptor } from '../formats/types.js';
import type { Store } from '../store/store.js';

/**
 * The referrer descriptor of a root whose document has a `subject` (OCI 1.1: a signature, an
 * SBOM, an attestation attached to an image): its media type, digest and size, artifactType
 * (the manifest's, else its config's media type) and annotations. Documents that cannot be
 * read are not referrers (verify reports them).
 */
export async function referrerOf(store: Store, d: Descriptor): Promise<{ subject: Digest; descriptor: Descriptor } | undefined> {
  if (!isDocumentType(d.mediaType)) return undefined;
  let doc: Record<string, unknown>;
  try {
    doc = (await store.blobs.readJson(d.digest, MAX_JSON_BYTES)) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  const subject = (doc?.subject as { digest?: unknown } | undefined)?.digest;
  if (typeof subject !== 'string' || !isDigest(subject)) return undefined;
  const descriptor: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  const configType = (doc.config as { mediaType?: unknown } | undefined)?.mediaType;
  const artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : typeof configType === 'string' ? configType : undefined;
  if (artifactType) descriptor.artifactType = artifactType;
  if (doc.annotations && typeof doc.annotations === 'object') descriptor.annotations = doc.annotations as Record<string, string>;
  return { subject, descriptor };
}

/** Every referrer the store's roots hold, by the digest of what they refer to. */
export async function referrersBySubject(store: Store): Promise<Map<Digest, Descriptor[]>> {
  const out = new Map<Digest, Descriptor[]>();
  const seen = new Set<Digest>();
  for (const root of (await store.readIndex()).manifests) {
    if (seen.has(root.digest)) continue;
    seen.add(root.digest);
    const r = await referrerOf(store, root);
    if (!r) continue;
    const list = out.get(r.subject) ?? [];
    list.push(r.descriptor);
    out.set(r.subject, list);
  }
  return out;
}
