import { LayerstoreError } from '../errors.js';
import { dirTransportReader } from './dir-transport.js';
import { dockerSaveReader } from './docker-archive.js';
import { dockerV1SaveReader } from './docker-v1-save.js';
import { ociLayoutReader } from './oci.js';
import type { ImagePlan } from './plan.js';
import type { SourceFile, SourceView } from './source.js';

/** The format an input was read as, as ingest reports it. */
export type SourceFormat = 'docker-save' | 'docker-save-oci' | 'oci-layout' | 'dir';

/** One image format. Adding a format: one file exporting its reader, and an entry in READERS. */
export interface SourceReader {
  name: string;
  /** Whether this reader reads `view`, by the names it holds. */
  detect(view: SourceView): Promise<boolean>;
  /** Read the input's images into `plan`; returns the format found (a reader may tell variants apart). */
  open<F extends SourceFile>(view: SourceView<F>, plan: ImagePlan<F>): Promise<SourceFormat>;
}

/**
 * Every reader, asked in this order; the first that detects its format reads the input. A
 * docker save of Docker 25+ also holds an OCI layout, so docker-save comes before oci-layout; a
 * dir: directory holds manifest.json too (one manifest, not docker save's list), so dir comes first.
 */
export const READERS: readonly SourceReader[] = [dirTransportReader, dockerSaveReader, ociLayoutReader, dockerV1SaveReader];

/**
 * Read any input (an archive, a layout directory, standard input, a registry pull) with the
 * reader that detects it; E_NO_MANIFEST when none does.
 */
export async function readSource<F extends SourceFile>(view: SourceView<F>, plan: ImagePlan<F>): Promise<SourceFormat> {
  for (const reader of READERS) if (await reader.detect(view)) return reader.open(view, plan);
  throw new LayerstoreError(
    'E_NO_MANIFEST',
    'not an image archive: it has neither manifest.json (docker save; with a version file, a dir: directory) nor index.json + oci-layout (OCI layout)',
  );
}
