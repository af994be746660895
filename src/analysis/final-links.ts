import { T_FILE, T_HARDLINK } from './entry-table.js';
import type { StackEntries } from './stack-entries.js';

/**
 * Hard links of a stacked image, resolved to files. A hard link entry (tar typeflag '1') is
 * another NAME of the regular file its target path names when the layer is applied: an
 * entry earlier in the same layer, or a file of the layers below (the image-spec allows a
 * target outside the layer; umoci and containerd apply a layer onto the file system below
 * it, so the link finds it there). A whiteout or an upper entry removes a name, never the
 * file: while one of its names is in the final file system, the file is.
 *
 * So, per file ("inode": the ref of the regular-file entry that wrote it):
 * - `kept`: files a hard link of the final file system names. Their copy is not waste even
 *   when their own name was deleted or replaced.
 * - `standIns`: for a kept file whose own name is NOT final, the first of its final links in
 *   path order, which counts as the file (its bytes in finalFileBytes, its content among the
 *   duplicates). A file is counted once however many names it has.
 *
 * Only the image's hard links are held (a Map entry each, and Sets of the kept files): images
 * have few, and none of this is built for an image without any.
 */
export class FinalLinks {
  readonly kept = new Set<number>();
  readonly standIns = new Set<number>();
  /** Regular-file bytes the stand-ins bring into the final file system. */
  standInBytes = 0;

  /**
   * `links`: hard link ref -> ref of the file it names (only links that name one);
   * `final`: the final file system's refs, in path order.
   */
  constructor(
    private readonly S: StackEntries,
    private readonly links: ReadonlyMap<number, number>,
    final: Float64Array,
  ) {
    if (links.size === 0) return;
    const finalLinks: number[] = [];
    // Indexed loops: for-of over a Float64Array boxes every element.
    for (let i = 0; i < final.length; i++) {
      const r = final[i]!;
      if (S.typeCode(r) !== T_HARDLINK) continue;
      const file = links.get(r);
      if (file === undefined) continue;
      this.kept.add(file);
      finalLinks.push(r);
    }
    if (this.kept.size === 0) return;
    const named = new Set<number>(); // kept files whose own name is final, then those given a stand-in
    for (let i = 0; i < final.length; i++) if (this.kept.has(final[i]!)) named.add(final[i]!);
    for (const r of finalLinks) {
      const file = links.get(r)!;
      if (named.has(file)) continue;
      named.add(file);
      this.standIns.add(r);
      this.standInBytes += S.fileBytes(file);
    }
  }

  /** The regular file whose bytes final name `ref` shows: itself for a file, the named file for a resolved hard link, else -1. */
  fileOf(ref: number): number {
    const t = this.S.typeCode(ref);
    if (t === T_FILE) return ref;
    return t === T_HARDLINK ? (this.links.get(ref) ?? -1) : -1;
  }

  /** Whether final name `ref` counts as a file of its own: a regular file, or a link standing in for a file whose own name is gone. */
  counts(ref: number): boolean {
    return this.S.typeCode(ref) === T_FILE || this.standIns.has(ref);
  }
}
