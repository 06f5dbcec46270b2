"""The CSS and JavaScript every report page carries inline (``siren_jax.io.page.shell``): the layout,
the sortable tables, and the image viewers' synchronised zoom, pan and split compare."""

CSS = """
:root { --fg: #1d2330; --muted: #5f6b7a; --line: #d8dde5; --bg: #f6f7f9; --accent: #2f6fde; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); background: var(--bg); }
header { background: #fff; border-bottom: 1px solid var(--line); padding: 14px 24px 8px;
         position: sticky; top: 0; z-index: 5; }
h1 { font-size: 20px; margin: 0; }
.sub { margin: 2px 0 6px; color: var(--muted); }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; font-weight: 500; }
main { padding: 8px 24px 24px; max-width: 1400px; margin: 0 auto; }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px 16px;
          margin: 16px 0; scroll-margin-top: 90px; }
h2 { font-size: 16px; margin: 0 0 10px; }
figure { margin: 0; }
figcaption, .hint, .note { color: var(--muted); font-size: 12.5px; margin-top: 4px; }
figure.plain img { max-width: 100%; height: auto; display: block; }
.warning { background: #fff4e0; border: 1px solid #f0c36d; padding: 6px 10px; border-radius: 6px; }
.toolbar { display: flex; gap: 6px; align-items: center; margin-bottom: 8px; flex-wrap: wrap; }
.toolbar button { min-width: 36px; height: 30px; border: 1px solid var(--line); background: #fff;
                  border-radius: 6px; font-size: 15px; cursor: pointer; }
.toolbar button:hover { border-color: var(--accent); }
#zoom-label { min-width: 56px; text-align: center; font-variant-numeric: tabular-nums; }
.pair { display: flex; gap: 14px; }
.pair figure { flex: 1 1 0; min-width: 0; }
.viewport { position: relative; overflow: hidden; background: #222 repeating-conic-gradient(#2a2a2a 0 25%,
            #333 0 50%) 0 0 / 16px 16px; aspect-ratio: var(--ar); width: min(100%, calc(78vh * var(--arw)));
            cursor: grab; touch-action: none; user-select: none; border-radius: 4px; }
.viewport.dragging { cursor: grabbing; }
.viewport img { position: absolute; left: 0; top: 0; width: 100%; height: 100%; transform-origin: 0 0;
                max-width: none; }
.viewport.pixelated img { image-rendering: pixelated; }
.split { cursor: ew-resize; margin-bottom: 6px; }
.split .clip { position: absolute; inset: 0; clip-path: inset(0 50% 0 0); }
.split .divider { position: absolute; top: 0; bottom: 0; left: 50%; width: 2px; margin-left: -1px;
                  background: #fff; box-shadow: 0 0 4px #000; pointer-events: none; }
.split .tag { position: absolute; top: 6px; padding: 1px 6px; font-size: 12px; color: #fff;
              background: rgba(0, 0, 0, .55); border-radius: 4px; pointer-events: none; }
.split .tag.left { left: 6px; } .split .tag.right { right: 6px; }
.split-wrap { width: min(100%, calc(78vh * var(--arw))); }
.split-wrap .viewport { width: 100%; }
#split-range { width: 100%; margin: 0; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; }
svg.chart { width: min(100%, 460px); height: auto; background: #fff; }
svg .ct { font-size: 13px; font-weight: 600; text-anchor: middle; }
svg .xt { font-size: 10.5px; text-anchor: middle; fill: var(--muted); }
svg .yt { font-size: 10.5px; text-anchor: end; fill: var(--muted); }
svg .xl { font-size: 11px; text-anchor: middle; fill: var(--muted); }
svg .grid { stroke: #eceef2; } svg .frame { fill: none; stroke: #b9c0cb; }
svg .line { fill: none; stroke: var(--accent); stroke-width: 1.8; } svg .dot { fill: var(--accent); }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin-bottom: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 120px; }
.card .v { font-size: 18px; font-weight: 600; } .card .k { color: var(--muted); font-size: 12px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
td { font-variant-numeric: tabular-nums; }
table.kv td:first-child { color: var(--muted); font-family: ui-monospace, Menlo, Consolas, monospace; }
tr.group th { background: var(--bg); font-weight: 600; }
table.sortable th { cursor: pointer; user-select: none; }
table.sortable th.asc::after { content: " \\25B2"; } table.sortable th.desc::after { content: " \\25BC"; }
td.best { font-weight: 700; color: #136c2e; }
details summary { cursor: pointer; color: var(--accent); margin: 8px 0; }
.columns { display: grid; grid-template-columns: repeat(auto-fit, minmax(420px, 1fr)); gap: 0 16px;
           align-items: start; }
footer { color: var(--muted); font-size: 12px; text-align: center; padding: 0 0 20px; }
@media (max-width: 800px) { .pair { flex-direction: column; } }
"""

