import type { ImageInfo } from '../analysis/load-images.js';
import { computeFilesReport } from '../analysis/files-report.js';
import type { WasteFigures } from '../budget/evaluate.js';
import type { Store } from '../store/store.js';

/** The waste figures budget rules need, from the same analysis `report --files` uses. */
export async function wasteFigures(store: Store, img: ImageInfo): Promise<WasteFigures> {
  const r = await computeFilesReport(store, [img], { top: 0 });
  const w = r.images.get(img.manifestDigest)!.waste;
  return { wastedBytes: w.wastedBytes, efficiency: w.efficiency, userWastedRatio: w.userWastedRatio };
}
