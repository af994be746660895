import type { Digest } from '../digest/digest.js';
import { MAX_JSON_BYTES, parseImageConfig } from '../formats/types.js';
import type { Store } from '../store/store.js';

/**
 * An image config's history as the page shows it (the layers view and serve's pull list),
 * bounded: a config is anyone's JSON, and 8 MB of it can hold 1.3 million history entries or
 * one created_by of millions of characters, which the page would draw for every tag.
 *
 * Kept, in order: the entries that made a layer (no empty_layer), as many as the config has
 * layers (the layers view pairs them with the layers, in order); and up to HISTORY_EMPTY_MAX
 * entries that made none (ENV, CMD...). `omitted` counts the others. Each text is clipped to
 * HISTORY_TEXT_MAX characters (`created` to CREATED_MAX), its full length said beside it.
 */
export interface HistoryEntry {
  created?: string;
  /** Length of `created` before it was clipped; only when it was. */
  createdLength?: number;
  createdBy?: string;
  /** Length of `createdBy` before it was clipped; only when it was. */
  createdByLength?: number;
  comment?: string;
  /** Length of `comment` before it was clipped; only when it was. */
  commentLength?: number;
  emptyLayer?: boolean;
}

export interface ConfigHistory {
  entries: HistoryEntry[];
  /** Entries of the config's history left out of `entries`. */
  omitted: number;
}

/** Characters kept of a created_by or comment: a long RUN line is a few KB. */
export const HISTORY_TEXT_MAX = 4096;
/** Characters kept of a `created` (a timestamp is about 30). */
export const CREATED_MAX = 64;
/** History entries that made no layer kept per config. */
export const HISTORY_EMPTY_MAX = 100;

type TextField = 'created' | 'createdBy' | 'comment';

/** `s` cut to `max` characters, an ellipsis last, when longer. */
export function clipText(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}\u2026`;
}

/** Set e[field] to `v` clipped to `max` characters (an ellipsis last), and e[field + 'Length'] when clipped. */
function putText(e: HistoryEntry, field: TextField, v: unknown, max: number): void {
  if (typeof v !== 'string') return;
  if (v.length <= max) {
    e[field] = v;
    return;
  }
  e[field] = clipText(v, max);
  e[`${field}Length`] = v.length;
}

/** `history` (a config's, as parsed) bounded as said above, for a config of `layers` layers. */
export function boundHistory(history: unknown[] | undefined, layers: number): ConfigHistory {
  const entries: HistoryEntry[] = [];
  let made = 0;
  let empty = 0;
  let omitted = 0;
  for (const h of history ?? []) {
    const x = typeof h === 'object' && h !== null ? (h as Record<string, unknown>) : undefined;
    const emptyLayer = x?.empty_layer === true;
    if (!x || (emptyLayer ? empty >= HISTORY_EMPTY_MAX : made >= layers)) {
      omitted++;
      continue;
    }
    if (emptyLayer) empty++;
    else made++;
    const e: HistoryEntry = {};
    putText(e, 'created', x.created, CREATED_MAX);
    putText(e, 'createdBy', x.created_by, HISTORY_TEXT_MAX);
    putText(e, 'comment', x.comment, HISTORY_TEXT_MAX);
    if (emptyLayer) e.emptyLayer = true;
    entries.push(e);
  }
  return { entries, omitted };
}

/** The bounded history of the config `configDigest` of the store. */
export async function readConfigHistory(store: Store, configDigest: Digest): Promise<ConfigHistory> {
  const config = parseImageConfig(await store.blobs.readJson(configDigest, MAX_JSON_BYTES), `config ${configDigest}`);
  return boundHistory(config.history, config.rootfs.diff_ids.length);
}
