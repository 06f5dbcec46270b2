"""One self-contained HTML page per run (or sweep): ``RUN/report.html``.

    python -m siren_jax.report --workdir=runs/camera

A run's PNGs, JSON and metrics are easiest to judge side by side, zoomed in, in one place. The page is a
single file with no network access at all: every image is a base64 ``data:`` URI and the CSS and
JavaScript are inline, so it can be mailed, attached to an issue or opened from an archive years later.

A run report shows, for whatever the workdir holds so far (a run still training has only config and
metrics; the images appear when it finishes):
* original and reconstruction side by side with synchronised zoom and pan (mouse wheel or the buttons to
  zoom, drag to pan, double-click to fit; pixels are drawn as blocks once magnified), and a split view
  with a draggable divider that shares the same zoom;
* ``error.png``, ``derivatives.png`` and ``blend.png`` where they exist;
* loss and PSNR curves drawn as inline SVG from ``metrics.jsonl`` (and ``curves.png`` when written);
* the summary numbers, the config as a table, and a compression table when ``compression.json`` exists.

``compression.json`` (written by whatever compresses a run; optional) is a JSON list of row objects, one
per method, e.g.::

    [{"method": "SIREN float16 weights", "bytes": 4616, "bpp": 0.56, "psnr": 30.12},
     {"method": "JPEG q=75", "bytes": 5120, "bpp": 0.63, "psnr": 31.40}]

``method`` (str) names the row; ``bytes`` (int, compressed size), ``bpp`` (float, bits per pixel) and
``psnr`` (float, dB) are the standard columns and come first; any further keys become extra columns.

A sweep directory (one holding ``results.csv``) gets a report with the results as a sortable table, each
point's name a relative link to that point's own report, its ``heatmap.png`` and ``curves.png`` when
they exist, and a thumbnail of every point; its title names the swept fields (``sweep_report``).

``write_report`` only reads files and formats text (no JAX), so a trainer can call it as often as it
logs. Optional files that are malformed become a warning on the page, never an exception; the page is
written atomically, so a reader never sees half of it.
"""

import base64
import csv
import datetime
import html
import json
import math
import os
import urllib.parse
from typing import Dict, List, Optional, Sequence, Tuple

from absl import flags

from siren_jax import cli
from siren_jax.io import outputs, rundir
from siren_jax.engine import registry as tasks
from siren_jax.errors import UserError

REPORT_NAME = "report.html"
COMPRESSION_COLUMNS = ("method", "bytes", "bpp", "psnr")
SUMMARY_HEADLINE = (("psnr", "PSNR (dB)"), ("snr", "SNR (dB)"), ("mse", "MSE on [-1, 1]"),
                    ("psnr_protocol", "protocol"), ("steps", "steps"),
                    ("train_seconds", "training time (s)"), ("num_params", "parameters"))
_MIME = {".gif": "image/gif", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
         ".webp": "image/webp", ".webm": "video/webm", ".mp4": "video/mp4"}


def write_report(workdir: str) -> str:
  """Writes ``workdir/report.html`` for a run or a sweep directory; returns its path."""
  if not os.path.isdir(workdir):
    if os.path.lexists(workdir):
      raise UserError(f"workdir {workdir} is not a directory")
    reason = rundir.not_a_directory(workdir)  # e.g. a path under a file
    raise UserError(f"workdir not found: {workdir}" + (f" ({reason})" if reason else ""))
  if os.path.exists(os.path.join(workdir, "results.csv")):
    page = sweep_page(workdir)
  elif any(os.path.exists(os.path.join(workdir, f)) for f in ("config.json", "summary.json")):
    page = run_page(workdir)
  else:
    raise UserError(f"{workdir} is neither a run (no config.json or summary.json) nor a sweep "
                    f"(no results.csv)")
  path = os.path.join(workdir, REPORT_NAME)
  try:
    with outputs.atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
      f.write(page)
  except OSError as e:  # a read-only or full file system, no permission: nothing was written
    raise UserError(f"cannot write {path}: {e.strerror or e}") from None
  return path


