import type { Digest } from '../digest/digest.js';

/**
 * The commits of one command's inputs, one after the other in input order, so that input
 * k+1 can be read and staged while input k commits (waits for its fsyncs, takes the store
 * lock, writes index.json): what one input waits on the disk for overlaps the next one's
 * reading. Refs land as if the inputs ran one at a time.
 *
 * An input that meets a blob an earlier input is about to commit waits for that commit to
 * end (settled) before it looks in the store, so it finds the blob stored instead of staging
 * it again: the second image of a family must not read the shared base while the first
 * is still committing it.
 */
export class CommitOrder {
  private last: Promise<void> = Promise.resolve();
  private readonly committing = new Map<Digest, Promise<void>>();

  /** A place in the order. Take them in input order; end each with done(), whatever happened. */
  ticket(): CommitTicket {
    const before = this.last;
    const ticket = new CommitTicket(this, before);
    this.last = ticket.finished;
    return ticket;
  }

  /** Resolves once no input but `self` (the one asking) is committing `d`. */
  async settled(d: Digest | undefined, self?: Promise<void>): Promise<void> {
    const p = d === undefined ? undefined : this.committing.get(d);
    if (p && p !== self) await p;
  }

  /** @internal CommitTicket.turn */
  announce(digests: Iterable<Digest>, until: Promise<void>): Digest[] {
    const mine: Digest[] = [];
    for (const d of digests) {
      if (this.committing.has(d)) continue; // an earlier input's (it ends first)
      this.committing.set(d, until);
      mine.push(d);
    }
    return mine;
  }

  /** @internal CommitTicket.done */
  withdraw(digests: Digest[], until: Promise<void>): void {
    for (const d of digests) if (this.committing.get(d) === until) this.committing.delete(d);
  }
}

export class CommitTicket {
  /** Resolves when this input holds its turn to commit, or is done: the next input may start. */
  readonly reached: Promise<void>;
  /** Resolves when this input is done (committed, failed, or never got that far). */
  readonly finished: Promise<void>;
  private reach!: () => void;
  private finish!: () => void;
  private announced: Digest[] = [];
  private ended = false;

  constructor(
    private readonly order: CommitOrder,
    private readonly before: Promise<void>,
  ) {
    this.reached = new Promise((r) => (this.reach = r));
    this.finished = new Promise((r) => (this.finish = r));
  }

  /** Wait until no earlier input is committing any of `ds` (before looking for them in the store). */
  async settled(...ds: (Digest | undefined)[]): Promise<void> {
    for (const d of ds) await this.order.settled(d, this.finished);
  }

  /** Say which blobs this input will commit, then wait for the inputs before it to be done. */
  async turn(digests: Iterable<Digest>): Promise<void> {
    this.announced = this.order.announce(digests, this.finished);
    await this.before;
    this.reach();
  }

  /** This input is done; the next one may commit. Safe to call more than once. */
  done(): void {
    if (this.ended) return;
    this.ended = true;
    this.order.withdraw(this.announced, this.finished);
    this.reach();
    this.finish();
  }
}
