import { MAX_JSON_BYTES } from '../formats/types.js';

/**
 * What an archive entry's name says about whether a format reader may ask for it, for the
 * one pass over a compressed archive, which must decide at each header whether to keep the
 * bytes (manifest.json, which says what a docker save uses, usually comes last).
 *
 * OCI readers ask only for index.json, oci-layout and blobs/sha256/<hex>. manifest.json may
 * name any entry, but the tools that write docker-style archives use a few shapes: docker's
 * <v1id>/layer.tar and <hex>.json, podman/skopeo's <hex>.tar, go-containerregistry's
 * sha256:<hex> config and <hex>.tar.gz layers. An entry of another name (docker's
 * <v1id>/json and VERSION, repositories, anything else) is not kept; when manifest.json
 * does name one (Jib's config.json), ingest reads the archive a second time for it.
 */
const HEX = '[0-9a-f]{64}';
const JSON_DOCUMENT = new RegExp(`^(?:manifest\\.json|index\\.json|oci-layout|${HEX}\\.json|sha256:${HEX})$`);
const BLOB = new RegExp(`^(?:blobs/sha256/${HEX}|${HEX}/layer\\.tar|${HEX}\\.tar(?:\\.gz|\\.zst)?)$`);

/**
 * Whether to keep this entry's bytes while streaming. A document only ever read as JSON is
 * not kept above the JSON limit: reading it fails on its size, known from its header.
 */
export function keptWhileStreaming(name: string, size: number): boolean {
  if (JSON_DOCUMENT.test(name)) return size <= MAX_JSON_BYTES;
  return BLOB.test(name);
}

/**
 * The entry names a docker-save manifest.json lists (configs are read as JSON), read
 * leniently: what is not a name is skipped here and reported by the format reader.
 */
export function namesListedBy(manifest: unknown): Array<{ name: string; json: boolean }> {
  const out: Array<{ name: string; json: boolean }> = [];
  if (!Array.isArray(manifest)) return out;
  for (const item of manifest as unknown[]) {
    if (typeof item !== 'object' || item === null) continue;
    const { Config, Layers } = item as { Config?: unknown; Layers?: unknown };
    if (typeof Config === 'string') out.push({ name: Config, json: true });
    if (Array.isArray(Layers)) for (const l of Layers) if (typeof l === 'string') out.push({ name: l, json: false });
  }
  return out;
}