# ---------------------------------------------------------------------------------------------------
# Reading the workdir (tolerantly: problems become warnings on the page)


class _Page:
  """Collects warnings while the page is built."""

  def __init__(self, workdir: str):
    self.workdir = workdir
    self.warnings: List[str] = []

  def path(self, name: str) -> str:
    return os.path.join(self.workdir, name)

  def json(self, name: str):
    path = self.path(name)
    if not os.path.exists(path):
      return None
    try:
      with open(path, encoding="utf-8") as f:
        return json.load(f)
    except (OSError, ValueError) as e:
      self.warnings.append(f"could not read {name}: {e}")
      return None

  def image_uri(self, name: str) -> Optional[str]:
    path = self.path(name)
    if not os.path.exists(path):
      return None
    try:
      with open(path, "rb") as f:
        payload = base64.b64encode(f.read()).decode("ascii")
    except OSError as e:
      self.warnings.append(f"could not read {name}: {e}")
      return None
    return f"data:{_MIME.get(os.path.splitext(name)[1].lower(), 'application/octet-stream')};base64,{payload}"


def _png_size(path: str) -> Optional[Tuple[int, int]]:
  """(width, height) from a PNG's header, without decoding it."""
  try:
    with open(path, "rb") as f:
      head = f.read(24)
  except OSError:
    return None
  if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
    return None
  return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def _flatten(d, prefix: str = "") -> Dict[str, object]:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(_flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def _number(v) -> Optional[float]:
  """A finite float from a number or numeric string; None otherwise."""
  if isinstance(v, bool):
    return None
  try:
    x = float(v)
  except (TypeError, ValueError):
    return None
  return x if math.isfinite(x) else None


def _fmt(v) -> str:
  if isinstance(v, bool) or v is None:
    return json.dumps(v)
  if isinstance(v, int):
    return f"{v:,}" if abs(v) >= 10000 else str(v)
  if isinstance(v, float):
    if not math.isfinite(v):
      return str(v)
    if v != 0 and (abs(v) >= 1e6 or abs(v) < 1e-3):
      return f"{v:.3e}"
    return f"{v:.4f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:.2f}"
  if isinstance(v, (dict, list)):
    return json.dumps(v)
  return str(v)


def _esc(v) -> str:
  return html.escape(str(v), quote=True)


# ---------------------------------------------------------------------------------------------------
# HTML pieces


class _Html(str):
  """A table cell that is already HTML (a link): written as it is, not escaped."""


def _table(header: Sequence[str], rows: Sequence[Sequence[object]], cls: str = "",
           highlight: Optional[Tuple[int, int]] = None) -> str:
  """A table of already-formatted cells; ``highlight`` (row, col) marks one cell."""
  head = "".join(f"<th>{_esc(h)}</th>" for h in header)
  body = []
  for i, row in enumerate(rows):
    cells = []
    for j, cell in enumerate(row):
      mark = ' class="best"' if highlight == (i, j) else ""
      if isinstance(cell, _Html):
        cells.append(f"<td{mark}>{cell}</td>")
        continue
      num = _number(cell)
      sort = f' data-sort="{num!r}"' if num is not None and not isinstance(cell, str) else ""
      cells.append(f"<td{mark}{sort}>{_esc(_fmt(cell))}</td>")
    body.append("<tr>" + "".join(cells) + "</tr>")
  return (f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def _figure(uri: Optional[str], caption: str, alt: str) -> str:
  if not uri:
    return ""
  return (f'<figure class="plain"><img src="{uri}" alt="{_esc(alt)}">'
          f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _section(sid: str, title: str, body: str) -> str:
  return f'<section id="{sid}"><h2>{_esc(title)}</h2>{body}</section>' if body else ""


def _ticks(lo: float, hi: float, n: int = 5) -> List[float]:
  if hi <= lo:
    return [lo]
  raw = (hi - lo) / n
  mag = 10 ** math.floor(math.log10(raw))
  step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
  first = math.ceil(lo / step) * step
  return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _log_ticks(lo: float, hi: float) -> List[float]:
  """log10 positions of round values between 10**lo and 10**hi: decades, else 1-2-5, else linear."""
  decades = list(range(math.ceil(lo), math.floor(hi) + 1))
  ticks = [float(e) for e in decades]
  if len(ticks) < 3:
    ticks = sorted(math.log10(m) + e for e in range(math.floor(lo), math.ceil(hi) + 1)
                   for m in (1, 2, 5) if lo <= math.log10(m) + e <= hi)
  if len(ticks) < 2:
    ticks = [math.log10(t) for t in _ticks(10 ** lo, 10 ** hi, 4) if t > 0]
  return ticks


def svg_chart(xs: Sequence[float], ys: Sequence[float], title: str, xlabel: str, ylabel: str,
              log_y: bool = False, width: int = 460, height: int = 260,
              x_range: Optional[Tuple[float, float]] = None) -> str:
  """A line chart as inline SVG (finite points only; ``log_y`` for losses; ``x_range`` to share an
  x axis between charts)."""
  pts = [(x, y) for x, y in zip(xs, ys) if x is not None and y is not None and (y > 0 or not log_y)]
  if len(pts) < 1:
    return ""
  tf = (lambda y: math.log10(y)) if log_y else (lambda y: y)
  px = [p[0] for p in pts]
  py = [tf(p[1]) for p in pts]
  x0, x1 = x_range or (min(px), max(px))
  y0, y1 = min(py), max(py)
  if x1 == x0:
    x0, x1 = x0 - 1, x1 + 1
  if y1 == y0:
    y0, y1 = y0 - (1 if not log_y else 0.5), y1 + (1 if not log_y else 0.5)
  pad = 0.05 * (y1 - y0)
  y0, y1 = y0 - pad, y1 + pad
  ml, mr, mt, mb = 58, 12, 24, 38
  iw, ih = width - ml - mr, height - mt - mb
  sx = lambda x: ml + (x - x0) / (x1 - x0) * iw
  sy = lambda y: mt + (1 - (y - y0) / (y1 - y0)) * ih
  parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{_esc(title)}">',
           f'<text x="{width / 2}" y="15" class="ct">{_esc(title)}</text>']
  if log_y:
    yt = _log_ticks(y0, y1)
    ylab = lambda t: f"{10 ** t:.3g}"
  else:
    yt = _ticks(y0, y1)
    ylab = lambda t: f"{t:g}"
  for t in yt:
    parts.append(f'<line x1="{ml}" x2="{ml + iw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>'
                 f'<text x="{ml - 5}" y="{sy(t) + 4:.1f}" class="yt">{_esc(ylab(t))}</text>')
  for t in _ticks(x0, x1):
    parts.append(f'<line y1="{mt}" y2="{mt + ih}" x1="{sx(t):.1f}" x2="{sx(t):.1f}" class="grid"/>'
                 f'<text x="{sx(t):.1f}" y="{mt + ih + 15}" class="xt">{t:g}</text>')
  parts.append(f'<rect x="{ml}" y="{mt}" width="{iw}" height="{ih}" class="frame"/>')
  line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(px, py))
  parts.append(f'<polyline points="{line}" class="line"/>')
  if len(pts) <= 60:
    for (x, y), yy in zip(pts, py):
      parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(yy):.1f}" r="2.5" class="dot">'
                   f"<title>{_esc(xlabel)} {x:g}: {_esc(_fmt(y))}</title></circle>")
  parts.append(f'<text x="{ml + iw / 2}" y="{height - 6}" class="xl">{_esc(xlabel)}</text>'
               f'<text transform="translate(13 {mt + ih / 2}) rotate(-90)" class="xl">{_esc(ylabel)}</text>')
  parts.append("</svg>")
  return "".join(parts)


