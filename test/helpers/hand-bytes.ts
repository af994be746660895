/**
 * Small, independent helpers for tests that work numbers out by hand: file contents with a
 * known size, the byte size of a tar written by tar-stream (ustar headers, 512-byte blocks,
 * a 1024-byte end-of-archive marker and no record padding), sha256 with node:crypto, a
 * reader for the CLI's box tables, and a tiny well-formedness-checking XML parser (for JUnit
 * output). Nothing here imports src/.
 */
import { createHash } from 'node:crypto';

/** `n` bytes repeating `${tag}|`: different tags give different contents (for n >= 1). */
export function fill(n: number, tag: string): Buffer {
  return n === 0 ? Buffer.alloc(0) : Buffer.alloc(n, `${tag}|`);
}

/** Lowercase hex sha256 of the bytes. */
export function sha256hex(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

export const digestOf = (b: Buffer | string): string => `sha256:${sha256hex(b)}`;

/**
 * Bytes of an uncompressed tar holding entries whose content sizes are `sizes` (0 for
 * directories, links and whiteouts): one 512-byte header per entry, the content rounded up to
 * 512, and 1024 zero bytes at the end. Names must fit the 100-byte ustar name field.
 */
export function tarSize(sizes: number[]): number {
  return sizes.reduce((n, s) => n + 512 + Math.ceil(s / 512) * 512, 0) + 1024;
}

/**
 * The documents of a one-layer OCI image, written out by hand: an image config whose
 * rootfs.diff_ids is `diffIds` (by default the sha256 of `uncompressed`, the layer's tar before
 * compression) plus any `configExtra` fields, and a manifest naming it and `layer`.
 */
export function imageDocs(
  layer: Buffer,
  opts: { uncompressed?: Buffer; layerMediaType?: string; diffIds?: string[]; configExtra?: Record<string, unknown>; config?: Buffer } = {},
): { config: Buffer; manifest: Buffer } {
  const diffIds = opts.diffIds ?? [digestOf(opts.uncompressed ?? layer)];
  const config =
    opts.config ?? Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIds }, ...opts.configExtra }));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
      layers: [{ mediaType: opts.layerMediaType ?? 'application/vnd.oci.image.layer.v1.tar', digest: digestOf(layer), size: layer.length }],
    }),
  );
  return { config, manifest };
}

/** sha256 of 1024 zero bytes (an empty tar as Go's archive/tar writes it). */
export const EMPTY_TAR_DIGEST = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

// ---------------------------------------------------------------------------------------------
// box tables (cli-table3 with the project's "compact" style)

/** The data lines of every table in `text`: each row split into trimmed cells. */
export function tableRows(text: string): string[][] {
  return text
    .split('\n')
    .filter((l) => l.startsWith('│'))
    .map((l) =>
      l
        .split('│')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
}

/** The first table row whose cell `col` equals `key` (throws when absent). */
export function rowWhere(text: string, col: number, key: string): string[] {
  const row = tableRows(text).find((r) => r[col] === key);
  if (!row) throw new Error(`no table row with ${JSON.stringify(key)} in column ${col}:\n${text}`);
  return row;
}

/** The lines after the first line that starts with `heading`, up to the next blank line. */
export function section(text: string, heading: string): string {
  const lines = text.split('\n');
  const at = lines.findIndex((l) => l.startsWith(heading));
  if (at < 0) throw new Error(`no section ${JSON.stringify(heading)} in:\n${text}`);
  const out: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (l.trim() === '') break;
    out.push(l);
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// XML

export interface XmlElement {
  name: string;
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Text content directly inside the element (entities decoded). */
  text: string;
}

function decodeEntities(s: string, where: number): string {
  return s.replace(/&([^;\s&<]*);?/g, (whole, ent: string) => {
    if (!whole.endsWith(';')) throw new Error(`XML: bare "&" near offset ${where}`);
    const named: Record<string, string> = { lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" };
    if (ent in named) return named[ent]!;
    const num = /^#(\d+)$/.exec(ent) ?? /^#x([0-9a-fA-F]+)$/.exec(ent);
    if (num) return String.fromCodePoint(parseInt(num[1]!, ent.startsWith('#x') ? 16 : 10));
    throw new Error(`XML: unknown entity &${ent}; near offset ${where}`);
  });
}

/**
 * Parse a small XML document (declaration, elements, attributes in double quotes, text,
 * entities; no comments, CDATA or DTD) and return its root element. Throws on anything not
 * well-formed: unbalanced or mismatched tags, "<" or a bare "&" in attribute values or text,
 * duplicate attributes, content after the root element.
 */
export function parseXml(src: string): XmlElement {
  let i = 0;
  const decl = /^<\?xml\s[^?]*\?>/.exec(src);
  if (decl) i = decl[0].length;
  const stack: XmlElement[] = [];
  let root: XmlElement | undefined;
  const tagRe = /<(\/?)([A-Za-z_][\w.:-]*)((?:\s+[A-Za-z_][\w.:-]*="[^"<]*")*)\s*(\/?)>/y;
  while (i < src.length) {
    const lt = src.indexOf('<', i);
    const text = src.slice(i, lt < 0 ? src.length : lt);
    if (text.trim() !== '') {
      if (stack.length === 0) throw new Error(`XML: text outside the root element at offset ${i}`);
      stack[stack.length - 1]!.text += decodeEntities(text, i);
    }
    if (lt < 0) break;
    tagRe.lastIndex = lt;
    const m = tagRe.exec(src);
    if (!m) throw new Error(`XML: bad markup at offset ${lt}: ${JSON.stringify(src.slice(lt, lt + 60))}`);
    const [, close, name, attrText, selfClose] = m;
    i = tagRe.lastIndex;
    if (close) {
      if (attrText || selfClose) throw new Error(`XML: bad end tag at offset ${lt}`);
      const open = stack.pop();
      if (!open || open.name !== name) throw new Error(`XML: </${name}> at offset ${lt} does not close <${open?.name ?? '(nothing)'}>`);
      continue;
    }
    if (root && stack.length === 0) throw new Error(`XML: a second root element <${name}> at offset ${lt}`);
    const attrs: Record<string, string> = {};
    for (const a of attrText!.matchAll(/([A-Za-z_][\w.:-]*)="([^"]*)"/g)) {
      if (a[1]! in attrs) throw new Error(`XML: duplicate attribute ${a[1]} at offset ${lt}`);
      attrs[a[1]!] = decodeEntities(a[2]!, lt);
    }
    const el: XmlElement = { name: name!, attrs, children: [], text: '' };
    if (stack.length) stack[stack.length - 1]!.children.push(el);
    else root = el;
    if (!selfClose) stack.push(el);
  }
  if (stack.length) throw new Error(`XML: <${stack[stack.length - 1]!.name}> is never closed`);
  if (!root) throw new Error('XML: no root element');
  return root;
}

/** Every descendant element named `name`, in document order. */
export function xmlFindAll(el: XmlElement, name: string): XmlElement[] {
  const out: XmlElement[] = [];
  const walk = (e: XmlElement) => {
    for (const c of e.children) {
      if (c.name === name) out.push(c);
      walk(c);
    }
  };
  walk(el);
  return out;
}
