import type { ServerResponse } from 'node:http';

/** Error codes of the OCI distribution spec (section "Error Codes"). */
export type RegistryErrorCode =
  | 'BLOB_UNKNOWN'
  | 'BLOB_UPLOAD_INVALID'
  | 'BLOB_UPLOAD_UNKNOWN'
  | 'DIGEST_INVALID'
  | 'MANIFEST_BLOB_UNKNOWN'
  | 'MANIFEST_INVALID'
  | 'MANIFEST_UNKNOWN'
  | 'NAME_INVALID'
  | 'NAME_UNKNOWN'
  | 'SIZE_INVALID'
  | 'UNAUTHORIZED'
  | 'DENIED'
  | 'UNSUPPORTED'
  | 'TOOMANYREQUESTS';

export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly code: RegistryErrorCode,
    message: string,
    readonly detail?: unknown,
  ) {
    super(message);
  }
}

/** Write the spec's JSON error body: {"errors": [{code, message, detail}]}. */
export function sendError(res: ServerResponse, e: RegistryError, headOnly = false): void {
  const body = JSON.stringify({ errors: [{ code: e.code, message: e.message, ...(e.detail === undefined ? {} : { detail: e.detail }) }] });
  res.statusCode = e.status;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(headOnly ? undefined : body);
}