def _curves_section(page: _Page, key: str = "psnr", label: str = "PSNR") -> str:
  rows = outputs.read_jsonl(page.path("metrics.jsonl"))
  rows = [r for r in rows if "step" in r]
  charts = ""
  if rows:
    steps = [_number(r["step"]) for r in rows]
    known = [x for x in steps if x is not None]
    span = (min(known), max(known)) if known else None
    charts = ('<div class="charts">'
              + svg_chart(steps, [_number(r.get("loss")) for r in rows], "loss (MSE on [-1, 1])",
                          "step", "loss", log_y=True, x_range=span)
              + svg_chart(steps, [_number(r.get(key)) for r in rows], label, "step", "dB",
                          x_range=span)
              + "</div>")
  png = page.image_uri("curves.png")
  if png:
    charts += ("<details><summary>curves.png (also against training time)</summary>"
               + _figure(png, "curves.png", "loss and PSNR curves") + "</details>")
  return _section("curves", "Training curves", charts)


def _viewer_sections(page: _Page) -> Tuple[str, str]:
  """(side-by-side section, split-compare section); the latter empty until the images exist."""
  orig, recon = page.image_uri("original.png"), page.image_uri("reconstruction.png")
  if not (orig and recon):
    return _section("images", "Original vs reconstruction",
                    '<p class="note">original.png and reconstruction.png are written when the run '
                    "finishes; this report will show them then.</p>"), ""
  w, h = _png_size(page.path("original.png")) or (1, 1)
  box = f'style="--ar: {w} / {h}; --arw: {w / h:.6f}"'
  toolbar = ('<div class="toolbar"><button id="zoom-out" title="zoom out">&minus;</button>'
             '<button id="zoom-in" title="zoom in">+</button>'
             '<button id="zoom-fit" title="fit the whole image">fit</button>'
             '<span id="zoom-label">1&times;</span>'
             '<span class="hint">wheel or +/&minus; to zoom, drag to pan, double-click to fit; both '
             "views move together</span></div>")
  pair = ('<div class="pair">'
          f'<figure><div class="viewport sync" id="view-original" {box}>'
          f'<img id="img-original" src="{orig}" alt="original" draggable="false"></div>'
          f"<figcaption>original ({h}&times;{w}, H&times;W)</figcaption></figure>"
          f'<figure><div class="viewport sync" id="view-reconstruction" {box}>'
          f'<img id="img-reconstruction" src="{recon}" alt="reconstruction" draggable="false"></div>'
          "<figcaption>reconstruction</figcaption></figure></div>")
  split = (f'<div class="split-wrap" {box}><div class="viewport split sync" id="split">'
           '<img class="under" data-from="img-reconstruction" alt="reconstruction" draggable="false">'
           '<div class="clip"><img data-from="img-original" alt="original" draggable="false"></div>'
           '<div class="divider"></div><span class="tag left">original</span>'
           '<span class="tag right">reconstruction</span></div>'
           '<input type="range" id="split-range" min="0" max="100" step="0.1" value="50" '
           'aria-label="divider position"></div>'
           '<p class="hint">drag across the image (or the slider) to move the divider; the wheel zooms '
           "here too</p>")
  return (_section("images", "Original vs reconstruction", toolbar + pair),
          _section("compare", "Split compare", split))


