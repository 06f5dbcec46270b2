"""The pieces of siren_jax's HTML pages (``siren_jax.report``): one self-contained file per run or
sweep, every image a base64 ``data:`` URI and the CSS and JavaScript inline (``page_style``), so a page
can be mailed, attached to an issue or opened from an archive years later.

A signal's page (its ``report`` hook, ``siren_jax.engine.registry``) is built from these: ``Page``
reads the run directory tolerantly (a malformed optional file becomes a warning on the page, never an
exception), ``section``/``figure``/``table``/``svg_chart`` format, ``curves_section``,
``summary_section``, ``config_section`` and ``compression_section`` are the sections every run page
shares, ``progress_line`` the state of a run still training, and ``assemble`` the page.
Nothing here imports JAX: a trainer writes the page as often as it logs.

``compression.json`` (written by whatever compresses a run; optional) is a JSON list of row objects, one
per method, e.g.::

    [{"method": "siren 8-bit", "bytes": 9120, "bpp": 1.11, "psnr": 30.2},
     {"method": "jpeg q=50", "bytes": 10500, "bpp": 1.28, "psnr": 29.8, "quality": 50}]

``method`` (str) names the row; ``bytes`` (int, compressed size), ``bpp`` (float, bits per pixel) and
``psnr`` (float, dB) are the standard columns and come first; any further keys become extra columns.
"""

import base64
import datetime
import html
import json
import math
import os
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from siren_jax.io import outputs
from siren_jax.io.page_style import CSS, JS

REPORT_NAME = "report.html"
COMPRESSION_COLUMNS = ("method", "bytes", "bpp", "psnr")
MIME = {".gif": "image/gif", ".png": "image/png", ".jpg": "image/jpeg", ".jpeg": "image/jpeg",
        ".webp": "image/webp", ".webm": "video/webm", ".mp4": "video/mp4"}


class Page:
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
    return f"data:{MIME.get(os.path.splitext(name)[1].lower(), 'application/octet-stream')};base64,{payload}"


def png_size(path: str) -> Optional[Tuple[int, int]]:
  """(width, height) from a PNG's header, without decoding it."""
  try:
    with open(path, "rb") as f:
      head = f.read(24)
  except OSError:
    return None
  if len(head) < 24 or head[:8] != b"\x89PNG\r\n\x1a\n":
    return None
  return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def flatten(d, prefix: str = "") -> Dict[str, object]:
  out = {}
  for k, v in d.items():
    if isinstance(v, dict):
      out.update(flatten(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


def number(v) -> Optional[float]:
  """A finite float from a number or numeric string; None otherwise."""
  if isinstance(v, bool):
    return None
  try:
    x = float(v)
  except (TypeError, ValueError):
    return None
  return x if math.isfinite(x) else None


def fmt(v) -> str:
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


def esc(v) -> str:
  return html.escape(str(v), quote=True)


# ---------------------------------------------------------------------------------------------------
# HTML pieces


class Html(str):
  """A table cell that is already HTML (a link): written as it is, not escaped."""


def table(header: Sequence[str], rows: Sequence[Sequence[object]], cls: str = "",
           highlight: Optional[Tuple[int, int]] = None) -> str:
  """A table of already-formatted cells; ``highlight`` (row, col) marks one cell."""
  head = "".join(f"<th>{esc(h)}</th>" for h in header)
  body = []
  for i, row in enumerate(rows):
    cells = []
    for j, cell in enumerate(row):
      mark = ' class="best"' if highlight == (i, j) else ""
      if isinstance(cell, Html):
        cells.append(f"<td{mark}>{cell}</td>")
        continue
      num = number(cell)
      sort = f' data-sort="{num!r}"' if num is not None and not isinstance(cell, str) else ""
      cells.append(f"<td{mark}{sort}>{esc(fmt(cell))}</td>")
    body.append("<tr>" + "".join(cells) + "</tr>")
  return (f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>')


def figure(uri: Optional[str], caption: str, alt: str) -> str:
  if not uri:
    return ""
  return (f'<figure class="plain"><img src="{uri}" alt="{esc(alt)}">'
          f"<figcaption>{esc(caption)}</figcaption></figure>")


def section(sid: str, title: str, body: str) -> str:
  return f'<section id="{sid}"><h2>{esc(title)}</h2>{body}</section>' if body else ""


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
  parts = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" aria-label="{esc(title)}">',
           f'<text x="{width / 2}" y="15" class="ct">{esc(title)}</text>']
  if log_y:
    yt = _log_ticks(y0, y1)
    ylab = lambda t: f"{10 ** t:.3g}"
  else:
    yt = _ticks(y0, y1)
    ylab = lambda t: f"{t:g}"
  for t in yt:
    parts.append(f'<line x1="{ml}" x2="{ml + iw}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" class="grid"/>'
                 f'<text x="{ml - 5}" y="{sy(t) + 4:.1f}" class="yt">{esc(ylab(t))}</text>')
  for t in _ticks(x0, x1):
    parts.append(f'<line y1="{mt}" y2="{mt + ih}" x1="{sx(t):.1f}" x2="{sx(t):.1f}" class="grid"/>'
                 f'<text x="{sx(t):.1f}" y="{mt + ih + 15}" class="xt">{t:g}</text>')
  parts.append(f'<rect x="{ml}" y="{mt}" width="{iw}" height="{ih}" class="frame"/>')
  line = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in zip(px, py))
  parts.append(f'<polyline points="{line}" class="line"/>')
  if len(pts) <= 60:
    for (x, y), yy in zip(pts, py):
      parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(yy):.1f}" r="2.5" class="dot">'
                   f"<title>{esc(xlabel)} {x:g}: {esc(fmt(y))}</title></circle>")
  parts.append(f'<text x="{ml + iw / 2}" y="{height - 6}" class="xl">{esc(xlabel)}</text>'
               f'<text transform="translate(13 {mt + ih / 2}) rotate(-90)" class="xl">{esc(ylabel)}</text>')
  parts.append("</svg>")
  return "".join(parts)


