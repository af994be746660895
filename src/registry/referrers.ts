import type { ServerResponse } from 'node:http';
import { isDigest } from '../digest/digest.js';
import { MT, type Descriptor } from '../formats/types.js';
import { RegistryError } from './errors.js';
import type { RepositoryView } from './repositories.js';

/**
 * GET /v2/NAME/referrers/DIGEST[?artifactType=T] (distribution-spec 1.1): an image index
 * listing the manifests of NAME whose `subject` is DIGEST (signatures, SBOMs, attestations),
 * each with its artifactType and annotations. A digest nothing refers to is an empty list,
 * not a 404. With artifactType, only matching descriptors, and OCI-Filters-Applied says so.
 */
export function sendReferrers(view: RepositoryView, name: string, subject: string, url: URL, res: ServerResponse, headOnly: boolean): void {
  if (!isDigest(subject)) throw new RegistryError(400, 'DIGEST_INVALID', `invalid digest ${JSON.stringify(subject.slice(0, 200))}`);
  let manifests: Descriptor[] = view.referrers.get(name)?.get(subject) ?? [];
  const artifactType = url.searchParams.get('artifactType');
  if (artifactType !== null) {
    manifests = manifests.filter((d) => d.artifactType === artifactType);
    res.setHeader('OCI-Filters-Applied', 'artifactType');
  }
  const body = JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests });
  res.statusCode = 200;
  res.setHeader('Content-Type', MT.ociIndex);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(headOnly ? undefined : body);
}
