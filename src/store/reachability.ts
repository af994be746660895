import { promises as fsp } from 'node:fs';
import type { Digest } from '../digest/digest.js';
import { MAX_JSON_BYTES, documentKind, isDocumentType, parseIndex, parseManifest, type Descriptor } from '../formats/types.js';
import { lstatOrUndefined } from '../util/fs-safe.js';
import type { StoreLayout } from './layout.js';
import { refOf } from './refs.js';
import type { Store } from './store.js';
import { appendAll } from '../util/append.js';

/** Who reaches a blob: a root's ref, or "<none>@<digest>" for an untagged root. */
export type RootName = string;

export interface Reachability {
  /** Every stored blob reachable from index.json. */
  reachable: Set<Digest>;
  /** Blobs that a present manifest or index.json needs but the store lacks (damage). */
  missing: Array<{ digest: Digest; neededBy: Digest; roots: RootName[] }>;
  /** Index children not stored (a save of one platform of a multi-platform image): normal. */
  absentPlatforms: number;
  /** For each reachable or missing blob, the roots that depend on it. */
  roots: Map<Digest, Set<RootName>>;
  /**
   * Manifests or indexes that are not valid JSON documents of their type, and reachable
   * blobs that are not regular files. When there are any, the mark is incomplete: what
   * they would have named is unknown, so gc refuses to sweep and verify lists no orphans.
   */
  unreadable: Array<{ digest: Digest; error: string }>;
  /**
   * The entries of `missing` that are manifests or indexes a root needs: a root's own
   * document, or an index child that verify --fix quarantined (one that was never stored is
   * an absent platform, not this). What they named is unknown, so, as with unreadable ones,
   * the mark is incomplete: gc refuses to sweep and verify lists no orphans.
   */
  lostDocuments: Reachability['missing'];
}

export function rootName(d: Descriptor): RootName {
  return refOf(d) ?? `<none>@${d.digest}`;
}

/**
 * Mark phase shared by verify and gc: walk index.json roots through indexes to manifests,
 * configs and layers. A missing index child is tolerated (Docker saves one platform of a
 * multi-platform image); a missing config or layer of a present manifest is damage.
 */
export async function markReachable(store: Store, layout: StoreLayout): Promise<Reachability> {
  const [index, quarantined] = await Promise.all([store.readIndex(), quarantinedDigests(layout)]);
  const r: Reachability = { reachable: new Set(), missing: [], absentPlatforms: 0, roots: new Map(), unreadable: [], lostDocuments: [] };
  const addRoot = (d: Digest, root: RootName) => {
    let s = r.roots.get(d);
    if (!s) r.roots.set(d, (s = new Set()));
    s.add(root);
  };
  // Children per walked descriptor ("<mediaType> <digest>": the type decides how the blob is
  // read), so a second root reaching it only adds its name.
  const closure = new Map<string, Digest[]>();

  const walk = async (d: Descriptor, parent: Digest | undefined, root: RootName): Promise<Digest[]> => {
    const key = `${d.mediaType} ${d.digest}`;
    const done = closure.get(key);
    if (done) return done;
    // A blob that is there but not a regular file is damage for verify to name; it is
    // still "reachable", so gc never takes the rest of its image for garbage.
    const present = await store.blobs.has(d.digest).catch(() => 'bad' as const);
    if (present === 'bad') {
      r.unreadable.push({ digest: d.digest, error: 'not a regular file' });
      return [d.digest];
    }
    if (!present) {
      const isDocument = isDocumentType(d.mediaType);
      if (parent !== undefined && isDocument && !quarantined.has(d.digest)) {
        r.absentPlatforms++;
        return [];
      }
      // Several refs naming one missing document: one entry, listing them all.
      const same = parent === undefined ? r.missing.find((x) => x.digest === d.digest && x.neededBy === d.digest) : undefined;
      if (same) {
        if (!same.roots.includes(root)) same.roots.push(root);
        return [];
      }
      const m = { digest: d.digest, neededBy: parent ?? d.digest, roots: [root] };
      r.missing.push(m);
      if (parent === undefined || isDocument) r.lostDocuments.push(m);
      return [];
    }
    const out: Digest[] = [d.digest];
    closure.set(key, out); // cycles stop here
    // index.json is the one document edited in place: its entry must describe the blob it names.
    if (parent === undefined) {
      const size = await store.blobs.size(d.digest).catch(() => undefined);
      if (size !== undefined && size !== d.size) {
        r.unreadable.push({ digest: d.digest, error: `index.json's entry for ${root} says ${d.size} bytes; the blob is ${size}` });
        return out;
      }
    }
    // Only an index's or a manifest's type names a document (as at ingest); an index.json entry
    // under any other type is a ref no command can read: damage.
    if (!isDocumentType(d.mediaType)) {
      if (parent === undefined) r.unreadable.push({ digest: d.digest, error: `index.json names it as ${d.mediaType}, not as an image manifest or index` });
      return out;
    }
    try {
      const doc = await store.blobs.readJson(d.digest, MAX_JSON_BYTES);
      if (documentKind(d.mediaType, doc, d.digest) === 'index') {
        for (const child of parseIndex(doc, d.digest).manifests) appendAll(out, await walk(child, d.digest, root));
      } else {
        const m = parseManifest(doc, d.digest);
        for (const b of [m.config, ...m.layers]) {
          const has = await store.blobs.has(b.digest).catch(() => 'bad' as const);
          if (has)
            out.push(b.digest); // a non-regular file stays reachable; verify names it
          else r.missing.push({ digest: b.digest, neededBy: d.digest, roots: [root] });
        }
      }
    } catch (e) {
      r.unreadable.push({ digest: d.digest, error: (e as Error).message });
    }
    return out;
  };

  for (const root of index.manifests) {
    const name = rootName(root);
    for (const d of await walk(root, undefined, name)) {
      r.reachable.add(d);
      addRoot(d, name);
    }
  }
  // A missing blob found through a shared document names every root that reaches it.
  for (const m of r.missing) {
    if (m.neededBy !== m.digest) for (const name of r.roots.get(m.neededBy) ?? []) if (!m.roots.includes(name)) m.roots.push(name);
    for (const name of m.roots) addRoot(m.digest, name);
  }
  return r;
}

/** Digests of the blobs verify --fix moved to quarantine/ (named "<hex>.<time>"). */
async function quarantinedDigests(layout: StoreLayout): Promise<Set<Digest>> {
  const out = new Set<Digest>();
  // Only a real directory: a planted link is verify's business, and its names mean nothing here.
  if (!(await lstatOrUndefined(layout.quarantineDir))?.isDirectory()) return out;
  for (const n of await fsp.readdir(layout.quarantineDir)) {
    const m = /^([0-9a-f]{64})\./.exec(n);
    if (m) out.add(`sha256:${m[1]}` as Digest);
  }
  return out;
}
