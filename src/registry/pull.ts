import { Readable } from 'node:stream';
import { performance } from 'node:perf_hooks';
import { LayerstoreError } from '../errors.js';
import { hexOf, isDigest, parseDigest, type Digest } from '../digest/digest.js';
import { sha256Of } from '../digest/hasher.js';
import { familiar } from '../formats/ref-names.js';
import {
  ANNOTATION_REF_NAME,
  INDEX_TYPES,
  MAX_JSON_BYTES,
  MT,
  isImageManifest,
  isNonDistributable,
  kindOfDocument,
  parseIndex,
  parseJson,
  parseManifest,
  platformString,
  type Descriptor,
  type Platform,
} from '../formats/types.js';
import { claimedDigest } from '../formats/source.js';
import { StagingOnDemand, type ArchiveView } from '../ingest/archive-view.js';
import { storedBlobAsStaged } from '../ingest/blob-diffid.js';
import { commitSource, discardStaged, type IngestResult } from '../ingest/ingest.js';
import { stageBody, type StagedFile } from '../ingest/staged-file.js';
import type { Store } from '../store/store.js';
import { MAX_REMOTE_JSON_BYTES, type RegistryClient } from './client.js';
import type { RemoteRef } from './reference.js';
import { BlobLocations } from './blob-locations.js';
import { RegistryStatusError } from './client-errors.js';

export interface PullResult extends IngestResult {
  /** Bytes downloaded, and bytes of blobs the store already had (not downloaded). */
  bytesDownloaded: number;
  bytesSkipped: number;
}

/** Blob downloads in flight at once in a pull. */
const PULL_CONCURRENCY = 4;

/**
 * A registry seen as an OCI layout (oci-layout, index.json naming the pulled ref, and
 * blobs/sha256/<hex>), so a pull goes through the same reader, checks and commit as an
 * archive. Manifests come from /manifests/<digest>, other blobs from /blobs/<digest>; a
 * blob the store already has is not downloaded (its bytes were verified when stored).
 * Every blob is asked for by a document read before it (an index, a manifest), whose
 * descriptor declares its size: no more than that is downloaded, and an image config or a
 * manifest declared above 4 MiB is refused before it is.
 */
class RegistryView implements ArchiveView {
  readonly label: string;
  private readonly files = new StagingOnDemand(PULL_CONCURRENCY);
  private readonly staged_: StagedFile[] = [];
  private readonly manifests = new Set<Digest>();
  /** Image configs: JSON this process will read, so held to MAX_REMOTE_JSON_BYTES. */
  private readonly configs = new Set<Digest>();
  /** The size the first descriptor naming each blob declares. */
  private readonly declared = new Map<Digest, number>();
  private readonly excluded = new Set<Digest>();
  /** Non-distributable layers the manifests read so far name: a 404 for one gets its own error. */
  private readonly nonDistributable = new Map<Digest, Descriptor>();
  /** Platforms the indexes read so far list, to say which there are when --platform names none. */
  readonly platformsSeen = new Set<string>();
  private readonly synthetic = new Map<string, Buffer>();
  private readonly topDigest: Digest;
  /** The config of the pulled manifest when it is one image (not an index): --platform checks it. */
  private topConfig: Digest | undefined;
  bytesDownloaded = 0;
  bytesSkipped = 0;

