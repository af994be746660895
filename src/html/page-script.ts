/**
 * The report page's script, inlined into the page: plain DOM, no framework, no charting
 * library. Every chart is hand-drawn SVG: a few hundred lines cost ~0 KB of dependencies,
 * against ~200 KB (minified) for a charting library, and the page keeps working offline.
 *
 * Data: the JSON in <script type="application/json" id="data"> (the HTML report), or, when
 * that element is absent (the web UI of `serve`), api/report, api/layers and
 * api/repositories fetched from the server that sent the page.
 *
 * Written as a raw string (String.raw): no backticks and no dollar-brace in the script, but
 * for the one interpolation of PAGE_FORMAT_SOURCE.
 * Every text from the data goes into the page as a text node or attribute, never as markup;
 * every text from an image (paths, history lines, artifact types) through printable first.
 */
import { humanBytes, percent, ratio } from '../report/human.js';
import { printable } from '../report/printable.js';

/**
 * The CLI's own formatting functions (src/report/human.ts, src/report/printable.ts), as script
 * source: the page runs the very code the CLI runs, so it shows the CLI's numbers and escapes
 * names as the CLI's tables do. They are self-contained function declarations, which is what
 * makes their source text usable here.
 */
export const PAGE_FORMAT_SOURCE = [humanBytes, percent, ratio, printable].map((f) => f.toString()).join('\n');