def _summary_section(page: _Page, summary: Optional[dict],
                     headline: Sequence[Tuple[str, str]] = SUMMARY_HEADLINE) -> str:
  if not summary:
    return _section("summary", "Summary", '<p class="note">no summary.json yet: the run is still '
                    "training (or was stopped before it finished).</p>")
  def card(key):
    value = summary[key]
    return f"{value:.2f}" if key in ("psnr", "snr") and _number(value) is not None else _fmt(value)

  cards = "".join(f'<div class="card"><div class="v">{_esc(card(k))}</div>'
                  f'<div class="k">{_esc(label)}</div></div>'
                  for k, label in headline if k in summary)
  if "height" in summary and "width" in summary:
    dims = "&times;".join(_esc(summary.get(k, "?")) for k in ("height", "width", "channels"))
    cards += f'<div class="card"><div class="v">{dims}</div><div class="k">H&times;W&times;C</div></div>'
  flat = _flatten(summary)
  table = _table(("field", "value"), [(k, flat[k]) for k in sorted(flat)], cls="kv")
  return _section("summary", "Summary", f'<div class="cards">{cards}</div>{table}')


def _config_section(config: Optional[dict]) -> str:
  if not config:
    return ""
  value = lambda v: '""' if v == "" else _fmt(v)  # an empty string must not look like a missing row
  rows = []
  top = [(k, v) for k, v in sorted(config.items()) if not isinstance(v, dict)]
  for k, v in top:
    rows.append(f"<tr><td>{_esc(k)}</td><td>{_esc(value(v))}</td></tr>")
  for section, fields in sorted((k, v) for k, v in config.items() if isinstance(v, dict)):
    rows.append(f'<tr class="group"><th colspan="2">{_esc(section)}</th></tr>')
    for k, v in sorted(_flatten(fields).items()):
      rows.append(f"<tr><td>{_esc(section)}.{_esc(k)}</td><td>{_esc(value(v))}</td></tr>")
  return _section("config", "Config", f'<table class="kv"><tbody>{"".join(rows)}</tbody></table>')


