import { isDigest, type Digest } from '../digest/digest.js';
import { isDocumentType, MAX_JSON_BYTES, type Descriptor } from '../formats/types.js';
import type { Store } from '../store/store.js';

/**
 * The referrer descriptor of a root whose document has a `subject` (OCI 1.1: a signature, an
 * SBOM, an attestation attached to an image): its media type, digest and size, artifactType
 * (the manifest's, else its config's media type) and annotations. Documents that cannot be
 * read are not referrers (verify reports them).
 */
export async function referrerOf(store: Store, d: Descriptor): Promise<Referrer | undefined> {
  if (!isDocumentType(d.mediaType)) return undefined;
  let doc: unknown;
  try {
    doc = await store.blobs.readJson(d.digest, MAX_JSON_BYTES);
  } catch {
    return undefined;
  }
  return referrerIn(d, doc);
}

export interface Referrer {
  subject: Digest;
  descriptor: Descriptor;
}

/** The same, from the document `d` names, already read (image-records reads every root once). */
export function referrerIn(d: Descriptor, parsed: unknown): Referrer | undefined {
  if (!parsed || typeof parsed !== 'object') return undefined;
  const doc = parsed as Record<string, unknown>;
  const subject = (doc.subject as { digest?: unknown } | undefined)?.digest;
  if (typeof subject !== 'string' || !isDigest(subject)) return undefined;
  const descriptor: Descriptor = { mediaType: d.mediaType, digest: d.digest, size: d.size };
  const configType = (doc.config as { mediaType?: unknown } | undefined)?.mediaType;
  const artifactType = typeof doc.artifactType === 'string' ? doc.artifactType : typeof configType === 'string' ? configType : undefined;
  if (artifactType) descriptor.artifactType = artifactType;
  if (doc.annotations && typeof doc.annotations === 'object') descriptor.annotations = doc.annotations as Record<string, string>;
  return { subject, descriptor };
}

/** Referrers by the digest of what they refer to; a root listed twice (two refs) counts once. */
export function bySubject(referrers: Iterable<Referrer>): Map<Digest, Descriptor[]> {
  const out = new Map<Digest, Descriptor[]>();
  const seen = new Set<Digest>();
  for (const r of referrers) {
    if (seen.has(r.descriptor.digest)) continue;
    seen.add(r.descriptor.digest);
    const list = out.get(r.subject) ?? [];
    list.push(r.descriptor);
    out.set(r.subject, list);
  }
  return out;
}
