"""An image run's report page (the image signal's ``report`` hook): original and reconstruction side
by side with synchronised zoom and pan (mouse wheel or the buttons to zoom, drag to pan, double-click to
fit; pixels are drawn as blocks once magnified) and a split view with a draggable divider sharing the
same zoom; ``error.png``, ``derivatives.png`` and ``blend.png`` where they exist; loss and PSNR curves;
the compression table when ``compression.json`` exists; the summary and the config.

``standard_page`` is that page with other viewers in front, for signals whose results are also
pictures (a video's clips, an audio clip's players).
Like ``siren_jax.io.page`` it only reads files and formats text (no JAX).
"""

import os
from typing import Optional, Sequence, Tuple

from siren_jax.engine import registry
from siren_jax.io import page as p

SUMMARY_HEADLINE = (("psnr", "PSNR (dB)"), ("snr", "SNR (dB)"), ("mse", "MSE on [-1, 1]"),
                    ("psnr_protocol", "protocol"), ("steps", "steps"),
                    ("train_seconds", "training time (s)"), ("num_params", "parameters"))


def run_page(page: p.Page, config: Optional[dict], summary: Optional[dict]) -> str:
  """The HTML of an image run's report."""
  side_by_side, compare = viewer_sections(page)
  return standard_page(page, config, summary,
                       [("images", "Zoom", side_by_side), ("compare", "Compare", compare)])


def _subtitle(page: p.Page, summary: Optional[dict], key: str) -> str:
  where = p.esc(os.path.abspath(page.workdir))
  if summary and summary.get("status") == "diverged":
    return (f"diverged at step {p.esc(summary.get('steps', '?'))}: "
            f"{p.esc(summary.get('message') or 'the loss or parameters became non-finite')} "
            f"&middot; {where}")
  if summary and p.number(summary.get(key)) is not None:
    return (f"{float(summary[key]):.2f} dB ({p.esc(summary.get('psnr_protocol', key))}) after "
            f"{p.esc(summary.get('steps', '?'))} steps, {p.esc(p.fmt(summary.get('train_seconds')))} s "
            f"of training &middot; {where}")
  return f"{p.progress_line(page, key, lambda v: f'{p.fmt(v)} dB')} &middot; {where}"


def _figure_sections(page: p.Page, summary: Optional[dict]) -> list:
  # A Poisson blend trains on a composite gradient field and is compared with the background.
  blend = ((summary or {}).get("psnr_protocol") == "psnr_outside_mask"
           or os.path.exists(page.path("blend.png")))
  error_caption = ("|blend - background|, mean over channels; the background is the reference outside "
                   "the mask (outlined), inside it the blend is meant to differ" if blend else
                   "|reconstruction - original|, mean over channels")
  derivatives_caption = ("top: copy-paste, the blended gradient field the network was trained on (its "
                         "magnitude) and that field's divergence; bottom: the network's" if blend else
                         "image, |gradient| and Laplacian: ground truth (top) and the network's (bottom)")
  return [
      ("error", "Error", p.section("error", "Error heatmap", p.figure(
          page.image_uri("error.png"), error_caption, "error heatmap"))),
      ("derivatives", "Derivatives", p.section("derivatives", "Gradients and Laplacians", p.figure(
          page.image_uri("derivatives.png"), derivatives_caption, "gradient and Laplacian panels"))),
      ("blend", "Blend", p.section("blend", "Poisson blend", p.figure(
          page.image_uri("blend.png"), "background, source, copy-paste and the SIREN blend",
          "Poisson blend panel"))),
  ]


def standard_page(page: p.Page, config: Optional[dict], summary: Optional[dict],
                  viewers: Sequence[Tuple[str, str, str]]) -> str:
  """The page of a run whose result is a picture or a clip: ``viewers`` (id, nav label, html) first,
  then the error and derivative figures, curves, compression, summary and config."""
  key, label = registry.headline(config if isinstance(config, dict) else {})
  name = ((summary or {}).get("image") or (summary or {}).get("audio") or (summary or {}).get("video")
          or ((config or {}).get("data") or {}).get("image") or page.workdir)
  name = os.path.basename(str(name)) or str(name)
  if isinstance(summary, dict) and summary.get("warning"):  # e.g. it ended near its initial PSNR
    page.warnings.append(str(summary["warning"]))
  sections = list(viewers) + _figure_sections(page, summary) + [
      ("curves", "Curves", p.curves_section(page, key, label)),
      ("compression", "Compression", p.compression_section(page)),
      ("summary", "Summary", p.summary_section(page, summary, SUMMARY_HEADLINE)),
      ("config", "Config", p.config_section(config)),
  ]
  return p.assemble(f"siren_jax report: {name}", _subtitle(page, summary, key), sections,
                    page.warnings)


def viewer_sections(page: p.Page) -> Tuple[str, str]:
  """(side-by-side section, split-compare section); the latter empty until the images exist."""
  orig, recon = page.image_uri("original.png"), page.image_uri("reconstruction.png")
  if not (orig and recon):
    return p.section("images", "Original vs reconstruction",
                    '<p class="note">original.png and reconstruction.png are written when the run '
                    "finishes; this report will show them then.</p>"), ""
  w, h = p.png_size(page.path("original.png")) or (1, 1)
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
  return (p.section("images", "Original vs reconstruction", toolbar + pair),
          p.section("compare", "Split compare", split))
