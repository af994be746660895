import type { Digest } from '../digest/digest.js';
import { ImagePlan } from '../formats/plan.js';
import type { StagedFile } from './staged-file.js';

export type { PlannedImage } from '../formats/plan.js';

/** A reader's plan over staged files, as ingest commits it (commitPlan). */
export class IngestPlan extends ImagePlan<StagedFile> {
  /** Image manifests stored although their config disagrees with their layers (push only): digest -> why. */
  readonly unverified = new Map<Digest, string>();
}
