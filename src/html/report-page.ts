import { createHash } from 'node:crypto';
import type { PageData } from './report-data.js';
import { PAGE_SCRIPT } from './page-script.js';
import { PAGE_STYLE } from './page-style.js';

/**
 * The report page: one self-contained HTML document (style, script and, for the HTML report,
 * the data inlined; nothing is fetched from the network). Without `data` (the web UI of
 * `serve`) the same page fetches api/report, api/layers and api/repositories instead.
 *
 * A Content-Security-Policy admits only this page's own script and style (by hash), and
 * connections only to the server that sent it (served UI) or nowhere (HTML report).
 */
export interface RenderedPage {
  html: string;
  /** The policy in the page's meta tag; `serve` sends it as a header too. */
  csp: string;
}

const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * JSON for a <script type="application/json"> element. JSON.stringify escapes nothing that
 * HTML cares about, so every `<` is written as `\u003c` (this covers `</script>`, the `</`
 * the HTML parser ends the element at, and `<!--`, which would otherwise change how the
 * parser reads the rest of the element); U+2028/2029 are escaped for old parsers. JSON.parse
 * reads the text back unchanged.
 */
export function jsonForScript(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function renderReportPage(opts: { data?: PageData; title?: string } = {}): RenderedPage {
  const served = !opts.data;
  const csp = [
    "default-src 'none'",
    `script-src ${hash(PAGE_SCRIPT)}`,
    `style-src ${hash(PAGE_STYLE)}`,
    'img-src data:',
    served ? "connect-src 'self'" : undefined,
    "base-uri 'none'",
    "form-action 'none'",
  ]
    .filter(Boolean)
    .join('; ');
  const title = escapeHtml(opts.title ?? 'layerstore report');
  const data = opts.data ? `<script type="application/json" id="data">${jsonForScript(opts.data)}</script>\n` : '';
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(csp)}">
<meta name="generator" content="layerstore">
<title>${title}</title>
<link rel="icon" href="data:,">
<style>${PAGE_STYLE}</style>
</head>
<body>
<svg class="defs" width="0" height="0" aria-hidden="true" focusable="false"><defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f7c4bf"/><rect width="3" height="6" fill="#d9463b"/></pattern></defs></svg>
<header class="top">
<h1>layerstore</h1><span class="sub" id="sub">${served ? 'loading\u2026' : ''}</span>
<nav><a href="#headline">Savings</a><a href="#sharing">Sharing</a><a href="#images">Images</a><a href="#layers">Layers</a><a href="#repositories" id="nav-repos" hidden>Pull</a></nav>
<label>Filter by ref <input id="filter" type="search" placeholder="e.g. acme/api or a digest" autocomplete="off" spellcheck="false"></label>
<span class="count" id="count"></span>
</header>
<main id="main">
<section id="headline"><h2>How many bytes do these images really need?</h2>
<p class="q">Logical bytes (each image stored alone) against stored bytes (each blob once), at each level of the savings ledger.</p></section>
<section id="sharing"><h2>Which layers do the images share?</h2>
<p class="q">Rows are images, columns the distinct layers, most shared first: a column filled all the way down is the common base.</p>
<div id="matrix"></div></section>
<section id="images"><h2>What does each image cost?</h2>
<p class="q">Size split into bytes shared with other images, bytes only this image has (what removing it frees), and waste inside its layers.</p>
<div id="images-box"></div><div id="waste-box"></div></section>
<section id="layers"><h2>What does each layer do?</h2>
<p class="q">An image's layers as overlayfs stacks them, bottom to top: bytes each layer adds, and lower bytes it replaces or deletes.</p>
<div class="row"><label for="layer-image">Image</label> <select id="layer-image"></select></div>
<div id="stack"></div></section>
<section id="repositories" hidden><h2 id="repos-title">Pull from this registry</h2>
<p class="q">Repositories and tags this server serves, with commands to copy them and each image's build history.</p>
<div id="repos-box"></div></section>
</main>
<footer>Made by layerstore. Sizes in SI units (1 kB = 1000 bytes), as the CLI prints them; exact byte counts are in <code>layerstore report --files --json</code>.</footer>
<noscript><p>This page draws its charts with JavaScript.${served ? ' The data is at api/report, api/layers and api/repositories.' : ' The data is in the script element with id "data".'}</p></noscript>
${data}<script>${PAGE_SCRIPT}</script>
</body>
</html>
`;
  return { html, csp };
}