# Zoom state is shared by every .sync viewport: z (magnification over "fit") and the image fraction
# (ox, oy) at the viewport's top-left corner, so views of different on-screen sizes stay aligned.
JS = """
(function () {
  'use strict';
  var views = Array.prototype.slice.call(document.querySelectorAll('.viewport.sync'));
  var state = {z: 1, ox: 0, oy: 0, split: 50};
  var label = document.getElementById('zoom-label');
  document.querySelectorAll('img[data-from]').forEach(function (img) {
    img.src = document.getElementById(img.getAttribute('data-from')).src;  // one copy of each image
  });
  function naturalWidth() {
    var img = views.length ? views[0].querySelector('img') : null;
    return img && img.naturalWidth ? img.naturalWidth : 1;
  }
  function maxZoom() {
    var w = views.length ? views[0].clientWidth : 1;
    return Math.max(8, 64 * naturalWidth() / Math.max(w, 1));
  }
  function clamp() {
    state.z = Math.min(Math.max(state.z, 1), maxZoom());
    var span = 1 - 1 / state.z;
    state.ox = Math.min(Math.max(state.ox, 0), span);
    state.oy = Math.min(Math.max(state.oy, 0), span);
  }
  function apply() {
    clamp();
    views.forEach(function (v) {
      var w = v.clientWidth, h = v.clientHeight;
      var t = 'translate(' + (-state.ox * w * state.z) + 'px,' + (-state.oy * h * state.z) + 'px) ' +
              'scale(' + state.z + ')';
      v.querySelectorAll('img').forEach(function (img) { img.style.transform = t; });
      v.classList.toggle('pixelated', w * state.z / naturalWidth() > 1.001);
    });
    if (label) { label.textContent = (Math.round(state.z * 100) / 100) + '\\u00d7'; }
  }
  function zoomAt(factor, fx, fy) {  // keeps the image point under (fx, fy) (viewport fractions) fixed
    var px = state.ox + fx / state.z, py = state.oy + fy / state.z;
    state.z *= factor;
    clamp();
    state.ox = px - fx / state.z;
    state.oy = py - fy / state.z;
    apply();
  }
  function fit() { state.z = 1; state.ox = state.oy = 0; apply(); }
  function setSplit(percent) {
    state.split = Math.min(Math.max(percent, 0), 100);
    var s = document.getElementById('split');
    if (!s) { return; }
    s.querySelector('.clip').style.clipPath = 'inset(0 ' + (100 - state.split) + '% 0 0)';
    s.querySelector('.divider').style.left = state.split + '%';
    var range = document.getElementById('split-range');
    if (range && Number(range.value) !== state.split) { range.value = state.split; }
  }
  views.forEach(function (v) {
    var isSplit = v.classList.contains('split');
    var drag = null;
    v.addEventListener('wheel', function (e) {
      e.preventDefault();
      var r = v.getBoundingClientRect();
      zoomAt(Math.exp(-e.deltaY * 0.0015), (e.clientX - r.left) / r.width, (e.clientY - r.top) / r.height);
    }, {passive: false});
    v.addEventListener('pointerdown', function (e) {
      if (e.button !== 0) { return; }
      drag = {x: e.clientX, y: e.clientY, ox: state.ox, oy: state.oy};
      v.setPointerCapture(e.pointerId);
      v.classList.add('dragging');
      if (isSplit) { moveSplit(e); }
    });
    v.addEventListener('pointermove', function (e) {
      if (!drag) { return; }
      if (isSplit) { moveSplit(e); return; }
      state.ox = drag.ox - (e.clientX - drag.x) / (v.clientWidth * state.z);
      state.oy = drag.oy - (e.clientY - drag.y) / (v.clientHeight * state.z);
      apply();
    });
    function end() { drag = null; v.classList.remove('dragging'); }
    v.addEventListener('pointerup', end);
    v.addEventListener('pointercancel', end);
    if (!isSplit) { v.addEventListener('dblclick', fit); }
    function moveSplit(e) {
      var r = v.getBoundingClientRect();
      setSplit(100 * (e.clientX - r.left) / r.width);
    }
  });
  function on(id, fn) { var el = document.getElementById(id); if (el) { el.addEventListener('click', fn); } }
  on('zoom-in', function () { zoomAt(1.5, 0.5, 0.5); });
  on('zoom-out', function () { zoomAt(1 / 1.5, 0.5, 0.5); });
  on('zoom-fit', fit);
  document.addEventListener('keydown', function (e) {
    if (!views.length || e.target.tagName === 'INPUT') { return; }
    if (e.key === '+' || e.key === '=') { zoomAt(1.5, 0.5, 0.5); }
    else if (e.key === '-') { zoomAt(1 / 1.5, 0.5, 0.5); }
    else if (e.key === '0') { fit(); }
  });
  var range = document.getElementById('split-range');
  if (range) { range.addEventListener('input', function () { setSplit(Number(range.value)); }); }
  window.addEventListener('resize', apply);
  document.querySelectorAll('.viewport img').forEach(function (img) { img.addEventListener('load', apply); });

  document.querySelectorAll('table.sortable').forEach(function (table) {
    var ths = table.querySelectorAll('thead th');
    ths.forEach(function (th, col) {
      th.addEventListener('click', function () {
        var asc = !th.classList.contains('asc');
        ths.forEach(function (o) { o.classList.remove('asc', 'desc'); });
        th.classList.add(asc ? 'asc' : 'desc');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col], y = b.cells[col];
          var nx = x && x.hasAttribute('data-sort') ? Number(x.getAttribute('data-sort')) : NaN;
          var ny = y && y.hasAttribute('data-sort') ? Number(y.getAttribute('data-sort')) : NaN;
          var c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny
              : String(x ? x.textContent : '').localeCompare(String(y ? y.textContent : ''));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  setSplit(50);
  apply();
  window.sirenReport = {state: state, zoomAt: zoomAt, fit: fit, setSplit: setSplit, apply: apply};
})();
"""
