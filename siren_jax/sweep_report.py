"""Parts of a sweep directory's report (``report.sweep_page``): its title, which names the swept fields
(from sweep.json), and a thumbnail of every point's result beside its headline and status, so that a
sweep's pictures can be compared at a glance and a point that did not learn stands out. Like ``report``
it only reads files (no JAX); thumbnails are shrunk with Pillow so the page stays small."""

import base64
import io
import os
import urllib.parse
from typing import List, Optional, Sequence

from siren_jax import report as r

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
  picture = (f'<img src="{uri}" alt="{r._esc(point)}: {source}" style="width:100%;'
             f'image-rendering:pixelated">' if uri
             else '<div class="note">no picture yet</div>')
  name = r._esc(point)
  if os.path.exists(os.path.join(directory, r.REPORT_NAME)):
    href = urllib.parse.quote(f"{point}/{r.REPORT_NAME}", safe="/=,")
    name = f'<a href="{r._esc(href)}">{name}</a>'
  mark = "" if status == "done" else f' <b style="color:#c0392b">{r._esc(status)}</b>'
  return (f'<figure class="plain" style="display:inline-block;margin:6px;vertical-align:top;'
          f'width:{THUMBNAIL_PIXELS + 8}px">{picture}<figcaption>{name}<br>{r._esc(headline)}{mark}'
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
    headline = f"{label} {r._fmt(value)}" if value not in (None, "") else label + " –"
    status = str(row[column["status"]]) if "status" in column else "done"
    cards.append(_card(page, point, headline, status))
  return r._section("thumbnails", "Every point", "".join(cards)) if cards else ""
