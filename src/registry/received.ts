import type { Digest } from '../digest/digest.js';
import { DEFAULT_RECEIVED_LIMITS, type ReceivedLimits } from '../store/received.js';
import type { Store, StoreTransaction } from '../store/store.js';
import { RegistryError } from './errors.js';

/** Which repository received which blob, as the store records it now (store/received.ts). */
export interface ReceivedView {
  /** Whether `repo` received `d` (by upload or mount) and no manifest there names it yet. */
  has(repo: string, d: Digest): boolean;
  /** Records sent by `client`, and in all (for the caps' early check). */
  countOf(client: string): number;
  total: number;
}

/**
 * The registry's side of the store's received records: blobs answered 201 in a repository
 * stay there, across restarts, until a manifest there names them, a blob DELETE removes them
 * or they expire at a gc (a week). The records live in the store, written under its lock, so
 * a restart, a second serve or a CLI gc all see the same thing; this class only caches the
 * file by its stamp (it is replaced whole, so the stamp changes with every write).
 */
export class ReceivedBlobs {
  private cached: { key: string; view: ReceivedView } | undefined;

  constructor(
    private readonly store: Store,
    readonly limits: ReceivedLimits = DEFAULT_RECEIVED_LIMITS,
  ) {}

  async view(): Promise<ReceivedView> {
    const key = await this.store.receivedStamp();
    if (this.cached?.key === key) return this.cached.view;
    const records = await this.store.received();
    const byRepo = new Map<string, Set<Digest>>();
    const byClient = new Map<string, number>();
    for (const r of records) {
      let set = byRepo.get(r.repository);
      if (!set) byRepo.set(r.repository, (set = new Set()));
      set.add(r.digest);
      byClient.set(r.client, (byClient.get(r.client) ?? 0) + 1);
    }
    const view: ReceivedView = {
      has: (repo, d) => byRepo.get(repo)?.has(d) ?? false,
      countOf: (client) => byClient.get(client) ?? 0,
      total: records.length,
    };
    this.cached = { key, view };
    return view;
  }

  /** Refuse early (before a byte is staged) when `client` could not record another blob. */
  async checkRoom(client: string): Promise<void> {
    const v = await this.view();
    if (v.countOf(client) >= this.limits.perClient) throw full(`this client has ${this.limits.perClient}`);
    if (v.total >= this.limits.total) throw full(`the registry holds ${this.limits.total}`);
  }

  /**
   * Record, in the caller's transaction, that `repo` received stored blob `d` from `client`.
   * False when the blob is not stored (gc took it since it was looked at); a cap reached is 429.
   */
  async record(tx: StoreTransaction, repo: string, d: Digest, client: string): Promise<boolean> {
    const verdict = await tx.receive({ repository: repo, digest: d, received: Date.now(), client }, this.limits);
    if (verdict === 'client-full') throw full(`this client has ${this.limits.perClient}`);
    if (verdict === 'full') throw full(`the registry holds ${this.limits.total}`);
    return verdict === 'recorded';
  }

  /** `repo` no longer needs these records (a manifest there names the blobs, or a blob DELETE); other repositories keep theirs. */
  async forget(repo: string, digests: Iterable<Digest>): Promise<void> {
    const view = await this.view();
    const mine = [...digests].filter((d) => view.has(repo, d));
    if (mine.length) await this.store.transaction((tx) => tx.forgetReceived(repo, mine));
  }
}

function full(who: string): RegistryError {
  return new RegistryError(
    429,
    'TOOMANYREQUESTS',
    `${who} uploaded blobs that no manifest names yet; push the manifests that use them, or delete them (DELETE /v2/NAME/blobs/DIGEST), before uploading more (they expire after a week)`,
  );
}
