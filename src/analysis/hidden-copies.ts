import type { FileType } from './file-index.js';
import { T_FILE } from './entry-table.js';
import { refLayer, type StackEntries } from './stack-entries.js';

/**
 * A layer's hidden copies (its `replaced` or `deleted` changes) as two numbers each, not an
 * object with strings: the ref of the lower entry it hides, and the ref of the entry of this
 * layer that hid it (a whiteout, an opaque marker, or the entry that replaced it or one of
 * its parents). A direct replacement (the same path written again) is stored with the cause
 * as -(ref + 1): its change reads path, type and bytes from the new entry. 16 bytes a copy,
 * against ~200 as a Change with its path and hex strings.
 */
export class HiddenCopies {
  private hid = new Float64Array(16);
  private by = new Float64Array(16);
  private n = 0;

  get length(): number {
    return this.n;
  }

  /** `hidden` (a lower entry, or an earlier one of the same layer) goes because of `cause`; `direct`: the same path written again. */
  push(hidden: number, cause: number, direct: boolean): void {
    if (this.n === this.hid.length) {
      const h = new Float64Array(this.n * 2);
      h.set(this.hid);
      this.hid = h;
      const b = new Float64Array(this.n * 2);
      b.set(this.by);
      this.by = b;
    }
    this.hid[this.n] = hidden;
    this.by[this.n++] = direct ? -(cause + 1) : cause;
  }

  /** The ref of the k-th hidden entry. */
  hidden(k: number): number {
    return this.hid[k]!;
  }

  /** The ref of the entry that hid the k-th one. */
  cause(k: number): number {
    const c = this.by[k]!;
    return c < 0 ? -c - 1 : c;
  }

  /** The same path written again (not a whiteout, marker, or a replaced parent). */
  direct(k: number): boolean {
    return this.by[k]! < 0;
  }

  /** The k-th copy as a Change (the form small callers and tests read). */
  change(S: StackEntries, k: number): Change {
    const ref = this.hid[k]!;
    const cause = this.cause(k);
    const direct = this.direct(k);
    const path = S.path(direct ? cause : ref);
    const type: FileType = S.type(direct ? cause : ref);
    const c: Change = { path, type, bytes: direct ? S.fileBytes(cause) : 0, hiddenBytes: S.fileBytes(ref), hiddenLayer: refLayer(ref) };
    if (S.typeCode(ref) === T_FILE) {
      const sha = S.sha(ref);
      if (sha) c.hiddenSha256 = sha;
    }
    if (!direct) {
      const by = S.path(cause);
      if (by !== path) c.cause = by;
    }
    return c;
  }

  toChanges(S: StackEntries): Change[] {
    return Array.from({ length: this.n }, (_, k) => this.change(S, k));
  }
}

export interface Change {
  path: string;
  /** Type of the entry this layer writes (added, replaced) or hides (deleted, subtree). */
  type: FileType;
  /** Regular-file bytes this layer writes at `path` (0 for deletions and removed subtrees). */
  bytes: number;
  /** Regular-file bytes of the lower copy this change hides (0 for additions). */
  hiddenBytes: number;
  /** Stack index of the layer the hidden copy came from. */
  hiddenLayer?: number;
  /** The path in this layer that caused the change when it is not `path`: a whiteout, an opaque marker, or the entry that replaced a directory or parent. */
  cause?: string;
  /** Content sha256 of the hidden copy (regular files). */
  hiddenSha256?: string;
}
