import { createHash } from 'node:crypto';
import { isDigest, type Digest } from '../digest/digest.js';
import type { Store } from '../store/store.js';

/**
 * Where each blob was last seen in one registry (pushed to, mounted into or pulled from a
 * repository), kept in the store's derived data (`derived/registry-blobs/<registry>.json`)
 * so a push can ask for a cross-repository mount instead of sending the bytes, as docker
 * does. A hint, never a verdict: the registry decides (201 mounted, 202 upload), so a stale,
 * lying or corrupt record costs one request and an upload, never a wrong push. Entries that
 * are not a digest and a valid repository name are dropped on read (the name goes in a URL).
 */

const VERSION = 1;
/** Most recent first kept; ~100 bytes an entry, so the file stays under ~10 MB. */
export const MAX_BLOB_LOCATIONS = 100_000;
const MAX_FILE_BYTES = 32 * 1024 * 1024;
/** The distribution spec's repository name grammar, and its length limit. */
const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const validRepo = (s: unknown): s is string => typeof s === 'string' && s.length <= 255 && NAME_RE.test(s);

/** Keyed by the registry as the ref names it (host[:port]): the client's URL may change from https to http mid-run. */
function relFor(registry: string): string {
  // 16 hex, not 64: gc sweeps derived files named after a digest that no ref reaches.
  return `registry-blobs/${createHash('sha256').update(registry).digest('hex').slice(0, 16)}.json`;
}

export class BlobLocations {
  /** Insertion order is age: the oldest entries go first when the cap is reached. */
  private readonly seen = new Map<Digest, string>();
  private readonly learned = new Map<Digest, string>();

  private constructor(
    private readonly store: Store,
    private readonly registry: string,
  ) {}

  /** The record for `registry` (host[:port]; empty when absent or unreadable). */
  static async load(store: Store, registry: string): Promise<BlobLocations> {
    const b = new BlobLocations(store, registry);
    await b.readInto(b.seen);
    return b;
  }

  /** The repository `d` was last seen in, if any. */
  repoOf(d: Digest): string | undefined {
    return this.learned.get(d) ?? this.seen.get(d);
  }

  /** `d` is now in `repo` (pushed, mounted, or pulled from there). */
  note(d: Digest, repo: string): void {
    if (!validRepo(repo)) return;
    this.learned.delete(d);
    this.learned.set(d, repo);
  }

  /**
   * Write what this run learned over the record as it is now (another push may have written
   * since load). Fails soft: a read-only store only loses the hint.
   */
  async save(): Promise<void> {
    if (this.learned.size === 0) return;
    const all = new Map<Digest, string>();
    await this.readInto(all);
    for (const [d, repo] of this.learned) {
      all.delete(d);
      all.set(d, repo);
    }
    const entries = [...all].slice(-MAX_BLOB_LOCATIONS);
    const text = JSON.stringify({ version: VERSION, registry: this.registry, blobs: entries });
    await this.store.derived.write(relFor(this.registry), Buffer.from(text));
  }

  private async readInto(into: Map<Digest, string>): Promise<void> {
    const bytes = await this.store.derived.read(relFor(this.registry), MAX_FILE_BYTES);
    if (!bytes) return;
    let doc: { version?: unknown; registry?: unknown; blobs?: unknown };
    try {
      doc = JSON.parse(bytes.toString('utf8'));
    } catch {
      return;
    }
    // Another registry's record (a hash collision) or another version: as good as absent.
    if (doc?.version !== VERSION || doc.registry !== this.registry || !Array.isArray(doc.blobs)) return;
    for (const e of doc.blobs.slice(-MAX_BLOB_LOCATIONS)) {
      if (Array.isArray(e) && isDigest(e[0]) && validRepo(e[1])) into.set(e[0], e[1]);
    }
  }
}
