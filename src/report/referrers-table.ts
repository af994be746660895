import { printable } from './printable.js';
import { shortDigest, type Digest } from '../digest/digest.js';
import type { SharingReport } from '../analysis/sharing.js';
import type { ReferrerJson } from './report-json.js';
import { humanBytes } from './human.js';
import { table } from './tables.js';

/**
 * What is attached to the reported images (OCI referrers: signatures, SBOMs, attestations),
 * one row each: the image, the artifactType (else the manifest's media type), digest, size.
 * Empty when nothing is attached.
 */
export function renderReferrers(images: SharingReport['images'], referrers: Map<Digest, ReferrerJson[]>): string {
  const t = table(['IMAGE', 'ARTIFACT TYPE', 'DIGEST', 'SIZE'], ['left', 'left', 'left', 'right']);
  let n = 0;
  for (const img of images) {
    for (const r of referrers.get(img.manifestDigest) ?? []) {
      t.push([img.refs[0] ?? `<none>@${shortDigest(img.manifestDigest)}`, printable(r.artifactType ?? r.mediaType), shortDigest(r.digest), humanBytes(r.size)]);
      n++;
    }
  }
  if (n === 0) return '';
  return `\nAttached to the images (referrers: signatures, SBOMs, attestations)\n${t.toString()}\n`;
}