  constructor(
    private readonly store: Store,
    private readonly client: RegistryClient,
    private readonly repo: string,
    top: { digest: Digest; bytes: Buffer; mediaType: string; ref?: string },
    private readonly platform?: Platform,
  ) {
    this.label = `${client.baseUrl}/${repo}`;
    this.topDigest = top.digest;
    this.manifests.add(top.digest);
    this.declared.set(top.digest, top.bytes.length);
    this.synthetic.set('oci-layout', Buffer.from('{"imageLayoutVersion":"1.0.0"}'));
    const annotations = top.ref ? { [ANNOTATION_REF_NAME]: top.ref } : undefined;
    this.synthetic.set(
      'index.json',
      Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociIndex,
          manifests: [{ mediaType: top.mediaType, digest: top.digest, size: top.bytes.length, ...(annotations ? { annotations } : {}) }],
        }),
      ),
    );
    const topName = `blobs/sha256/${hexOf(top.digest)}`;
    void this.files.get(topName, () => this.stageBytes(topName, top.bytes));
  }

  private async stageBytes(name: string, bytes: Buffer): Promise<StagedFile> {
    const f = await stageBody(this.store.writer, Readable.from([bytes]), { name, offset: 0 });
    this.staged_.push(f);
    return f;
  }

  async has(name: string): Promise<boolean> {
    if (this.synthetic.has(name) || this.files.has(name)) return true;
    const d = claimedDigest(name);
    if (!d || this.excluded.has(d)) return false;
    if (await this.store.blobs.has(d)) return true;
    return this.manifests.has(d) ? this.client.hasManifest(this.repo, d) : this.client.hasBlob(this.repo, d);
  }

  file(name: string, _why: string): Promise<StagedFile> {
    return this.files.get(name, () => this.fetch(name));
  }

  /** A manifest's blobs download several at once (as skopeo and docker pull do). */
  prefetch(files: Array<{ name: string; why: string }>): void {
    for (const f of files) void this.file(f.name, f.why);
  }

  settle(): Promise<void> {
    return this.files.settle();
  }

  private async fetch(name: string): Promise<StagedFile> {
    const syn = this.synthetic.get(name);
    if (syn) return this.stageBytes(name, syn);
    const d = claimedDigest(name);
    if (!d) throw new LayerstoreError('E_BLOB_MISSING', `${name} is not a blob name`);
    const stored = await storedBlobAsStaged(this.store, d);
    if (stored) {
      this.bytesSkipped += stored.blob.size;
      const f = { ...stored, name };
      this.staged_.push(f); // its pin is discarded with the rest
      return f;
    }
    // Not named by a descriptor yet (a reader probing a name): no more than a document may be.
    const size = this.declared.get(d) ?? MAX_REMOTE_JSON_BYTES;
    if (this.configs.has(d) && size > MAX_REMOTE_JSON_BYTES) {
      throw new LayerstoreError('E_TOO_LARGE', `config ${d} is ${size} bytes, above the ${MAX_REMOTE_JSON_BYTES}-byte limit`, { entry: name });
    }
    let body: Readable;
    if (this.manifests.has(d)) {
      const m = await this.client.getManifest(this.repo, d, size);
      body = Readable.from([m.bytes]);
    } else body = await this.client.getBlob(this.repo, d, size).catch((e: unknown) => Promise.reject(this.notServed(d, e) ?? e));
    const f = await stageBody(this.store.writer, body, { name, offset: 0, size });
    this.bytesDownloaded += f.blob.size;
    this.staged_.push(f);
    return f;
  }

  /**
   * A non-distributable layer the registry does not serve: the store holds every blob its
   * images name, and the layer's `urls` are not followed (a manifest must not send a pull to
   * any host it names), so the pull cannot be done; say which layer and why, not a bare 404.
   */
  private notServed(d: Digest, e: unknown): LayerstoreError | undefined {
    const layer = this.nonDistributable.get(d);
    if (!layer || !(e instanceof RegistryStatusError) || e.status !== 404) return undefined;
    const from = layer.urls?.length ? `, published at ${layer.urls[0]}${layer.urls.length > 1 ? ` and ${layer.urls.length - 1} more` : ''}` : '';
    return new LayerstoreError(
      'E_BLOB_MISSING',
      `layer ${d} is non-distributable (${layer.mediaType}${from}) and ${this.client.baseUrl} does not serve it (404): a store holds every blob of its images, so this image cannot be pulled`,
      { hint: 'copy the image into the registry with its non-distributable layers (e.g. crane copy --allow-nondistributable-artifacts), then pull it again' },
    );
  }

  async readJson(name: string, why: string): Promise<unknown> {
    const f = await this.file(name, why);
    if (f.blob.size > MAX_REMOTE_JSON_BYTES) {
      throw new LayerstoreError('E_TOO_LARGE', `${why} is ${f.blob.size} bytes, above the ${MAX_REMOTE_JSON_BYTES}-byte limit`, { entry: name });
    }
    const bytes = (await this.store.writer.readStaged(f.blob, MAX_REMOTE_JSON_BYTES)) ?? (await this.store.blobs.read(f.blob.digest, MAX_JSON_BYTES));
    const doc = parseJson(bytes, why);
    this.learn(doc, why, f.blob.digest);
    if (f.blob.digest === this.topConfig && this.platform) this.refuseOtherPlatform(doc, this.platform);
    return doc;
  }

  /**
   * What a document tells of the blobs it names: their declared sizes; that the children of
   * an index are manifests (fetched from /manifests/, and filtered by platform); which blob
   * is an image config. An invalid document is the reader's to report.
   */
  private learn(doc: unknown, why: string, digest: Digest): void {
    const declare = (d: { digest: Digest; size: number }) => {
      if (!this.declared.has(d.digest)) this.declared.set(d.digest, d.size);
    };
    const mt = (doc as { mediaType?: unknown })?.mediaType;
    try {
      if ((typeof mt === 'string' && INDEX_TYPES.has(mt)) || (doc as { manifests?: unknown })?.manifests !== undefined) {
        for (const child of parseIndex(doc, why).manifests) {
          this.manifests.add(child.digest);
          declare(child);
          if (child.platform) this.platformsSeen.add(platformString(child.platform));
          if (this.platform && !platformMatches(child.platform, this.platform)) this.excluded.add(child.digest);
        }
      } else if (kindOfDocument(doc) === 'manifest') {
        const m = parseManifest(doc, why);
        for (const b of [m.config, ...m.layers]) declare(b);
        for (const l of m.layers) if (isNonDistributable(l.mediaType) && !this.nonDistributable.has(l.digest)) this.nonDistributable.set(l.digest, l);
        if (isImageManifest(m)) this.configs.add(m.config.digest);
        if (digest === this.topDigest && isImageManifest(m)) this.topConfig = m.config.digest;
      }
    } catch {
      /* the reader reports the invalid document */
    }
  }

  /**
   * --platform names one platform: an image that is not an index has only its config's, and
   * another one is refused (as docker does) instead of stored as if it were the one asked for.
   */
  private refuseOtherPlatform(config: unknown, want: Platform): void {
    const c = config as { os?: unknown; architecture?: unknown; variant?: unknown };
    const has: Platform | undefined =
      typeof c?.os === 'string' && typeof c.architecture === 'string'
        ? { os: c.os, architecture: c.architecture, ...(typeof c.variant === 'string' && c.variant ? { variant: c.variant } : {}) }
        : undefined;
    if (platformMatches(has, want)) return;
    throw new LayerstoreError(
      'E_REF_NOT_FOUND',
      `${this.repo} has no ${platformString(want)} image: it is a single ${has ? `${platformString(has)} image` : 'image whose config names no platform'}, not a multi-platform one`,
      { hint: 'leave --platform out to pull that image' },
    );
  }

  staged(): Iterable<StagedFile> {
    return this.staged_;
  }
}

