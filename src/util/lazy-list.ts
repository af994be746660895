/**
 * A read-only list whose elements are made when read: a million-row result (the changes of
 * `diff`) is held as numbers and turned into objects one at a time while it is written out.
 * JSON.stringify sees the whole array (toJSON); report/json.ts's writer reads it element by
 * element instead, with the same bytes.
 */
export class LazyList<T> implements Iterable<T> {
  constructor(
    readonly length: number,
    private readonly make: (i: number) => T,
  ) {}

  at(i: number): T {
    if (i < 0 || i >= this.length || !Number.isInteger(i)) throw new RangeError(`index ${i} outside 0..${this.length - 1}`);
    return this.make(i);
  }

  *[Symbol.iterator](): Iterator<T> {
    for (let i = 0; i < this.length; i++) yield this.make(i);
  }

  toArray(): T[] {
    const out = new Array<T>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = this.make(i);
    return out;
  }

  toJSON(): T[] {
    return this.toArray();
  }
}