def curves_section(page: Page, key: str, label: str, ylabel: str = "dB", log_y: bool = False,
                   loss_label: str = "loss (MSE on [-1, 1])") -> str:
  """The loss and headline against steps from metrics.jsonl (inline SVG), and curves.png where the
  run wrote one."""
  rows = [r for r in outputs.read_jsonl(page.path("metrics.jsonl")) if "step" in r]
  charts = ""
  if rows:
    steps = [number(r["step"]) for r in rows]
    known = [x for x in steps if x is not None]
    span = (min(known), max(known)) if known else None
    charts = ('<div class="charts">'
              + svg_chart(steps, [number(r.get("loss")) for r in rows], loss_label, "step", "loss",
                          log_y=True, x_range=span)
              + svg_chart(steps, [number(r.get(key)) for r in rows], label, "step", ylabel,
                          log_y=log_y, x_range=span)
              + "</div>")
  png = page.image_uri("curves.png")
  if png:
    charts += ("<details><summary>curves.png (also against training time)</summary>"
               + figure(png, "curves.png", f"loss and {label} curves") + "</details>")
  return section("curves", "Training curves", charts)


def progress_line(page: Page, key: str, describe: Callable[[object], str]) -> str:
  """'in progress: step N, <describe(headline)>' from the last metrics row, or 'no metrics yet'."""
  last = outputs.read_jsonl(page.path("metrics.jsonl"))[-1:]
  return (f"in progress: step {esc(last[0].get('step'))}, {esc(describe(last[0].get(key)))}"
          if last else "no metrics yet")


def assemble(title: str, subtitle: str, sections: Sequence[Tuple[str, str, str]],
             warnings: Sequence[str]) -> str:
  """A run page from (id, nav label, html) sections, the last two (summary, config) side by side."""
  nav = [(sid, label) for sid, label, body in sections if body]
  body = "".join(b for _, _, b in sections[:-2])
  body += f'<div class="columns">{sections[-2][2]}{sections[-1][2]}</div>'
  return shell(title, subtitle, nav, body, warnings)


