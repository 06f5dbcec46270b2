"""A sweep directory's report page (``sweep_page``): the results as a sortable table, each point's
name a relative link to that point's own report; heatmap.png and curves.png where they exist; a title
naming the swept fields (from sweep.json); and a thumbnail of every point's result beside its headline
and status, so that a sweep's pictures can be compared at a glance and a point that did not learn
stands out. Like ``report`` it only reads files (no JAX); thumbnails are shrunk with Pillow so the
page stays small."""

import base64
import csv
import io
import os
import urllib.parse
from typing import List, Optional, Sequence, Tuple

from siren_jax.engine import registry
from siren_jax.io import page as p

# What a point's thumbnail shows, the first file its directory holds: an image or video fit, a shape's
# renders, an audio clip's waveform.
THUMBNAIL_SOURCES = ("reconstruction.png", "renders.png", "waveform.png")
THUMBNAIL_PIXELS = 200  # the longer side


def swept_fields(page) -> List[str]:
  """The swept fields' names from sweep.json ([] when it is missing or malformed)."""
  spec = page.json("sweep.json")
  axes = spec.get("axes") if isinstance(spec, dict) else None
  if not isinstance(axes, list):
    return []
  return [str(a[0]) for a in axes if isinstance(a, list) and a]


def title(page, kind: str) -> str:
  """'siren_jax sweep: model.omega_0 × model.depth' (the folder's name when sweep.json is absent)."""
  fields = swept_fields(page)
  name = " × ".join(fields) if fields else os.path.basename(os.path.abspath(page.workdir))
  return f"siren_jax {kind}: {name}"


def thumbnail_uri(path: str) -> Optional[str]:
  """A PNG data URI of the image at ``path`` shrunk to THUMBNAIL_PIXELS (None if unreadable)."""
  from PIL import Image  # pylint: disable=g-import-not-at-top
  try:
    with Image.open(path) as image:
      image = image.convert("RGB")
      image.thumbnail((THUMBNAIL_PIXELS, THUMBNAIL_PIXELS), Image.LANCZOS)
      buffer = io.BytesIO()
      image.save(buffer, format="PNG")
  except (OSError, ValueError):
    return None
  return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _card(page, point: str, headline: str, status: str) -> str:
  directory = page.path(point)
  source = next((n for n in THUMBNAIL_SOURCES if os.path.exists(os.path.join(directory, n))), None)
  uri = thumbnail_uri(os.path.join(directory, source)) if source else None
  picture = (f'<img src="{uri}" alt="{p.esc(point)}: {source}" style="width:100%;'
             f'image-rendering:pixelated">' if uri
             else '<div class="note">no picture yet</div>')
  name = p.esc(point)
  if os.path.exists(os.path.join(directory, p.REPORT_NAME)):
    href = urllib.parse.quote(f"{point}/{p.REPORT_NAME}", safe="/=,")
    name = f'<a href="{p.esc(href)}">{name}</a>'
  mark = "" if status == "done" else f' <b style="color:#c0392b">{p.esc(status)}</b>'
  return (f'<figure class="plain" style="display:inline-block;margin:6px;vertical-align:top;'
          f'width:{THUMBNAIL_PIXELS + 8}px">{picture}<figcaption>{name}<br>{p.esc(headline)}{mark}'
          f"</figcaption></figure>")


def thumbnails_section(page, header: Sequence[str], rows: Sequence[Sequence[object]], key: str,
                       label: str) -> str:
  """One card per point (results.csv's rows): its thumbnail, headline and status."""
  if "point" not in header:
    return ""
  column = {name: i for i, name in enumerate(header)}
  cards = []
  for row in rows:
    point = str(row[column["point"]])
    if not point or point == "mean" or not os.path.isdir(page.path(point)):
      continue
    value = row[column[key]] if key in column else None
    headline = f"{label} {p.fmt(value)}" if value not in (None, "") else label + " –"
    status = str(row[column["status"]]) if "status" in column else "done"
    cards.append(_card(page, point, headline, status))
  return p.section("thumbnails", "Every point", "".join(cards)) if cards else ""


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
    if point and os.path.exists(os.path.join(workdir, point, p.REPORT_NAME)):
      href = urllib.parse.quote(f"{point}/{p.REPORT_NAME}", safe="/=,")
      row = row[:j] + [p.Html(f'<a href="{p.esc(href)}">{p.esc(point)}</a>')] + row[j + 1:]
    out.append(row)
  return out


def sweep_page(workdir: str) -> str:
  """The HTML of a sweep directory's report."""
  page = p.Page(workdir)
  try:
    header, rows = read_results_csv(page.path("results.csv"))
  except (OSError, csv.Error, UnicodeDecodeError) as e:
    page.warnings.append(f"could not read results.csv: {e}")
    header, rows = [], []
  linked = _link_points(workdir, header, rows)
  runs = len(rows) - (1 if rows and "point" in header and rows[-1][header.index("point")] == "mean" else 0)
  headline = next((s.headline for s in registry.builtin_signals() if s.headline.key in header),
                  registry.get(registry.DEFAULT).headline)
  key, label = headline.key, headline.label
  table = (p.table(header, linked, cls="sortable", highlight=p.best_cell(header, rows, key))
           + '<p class="hint">click a column header to sort'
           + ("; a point's name links to its own report" if linked is not rows else "")
           + "</p>") if header else ""
  sections = [
      ("results", "Results", p.section("results", f"Results ({runs} runs)", table)),
      ("heatmap", "Heatmap", p.section("heatmap", "Heatmap",
                                      p.figure(page.image_uri("heatmap.png"), "heatmap.png", "heatmap"))),
      (key, label, p.section(key, f"{label} against the swept value",
                            p.figure(page.image_uri(f"{key}.png"), f"{key}.png", f"{label} plot"))),
      ("curves", "Curves", p.section("curves", "Curves",
                                    p.figure(page.image_uri("curves.png"), "curves.png", "curves"))),
      ("thumbnails", "Points", thumbnails_section(page, header, rows, key, label)),
  ]
  nav = [(sid, label) for sid, label, body in sections if body]
  kind = "image set" if os.path.exists(page.path("set.json")) else "sweep"
  return p.shell(title(page, kind), f"{runs} runs &middot; {p.esc(os.path.abspath(workdir))}",
                nav, "".join(b for _, _, b in sections), page.warnings)