def compression_rows(data) -> Tuple[List[str], List[list]]:
  """(columns, rows) of a compression.json list; raises ValueError if it is not in the format."""
  if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
    raise ValueError("expected a JSON list of objects (one per method)")
  extra = []
  for r in data:
    extra += [k for k in r if k not in COMPRESSION_COLUMNS and k not in extra]
  columns = [c for c in COMPRESSION_COLUMNS if any(c in r for r in data)] + extra
  return columns, [[r.get(c, "") for c in columns] for r in data]


def _best_cell(columns: Sequence[str], rows: Sequence[Sequence[object]],
               column: str = "psnr") -> Optional[Tuple[int, int]]:
  if column not in columns:
    return None
  j = list(columns).index(column)
  values = [(_number(r[j]), i) for i, r in enumerate(rows) if _number(r[j]) is not None]
  return (max(values)[1], j) if values else None


def _compression_section(page: _Page) -> str:
  data = page.json("compression.json")
  if data is None:
    return ""
  try:
    columns, rows = compression_rows(data)
  except ValueError as e:
    page.warnings.append(f"compression.json: {e}")
    return ""
  return _section("compression", "Compression",
                  _table(columns, rows, cls="sortable", highlight=_best_cell(columns, rows)))


def _shell(title: str, subtitle: str, nav: Sequence[Tuple[str, str]], body: str,
           warnings: Sequence[str]) -> str:
  links = "".join(f'<a href="#{sid}">{_esc(label)}</a>' for sid, label in nav)
  warn = "".join(f'<p class="warning">{_esc(w)}</p>' for w in warnings)
  stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
  return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
          f'<meta name="viewport" content="width=device-width, initial-scale=1">'
          f"<title>{_esc(title)}</title><style>{_CSS}</style></head><body>"
          f'<header><h1>{_esc(title)}</h1><p class="sub">{subtitle}</p><nav>{links}</nav></header>'
          f'<main>{warn}{body}</main><footer>written by siren_jax.report at {_esc(stamp)}; '
          f"self-contained: no network access</footer><script>{_JS}</script></body></html>\n")


