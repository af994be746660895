/**
 * Hand-built tar archives for tests, valid and malicious.
 *
 * Headers are assembled byte by byte in ustar format (no tar library), so tests can produce
 * archives that a well-behaved packer refuses to write: absolute names, `..` components, NUL or
 * backslash in names, duplicate entries, size fields that lie, links pointing anywhere, missing
 * end-of-archive blocks and data after them.
 */

/** mtime written into every header (seconds since the epoch). */
export const RAW_MTIME = 1_700_000_000;

const BLOCK = 512;

/**
 * One tar entry.
 * - name: written verbatim (UTF-8); names over 100 bytes are split into ustar prefix + name at
 *   a "/" (an error if that is impossible). Nothing is normalised: "/abs", "../x", "a\\b" and
 *   "a\0b" are written as given. Directories do not get a trailing "/" added.
 * - nameBytes: the name as bytes, written instead of `name` (names that are not UTF-8).
 * - type: 'file' (default, typeflag '0'), 'dir' ('5'), 'symlink' ('2'), 'link' (hardlink, '1').
 * - body: the data written after the header (padded to 512); default empty.
 * - linkname: link target for symlink/link entries (up to 100 bytes).
 * - declaredSize: the size written into the header, if it should differ from body.length (the
 *   data actually written is still just the body, padded to a block boundary).
 * - mode: default 0o644 for files/links, 0o755 for dirs, 0o777 for symlinks.
 * - typeflag: raw typeflag character overriding `type` (e.g. 'x', 'L', '3'); extension.
 */
export type RawEntry = {
  name: string;
  nameBytes?: Buffer;
  type?: 'file' | 'dir' | 'symlink' | 'link';
  body?: Buffer | string;
  linkname?: string;
  declaredSize?: number;
  mode?: number;
  typeflag?: string;
};

/**
 * Options for rawTar.
 * - endBlocks: number of zero blocks written after the last entry (default 2; 0 = none).
 * - padTo: after the end blocks, pad the archive with zeros to a multiple of this many bytes
 *   (e.g. 10240, GNU tar's default record size).
 * - trailing: bytes appended at the very end (after end blocks and padding).
 */
export type RawTarOptions = { endBlocks?: number; trailing?: Buffer; padTo?: number };

const TYPEFLAGS: Record<NonNullable<RawEntry['type']>, string> = {
  file: '0',
  link: '1',
  symlink: '2',
  dir: '5',
};

/** Writes `value` as zero-padded octal in `width - 1` digits followed by a NUL. */
function writeOctal(buf: Buffer, offset: number, width: number, value: number): void {
  const digits = width - 1;
  const s = Math.trunc(value).toString(8);
  if (value < 0 || s.length > digits) throw new Error(`rawTar: ${value} does not fit in ${digits} octal digits`);
  buf.write(s.padStart(digits, '0'), offset, digits, 'ascii');
  buf[offset + digits] = 0;
}

function writeField(buf: Buffer, offset: number, width: number, value: Buffer, what: string): void {
  if (value.length > width) throw new Error(`rawTar: ${what} is ${value.length} bytes, max ${width}`);
  value.copy(buf, offset);
}

/** Splits a long name into ustar (prefix, name), or throws. */
function splitName(name: Buffer): { prefix: Buffer; name: Buffer } {
  if (name.length <= 100) return { prefix: Buffer.alloc(0), name };
  for (let i = name.length - 1; i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    const prefix = name.subarray(0, i);
    const rest = name.subarray(i + 1);
    if (rest.length <= 100 && prefix.length <= 155 && rest.length > 0) return { prefix, name: rest };
  }
  throw new Error(`rawTar: name too long for ustar: ${name.toString()}`);
}

/** One 512-byte ustar header for `entry`, checksum included. */
export function rawHeader(entry: RawEntry): Buffer {
  const h = Buffer.alloc(BLOCK);
  const type = entry.type ?? 'file';
  const body = entry.body === undefined ? Buffer.alloc(0) : Buffer.from(entry.body);
  const size = entry.declaredSize ?? body.length;
  const defaultMode = type === 'dir' ? 0o755 : type === 'symlink' ? 0o777 : 0o644;
  const { prefix, name } = splitName(entry.nameBytes ?? Buffer.from(entry.name, 'utf8'));

  writeField(h, 0, 100, name, 'name');
  writeOctal(h, 100, 8, entry.mode ?? defaultMode);
  writeOctal(h, 108, 8, 0); // uid
  writeOctal(h, 116, 8, 0); // gid
  writeOctal(h, 124, 12, size);
  writeOctal(h, 136, 12, RAW_MTIME);
  h.write(entry.typeflag ?? TYPEFLAGS[type], 156, 1, 'latin1');
  if (entry.linkname !== undefined) writeField(h, 157, 100, Buffer.from(entry.linkname, 'utf8'), 'linkname');
  h.write('ustar\0', 257, 6, 'latin1');
  h.write('00', 263, 2, 'latin1');
  // uname (265, 32) and gname (297, 32) stay empty.
  writeOctal(h, 329, 8, 0); // devmajor
  writeOctal(h, 337, 8, 0); // devminor
  writeField(h, 345, 155, prefix, 'prefix');

  return sealChecksum(h);
}

/**
 * Write a header block's checksum: the sum of all its bytes with the checksum field taken
 * as 8 spaces, as 6 octal digits, NUL, space.
 */
function sealChecksum(h: Buffer): Buffer {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of h) sum += byte;
  h.write(sum.toString(8).padStart(6, '0'), 148, 6, 'ascii');
  h[154] = 0;
  h[155] = 0x20;
  return h;
}

