/**
 * Run `fn` over `items` with at most `n` at once; after a failure nothing new starts, what
 * runs finishes, and the first failure is thrown.
 */
export async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  const group = new TaskGroup(n);
  for (const item of items) {
    if (group.failed) break;
    await group.add(() => fn(item));
  }
  await group.settle();
}

/**
 * Tasks started one by one as a producer finds them (ingest walking an archive), at most
 * `limit` at once. settle() waits for every started task, failed or not, so a caller's
 * cleanup never races a task still writing; it then throws the first failure.
 */
export class TaskGroup {
  private readonly running = new Set<Promise<void>>();
  private error: { e: unknown } | undefined;

  constructor(private readonly limit: number) {}

  /** Whether a task has failed (the producer should stop starting new ones). */
  get failed(): boolean {
    return this.error !== undefined;
  }

  /** Start `fn` once a slot is free. */
  async add(fn: () => Promise<void>): Promise<void> {
    while (this.running.size >= this.limit) await Promise.race(this.running);
    const p: Promise<void> = fn().then(
      () => {
        this.running.delete(p);
      },
      (e) => {
        this.error ??= { e };
        this.running.delete(p);
      },
    );
    this.running.add(p);
  }

  /** Wait for every task; throw the first failure, if any. */
  async settle(): Promise<void> {
    while (this.running.size > 0) await Promise.race(this.running);
    if (this.error) throw this.error.e;
  }

  /**
   * Run `produce`, which adds tasks (stopping when `failed`), then wait for every task
   * whatever happened. The producer's error comes first: a task's failure after it (a read
   * of a cut-short entry) is usually its consequence.
   */
  async run(produce: () => Promise<void>): Promise<void> {
    let failure: { e: unknown } | undefined;
    try {
      await produce();
    } catch (e) {
      failure = { e };
    }
    try {
      await this.settle();
    } catch (e) {
      failure ??= { e };
    }
    if (failure) throw failure.e;
  }
}

/** A function that runs at most `n` of the tasks given to it at once, in the order given. */
export function limiter(n: number): <T>(fn: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: Array<() => void> = [];
  return async <T>(fn: () => Promise<T>): Promise<T> => {
    if (active >= n) await new Promise<void>((r) => waiting.push(r));
    else active++;
    try {
      return await fn();
    } finally {
      // Hand the slot straight to the next task, or free it.
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
