import type { Digest } from '../digest/digest.js';
import { referrerOf } from '../analysis/referrers.js';
import { repositoryOf, repositoryOfDigestRef } from '../formats/ref-names.js';
import type { Descriptor } from '../formats/types.js';
import { refOf } from '../store/refs.js';
import type { Store } from '../store/store.js';

/**
 * The store as a registry sees it: repositories and tags come from the refs in index.json
 * ("acme/api:1.0" is tag 1.0 of repository acme/api; bare OCI ref names such as "v1" have
 * no repository and are not served). A manifest pushed by digest is kept under a ref
 * "acme/api@sha256:..." (a valid OCI ref name): it belongs to acme/api without being a tag.
 * A repository serves only the blobs its refs reach, as distribution does, so one
 * repository's name never opens another's content.
 */
export interface RepositoryView {
  /** Tags per repository (a repository holding only manifests pushed by digest has none). */
  repos: Map<string, Map<string, Descriptor>>;
  /** Manifests pushed by digest into each repository, by digest. */
  byDigest: Map<string, Map<Digest, Descriptor>>;
  /** Blobs reachable from each repository's refs. */
  reachable: Map<string, Set<Digest>>;
  /** Per repository: the manifests (among its refs) whose `subject` names a digest, by that digest. */
  referrers: Map<string, Map<Digest, Descriptor[]>>;
}

export class RepositoryIndex {
  private cached: { key: string; view: RepositoryView } | undefined;

  constructor(private readonly store: Store) {}

  /** The current view; rebuilt when index.json changes (its mtime and size are the key). */
  async view(): Promise<RepositoryView> {
    const key = await this.store.indexStamp();
    if (this.cached?.key === key) return this.cached.view;
    const view = await this.build();
    this.cached = { key, view };
    return view;
  }

  private async build(): Promise<RepositoryView> {
    const index = await this.store.readIndex();
    const repos = new Map<string, Map<string, Descriptor>>();
    const byDigest = new Map<string, Map<Digest, Descriptor>>();
    const refsOf = new Map<string, Set<string>>(); // repository -> its refs, tags and digests alike
    const referrers = new Map<string, Map<Digest, Descriptor[]>>();
    for (const d of index.manifests) {
      const ref = refOf(d);
      const repo = ref ? (repositoryOf(ref) ?? repositoryOfDigestRef(ref)) : undefined;
      if (!ref || !repo) continue;
      if (!repos.has(repo)) repos.set(repo, new Map());
      if (!refsOf.has(repo)) refsOf.set(repo, new Set());
      refsOf.get(repo)!.add(ref);
      const at = ref.indexOf('@');
      if (at >= 0) {
        if (!byDigest.has(repo)) byDigest.set(repo, new Map());
        byDigest.get(repo)!.set(d.digest, d);
      } else repos.get(repo)!.set(ref.slice(repo.length + 1), d);
      const referrer = await referrerOf(this.store, d);
      if (referrer) {
        const bySubject = referrers.get(repo) ?? new Map<Digest, Descriptor[]>();
        referrers.set(repo, bySubject);
        const list = bySubject.get(referrer.subject) ?? [];
        if (!list.some((x) => x.digest === d.digest)) list.push(referrer.descriptor);
        bySubject.set(referrer.subject, list);
      }
    }
    const reachable = new Map<string, Set<Digest>>();
    // One walk of the whole store, then each repository's closure from its own roots.
    const all = await this.store.reachability();
    for (const [repo, names] of refsOf) {
      const set = new Set<Digest>();
      for (const [digest, roots] of all.roots) for (const r of roots) if (names.has(r)) set.add(digest);
      reachable.set(repo, set);
    }
    return { repos, byDigest, reachable, referrers };
  }

  invalidate(): void {
    this.cached = undefined;
  }
}
