/**
 * The report page's stylesheet, inlined into the page (no network needed to open it). Sized
 * for a laptop screen (content up to 1180px wide) and for print (@media print: no toolbar or
 * buttons, colours kept, sections not split across pages).
 */
export const PAGE_STYLE = String.raw`
:root {
  --fg: #1f2937; --muted: #6b7280; --line: #e5e7eb; --bg: #f5f6f8; --card: #fff;
  --shared: #3b6fd8; --unique: #f0a030; --waste: #d9463b; --added: #2f9e5b;
  --stored: #3b6fd8; --saved: #a7d8b5; --accent: #1d4ed8;
  --mono: ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace;
}
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: var(--fg); background: var(--bg); }
header.top { position: sticky; top: 0; z-index: 5; display: flex; flex-wrap: wrap; align-items: center; gap: 8px 20px; padding: 10px max(16px, calc((100% - 1180px) / 2)); background: #111827; color: #f9fafb; }
header.top h1 { margin: 0; font-size: 18px; font-weight: 650; letter-spacing: .2px; }
header.top .sub { color: #cbd5e1; font-size: 13px; }
header.top nav { display: flex; gap: 14px; font-size: 13px; }
header.top nav a { color: #cbd5e1; text-decoration: none; }
header.top nav a:hover { color: #fff; text-decoration: underline; }
header.top nav a[hidden] { display: none; }
header.top label { margin-left: auto; display: flex; align-items: center; gap: 8px; font-size: 13px; color: #e5e7eb; }
header.top input { width: 240px; padding: 5px 9px; border-radius: 6px; border: 1px solid #4b5563; background: #1f2937; color: #f9fafb; font: inherit; }
header.top input::placeholder { color: #9ca3af; }
header.top .count { font-size: 13px; color: #cbd5e1; }
main { max-width: 1180px; margin: 0 auto; padding: 16px; }
section { scroll-margin-top: 64px; background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 14px 18px 18px; margin: 0 0 16px; }
section > h2 { margin: 0 0 2px; font-size: 17px; }
p.q { margin: 0 0 12px; color: var(--muted); }
p.note { margin: 8px 0 0; color: var(--muted); font-size: 12.5px; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 0 0 12px; }
.card { flex: 1 1 150px; border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; }
.card .v { font-size: 22px; font-weight: 650; font-variant-numeric: tabular-nums; }
.card .v small { font-size: 14px; font-weight: 500; color: var(--muted); }
.card .k { color: var(--muted); font-size: 12px; text-transform: uppercase; letter-spacing: .4px; }
.legend { display: flex; flex-wrap: wrap; gap: 4px 16px; font-size: 12.5px; color: var(--muted); margin: 4px 0 8px; }
.legend i { display: inline-block; width: 12px; height: 12px; border-radius: 2px; vertical-align: -2px; margin-right: 5px; }
.sw-shared { background: var(--shared); } .sw-unique { background: var(--unique); } .sw-waste { background: repeating-linear-gradient(45deg, var(--waste) 0 3px, #f7c4bf 3px 6px); }
.sw-added { background: var(--added); } .sw-replaced { background: var(--unique); } .sw-deleted { background: var(--waste); }
.sw-stored { background: var(--stored); } .sw-saved { background: var(--saved); }
.scroll { overflow-x: auto; }
svg { display: block; max-width: 100%; height: auto; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; fill: var(--fg); }
svg text.mono { font-family: var(--mono); font-size: 11.5px; }
svg text.muted { fill: var(--muted); }
svg text.num { font-variant-numeric: tabular-nums; }
svg text.small { font-size: 11px; }
svg text.b, svg tspan.b { font-weight: 650; }
.scroll svg { max-width: none; }
svg.defs { position: absolute; width: 0; height: 0; overflow: hidden; }
table.data { border-collapse: collapse; width: 100%; font-size: 13px; }
table.data th, table.data td { padding: 4px 8px; border-bottom: 1px solid var(--line); text-align: left; vertical-align: top; }
table.data th { background: #f9fafb; font-size: 12px; text-transform: uppercase; letter-spacing: .3px; color: #374151; white-space: nowrap; }
table.data th button { all: unset; cursor: pointer; }
table.data th button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
table.data th[aria-sort="ascending"] button::after { content: " \25B2"; font-size: 9px; }
table.data th[aria-sort="descending"] button::after { content: " \25BC"; font-size: 9px; }
table.data td.num, table.data th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.data td.mono { font-family: var(--mono); font-size: 12px; word-break: break-all; }
table.data tbody tr:hover { background: #f8fafc; }
table.data td.bar { width: 260px; padding-top: 6px; }
tr[hidden] { display: none; }
table.data td.pull { width: 50%; max-width: 0; }
table.data td.nowrap { white-space: nowrap; word-break: normal; }
.empty { color: var(--muted); font-style: italic; margin: 6px 0; }
.more { color: var(--muted); font-style: italic; }
.cls { display: inline-block; padding: 0 6px; border-radius: 9px; font-size: 11.5px; color: #fff; }
.cls-deleted { background: var(--waste); } .cls-replaced { background: #c27c0e; } .cls-duplicate { background: #7c3aed; }
.row { display: flex; align-items: center; gap: 12px; flex-wrap: wrap; margin: 0 0 10px; }
select { font: inherit; padding: 4px 8px; border-radius: 6px; border: 1px solid #cbd5e1; background: #fff; max-width: 100%; }
.cmd { display: flex; align-items: center; gap: 8px; margin: 0 0 4px; min-width: 0; }
.cmd code { flex: 1; min-width: 0; font-family: var(--mono); font-size: 12px; background: #f3f4f6; border: 1px solid var(--line); border-radius: 6px; padding: 4px 8px; overflow-wrap: anywhere; }
.cmd button { font: inherit; font-size: 12px; padding: 3px 10px; border-radius: 6px; border: 1px solid #cbd5e1; background: #fff; cursor: pointer; }
.cmd button:hover { background: #f3f4f6; }
details { margin-top: 2px; font-size: 12px; font-family: system-ui, sans-serif; }
details summary { cursor: pointer; color: var(--muted); }
details ol { margin: 4px 0 0; padding-left: 20px; word-break: break-word; font-family: var(--mono); font-size: 11.5px; }
details li.empty-layer { color: var(--muted); }
.err { color: var(--waste); font-weight: 600; }
footer { max-width: 1180px; margin: 0 auto; padding: 0 16px 24px; color: var(--muted); font-size: 12px; }
@media (max-width: 720px) { header.top label { margin-left: 0; } header.top input { width: 100%; } table.data td.bar { width: 140px; } }
@media print {
  @page { margin: 12mm; }
  body { background: #fff; font-size: 11px; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  header.top { position: static; background: #fff; color: #000; padding: 0 0 8px; border-bottom: 2px solid #000; }
  header.top .sub, header.top .count { color: #000; }
  header.top label, header.top nav, .cmd button { display: none !important; }
  main { max-width: none; padding: 8px 0; }
  section { border: none; border-radius: 0; padding: 0; margin: 0 0 14px; break-inside: avoid; page-break-inside: avoid; }
  table.data tr { break-inside: avoid; }
  select { border: none; padding: 0; appearance: none; -webkit-appearance: none; font-weight: 600; }
  details { display: block; } details > summary { list-style: none; }
}
`;
