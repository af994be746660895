/** JSON for machines: two-space indent and a final newline; callers build objects in a fixed key order. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + '\n';
}
