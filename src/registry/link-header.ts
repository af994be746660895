/**
 * The Link header of a paginated list (_catalog, tags/list), read as RFC 8288 §3 says:
 * comma-separated links `<URI-Reference>` each followed by `; name=value` parameters in any
 * order, values tokens or quoted strings, `rel` a space-separated list of relation types
 * (case-insensitive; only its first occurrence counts). One form outside the RFC is
 * accepted, as docker, containers/image and heroku/docker-registry-client accept it: the
 * target without angle brackets (quay.io), up to the first `;`.
 */
export interface Link {
  /** As sent: resolve it against the URL of the request that got it (RFC 8288 §3.2). */
  target: string;
  /** Relation types, lower-case. */
  rels: string[];
}

/** The links of `header`, or undefined when it cannot be read as links (the caller must not take that for "no next page"). */
export function parseLinks(header: string): Link[] | undefined {
  const links: Link[] = [];
  let i = 0;
  const n = header.length;
  const skipSpace = () => {
    while (i < n && (header[i] === ' ' || header[i] === '\t')) i++;
  };
  // Bounded: every pass of each loop consumes at least one character or returns.
  for (;;) {
    skipSpace();
    if (i < n && header[i] === ',') {
      i++; // an empty element (RFC 9110 §5.6.1 lets lists have them)
      continue;
    }
    if (i >= n) return links;
    let target: string;
    if (header[i] === '<') {
      const end = header.indexOf('>', i + 1);
      if (end < 0) return undefined;
      target = header.slice(i + 1, end);
      i = end + 1;
    } else {
      const end = header.indexOf(';', i);
      if (end < 0) return undefined; // a bare word with no parameters is not a link
      target = header.slice(i, end).trim();
      i = end;
      if (target === '' || /[\s<>",]/.test(target)) return undefined;
    }
    let rels: string[] | undefined;
    for (;;) {
      skipSpace();
      if (i >= n || header[i] === ',') break;
      if (header[i] !== ';') return undefined;
      i++;
      skipSpace();
      const name = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+/.exec(header.slice(i))?.[0];
      if (!name) {
        if (i >= n || header[i] === ',' || header[i] === ';') continue; // an empty parameter: "<x>;; rel=next"
        return undefined;
      }
      i += name.length;
      skipSpace();
      let value = '';
      if (header[i] === '=') {
        i++;
        skipSpace();
        const v = readValue(header, i);
        if (!v) return undefined;
        value = v.value;
        i = v.end;
      }
      if (name.toLowerCase() === 'rel' && rels === undefined) rels = value.toLowerCase().split(/\s+/).filter(Boolean);
    }
    links.push({ target, rels: rels ?? [] });
  }
}

/** A token or a quoted string (backslash escapes) at `i`: its value and where it ends. */
function readValue(s: string, i: number): { value: string; end: number } | undefined {
  if (s[i] === '"') {
    let value = '';
    for (let j = i + 1; j < s.length; j++) {
      if (s[j] === '\\' && j + 1 < s.length) value += s[++j];
      else if (s[j] === '"') return { value, end: j + 1 };
      else value += s[j];
    }
    return undefined; // unterminated
  }
  const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z/:]+/.exec(s.slice(i))?.[0];
  return token ? { value: token, end: i + token.length } : undefined;
}

/**
 * The target of the `rel="next"` link of `header` resolved against `requestUrl`; null when
 * there is none; undefined when the header cannot be read.
 */
export function nextLink(header: string, requestUrl: string): URL | null | undefined {
  const links = parseLinks(header);
  if (!links) return undefined;
  const next = links.find((l) => l.rels.includes('next'));
  if (!next) return null;
  try {
    return new URL(next.target, requestUrl);
  } catch {
    return undefined;
  }
}
