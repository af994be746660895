/**
 * Append `items` to `out` one by one. Not `out.push(...items)`: a spread passes every item as
 * an argument on the stack, and past ~120k items (a registry's tags list, a big index) that
 * is "Maximum call stack size exceeded".
 */
export function appendAll<T>(out: T[], items: Iterable<T>): T[] {
  for (const x of items) out.push(x);
  return out;
}
