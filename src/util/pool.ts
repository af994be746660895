/** Run `fn` over `items` with at most `n` at once; rejects with the first failure. */
export async function pool<T>(items: T[], n: number, fn: (t: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      // After a failure the other workers finish what they hold and take nothing new.
      while (!failed && next < items.length) {
        try {
          await fn(items[next++]!);
        } catch (e) {
          failed = true;
          throw e;
        }
      }
    }),
  );
}
