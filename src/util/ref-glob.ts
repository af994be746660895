/**
 * Globs over image refs ("corp/slim-tools:1.0"). A ref is a name, not a path, so `*`
 * matches any run of characters, '/' and ':' included: "*slim-tools*" matches
 * "corp/slim-tools:1.0" and "acme/*" matches "acme/team/api:1". `**` means the same as `*`;
 * `?` is one character; `[abc]`, `[a-z]` and `[!abc]` are character classes; `{a,b}` is
 * either alternative. Every other character stands for itself.
 */
export function refGlobToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') {
      while (glob[i + 1] === '*') i++;
      re += '.*';
    } else if (c === '?') re += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) {
        re += '\\[';
        continue;
      }
      let body = glob.slice(i + 1, close);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, (x) => `\\${x}`)}]`;
      i = close;
    } else if (c === '{') {
      const close = glob.indexOf('}', i + 1);
      if (close < 0) {
        re += '\\{';
        continue;
      }
      const alternatives = glob.slice(i + 1, close).split(',');
      re += `(?:${alternatives.map((a) => refGlobToRegExp(a).source.slice(1, -1)).join('|')})`;
      i = close;
    } else re += c.replace(/[.+^$()|\\/\]}]/g, (x) => `\\${x}`);
  }
  return new RegExp(`^${re}$`, 's');
}

/** Whether `ref` matches any of `globs`. */
export function matchesRefGlob(ref: string, globs: string[]): boolean {
  return globs.some((g) => refGlobToRegExp(g).test(ref));
}
