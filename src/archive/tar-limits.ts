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
