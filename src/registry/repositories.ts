import type { Digest } from '../digest/digest.js';
import { referrerOf } from '../analysis/referrers.js';
import { MAX_REPOSITORY_LENGTH, isValidRepositoryPath, parseDockerRef, repositoryOf, repositoryOfDigestRef } from '../formats/ref-names.js';
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
 *
 * Refs that name a registry with a port ("127.0.0.1:5201/rc/testrepo:v1", as `pull` keeps
 * them) cannot be a repository name: the spec's <name> has no ":". They are served under the
 * repository path on that registry ("rc/testrepo"), as `docker pull host:port/rc/testrepo`
 * names the repository rc/testrepo there (see servedRepository). When several refs give one
 * repository the same tag, one wins, the same way on every request: a ref of exactly that
 * name (what a push there writes), else the smallest store repository in string order.
 */
export interface RepositoryView {
  /** Tags per repository (a repository holding only manifests pushed by digest has none). */
  repos: Map<string, Map<string, Descriptor>>;
  /** The store ref behind each tag of each repository (e.g. "127.0.0.1:5201/rc/testrepo:v1" for rc/testrepo's v1). */
  tagRefs: Map<string, Map<string, string>>;
  /** Manifests pushed by digest into each repository, by digest. */
  byDigest: Map<string, Map<Digest, Descriptor>>;
  /** Blobs reachable from each repository's refs. */
  reachable: Map<string, Set<Digest>>;
  /** Per repository: the manifests (among its refs) whose `subject` names a digest, by that digest. */
  referrers: Map<string, Map<Digest, Descriptor[]>>;
}

/** A name the distribution spec allows for a repository (and so one every client can ask for). */
export const isServableName = (name: string) => name.length <= MAX_REPOSITORY_LENGTH && isValidRepositoryPath(name);

/**
 * The repository a store ref is served under: its own repository when that is a valid name
 * ("ghcr.io/acme/api" is one, and a push to it round-trips); else, for a registry host with a
 * port, the path on that registry ("127.0.0.1:5201/rc/testrepo" is served as "rc/testrepo").
 * Undefined for refs no client could ask for (bare names such as "v1").
 */
export function servedRepository(ref: string): string | undefined {
  const repo = repositoryOf(ref) ?? repositoryOfDigestRef(ref);
  if (!repo) return undefined;
  if (isServableName(repo)) return repo;
  const p = parseDockerRef(repo);
  return p && repo === `${p.domain}/${p.path}` && isServableName(p.path) ? p.path : undefined;
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
    // Which ref serves each (repository, tag): a ref of exactly that name, else the smallest
    // store repository (deterministic whatever the order of index.json).
    const winners = new Map<string, Map<string, { ref: string; rank: string; d: Descriptor }>>();
    const digestRefs: Array<{ repo: string; ref: string; d: Descriptor }> = [];
    for (const d of index.manifests) {
      const ref = refOf(d);
      const repo = ref ? servedRepository(ref) : undefined;
      if (!ref || !repo) continue;
      const at = ref.indexOf('@');
      if (at >= 0) {
        digestRefs.push({ repo, ref, d });
        continue;
      }
      const colon = ref.lastIndexOf(':');
      const tag = ref.slice(colon + 1);
      const storeRepo = ref.slice(0, colon);
      const rank = storeRepo === repo ? '' : storeRepo;
      let tags = winners.get(repo);
      if (!tags) winners.set(repo, (tags = new Map()));
      const known = tags.get(tag);
      if (!known || rank < known.rank) tags.set(tag, { ref, rank, d });
    }
    const repos = new Map<string, Map<string, Descriptor>>();
    const tagRefs = new Map<string, Map<string, string>>();
    const byDigest = new Map<string, Map<Digest, Descriptor>>();
    const refsOf = new Map<string, Set<string>>(); // repository -> the refs it serves, tags and digests alike
    const served: Array<{ repo: string; d: Descriptor }> = [];
    const add = (repo: string, ref: string, d: Descriptor) => {
      if (!repos.has(repo)) repos.set(repo, new Map());
      if (!refsOf.has(repo)) refsOf.set(repo, new Set());
      refsOf.get(repo)!.add(ref);
      served.push({ repo, d });
    };
    for (const [repo, tags] of winners) {
      for (const [tag, w] of tags) {
        add(repo, w.ref, w.d);
        repos.get(repo)!.set(tag, w.d);
        if (!tagRefs.has(repo)) tagRefs.set(repo, new Map());
        tagRefs.get(repo)!.set(tag, w.ref);
      }
    }
    for (const { repo, ref, d } of digestRefs) {
      add(repo, ref, d);
      if (!byDigest.has(repo)) byDigest.set(repo, new Map());
      byDigest.get(repo)!.set(d.digest, d);
    }
    const referrers = new Map<string, Map<Digest, Descriptor[]>>();
    for (const { repo, d } of served) {
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
    return { repos, tagRefs, byDigest, reachable, referrers };
  }

  invalidate(): void {
    this.cached = undefined;
  }
}
