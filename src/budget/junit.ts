/** One verdict as words (cli/budget-text.ts writes them): what a testcase shows. */
export interface JUnitCase {
  image: string;
  manifestDigest: string;
  rule: string;
  limitText: string;
  actualText: string;
  pass: boolean | null;
  detail?: string | null;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/**
 * JUnit XML: one testsuite per image (per manifest: the platforms of a multi-platform ref are
 * suites of their own, named apart by the caller), one testcase per rule; CI systems show
 * these natively.
 */
export function toJUnit(verdicts: JUnitCase[]): string {
  const byImage = new Map<string, JUnitCase[]>();
  for (const v of verdicts) {
    const list = byImage.get(v.manifestDigest) ?? [];
    list.push(v);
    byImage.set(v.manifestDigest, list);
  }
  const failures = verdicts.filter((v) => v.pass === false).length;
  const skipped = verdicts.filter((v) => v.pass === null).length;
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="layerstore budget" tests="${verdicts.length}" failures="${failures}" skipped="${skipped}">`,
  ];
  for (const vs of byImage.values()) {
    const image = vs[0]!.image;
    const f = vs.filter((v) => v.pass === false).length;
    const s = vs.filter((v) => v.pass === null).length;
    lines.push(`  <testsuite name="${esc(image)}" tests="${vs.length}" failures="${f}" skipped="${s}">`);
    for (const v of vs) {
      const name = `${v.rule} (limit ${v.limitText})`;
      const open = `    <testcase classname="${esc(image)}" name="${esc(name)}"`;
      if (v.pass === true) lines.push(`${open}/>`);
      else if (v.pass === null) lines.push(`${open}><skipped message="${esc(v.detail ?? 'not applicable')}"/></testcase>`);
      else
        lines.push(
          `${open}><failure message="${esc(`${v.rule}: actual ${v.actualText}, limit ${v.limitText}`)}" type="budget">${esc(`${v.image} ${v.manifestDigest}: ${v.rule} actual ${v.actualText}, limit ${v.limitText}${v.detail ? ` (${v.detail})` : ''}`)}</failure></testcase>`,
        );
    }
    lines.push('  </testsuite>');
  }
  lines.push('</testsuites>');
  return lines.join('\n') + '\n';
}
