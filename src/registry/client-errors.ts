import { LayerstoreError } from '../errors.js';

/**
 * A registry answered, with a status we did not want (404, 400…): the status and the codes
 * of the distribution spec's error body, so callers can tell "no such repository"
 * (404 NAME_UNKNOWN) or "page size too big" (400 PAGINATION_NUMBER_INVALID) from other errors.
 */
export class RegistryStatusError extends LayerstoreError {
  constructor(
    message: string,
    readonly status: number,
    readonly codes: string[],
  ) {
    super('E_REGISTRY', message);
  }
}

/**
 * The registry did not answer at all: the connection was refused or reset, or nothing came
 * within the timeout. A scan stops at the first of these that outlives its retries (the
 * registry is down or frozen: every other request would wait just as long).
 */
export class RegistryUnreachable extends LayerstoreError {
  constructor(
    message: string,
    hint?: string,
    /** Asking again cannot help (TLS to a plain-http server, an unknown host). */
    readonly permanent = false,
  ) {
    super('E_REGISTRY', message, { hint });
  }
}