export const PAGE_SCRIPT = String.raw`
(function () {
  'use strict';
  var SVGNS = 'http://www.w3.org/2000/svg';
  // the stylesheet's colours, for SVG fill attributes
  var P = { shared: '#3b6fd8', unique: '#f0a030', waste: '#d9463b', added: '#2f9e5b', stored: '#3b6fd8', saved: '#a7d8b5' };

  // ---- formatting: humanBytes, percent, ratio and printable are the CLI's own (PAGE_FORMAT_SOURCE)
${PAGE_FORMAT_SOURCE}
  function short(d) { return d.indexOf('sha256:') === 0 ? d.slice(7, 19) : d.slice(0, 12); }
  function plural(n, w) { return n + ' ' + w + (n === 1 ? '' : 's'); }
  function label(img) { return img.refs.length ? img.refs.join(', ') : '<none>@' + short(img.manifestDigest); }
  function clip(s, n) { return s.length > n ? s.slice(0, n - 1) + '\u2026' : s; }
  // A text of a few KB (a long RUN line) as its first LONG_TEXT characters, whole in its title;
  // total: its length before the server clipped it (config-history.ts), when it did.
  var LONG_TEXT = 160;
  function longText(text, total) {
    if (text.length <= LONG_TEXT && !total) return text;
    return h('span', { class: 'long', title: text + (total ? '\n(clipped by the server: the whole text is ' + total + ' characters)' : '') }, clip(text, LONG_TEXT));
  }

  // ---- DOM helpers (text always as text nodes)
  function put(e, attrs, kids) {
    if (attrs) for (var k in attrs) {
      var v = attrs[k];
      if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : String(v));
    }
    if (kids !== undefined && kids !== null) {
      (Array.isArray(kids) ? kids : [kids]).forEach(function (c) {
        if (c === undefined || c === null || c === false) return;
        e.appendChild(typeof c === 'object' ? c : document.createTextNode(String(c)));
      });
    }
    return e;
  }
  function h(tag, attrs, kids) { return put(document.createElement(tag), attrs, kids); }
  function s(tag, attrs, kids) { return put(document.createElementNS(SVGNS, tag), attrs, kids); }
  function tip(text) { return s('title', null, text); }
  function byId(id) { return document.getElementById(id); }
  function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }
  function svgRoot(w, hgt, aria) { return s('svg', { viewBox: '0 0 ' + w + ' ' + hgt, width: w, height: hgt, role: 'img', 'aria-label': aria }); }

  // ---- state and filtering
  var D = null;
  var byDigest = {};
  var state = { q: '', image: null };
  var refreshers = [];
  // paths shown per content in the duplicates table
  var PATHS_SHOWN = 10;

  function matches(img) {
    if (!state.q) return true;
    var q = state.q;
    var names = img.refs.length ? img.refs : ['<none>'];
    for (var i = 0; i < names.length; i++) if (names[i].toLowerCase().indexOf(q) >= 0) return true;
    var hex = q.replace(/^sha256:/, '');
    return hex.length >= 4 && /^[0-9a-f]+$/.test(hex) && (img.manifestDigest.slice(7).indexOf(hex) === 0 || img.configDigest.slice(7).indexOf(hex) === 0);
  }
  function visibleImages() { return D.report.images.filter(matches); }

  // ---- sortable tables: click a header to sort (numbers largest first, text A to Z; again to reverse)
  function table(id, cols, rows, imagesOf, emptyText) {
    var tbody = h('tbody');
    var ths = cols.map(function (c, i) {
      var th = h('th', { scope: 'col', class: c.num ? 'num' : null });
      if (c.sort === false) th.textContent = c.label;
      else {
        var b = h('button', { type: 'button', title: 'sort by ' + c.label.toLowerCase() }, c.label);
        b.addEventListener('click', function () { sortBy(i); });
        th.appendChild(b);
      }
      return th;
    });
    var trs = rows.map(function (r, n) {
      var tr = h('tr', { 'data-key': r.key });
      tr._row = r; tr._n = n;
      cols.forEach(function (c) {
        var v = c.cell(r);
        tr.appendChild(h('td', { class: (c.num ? 'num ' : '') + (c.cls || ''), 'data-col': c.key }, v));
      });
      tbody.appendChild(tr);
      return tr;
    });
    var none = h('p', { class: 'empty', hidden: true }, rows.length ? 'No rows match the filter.' : emptyText || 'Nothing to show.');
    var current = -1, dir = 1;
    function sortBy(i) {
      var c = cols[i];
      dir = current === i ? -dir : c.num ? -1 : 1;
      current = i;
      var val = c.sort || c.cell;
      trs.sort(function (a, b) {
        var x = val(a._row), y = val(b._row);
        var d = typeof x === 'number' && typeof y === 'number' ? x - y : String(x).localeCompare(String(y));
        return d * dir || a._n - b._n;
      });
      trs.forEach(function (tr) { tbody.appendChild(tr); });
      ths.forEach(function (th, j) { if (j === i) th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending'); else th.removeAttribute('aria-sort'); });
    }
    function refresh() {
      var shown = 0;
      trs.forEach(function (tr) {
        var ok = !state.q || imagesOf(tr._row).some(matches);
        tr.hidden = !ok;
        if (ok) shown++;
      });
      none.hidden = shown > 0;
    }
    if (imagesOf) { refreshers.push(refresh); refresh(); }
    return h('div', { class: 'scroll' }, [h('table', { id: id, class: 'data' }, [h('thead', null, h('tr', null, ths)), tbody]), none]);
  }

  // ---- headline: logical vs stored at each level
  function headline() {
    var t = D.report.totals;
    var sec = byId('headline');
    sec.appendChild(h('div', { class: 'cards' }, [
      card('images', 'images', String(t.images)),
      card('layers', 'distinct layers', String(t.layers)),
      card('logical', 'logical', humanBytes(t.logicalBytes)),
      card('stored', 'stored', humanBytes(t.storedBytes)),
      card('saved', 'saved by sharing', humanBytes(t.savedBytes), percent(t.savedBytes, t.logicalBytes)),
      card('ratio', 'dedup ratio', ratio(t.dedupRatio)),
    ]));
    var rows = [{ key: 'total', name: 'store total', what: 'configs + layer blobs, as stored today', v: t }];
    var lv = t.levels;
    if (lv) {
      rows.push({ key: 'blob', name: 'blob', what: 'layer blobs: what the store pays today', v: lv.blob });
      rows.push({ key: 'diffId', name: 'diffID', what: 'potential: one blob per uncompressed layer', v: lv.diffId });
      if (lv.file) rows.push({ key: 'file', name: 'file', what: 'potential: file-level store (uncompressed)', v: lv.file });
    }
    var max = Math.max.apply(null, rows.map(function (r) { return r.v.logicalBytes; }).concat([1]));
    var W = 1100, RH = 44, X = 275, BW = 440;
    var g = svgRoot(W, rows.length * RH + 4, 'logical and stored bytes at each level');
    rows.forEach(function (r, i) {
      var y = i * RH + 4;
      var lw = BW * r.v.logicalBytes / max, sw = BW * r.v.storedBytes / max;
      g.appendChild(s('text', { x: 0, y: y + 14, class: 'b' }, r.name));
      g.appendChild(s('text', { x: 0, y: y + 30, class: 'muted small' }, r.what));
      g.appendChild(s('rect', { x: X, y: y + 4, width: Math.max(lw, 1), height: 22, rx: 3, fill: P.saved }, tip('logical ' + humanBytes(r.v.logicalBytes))));
      g.appendChild(s('rect', { x: X, y: y + 4, width: Math.max(sw, 1), height: 22, rx: 3, fill: P.stored }, tip('stored ' + humanBytes(r.v.storedBytes))));
      var txt = s('text', { x: X + BW + 14, y: y + 20, class: 'num', 'data-level': r.key });
      txt.appendChild(s('tspan', { class: 'b', 'data-f': 'stored' }, humanBytes(r.v.storedBytes)));
      txt.appendChild(s('tspan', null, ' stored of '));
      txt.appendChild(s('tspan', { 'data-f': 'logical' }, humanBytes(r.v.logicalBytes)));
      txt.appendChild(s('tspan', null, ' \u00b7 saved '));
      txt.appendChild(s('tspan', { class: 'b', 'data-f': 'saved' }, humanBytes(r.v.savedBytes)));
      txt.appendChild(s('tspan', null, ' (' + percent(r.v.savedBytes, r.v.logicalBytes) + ')'));
      g.appendChild(txt);
    });
    sec.appendChild(legend([['stored', 'stored'], ['saved', 'saved (logical \u2212 stored)']]));
    sec.appendChild(h('div', { id: 'ledger-chart' }, g));
    var notes = [];
    if (t.wellKnown && t.wellKnown.length) notes.push('Well-known empty layers, left out of the levels: ' + t.wellKnown.map(function (w) { return w.label + ' ' + short(w.digest) + ' in ' + plural(w.images, 'image'); }).join('; ') + '.');
    if (t.images) notes.push('Totals are for all ' + plural(t.images, 'image') + ' of the report; the filter applies to the views below.' + (lv && lv.file ? ' The file level counts uncompressed bytes, so it is not comparable with the compressed levels.' : ''));
    notes.forEach(function (n) { sec.appendChild(h('p', { class: 'note' }, n)); });
  }
  function card(k, name, v, extra) { return h('div', { class: 'card', 'data-k': k }, [h('div', { class: 'k' }, name), h('div', { class: 'v' }, [v, extra ? h('small', null, ' ' + extra) : null])]); }
  function legend(items) {
    return h('div', { class: 'legend' }, items.map(function (it) { return h('span', null, [h('i', { class: 'sw-' + it[0] }), it[1]]); }));
  }

  // ---- sharing: images x layers
  function colour(t) {
    // light to dark blue along sqrt(bytes / largest)
    var a = [199, 215, 245], b = [23, 52, 135];
    return 'rgb(' + a.map(function (x, i) { return Math.round(x + (b[i] - x) * t); }).join(',') + ')';
  }
  // Every cell is an SVG element: 2000 images x 2000 layers would be 4M of them. So the matrix
  // draws the most shared layers and the images using most of them; the filter shows others.
  var MATRIX_COLS = 40, MATRIX_ROWS = 60;
  function matrix() {
    var box = clear(byId('matrix'));
    var all = visibleImages();
    if (!all.length) { box.appendChild(h('p', { class: 'empty' }, D.report.images.length ? 'No image matches the filter.' : 'No images in the store yet.')); return; }
    var shown = {};
    all.forEach(function (i) { shown[i.manifestDigest] = true; });
    var allCols = D.report.layers.map(function (l) {
      return { l: l, users: l.images.filter(function (d) { return shown[d]; }).length };
    }).filter(function (c) { return c.users > 0; });
    allCols.sort(function (a, b) { return b.users - a.users || b.l.sizeBytes - a.l.sizeBytes || (a.l.digest < b.l.digest ? -1 : 1); });
    var cols = allCols.slice(0, MATRIX_COLS);
    var imgs = all;
    if (all.length > MATRIX_ROWS) {
      var kept = {};
      cols.forEach(function (c) { kept[c.l.digest] = true; });
      var ranked = all.map(function (img, n) {
        var seen = {}, uses = 0;
        img.layers.forEach(function (d) { if (kept[d] && !seen[d]) { seen[d] = true; uses++; } });
        return { img: img, n: n, uses: uses };
      });
      ranked.sort(function (a, b) { return b.uses - a.uses || b.img.sizeBytes - a.img.sizeBytes || a.n - b.n; });
      imgs = ranked.slice(0, MATRIX_ROWS).sort(function (a, b) { return a.n - b.n; }).map(function (r) { return r.img; });
    }
    var diffIdBlobs = {};
    D.report.layers.forEach(function (l) { (diffIdBlobs[l.diffId] = diffIdBlobs[l.diffId] || []).push(l.digest); });
    var maxSize = cols.reduce(function (m, c) { return Math.max(m, c.l.sizeBytes); }, 1);
    var longest = Math.max.apply(null, imgs.map(function (i) { return clip(label(i), 44).length; }));
    var C = 34, LW = Math.min(340, Math.max(120, longest * 7 + 16)), TOP = 100, RW = 80;
    var W = LW + cols.length * C + RW, H = TOP + imgs.length * C + 26;
    var g = svgRoot(W, H, 'which images use which layers');
    cols.forEach(function (c, j) {
      var x = LW + j * C + C / 2;
      var twins = diffIdBlobs[c.l.diffId].length > 1;
      var t = s('text', { x: x, y: TOP - 8, class: c.users > 1 ? 'mono b' : 'mono', transform: 'rotate(-50 ' + x + ' ' + (TOP - 8) + ')' },
        short(c.l.digest) + (c.l.compression !== 'none' ? ' ' + c.l.compression : '') + (twins ? ' \u2248' : ''));
      t.appendChild(tip('layer ' + c.l.digest + '\n' + humanBytes(c.l.sizeBytes) + ', ' + c.l.compression + ', in ' + c.users + ' of ' + plural(all.length, 'image') + (state.q ? ' matching the filter' : '') +
        (twins ? '\nsame uncompressed content (diffID ' + short(c.l.diffId) + ') as ' + diffIdBlobs[c.l.diffId].filter(function (d) { return d !== c.l.digest; }).map(short).join(', ') + ', stored again' : '') +
        (c.l.wellKnown ? '\n' + c.l.wellKnown : '')));
      g.appendChild(t);
      g.appendChild(s('text', { x: x, y: TOP + imgs.length * C + 16, 'text-anchor': 'middle', class: 'muted num small' }, '\u00d7' + c.users));
    });
    imgs.forEach(function (img, i) {
      var y = TOP + i * C;
      if (i % 2 === 0) g.appendChild(s('rect', { x: 0, y: y, width: W, height: C, fill: '#f8fafc' }));
      g.appendChild(s('text', { x: LW - 10, y: y + C / 2 + 4, 'text-anchor': 'end', class: 'mono' }, [clip(label(img), 44), tip(label(img) + '\n' + img.manifestDigest)]));
      var uses = {};
      img.layers.forEach(function (d) { uses[d] = true; });
      cols.forEach(function (c, j) {
        var x = LW + j * C;
        if (!uses[c.l.digest]) {
          g.appendChild(s('circle', { cx: x + C / 2, cy: y + C / 2, r: 1.5, fill: '#cbd5e1' }));
          return;
        }
        var t = Math.sqrt(c.l.sizeBytes / maxSize), side = 8 + 18 * t;
        g.appendChild(s('rect', { x: x + (C - side) / 2, y: y + (C - side) / 2, width: side, height: side, rx: 2, fill: colour(t), 'data-layer': c.l.digest, 'data-image': img.manifestDigest },
          tip(label(img) + ' uses ' + short(c.l.digest) + ': ' + humanBytes(c.l.sizeBytes) + (c.users > 1 ? ', shared by ' + c.users + ' images' : ', only this image'))));
      });
      g.appendChild(s('text', { x: LW + cols.length * C + 10, y: y + C / 2 + 4, class: 'muted num' }, humanBytes(img.sizeBytes)));
    });
    box.appendChild(h('div', { class: 'scroll' }, g));
    if (cols.length < allCols.length || imgs.length < all.length) {
      box.appendChild(h('p', { class: 'note', id: 'matrix-left-out' }, 'Drawn: ' +
        (cols.length < allCols.length ? 'the ' + cols.length + ' most shared of ' + plural(allCols.length, 'layer') : plural(cols.length, 'layer')) + ' and ' +
        (imgs.length < all.length ? imgs.length + ' of ' + plural(all.length, 'image') + ' (those using the most of these layers)' : plural(imgs.length, 'image')) +
        (state.q ? ' matching the filter' : '') + '. Type a ref or digest in the filter to draw other images and their layers; the tables below list every one.'));
    }
    box.appendChild(h('p', { class: 'note' }, 'Columns: the ' + plural(cols.length, 'distinct layer blob') + ' drawn, most shared first (\u00d7N: how many use it); a full column is a common base. Square size and colour: layer bytes (largest ' + humanBytes(maxSize) + '). \u2248 marks a blob whose uncompressed content (diffID) is also stored as another blob. Right: image size.'));
  }

  // ---- per image: shared / unique / wasted
  function images() {
    var sec = byId('images-box');
    var all = D.report.images;
    var max = Math.max.apply(null, all.map(function (i) { return i.sizeBytes; }).concat([1]));
    var hasWaste = all.some(function (i) { return i.waste; });
    var BW = 240;
    function bar(img) {
      var g = s('svg', { viewBox: '0 0 ' + BW + ' 16', width: BW, height: 16, role: 'img', 'aria-label': 'size split' });
      var sw = BW * img.sharedBytes / max, uw = BW * img.uniqueBytes / max;
      g.appendChild(s('rect', { x: 0, y: 2, width: sw, height: 12, fill: P.shared }));
      g.appendChild(s('rect', { x: sw, y: 2, width: uw, height: 12, fill: P.unique }));
      var t = 'shared ' + humanBytes(img.sharedBytes) + ' \u00b7 unique ' + humanBytes(img.uniqueBytes);
      if (img.waste && img.waste.wastedBytes > 0) {
        var frac = img.waste.wastedBytes / Math.max(1, img.waste.totalFileBytes);
        var ww = Math.max(2, (sw + uw) * frac);
        g.appendChild(s('rect', { x: sw + uw - ww, y: 2, width: ww, height: 12, fill: 'url(#hatch)' }));
        t += ' \u00b7 wasted ' + humanBytes(img.waste.wastedBytes) + ' of ' + humanBytes(img.waste.totalFileBytes) + ' file bytes (' + percent(img.waste.wastedBytes, img.waste.totalFileBytes) + ')';
      }
      g.appendChild(tip(t));
      return g;
    }
    var cols = [
      { key: 'ref', label: 'Ref', cls: 'mono', cell: label },
      { key: 'platform', label: 'Platform', cell: function (i) { return i.platform || ''; } },
      { key: 'layers', label: 'Layers', num: true, cell: function (i) { return String(i.layers.length); }, sort: function (i) { return i.layers.length; } },
      { key: 'size', label: 'Size', num: true, cell: function (i) { return humanBytes(i.sizeBytes); }, sort: function (i) { return i.sizeBytes; } },
      { key: 'shared', label: 'Shared', num: true, cell: function (i) { return humanBytes(i.sharedBytes); }, sort: function (i) { return i.sharedBytes; } },
      { key: 'unique', label: 'Unique', num: true, cell: function (i) { return humanBytes(i.uniqueBytes); }, sort: function (i) { return i.uniqueBytes; } },
    ];
    if (hasWaste) {
      // waste null: an image not analysed inside (a layer that is not a readable tar, listed below)
      cols.push({ key: 'wasted', label: 'Wasted', num: true, cell: function (i) { return i.waste ? humanBytes(i.waste.wastedBytes) : NOT_READ; }, sort: function (i) { return i.waste ? i.waste.wastedBytes : -1; } });
      cols.push({ key: 'efficiency', label: 'Efficiency', num: true, cell: function (i) { return i.waste ? percent(i.waste.efficiency, 1) : NOT_READ; }, sort: function (i) { return i.waste ? i.waste.efficiency : -1; } });
      cols.push({ key: 'frees', label: 'Removing frees', num: true, cell: function (i) { return i.marginalBytes === null ? NOT_READ : humanBytes(i.marginalBytes); }, sort: function (i) { return i.marginalBytes === null ? -1 : i.marginalBytes; } });
    }
    cols.push({ key: 'split', label: 'Shared / unique / wasted', sort: false, cls: 'bar', cell: bar });
    var rows = all.map(function (i) { return Object.assign({ key: i.manifestDigest }, i); });
    sec.appendChild(legend([['shared', 'shared with other images'], ['unique', 'unique (only this image)']].concat(hasWaste ? [['waste', 'wasted: share of its file bytes deleted, replaced or duplicated']] : [])));
    sec.appendChild(table('images-table', cols, rows, function (r) { return [r]; }, 'No images in the store yet.'));

    // What is attached to each image (OCI referrers), so signatures and SBOMs are found.
    var attached = [];
    all.forEach(function (img) { (img.referrers || []).forEach(function (r) { attached.push(Object.assign({ img: img, key: img.manifestDigest + ' ' + r.digest }, r)); }); });
    if (attached.length) {
      sec.appendChild(h('h3', null, 'Attached to the images (referrers: signatures, SBOMs, attestations)'));
      sec.appendChild(table('referrers-table', [
        { key: 'image', label: 'Image', cls: 'mono', cell: function (r) { return label(r.img); } },
        { key: 'type', label: 'Artifact type', cls: 'mono', cell: function (r) { return printable(r.artifactType || r.mediaType); } },
        { key: 'digest', label: 'Digest', cls: 'mono', cell: function (r) { return short(r.digest); }, sort: function (r) { return r.digest; } },
        { key: 'size', label: 'Size', num: true, cell: function (r) { return humanBytes(r.size); }, sort: function (r) { return r.size; } },
      ], attached, function (r) { return [r.img]; }));
    }

    unreadable(sec);
    if (!hasWaste) return;
    var wasted = [];
    all.forEach(function (img) { (img.wastedFiles || []).forEach(function (f) { wasted.push(Object.assign({ img: img, key: img.manifestDigest + ' ' + f.class + ' ' + f.path }, f)); }); });
    wasted.sort(function (a, b) { return b.bytes - a.bytes; });
    var wsec = byId('waste-box');
    wsec.appendChild(h('h3', null, 'Largest wasted files'));
    wsec.appendChild(table('wasted-table', [
      { key: 'image', label: 'Image', cls: 'mono', cell: function (r) { return label(r.img); } },
      { key: 'path', label: 'Path', cls: 'mono', cell: function (r) { return printable(r.path); } },
      { key: 'class', label: 'Class', cell: function (r) { return h('span', { class: 'cls cls-' + r.class }, r.class); }, sort: function (r) { return r.class; } },
      { key: 'bytes', label: 'Bytes', num: true, cell: function (r) { return humanBytes(r.bytes); }, sort: function (r) { return r.bytes; } },
      { key: 'layer', label: 'In layer', cls: 'mono', cell: function (r) { return r.layers.map(short).join(', '); } },
      { key: 'why', label: 'Why', cls: 'mono', cell: function (r) { return r.class === 'duplicate' ? 'same as ' + printable(r.duplicateOf || '') : 'hidden by ' + r.hiddenBy.map(short).join(', '); } },
    ], wasted, function (r) { return [r.img]; }, 'No wasted files: no image hides or duplicates a file.'));

    var usersOf = {};
    D.report.layers.forEach(function (l) { usersOf[l.digest] = l.images.map(function (d) { return byDigest[d]; }).filter(Boolean); });
    // The images of a content, once per row: each layer once, each image once (linear; a content
    // may sit at thousands of paths of one layer). The JSON names every layer holding it.
    function imagesOfLayers(list) {
      var seenLayer = {}, seenImage = {}, out = [];
      list.forEach(function (o) {
        if (seenLayer[o.layer]) return;
        seenLayer[o.layer] = true;
        (usersOf[o.layer] || []).forEach(function (img) { if (!seenImage[img.manifestDigest]) { seenImage[img.manifestDigest] = true; out.push(img); } });
      });
      return out;
    }
    var dups = (D.report.duplicateFiles || []).map(function (d) {
      return Object.assign({ key: d.sha256, copies: d.occurrences.length + (d.occurrencesOmitted || 0), imgs: imagesOfLayers(d.occurrences) }, d);
    });
    // A few paths per content, then how many more (all of them are in the JSON, up to its own bound).
    function pathsCell(r) {
      var shown = r.occurrences.slice(0, PATHS_SHOWN).map(function (o) { return h('div', null, printable(o.path) + ' (' + short(o.layer) + ')'); });
      if (r.copies > shown.length) shown.push(h('div', { class: 'more' }, '+' + (r.copies - shown.length) + ' more'));
      return shown;
    }
    wsec.appendChild(h('h3', null, 'Contents stored more than once, in one layer or across layers'));
    wsec.appendChild(table('duplicates-table', [
      { key: 'sha256', label: 'SHA256', cls: 'mono', cell: function (r) { return r.sha256.slice(0, 12); } },
      { key: 'size', label: 'Size', num: true, cell: function (r) { return humanBytes(r.sizeBytes); }, sort: function (r) { return r.sizeBytes; } },
      { key: 'copies', label: 'Copies', num: true, cell: function (r) { return String(r.copies); }, sort: function (r) { return r.copies; } },
      { key: 'layers', label: 'Layers', num: true, cell: function (r) { return String(r.layers); }, sort: function (r) { return r.layers; } },
      { key: 'saved', label: 'Saved', num: true, cell: function (r) { return humanBytes(r.savedBytes); }, sort: function (r) { return r.savedBytes; } },
      { key: 'paths', label: 'Paths (layer)', cls: 'mono', cell: pathsCell, sort: function (r) { return r.occurrences[0] ? r.occurrences[0].path : ''; } },
    ], dups, function (r) { return r.imgs; }, 'No content is stored twice.'));
  }

  // ---- layers that are not a readable tar (report --files' unreadableLayers): their images are left out of the file figures
  var NOT_READ = 'not read';
  function unreadableOf(img) { return (D.report.unreadableLayers || []).filter(function (u) { return u.images.indexOf(img.manifestDigest) >= 0; }); }
  function unreadable(sec) {
    var bad = (D.report.unreadableLayers || []).map(function (u) { return Object.assign({ key: u.digest, imgs: u.images.map(function (d) { return byDigest[d]; }).filter(Boolean) }, u); });
    if (!bad.length) return;
    sec.appendChild(h('h3', null, 'Layers that are not a readable tar: their images are left out of the file figures'));
    sec.appendChild(table('unreadable-table', [
      { key: 'layer', label: 'Layer', cls: 'mono', cell: function (u) { return h('span', { title: u.digest }, short(u.digest)); }, sort: function (u) { return u.digest; } },
      { key: 'code', label: 'Error', cls: 'mono', cell: function (u) { return u.code; } },
      { key: 'message', label: 'What is wrong', cell: function (u) { return printable(u.message); } },
      { key: 'images', label: 'Images left out', cls: 'mono', cell: function (u) { return u.imgs.map(function (i) { return h('div', null, label(i)); }); }, sort: function (u) { return u.imgs.length; } },
    ], bad, function (u) { return u.imgs; }));
  }

  // ---- layer view: one image's overlay stack, bottom to top
  function layerView() {
    var sel = byId('layer-image');
    var imgs = visibleImages();
    clear(sel);
    imgs.forEach(function (img) { sel.appendChild(h('option', { value: img.manifestDigest }, label(img) + ' \u2014 ' + plural(img.layers.length, 'layer'))); });
    if (!imgs.some(function (i) { return i.manifestDigest === state.image; })) state.image = imgs.length ? imgs[0].manifestDigest : null;
    sel.disabled = !imgs.length;
    if (state.image) sel.value = state.image;
    drawStack();
  }
  function drawStack() {
    var box = clear(byId('stack'));
    var img = state.image && byDigest[state.image];
    if (!img) { box.appendChild(h('p', { class: 'empty' }, D.report.images.length ? 'No image matches the filter.' : 'No images in the store yet.')); return; }
    var rows = (D.stacks || {})[img.manifestDigest];
    if (!rows) {
      var bad = unreadableOf(img);
      box.appendChild(h('p', { class: 'empty', id: bad.length ? 'stack-unreadable' : null }, bad.length
        ? 'Not analysed: ' + bad.map(function (u) { return 'layer ' + short(u.digest) + ' is not a readable tar (' + u.code + ': ' + printable(u.message) + ')'; }).join('; ') + '.'
        : 'No layer data for this image.'));
      return;
    }
    var users = {};
    D.report.layers.forEach(function (l) { users[l.digest] = l.images.length; });
    var max = Math.max.apply(null, rows.map(function (r) { return r.addedBytes + r.replacedBytes + r.deletedBytes; }).concat([1]));
    var W = 1100, RH = 46, GAP = 4, X = 290, BW = 500, n = rows.length;
    var g = svgRoot(W, n * (RH + GAP) + 18, 'layers of ' + label(img) + ', bottom to top');
    g.setAttribute('id', 'stack-svg');
    rows.forEach(function (r) {
      var y = (n - 1 - r.index) * (RH + GAP);
      var band = s('g', { class: 'band', 'data-index': r.index, 'data-layer': r.digest });
      band.appendChild(s('rect', { x: 0, y: y, width: W, height: RH, rx: 5, fill: r.index % 2 ? '#eef2f7' : '#e4e9f1' }));
      band.appendChild(s('text', { x: 10, y: y + 19, class: 'mono b' }, '#' + r.index + '  ' + short(r.digest) + (n > 1 && r.index === 0 ? '  (bottom)' : n > 1 && r.index === n - 1 ? '  (top)' : '')));
      band.appendChild(s('text', { x: 10, y: y + 36, class: 'muted small' }, [clip(printable(r.createdBy || r.wellKnown || ''), 46), tip(printable(r.createdBy || ''))]));
      var x = X;
      [['added', r.addedBytes, P.added], ['replaced', r.replacedBytes, P.unique], ['deleted', r.deletedBytes, P.waste]].forEach(function (p) {
        if (p[1] <= 0) return;
        var w = Math.max(2, BW * p[1] / max);
        band.appendChild(s('rect', { x: x, y: y + 12, width: w, height: 22, fill: p[2], 'data-kind': p[0] }, tip(p[0] + ' ' + humanBytes(p[1]))));
        x += w;
      });
      band.appendChild(s('text', { x: X + BW + 16, y: y + 19, class: 'num' }, 'added ' + humanBytes(r.addedBytes) + '  \u00b7  blob ' + humanBytes(r.sizeBytes)));
      band.appendChild(s('text', { x: X + BW + 16, y: y + 36, class: 'muted num small' },
        'replaced ' + humanBytes(r.replacedBytes) + ' \u00b7 deleted ' + humanBytes(r.deletedBytes) + ' \u00b7 in ' + plural(users[r.digest] || 1, 'image')));
      g.appendChild(band);
    });
    g.appendChild(s('text', { x: X, y: n * (RH + GAP) + 12, class: 'muted small' }, 'bars: bytes each layer adds (new paths), replaces (lower copies it overwrites) and deletes (lower copies its whiteouts remove); longest = ' + humanBytes(max)));
    box.appendChild(legend([['added', 'added'], ['replaced', 'replaced'], ['deleted', 'deleted']]));
    box.appendChild(g);
    var trs = rows.map(function (r) { return Object.assign({ key: r.digest + ' ' + r.index }, r); });
    box.appendChild(table('stack-table', [
      { key: 'index', label: '#', num: true, cell: function (r) { return String(r.index); }, sort: function (r) { return r.index; } },
      { key: 'layer', label: 'Layer', cls: 'mono', cell: function (r) { return short(r.digest); } },
      { key: 'blob', label: 'Blob', num: true, cell: function (r) { return humanBytes(r.sizeBytes); }, sort: function (r) { return r.sizeBytes; } },
      { key: 'added', label: 'Added', num: true, cell: function (r) { return humanBytes(r.addedBytes); }, sort: function (r) { return r.addedBytes; } },
      { key: 'replaced', label: 'Replaced', num: true, cell: function (r) { return humanBytes(r.replacedBytes); }, sort: function (r) { return r.replacedBytes; } },
      { key: 'deleted', label: 'Deleted', num: true, cell: function (r) { return humanBytes(r.deletedBytes); }, sort: function (r) { return r.deletedBytes; } },
      { key: 'images', label: 'Images', num: true, cell: function (r) { return String(users[r.digest] || 1); }, sort: function (r) { return users[r.digest] || 1; } },
      { key: 'by', label: 'Created by', cls: 'mono', cell: function (r) { return longText(printable(r.createdBy || r.wellKnown || ''), r.createdByLength); }, sort: function (r) { return r.createdBy || r.wellKnown || ''; } },
    ], trs, null)); // follows the select box, not the filter
  }

  // ---- served UI: repositories, tags and pull commands
  function repositories() {
    var R = D.repositories;
    if (!R) return;
    byId('repositories').hidden = false;
    byId('nav-repos').hidden = false;
    var box = byId('repos-box');
    if (!R.repositories.length) { box.appendChild(h('p', { class: 'empty' }, 'No repositories: the store has no refs of the form name:tag.')); return; }
    var rows = [];
    R.repositories.forEach(function (repo) { repo.tags.forEach(function (t) { rows.push(Object.assign({ key: t.ref, repo: repo.name }, t)); }); });
    // Each config's history is sent once (R.histories), bounded by the server (config-history.ts).
    function history(t) {
      return t.images.map(function (img) {
        var hist = (R.histories || {})[img.configDigest] || { entries: [], omitted: 0 };
        var ol = h('ol');
        var summary = h('summary', null, 'history' + (t.images.length > 1 ? ' of ' + (img.platform || short(img.manifestDigest)) : '') + ' (' + plural(hist.entries.length + hist.omitted, 'step') + ')');
        // Drawn when first opened: a page of many tags draws no step nobody asked for.
        summary.addEventListener('click', function () {
          if (ol.firstChild) return;
          hist.entries.forEach(function (e) {
            var text = (e.created ? printable(e.created) + '  ' : '') + printable(e.createdBy || e.comment || '') + (e.emptyLayer ? '  (no layer)' : '');
            ol.appendChild(h('li', { class: e.emptyLayer ? 'empty-layer' : null }, longText(text, e.createdBy ? e.createdByLength : e.commentLength)));
          });
          if (hist.omitted) ol.appendChild(h('li', { class: 'more' }, plural(hist.omitted, 'more step') + ' not sent (past the image\u2019s layers, or past 100 that made no layer)'));
        });
        return h('details', null, [summary, ol]);
      });
    }
    box.appendChild(table('tags-table', [
      { key: 'ref', label: 'Tag', cls: 'mono nowrap', cell: function (t) { return t.ref; } },
      { key: 'digest', label: 'Digest', cls: 'mono nowrap', cell: function (t) { return h('span', { title: t.digest }, short(t.digest)); }, sort: function (t) { return t.digest; } },
      { key: 'size', label: 'Size', num: true, cell: function (t) { return humanBytes(t.sizeBytes); }, sort: function (t) { return t.sizeBytes; } },
      { key: 'created', label: 'Created', cls: 'nowrap', cell: function (t) { return t.created || ''; } },
      { key: 'platforms', label: 'Platform', cls: 'nowrap', cell: function (t) { return t.platforms.join(', '); } },
      { key: 'pull', label: 'Pull, history', sort: false, cls: 'pull', cell: function (t) { return [command(t.pull.docker), command(t.pull.skopeo)].concat(history(t)); } },
    ], rows, function (t) { return [{ refs: [t.ref], manifestDigest: t.digest, configDigest: t.images[0] ? t.images[0].configDigest : t.digest }]; }, 'No tags.'));
  }
  function command(text) {
    var code = h('code', null, text);
    var b = h('button', { type: 'button' }, 'Copy');
    b.addEventListener('click', function () {
      function done(ok) { b.textContent = ok ? 'Copied' : 'Select + copy'; setTimeout(function () { b.textContent = 'Copy'; }, 1500); }
      function fallback() {
        var r = document.createRange(); r.selectNodeContents(code);
        var sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(r);
        var ok = false;
        try { ok = document.execCommand('copy'); } catch (e) { ok = false; }
        done(ok);
      }
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(text).then(function () { done(true); }, fallback);
      else fallback();
    });
    return h('div', { class: 'cmd' }, [code, b]);
  }

  // ---- start
  function refresh() {
    var n = visibleImages().length;
    byId('count').textContent = (state.q ? n + ' of ' : '') + plural(D.report.images.length, 'image') + (state.q ? ' match' : '');
    refreshers.forEach(function (f) { f(); });
    matrix();
    layerView();
    document.body.setAttribute('data-filter', state.q); // the filter every view now shows
  }
  // Views are redrawn once typing pauses, not at each keystroke (a big store redraws thousands of rows).
  var FILTER_DELAY_MS = 200;
  function start(data) {
    D = data;
    D.report.images.forEach(function (i) { byDigest[i.manifestDigest] = i; });
    var t = D.report.totals;
    byId('sub').textContent = plural(t.images, 'image') + ', ' + plural(t.layers, 'distinct layer');
    if (D.repositories) byId('repos-title').textContent = 'Pull from ' + D.repositories.registry;
    headline();
    images();
    repositories();
    var f = byId('filter');
    var typing = null;
    f.addEventListener('input', function () {
      clearTimeout(typing);
      typing = setTimeout(function () { state.q = f.value.trim().toLowerCase(); refresh(); }, FILTER_DELAY_MS);
    });
    byId('layer-image').addEventListener('change', function (e) { state.image = e.target.value; drawStack(); });
    refresh();
    document.body.setAttribute('data-ready', '1');
  }
  function fail(e) {
    var m = byId('main');
    m.insertBefore(h('p', { class: 'err', id: 'error' }, 'Could not load the report: ' + (e && e.message ? e.message : String(e))), m.firstChild);
    document.body.setAttribute('data-ready', 'error');
  }
  // A 503 with Retry-After (ui-routes.ts): the store changed while its report was being computed.
  // Wait as told (1 to 30 s) and ask again, a few times; other failures are final.
  var RETRIES = 3;
  function getJson(url, tries) {
    tries = tries || 0;
    return fetch(url, { headers: { accept: 'application/json' } }).then(function (r) {
      var after = r.headers.get('retry-after');
      if (r.status === 503 && after !== null && tries < RETRIES) {
        var n = parseInt(after, 10), sec = isNaN(n) ? 5 : Math.min(30, Math.max(1, n));
        byId('sub').textContent = 'the store changed; loading again in ' + sec + ' s\u2026';
        return new Promise(function (done) { setTimeout(done, sec * 1000); }).then(function () {
          byId('sub').textContent = 'loading\u2026';
          return getJson(url, tries + 1);
        });
      }
      if (r.ok) return r.json();
      // The server's own words when it sent them (a registry error body).
      return r.json().then(function (b) { return b && b.errors && b.errors[0] ? ': ' + printable(String(b.errors[0].message)) : ''; }, function () { return ''; }).then(function (why) {
        throw new Error(url + ': HTTP ' + r.status + why);
      });
    });
  }
  var inline = byId('data');
  if (inline) {
    try { start(JSON.parse(inline.textContent)); } catch (e) { fail(e); }
  } else {
    Promise.all([getJson('api/report'), getJson('api/layers'), getJson('api/repositories')]).then(function (x) {
      start({ schemaVersion: 1, report: x[0], stacks: x[1].images, repositories: x[2] });
    }).catch(fail);
  }
})();
`;
