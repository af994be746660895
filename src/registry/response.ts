/**
 * What the registry client reads of an HTTP response: status, headers and the body as
 * async-iterable bytes that can be dropped. Responses of bodiless requests come from
 * node:http (node-transport.ts), uploads' from fetch: both fit, without a Response or a web
 * stream per request for the first (a 20k-tag scan spent ~2.5 s of CPU building them).
 */
export interface RegistryResponse {
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  readonly body: RegistryBody | null;
  /** The URL that answered, after any redirects (whose origin says whose challenge a 401 is). */
  readonly url?: string;
}

export interface RegistryBody extends AsyncIterable<Uint8Array> {
  /** Drop the rest of the body (and its connection). */
  cancel(): Promise<void>;
}

/** A fetch Response as one: Node's web ReadableStream is async-iterable and cancellable. */
export function fromFetch(res: Response): RegistryResponse {
  return res as unknown as RegistryResponse;
}
