import type { Digest } from '../digest/digest.js';
import { isDigest } from '../digest/digest.js';
import type { Store } from '../store/store.js';

/**
 * Which blob an archive entry turned out to be, last time: "<name> <size>" -> digest, kept in
 * `.layerstore/derived/entry-hints.json`.
 *
 * A legacy `docker save` names its layers "<v1 id>/layer.tar", not by digest, so ingesting
 * the same save again would write every layer to staging only to find, at the end, that the
 * store already had it. With a hint, ingest pins the stored blob and only hashes the entry
 * (a warm ingest reads, never writes). A hint is never trusted: the bytes are hashed as
 * always, and when they are not the hinted blob the entry is read again from the file and
 * staged normally (see stagePinned in ingest.ts), so a wrong or stale hint costs one extra read,
 * nothing else.
 */

const FILE = 'entry-hints.json';
const VERSION = 1;
/** Newest first, at most this many (a few hundred KB). */
const MAX_HINTS = 20_000;
const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** Small entries (configs, "json", "VERSION") are cheap to write; only layers are worth a hint. */
export const MIN_HINT_BYTES = 1024 * 1024;

export class EntryHints {
  private readonly added = new Map<string, Digest>();

  private constructor(
    private readonly store: Store,
    private readonly known: Map<string, Digest>,
  ) {}

  static async load(store: Store): Promise<EntryHints> {
    const known = new Map<string, Digest>();
    const bytes = await store.derived.read(FILE, MAX_FILE_BYTES);
    try {
      const f = JSON.parse(bytes?.toString('utf8') ?? 'null') as { version?: number; hints?: unknown } | null;
      if (f?.version === VERSION && Array.isArray(f.hints)) {
        for (const h of f.hints) {
          if (Array.isArray(h) && typeof h[0] === 'string' && isDigest(h[1])) known.set(h[0], h[1]);
        }
      }
    } catch {
      // Unreadable hints: every entry is simply staged.
    }
    return new EntryHints(store, known);
  }

  private static key(name: string, size: number): string {
    return `${name} ${size}`;
  }

  /** The digest this entry had last time, if it was big enough to be worth remembering. */
  get(name: string, size: number): Digest | undefined {
    return size >= MIN_HINT_BYTES ? this.known.get(EntryHints.key(name, size)) : undefined;
  }

  remember(name: string, size: number, digest: Digest): void {
    if (size >= MIN_HINT_BYTES) this.added.set(EntryHints.key(name, size), digest);
  }

  /** Write the hints after a successful ingest; failing to is not an error. */
  async save(): Promise<void> {
    // Nothing new (the usual re-ingest): leave the file alone rather than rewrite and fsync it.
    if ([...this.added].every(([k, d]) => this.known.get(k) === d)) return;
    // Merged with the file as it is now: another input of the same command may have saved since this one loaded it.
    const now = (await EntryHints.load(this.store)).known;
    const merged = new Map(this.added);
    for (const [k, d] of now) if (!merged.has(k) && merged.size < MAX_HINTS) merged.set(k, d);
    // When it cannot be written, the next ingest of the same archive writes its layers once more; nothing else.
    await this.store.derived.write(FILE, Buffer.from(JSON.stringify({ version: VERSION, hints: [...merged] })));
  }
}