def run_page(workdir: str) -> str:
  """The HTML of a run's report."""
  page = _Page(workdir)
  config = page.json("config.json")
  summary = page.json("summary.json")
  own = tasks.pages(config) if isinstance(config, dict) else None
  if own is not None:  # a task with its own page (tasks.PAGES)
    return own.run_page(page, config, summary if isinstance(summary, dict) else None)
  if isinstance(config, dict) and config.get("task") == "sdf":  # a shape: renders, slices, metrics
    from siren_jax.signals.sdf import report as sdf_report  # pylint: disable=g-import-not-at-top
    return sdf_report.run_page(page, config, summary if isinstance(summary, dict) else None)
  key, label = tasks.headline(config if isinstance(config, dict) else {})
  name = ((summary or {}).get("image") or (summary or {}).get("audio") or (summary or {}).get("video")
          or ((config or {}).get("data") or {}).get("image") or workdir)
  name = os.path.basename(str(name)) or str(name)
  if isinstance(summary, dict) and summary.get("warning"):  # e.g. it ended near its initial PSNR
    page.warnings.append(str(summary["warning"]))
  if summary and summary.get("status") == "diverged":
    subtitle = (f"diverged at step {_esc(summary.get('steps', '?'))}: "
                f"{_esc(summary.get('message') or 'the loss or parameters became non-finite')} "
                f"&middot; {_esc(os.path.abspath(workdir))}")
  elif summary and _number(summary.get(key)) is not None:
    subtitle = (f"{float(summary[key]):.2f} dB ({_esc(summary.get('psnr_protocol', key))}) after "
                f"{_esc(summary.get('steps', '?'))} steps, {_esc(_fmt(summary.get('train_seconds')))} s "
                f"of training &middot; {_esc(os.path.abspath(workdir))}")
  else:
    last = outputs.read_jsonl(page.path("metrics.jsonl"))[-1:]
    progress = (f"in progress: step {_esc(last[0].get('step'))}, {_esc(_fmt(last[0].get(key)))} dB"
                if last else "no metrics yet")
    subtitle = f"{progress} &middot; {_esc(os.path.abspath(workdir))}"
  side_by_side, compare = _viewer_sections(page)
  # A Poisson blend trains on a composite gradient field and is compared with the background.
  blend = ((summary or {}).get("psnr_protocol") == "psnr_outside_mask"
           or os.path.exists(page.path("blend.png")))
  error_caption = ("|blend - background|, mean over channels; the background is the reference outside "
                   "the mask (outlined), inside it the blend is meant to differ" if blend else
                   "|reconstruction - original|, mean over channels")
  derivatives_caption = ("top: copy-paste, the blended gradient field the network was trained on (its "
                         "magnitude) and that field's divergence; bottom: the network's" if blend else
                         "image, |gradient| and Laplacian: ground truth (top) and the network's (bottom)")
  task = tasks.name_of(config if isinstance(config, dict) else {})
  if task == "audio":  # players, not image viewers
    from siren_jax.signals.audio import report as audio_report  # pylint: disable=g-import-not-at-top
    viewers = [("audio", "Audio", audio_report.section(page))]
  else:
    viewers = [("images", "Zoom", side_by_side), ("compare", "Compare", compare)]
  if task == "video":  # both clips, then the middle frame in the image viewers
    from siren_jax.signals.video import report as video_report  # pylint: disable=g-import-not-at-top
    viewers.insert(0, ("video", "Video", _section("video", "Video: original and reconstruction",
                                                  video_report.body(page, summary))))
  sections = viewers + [
      ("error", "Error", _section("error", "Error heatmap", _figure(
          page.image_uri("error.png"), error_caption, "error heatmap"))),
      ("derivatives", "Derivatives", _section("derivatives", "Gradients and Laplacians", _figure(
          page.image_uri("derivatives.png"), derivatives_caption, "gradient and Laplacian panels"))),
      ("blend", "Blend", _section("blend", "Poisson blend", _figure(
          page.image_uri("blend.png"), "background, source, copy-paste and the SIREN blend",
          "Poisson blend panel"))),
      ("curves", "Curves", _curves_section(page, key, label)),
      ("compression", "Compression", _compression_section(page)),
      ("summary", "Summary", _summary_section(page, summary)),
      ("config", "Config", _config_section(config)),
  ]
  nav = [(sid, label) for sid, label, body in sections if body]
  body = "".join(b for _, _, b in sections[:-2])
  body += f'<div class="columns">{sections[-2][2]}{sections[-1][2]}</div>'  # summary | config
  return _shell(f"siren_jax report: {name}", subtitle, nav, body, page.warnings)


