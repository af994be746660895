/** layerstore's library API. The CLI (src/cli) is one client of it. */
export { LayerstoreError, isLayerstoreError, type ErrorCode } from './errors.js';
export { parseDigest, isDigest, type Digest } from './digest/digest.js';
export { createHasher, sha256Of, type Hasher, type HasherName } from './digest/hasher.js';
export { Store } from './store/store.js';
export { StoreLayout } from './store/layout.js';
export { defaultStoreDir } from './store/default-location.js';
export { ingestPath, type IngestResult, type IngestOptions } from './ingest/ingest.js';
export { loadImages, type ImageInfo, type LayerInfo } from './analysis/load-images.js';
export { computeSharing, type SharingReport } from './analysis/sharing.js';
export { selectImages } from './analysis/select.js';
