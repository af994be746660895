/**
 * The caps of the tar engine, one set for both readers (streaming and positional) and for
 * every kind of tar they read (image archives, layers).
 */

/**
 * Data of one extended header: pax ("x", "g") records or a GNU long name ("L", "K", "N").
 * Real ones are a few hundred bytes; the data is held in memory until the next entry.
 */
export const MAX_EXTENDED_HEADER_BYTES = 1024 * 1024;

/** Entries (headers other than extended ones) a reader hands out unless told otherwise. */
export const DEFAULT_MAX_ENTRIES = 200_000;

/**
 * The sparse map of one GNU sparse entry (tar-sparse-map.ts): old GNU extension blocks, or
 * the blocks a pax 1.0 map takes at the start of the entry's data. Go's archive/tar caps them
 * at the same 1 MiB; a pax 0.0/0.1 map is a pax record, under MAX_EXTENDED_HEADER_BYTES.
 * The map is held as numbers until its entry is read (at most ~260,000 segments).
 */
export const MAX_SPARSE_MAP_BYTES = 1024 * 1024;

/**
 * Zeros a sparse file's holes may add up to for its bytes to be handed out (hashed): above
 * this, a reader of layers indexes the file with its real size and no content hash
 * (layer-tar.ts, file-index.ts). A map may claim any size up to 2^53 in a few bytes of header
 * (1 TiB of zeros takes 11 minutes to hash); GNU tar lists such a file at once. 1 GiB of
 * holes is under a second of hashing, and far more than real layers hold (a sparse file
 * there is a log or database file of a few MiB).
 */
export const MAX_SPARSE_HOLE_BYTES = 1024 * 1024 * 1024;