function platformMatches(p: Platform | undefined, want: Platform): boolean {
  return !!p && p.os === want.os && p.architecture === want.architecture && (!want.variant || p.variant === want.variant);
}

export function parsePlatform(s: string): Platform {
  const [os, architecture, variant] = s.split('/');
  if (!os || !architecture) throw new LayerstoreError('E_USAGE', `--platform ${JSON.stringify(s)} is not os/arch[/variant]`);
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** Pull `ref` (all platforms, or one) into the store, verified and committed like an ingest. */
export async function pullImage(store: Store, client: RegistryClient, ref: RemoteRef, opts: { platform?: Platform } = {}): Promise<PullResult> {
  const t0 = performance.now();
  const top = await client.getManifest(ref.repository, ref.digest ?? ref.tag!);
  const digest = sha256Of(top.bytes);
  if (ref.digest && ref.digest !== digest)
    throw new LayerstoreError('E_DIGEST_MISMATCH', `the registry sent a manifest that hashes to ${digest}, not ${ref.digest}`, {
      expected: ref.digest,
      actual: digest,
    });
  if (top.digest && isDigest(top.digest) && top.digest !== digest) {
    throw new LayerstoreError('E_DIGEST_MISMATCH', `the manifest hashes to ${digest}, but the registry says ${top.digest}`, {
      expected: parseDigest(top.digest),
      actual: digest,
    });
  }
  // Pulled by digest, the image keeps that digest ref (as docker keeps a RepoDigest): an
  // untagged image is what prune removes, and the user asked for this one by name. A tag
  // beside the digest (NAME:TAG@DIGEST) is not the registry's word on that image: docker
  // ignores it, and so does this.
  const storeRef = familiar(`${ref.registry}/${ref.repository}${ref.digest ? `@${digest}` : `:${ref.tag}`}`);
  const view = new RegistryView(store, client, ref.repository, { digest, bytes: top.bytes, mediaType: top.mediaType, ref: storeRef }, opts.platform);
  try {
    const result = await commitSource(store, view, {
      source: `${client.baseUrl}/${ref.repository}`,
      startedAt: t0,
      bytesRead: () => view.bytesDownloaded,
      check: (plan) => {
        if (plan.images.length === 0 && opts.platform) {
          const there = [...view.platformsSeen].filter((p) => p !== 'unknown/unknown').sort();
          throw new LayerstoreError(
            'E_REF_NOT_FOUND',
            `${ref.repository} has no ${platformString(opts.platform)} image; ${there.length ? `it has ${there.join(', ')}` : 'it is not a multi-platform image'}`,
            {
              hint: there.length ? `pass one of those to --platform, or leave --platform out to pull them all` : 'leave --platform out',
            },
          );
        }
        if (plan.images.length === 0) throw new LayerstoreError('E_MANIFEST_INVALID', `${ref.repository}: no image to pull`);
      },
    });
    // Remembered so a later push to another repository of this registry can mount them.
    const seen = await BlobLocations.load(store, ref.registry);
    for (const img of result.images) for (const d of [img.configDigest, ...img.layers]) seen.note(d, ref.repository);
    await seen.save();
    return { ...result, bytesDownloaded: view.bytesDownloaded, bytesSkipped: view.bytesSkipped };
  } finally {
    await discardStaged(store, view);
  }
}
