import { isLayerstoreError } from '../errors.js';
import type { StagedFile } from '../ingest/staged-file.js';
import { isDigest, type Digest } from '../digest/digest.js';
import { sha256Of } from '../digest/hasher.js';
import { IngestPlan } from '../ingest/plan.js';
import { commitPlan } from '../ingest/ingest.js';
import { storedBlobAsStaged } from '../ingest/blob-diffid.js';
import { fullyQualified } from '../formats/ref-names.js';
import { imageDisagreement } from '../formats/oci.js';
import { INDEX_TYPES, MANIFEST_TYPES, documentKind, isImageManifest, parseIndex, parseJson, parseManifest, type Descriptor } from '../formats/types.js';
import type { Store } from '../store/store.js';
import { RegistryError } from './errors.js';

/** Largest manifest accepted, as distribution's default. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;
/** Largest image config parsed on a push, as containers/image's limit for configs. */
export const MAX_CONFIG_BYTES = 4 * 1024 * 1024;

/**
 * Accept a pushed manifest or index: check its digest, that every blob (or child manifest)
 * it names is stored with the size it claims, and for an image whether each layer's diffID
 * (recomputed from the bytes) matches the config; then commit it and its tag through the
 * ingest path (IngestPlan + commitPlan: the same checks, the same lock, the same atomicity).
 * An image whose config disagrees with its layers is stored and recorded as unverified.
 */
export async function putManifest(
  store: Store,
  repo: string,
  reference: string,
  bytes: Buffer,
  contentType: string | undefined,
  visible: (d: Digest) => boolean,
): Promise<{ digest: Digest; uses: Digest[]; subject?: Digest }> {
  const digest = sha256Of(bytes);
  if (reference.startsWith('sha256:') && reference !== digest) {
    throw new RegistryError(400, 'DIGEST_INVALID', `the manifest hashes to ${digest}, not ${reference}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new RegistryError(400, 'MANIFEST_INVALID', 'the manifest is not valid JSON');
  }
  const declared = (doc as { mediaType?: unknown })?.mediaType;
  const mediaType = typeof declared === 'string' ? declared : (contentType?.split(';')[0]?.trim() ?? '');
  if (typeof declared === 'string' && contentType && !contentType.startsWith(declared) && contentType !== 'application/json') {
    throw new RegistryError(400, 'MANIFEST_INVALID', `Content-Type ${contentType} does not match the manifest's mediaType ${declared}`);
  }
  let kind: ReturnType<typeof documentKind> = 'unknown';
  const plan = new IngestPlan();
  const pinned: StagedFile[] = [];
  // A repository may only name blobs it holds (its tags reach them, or they were pushed or
  // mounted into it), as distribution requires: no reading another repository's layers by guessing.
  const need = async (d: Descriptor, what: string) => {
    if (!visible(d.digest)) throw new RegistryError(400, 'MANIFEST_BLOB_UNKNOWN', `${what} ${d.digest} is not in ${repo}`, { digest: d.digest });
    const f = await storedBlobAsStaged(store, d.digest);
    if (!f) throw new RegistryError(400, 'MANIFEST_BLOB_UNKNOWN', `${what} ${d.digest} is not in ${repo}`, { digest: d.digest });
    pinned.push(f);
    return f;
  };
  try {
    kind = documentKind(mediaType, doc, 'manifest'); // refuses a document its type does not describe
    if (kind === 'index') {
      const idx = parseIndex(doc, 'manifest');
      for (const [i, child] of idx.manifests.entries()) plan.useBlob(await need(child, `manifests[${i}]`), child, `manifests[${i}]`);
    } else if (kind === 'manifest') {
      const m = parseManifest(doc, 'manifest');
      const config = await need(m.config, 'config');
      plan.useBlob(config, m.config, 'config');
      const layers = [];
      for (const [i, l] of m.layers.entries()) {
        const f = await need(l, `layer ${i}`);
        plan.useBlob(f, l, `layer ${i}`);
        layers.push(f);
      }
      if (isImageManifest(m)) {
        // The size is checked before a byte is read: a 300 MB "config" must not reach JSON.parse.
        if (config.blob.size > MAX_CONFIG_BYTES) {
          throw new RegistryError(400, 'MANIFEST_INVALID', `the config is ${config.blob.size} bytes; image configs are limited to ${MAX_CONFIG_BYTES} bytes`);
        }
        const cfgBytes = await store.writer.readStaged(config.blob, MAX_CONFIG_BYTES);
        if (!cfgBytes) throw new RegistryError(400, 'MANIFEST_INVALID', `the config ${config.blob.digest} is not stored`);
        const problem = imageDisagreement(plan, parseJson(cfgBytes, 'config', MAX_CONFIG_BYTES), layers);
        // Stored all the same (a registry keeps any well-formed manifest whose blobs it has),
        // but recorded, so verify, report and export do not take it for a verified image.
        if (problem) plan.unverified.set(digest, problem);
      }
    } else {
      throw new RegistryError(400, 'MANIFEST_INVALID', `unsupported manifest media type ${JSON.stringify(mediaType)}`);
    }
  } catch (e) {
    for (const f of pinned) await store.writer.discard(f.blob);
    if (e instanceof RegistryError) throw e;
    if (isLayerstoreError(e)) {
      const code = e.code === 'E_DIGEST_MISMATCH' ? 'DIGEST_INVALID' : e.code === 'E_SIZE_MISMATCH' ? 'SIZE_INVALID' : 'MANIFEST_INVALID';
      throw new RegistryError(400, code, e.message);
    }
    throw e;
  }
  plan.synthesized.set(digest, bytes);
  const descriptor: Descriptor = {
    mediaType:
      kind === 'index'
        ? INDEX_TYPES.has(mediaType)
          ? mediaType
          : 'application/vnd.oci.image.index.v1+json'
        : MANIFEST_TYPES.has(mediaType)
          ? mediaType
          : 'application/vnd.oci.image.manifest.v1+json',
    digest,
    size: bytes.length,
  };
  // By digest, the manifest is kept under "repo@digest" (a valid OCI ref name), so it stays in
  // its repository across restarts and a delete can name it; by tag, under "repo:tag".
  const ref = reference.startsWith('sha256:') ? `${repo}@${digest}` : `${repo}:${reference}`;
  plan.roots.push({ descriptor, ref, fullName: fullyQualified(ref) });
  try {
    await commitPlan(store, plan);
  } finally {
    for (const f of pinned) await store.writer.discard(f.blob);
  }
  const subject = (doc as { subject?: { digest?: unknown } }).subject?.digest;
  return { digest, uses: [...plan.blobs.keys()], ...(typeof subject === 'string' && isDigest(subject) ? { subject } : {}) };
}
