import type { Digest } from '../digest/digest.js';
import { repositoryOf } from '../formats/ref-names.js';
import type { Descriptor } from '../formats/types.js';
import { markReachable } from '../store/reachability.js';
import { refOf } from '../store/refs.js';
import type { Store } from '../store/store.js';
import { promises as fsp } from 'node:fs';

/**
 * The store as a registry sees it: repositories and tags come from the refs in index.json
 * ("acme/api:1.0" is tag 1.0 of repository acme/api; bare OCI ref names such as "v1" have
 * no repository and are not served). A repository serves only the blobs its tags reach,
 * as distribution does, so one repository's name never opens another's content.
 */
export interface RepositoryView {
  repos: Map<string, Map<string, Descriptor>>;
  /** Blobs reachable from each repository's tags. */
  reachable: Map<string, Set<Digest>>;
}

export class RepositoryIndex {
  private cached: { key: string; view: RepositoryView } | undefined;

  constructor(private readonly store: Store) {}

  /** The current view; rebuilt when index.json changes (its mtime and size are the key). */
  async view(): Promise<RepositoryView> {
    const st = await fsp.stat(this.store.layout.indexFile).catch(() => undefined);
    const key = st ? `${st.mtimeMs}:${st.size}:${st.ino}` : 'none';
    if (this.cached?.key === key) return this.cached.view;
    const view = await this.build();
    this.cached = { key, view };
    return view;
  }

  private async build(): Promise<RepositoryView> {
    const index = await this.store.readIndex();
    const repos = new Map<string, Map<string, Descriptor>>();
    for (const d of index.manifests) {
      const ref = refOf(d);
      const repo = ref ? repositoryOf(ref) : undefined;
      if (!ref || !repo || ref.includes('@')) continue;
      const tag = ref.slice(repo.length + 1);
      let tags = repos.get(repo);
      if (!tags) repos.set(repo, (tags = new Map()));
      tags.set(tag, d);
    }
    const reachable = new Map<string, Set<Digest>>();
    // One walk of the whole store, then each repository's closure from its own roots.
    const all = await markReachable(this.store);
    for (const [repo, tags] of repos) {
      const names = new Set([...tags.keys()].map((t) => `${repo}:${t}`));
      const set = new Set<Digest>();
      for (const [digest, roots] of all.roots) for (const r of roots) if (names.has(r)) set.add(digest);
      reachable.set(repo, set);
    }
    return { repos, reachable };
  }

  invalidate(): void {
    this.cached = undefined;
  }
}
