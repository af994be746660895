import type { Digest } from '../digest/digest.js';
import type { RepositoryView } from '../registry/repositories.js';
import { toJson } from '../report/json.js';
import type { Store } from '../store/store.js';
import type { ConfigHistory } from './config-history.js';
import { repositoriesInThread } from './repositories-thread.js';
import { repositoriesJson, repositoryTags, type RepositoryTags } from './repositories-data.js';

interface Made {
  tags: RepositoryTags;
  histories: Map<Digest, ConfigHistory>;
}

/**
 * serve's /api/repositories, made once per state of index.json (Store.indexStamp) and per
 * host asked for, not at every load of the page: the tags from the registry's view, and the
 * images and configs' histories read on a thread of their own (repositories-thread.ts), one
 * such thread at a time. A config is content-addressed, so its history, once read, holds for
 * every later state of the store that still has it: it is not read again.
 */
export class RepositoriesCache {
  private entry: { key: string; made: Promise<Made>; bodies: Map<string, string> } | undefined;
  /** Histories of the configs of the last tags made (those of older states are let go). */
  private known = new Map<Digest, ConfigHistory>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly store: Store,
    private readonly view: () => Promise<RepositoryView>,
  ) {}

  /** The JSON body for a request that reached the registry as `host` (over https when `tls`). */
  async body(host: string, tls: boolean): Promise<string> {
    const key = await this.store.indexStamp();
    if (this.entry?.key !== key) {
      const entry = { key, made: this.make(), bodies: new Map<string, string>() };
      this.entry = entry;
      // A failure is forgotten, so the next request tries again.
      entry.made.catch(() => {
        if (this.entry === entry) this.entry = undefined;
      });
    }
    const entry = this.entry;
    const { tags, histories } = await entry.made;
    const id = `${tls ? 'https' : 'http'} ${host}`;
    let body = entry.bodies.get(id);
    if (body === undefined) {
      body = toJson(repositoriesJson(tags, histories, host, tls));
      if (entry.bodies.size >= 8) entry.bodies.clear(); // a few hosts name one server; a client can send any
      entry.bodies.set(id, body);
    }
    return body;
  }

  /** One thread at a time: a later state waits, then reads only the configs still unknown. */
  private make(): Promise<Made> {
    const run = this.queue.then(async () => {
      const read = await repositoriesInThread(this.store.root, [...this.known.keys()]);
      const tags = repositoryTags(await this.view(), read.images);
      const fresh = new Map(read.histories);
      const histories = new Map<Digest, ConfigHistory>();
      for (const d of tags.configs) {
        const h = this.known.get(d) ?? fresh.get(d);
        if (h) histories.set(d, h);
      }
      this.known = histories;
      return { tags, histories };
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}
