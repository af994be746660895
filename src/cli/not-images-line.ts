import type { NotImage } from '../analysis/load-images.js';
import { shortDigest } from '../digest/digest.js';
import { printable } from '../report/printable.js';

/** Names listed before "(+N more)": thousands of orphaned signatures must not flood the page. */
const SHOWN = 10;

const nameOf = (n: NotImage) => n.ref ?? shortDigest(n.descriptor.digest);

const listed = (ns: NotImage[], what: (n: NotImage) => string): string =>
  ns
    .slice(0, SHOWN)
    .map((n) => `${nameOf(n)} (${printable(what(n))})`)
    .join(', ') + (ns.length > SHOWN ? ` (+${ns.length - SHOWN} more; ls --json lists them)` : '');

/**
 * What ls and report say about roots of index.json that name no image, which their tables
 * cannot show: artifacts (a Helm chart pushed to serve) and referrers whose image is not in
 * the store, on stdout; documents that are not what index.json says (damage), on stderr.
 */
export function notImagesNotes(notImages: NotImage[]): { out: string; warning: string } {
  const damaged = notImages.filter((n) => n.damaged);
  const kept = notImages.filter((n) => !n.damaged);
  const out = kept.length
    ? `Also stored, not images: ${listed(kept, (n) =>
        n.subject
          ? `attached to ${shortDigest(n.subject)}, which the store does not hold`
          : n.artifactType
            ? `artifact ${n.artifactType}`
            : n.descriptor.mediaType,
      )}\n`
    : '';
  const warning = damaged.length
    ? `layerstore: warning: index.json names ${damaged.length === 1 ? 'a document' : `${damaged.length} documents`} that ${damaged.length === 1 ? 'is' : 'are'} not what it says, left out: ${listed(damaged, (n) => n.damaged!)}; layerstore verify reports ${damaged.length === 1 ? 'it' : 'them'} (exit 3)\n`
    : '';
  return { out, warning };
}