def read_results_csv(path: str) -> Tuple[List[str], List[list]]:
  """(header, rows) with numeric cells as int/float."""
  with open(path, newline="", encoding="utf-8") as f:
    rows = list(csv.reader(f))
  if not rows:
    return [], []

  def parse(cell):
    for kind in (int, float):
      try:
        return kind(cell)
      except ValueError:
        pass
    return cell

  return rows[0], [[parse(c) for c in r] for r in rows[1:] if r]


def _link_points(workdir: str, header: Sequence[str], rows: List[list]) -> List[list]:
  """``rows`` with each ``point`` cell a relative link to POINT/report.html (where that exists), so the
  links still work when the sweep directory is moved or archived whole."""
  if "point" not in header:
    return rows
  j = list(header).index("point")
  out = []
  for row in rows:
    point = str(row[j]) if j < len(row) else ""
    if point and os.path.exists(os.path.join(workdir, point, REPORT_NAME)):
      href = urllib.parse.quote(f"{point}/{REPORT_NAME}", safe="/=,")
      row = row[:j] + [_Html(f'<a href="{_esc(href)}">{_esc(point)}</a>')] + row[j + 1:]
    out.append(row)
  return out


def sweep_page(workdir: str) -> str:
  """The HTML of a sweep directory's report."""
  page = _Page(workdir)
  try:
    header, rows = read_results_csv(page.path("results.csv"))
  except (OSError, csv.Error, UnicodeDecodeError) as e:
    page.warnings.append(f"could not read results.csv: {e}")
    header, rows = [], []
  linked = _link_points(workdir, header, rows)
  from siren_jax import sweep_report  # pylint: disable=g-import-not-at-top
  runs = len(rows) - (1 if rows and "point" in header and rows[-1][header.index("point")] == "mean" else 0)
  key, label = next((h for h in tasks.HEADLINES.values() if h[0] in header), tasks.HEADLINES["image"])
  table = (_table(header, linked, cls="sortable", highlight=_best_cell(header, rows, key))
           + '<p class="hint">click a column header to sort'
           + ("; a point's name links to its own report" if linked is not rows else "")
           + "</p>") if header else ""
  sections = [
      ("results", "Results", _section("results", f"Results ({runs} runs)", table)),
      ("heatmap", "Heatmap", _section("heatmap", "Heatmap",
                                      _figure(page.image_uri("heatmap.png"), "heatmap.png", "heatmap"))),
      (key, label, _section(key, f"{label} against the swept value",
                            _figure(page.image_uri(f"{key}.png"), f"{key}.png", f"{label} plot"))),
      ("curves", "Curves", _section("curves", "Curves",
                                    _figure(page.image_uri("curves.png"), "curves.png", "curves"))),
      ("thumbnails", "Points", sweep_report.thumbnails_section(page, header, rows, key, label)),
  ]
  nav = [(sid, label) for sid, label, body in sections if body]
  kind = "image set" if os.path.exists(page.path("set.json")) else "sweep"
  return _shell(sweep_report.title(page, kind), f"{runs} runs &middot; {_esc(os.path.abspath(workdir))}",
                nav, "".join(b for _, _, b in sections), page.warnings)


_CSS = """
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
_JS = """
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


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  print(write_report(flags.FLAGS.workdir))


if __name__ == "__main__":
  # Flags are defined here, not at import: the trainer imports this module next to its own --workdir.
  flags.DEFINE_string("workdir", None, "A run directory (or a sweep directory with results.csv).")
  cli.run(main, required=("workdir",))