def summary_section(page: Page, summary: Optional[dict], headline: Sequence[Tuple[str, str]]) -> str:
  """Cards for the ``headline`` (key, label) fields summary.json has, then every field as a table."""
  if not summary:
    return section("summary", "Summary", '<p class="note">no summary.json yet: the run is still '
                   "training (or was stopped before it finished).</p>")
  def card(key):
    value = summary[key]
    return f"{value:.2f}" if key in ("psnr", "snr") and number(value) is not None else fmt(value)

  cards = "".join(f'<div class="card"><div class="v">{esc(card(k))}</div>'
                  f'<div class="k">{esc(label)}</div></div>'
                  for k, label in headline if k in summary)
  if "height" in summary and "width" in summary:
    dims = "&times;".join(esc(summary.get(k, "?")) for k in ("height", "width", "channels"))
    cards += f'<div class="card"><div class="v">{dims}</div><div class="k">H&times;W&times;C</div></div>'
  flat = flatten(summary)
  fields = table(("field", "value"), [(k, flat[k]) for k in sorted(flat)], cls="kv")
  return section("summary", "Summary", f'<div class="cards">{cards}</div>{fields}')


def config_section(config: Optional[dict]) -> str:
  if not config:
    return ""
  value = lambda v: '""' if v == "" else fmt(v)  # an empty string must not look like a missing row
  rows = []
  top = [(k, v) for k, v in sorted(config.items()) if not isinstance(v, dict)]
  for k, v in top:
    rows.append(f"<tr><td>{esc(k)}</td><td>{esc(value(v))}</td></tr>")
  for group, fields in sorted((k, v) for k, v in config.items() if isinstance(v, dict)):
    rows.append(f'<tr class="group"><th colspan="2">{esc(group)}</th></tr>')
    for k, v in sorted(flatten(fields).items()):
      rows.append(f"<tr><td>{esc(group)}.{esc(k)}</td><td>{esc(value(v))}</td></tr>")
  return section("config", "Config", f'<table class="kv"><tbody>{"".join(rows)}</tbody></table>')


def compression_rows(data) -> Tuple[List[str], List[list]]:
  """(columns, rows) of a compression.json list; raises ValueError if it is not in the format."""
  if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
    raise ValueError("expected a JSON list of objects (one per method)")
  extra = []
  for r in data:
    extra += [k for k in r if k not in COMPRESSION_COLUMNS and k not in extra]
  columns = [c for c in COMPRESSION_COLUMNS if any(c in r for r in data)] + extra
  return columns, [[r.get(c, "") for c in columns] for r in data]


def best_cell(columns: Sequence[str], rows: Sequence[Sequence[object]],
               column: str = "psnr") -> Optional[Tuple[int, int]]:
  if column not in columns:
    return None
  j = list(columns).index(column)
  values = [(number(r[j]), i) for i, r in enumerate(rows) if number(r[j]) is not None]
  return (max(values)[1], j) if values else None


def compression_section(page: Page) -> str:
  data = page.json("compression.json")
  if data is None:
    return ""
  try:
    columns, rows = compression_rows(data)
  except ValueError as e:
    page.warnings.append(f"compression.json: {e}")
    return ""
  return section("compression", "Compression",
                  table(columns, rows, cls="sortable", highlight=best_cell(columns, rows)))


def shell(title: str, subtitle: str, nav: Sequence[Tuple[str, str]], body: str,
           warnings: Sequence[str]) -> str:
  links = "".join(f'<a href="#{sid}">{esc(label)}</a>' for sid, label in nav)
  warn = "".join(f'<p class="warning">{esc(w)}</p>' for w in warnings)
  stamp = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
  return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
          f'<meta name="viewport" content="width=device-width, initial-scale=1">'
          f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
          f'<header><h1>{esc(title)}</h1><p class="sub">{subtitle}</p><nav>{links}</nav></header>'
          f'<main>{warn}{body}</main><footer>written by siren_jax.report at {esc(stamp)}; '
          f"self-contained: no network access</footer><script>{JS}</script></body></html>\n")