/**
 * An old GNU sparse entry (typeflag "S", as `tar --format=gnu --sparse` writes one): the
 * header with GNU's magic, the file's size in realsize, the first 4 segments of `segments`
 * (offset, length pairs) in the header and 21 more in each extension block after it, then
 * `data` (what the segments hold), padded. `magic` overrides GNU's "ustar  \0".
 */
export function gnuSparseBlocks(e: { name: string; realSize: number; segments: number[]; data: Buffer | string; magic?: string }): Buffer {
  const data = Buffer.from(e.data);
  const h = rawHeader({ name: e.name, typeflag: 'S', declaredSize: data.length });
  h.write(e.magic ?? 'ustar  \0', 257, 8, 'latin1');
  h.fill(0, 345, 500); // GNU has atime, ctime, ... here, not a ustar prefix
  const pairs: number[][] = [];
  for (let i = 0; i < e.segments.length; i += 2) pairs.push([e.segments[i]!, e.segments[i + 1]!]);
  const put = (b: Buffer, at: number, [offset, length]: number[]) => {
    writeOctal(b, at, 12, offset!);
    writeOctal(b, at + 12, 12, length!);
  };
  for (const [i, p] of pairs.slice(0, 4).entries()) put(h, 386 + 24 * i, p);
  h[482] = pairs.length > 4 ? 1 : 0;
  writeOctal(h, 483, 12, e.realSize);
  const blocks = [sealChecksum(h)];
  for (let i = 4; i < pairs.length; i += 21) {
    const x = Buffer.alloc(BLOCK);
    for (const [j, p] of pairs.slice(i, i + 21).entries()) put(x, 24 * j, p);
    x[504] = i + 21 < pairs.length ? 1 : 0;
    blocks.push(x);
  }
  return Buffer.concat([...blocks, padToBlock(data)]);
}

function padToBlock(body: Buffer): Buffer {
  const rem = body.length % BLOCK;
  return rem === 0 ? body : Buffer.concat([body, Buffer.alloc(BLOCK - rem)]);
}

/**
 * A tar built by hand from `entries`, in order (duplicates allowed), then end blocks etc.
 * A Buffer among them is written as it is (blocks made elsewhere: gnuSparseBlocks).
 */
export function rawTar(entries: Array<RawEntry | Buffer>, opts: RawTarOptions = {}): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) {
    if (Buffer.isBuffer(entry)) {
      parts.push(entry);
      continue;
    }
    parts.push(rawHeader(entry));
    const body = entry.body === undefined ? Buffer.alloc(0) : Buffer.from(entry.body);
    parts.push(padToBlock(body));
  }
  const endBlocks = opts.endBlocks ?? 2;
  if (endBlocks > 0) parts.push(Buffer.alloc(endBlocks * BLOCK));
  let out = Buffer.concat(parts);
  if (opts.padTo !== undefined && opts.padTo > 0) {
    const rem = out.length % opts.padTo;
    if (rem !== 0) out = Buffer.concat([out, Buffer.alloc(opts.padTo - rem)]);
  }
  if (opts.trailing) out = Buffer.concat([out, opts.trailing]);
  return out;
}

/**
 * The first `n` bytes of `buf` (a copy). A negative `n` drops that many bytes from the end
 * instead.
 */
export function truncate(buf: Buffer, n: number): Buffer {
  const keep = n < 0 ? Math.max(0, buf.length + n) : Math.min(n, buf.length);
  return Buffer.from(buf.subarray(0, keep));
}

/** A copy of `buf` with the byte at `offset` inverted (XOR 0xff). */
export function flipByte(buf: Buffer, offset: number): Buffer {
  if (offset < 0 || offset >= buf.length) throw new RangeError(`flipByte: offset ${offset} out of range`);
  const out = Buffer.from(buf);
  out[offset] = (out[offset] ?? 0) ^ 0xff;
  return out;
}

/**
 * Options for legacySave.
 * - manifest: content of manifest.json — a string is written verbatim (e.g. malformed JSON),
 *   anything else is JSON.stringify'd; when undefined, no manifest.json entry is written.
 * - files: every other entry, written in order (configs, `<id>/layer.tar`, repositories, ...).
 * - manifestFirst: write manifest.json before `files` instead of after them (default false,
 *   which matches docker writing it last).
 * - tar: options passed to rawTar.
 */
export type LegacySaveSpec = {
  manifest?: unknown;
  files: RawEntry[];
  manifestFirst?: boolean;
  tar?: RawTarOptions;
};

/**
 * A docker-save-like tar where the test controls every entry, e.g. a manifest naming a missing
 * layer, a config whose diff_ids do not match its layers, or malformed JSON.
 */
export function legacySave(spec: LegacySaveSpec): Buffer {
  const entries = [...spec.files];
  if (spec.manifest !== undefined) {
    const body = typeof spec.manifest === 'string' ? spec.manifest : JSON.stringify(spec.manifest);
    const manifestEntry: RawEntry = { name: 'manifest.json', body };
    if (spec.manifestFirst) entries.unshift(manifestEntry);
    else entries.push(manifestEntry);
  }
  return rawTar(entries, spec.tar);
}

/** A pax extended-header body from "key=value" strings ("comment" alone: a record without "="). */
export function paxRecords(records: string[]): Buffer {
  return Buffer.concat(
    records.map((r) => {
      const body = ` ${r}\n`;
      const len = Buffer.byteLength(body);
      // The length prefix counts itself: one more digit when adding it crosses a power of 10.
      let total = len + String(len).length;
      if (String(total).length !== String(len).length) total = len + String(total).length;
      return Buffer.from(`${total}${body}`);
    }),
  );
}
