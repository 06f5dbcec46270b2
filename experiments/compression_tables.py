"""Compression's reference data, tables and plot: JPEG, WebP, JPEG 2000 and AVIF through Pillow, the
published Kodak curves of experiments/compression_references.py, the mean rows over images with their
PSNR differences to the other curves at equal bpp, table.md and rd.png.

Split from experiments/compression.py (which fits the SIRENs, encodes and scores their weights and holds
the command line) so that neither module exceeds the codebase's 400-line limit; everything here works on
plain rows (dicts of method, bytes, bpp, PSNR, family, setting), nothing here trains.
"""

import functools
import io
import math
import re
import unicodedata
import warnings
from typing import Dict, List, Sequence, Tuple

import numpy as np
from absl import logging
from PIL import Image, features

from experiments import compression_references as references
from siren_jax.engine import metrics
from siren_jax.errors import UserError
from siren_jax.io import outputs, plots, quantize
from siren_jax.signals.image import data

# The published curves (means over the 24 Kodak images): drawn, and compared with, only when every image
# of a run is a Kodak image. Those in COMPARED get a 'vs' column in table.md; all are drawn and listed.
COIN_POINTS = references.COIN.points
COMPARED = (references.COIN, references.STRUMPLER_BASIC)
X_RANGE_MARGIN = 1.15  # the plot's x axis ends this factor beyond the largest SIREN bpp
# Each reference's colour and marker in rd.png, in the order of references.REFERENCES: dark colours
# outside matplotlib's C0..C9 cycle, which the SIREN formats use.
REFERENCE_STYLES = (("k", "*"), ("darkgoldenrod", "P"), ("darkmagenta", "D"), ("teal", "X"))
AVIF_SPEED = 6  # libavif's (and Pillow's) default: speed 4 gains ~0.2 dB at 5x the encode time

# Pillow format, family label, the Pillow feature its encoder needs, and its plot style (marker, grey:
# none as dark as COIN's black).
CODECS = (("JPEG", "JPEG", "jpg", "s", "0.35"), ("WEBP", "WebP", "webp", "^", "0.7"),
          ("JPEG2000", "JPEG 2000", "jpg_2000", "d", "0.45"), ("AVIF", "AVIF", "avif", "v", "0.58"))


def reference_label(ref: references.Reference) -> str:
  return f"{ref.name}, Kodak mean of 24 images (published)"


COIN_LABEL = reference_label(references.COIN)


# ---------------------------------------------------------------------------------------------------
# JPEG, WebP, JPEG 2000 and AVIF


def codec_available(fmt: str) -> bool:
  """Whether this Pillow can encode ``fmt``: JPEG 2000 needs OpenJPEG and AVIF libavif (Pillow >= 11.2;
  an older Pillow warns of an unknown feature, which says the same as False)."""
  feature = next(f for p, _, f, _, _ in CODECS if p == fmt)
  with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    return bool(features.check(feature))


@functools.lru_cache(maxsize=None)
def _note_missing(label: str, feature: str) -> None:
  """Once per process: a run without the encoder still gives its other curves."""
  logging.warning("%s skipped: this Pillow has no %r encoder (PIL.features.check(%r) is False)", label,
                  feature, feature)


def missing_codecs(**sweeps: Sequence[int]) -> List[str]:
  """The labels of the codecs given a non-empty sweep (keyword: Pillow format) that this Pillow lacks."""
  return [label for fmt, label, _, _, _ in CODECS if sweeps.get(fmt) and not codec_available(fmt)]


def pil_codec(pixels01: np.ndarray, fmt: str, quality: int) -> Tuple[int, np.ndarray]:
  """(file bytes, decoded (H, W, C) [0, 1]) of the 8-bit image through Pillow's ``fmt`` encoder.

  ``quality`` is JPEG's, WebP's or AVIF's quality (0..100), or for JPEG 2000 the compression ratio to
  the raw 8-bit image (bpp = 8 * C / ratio: 24 / ratio for RGB), which OpenJPEG's rate control meets
  closely (on Kodak within 2 %, below); the rows use the measured bytes, not the target."""
  u8 = outputs.to_uint8(pixels01)
  img = Image.fromarray(u8)
  options = {"quality": int(quality)}
  if fmt == "WEBP":
    options["method"] = 6
  elif fmt == "JPEG2000":
    # Lossy JPEG 2000 as it is meant to be run: the 9/7 wavelet and the colour transform (Pillow's
    # defaults are the lossless 5/3 wavelet and none, 5.8 dB worse on kodim01 at 1.5 bpp); the bare
    # codestream, the smallest file a decoder reads, as JPEG's and WebP's files are their minimum too.
    options = {"quality_mode": "rates", "quality_layers": [float(quality)], "irreversible": True,
               "mct": 1, "no_jp2": True}
  elif fmt == "AVIF":
    options["speed"] = AVIF_SPEED
  buf = io.BytesIO()
  img.save(buf, format=fmt, **options)
  with Image.open(io.BytesIO(buf.getvalue())) as decoded:
    out = np.asarray(decoded.convert(img.mode), np.float32) / 255.0
  return len(buf.getvalue()), out.reshape(pixels01.shape)


def image_codec_rows(pixels01: np.ndarray, jpeg_qualities: Sequence[int],
                     webp_qualities: Sequence[int], suffix: str = "", jp2_ratios: Sequence[int] = (),
                     avif_qualities: Sequence[int] = ()) -> List[dict]:
  """JPEG, WebP, JPEG 2000 and AVIF rows (method, bytes, bpp, psnr, family, setting) for one image; a
  codec this Pillow cannot encode is skipped with a logged note."""
  h, w, _ = pixels01.shape
  sweeps = {"JPEG": jpeg_qualities, "WEBP": webp_qualities, "JPEG2000": jp2_ratios,
            "AVIF": avif_qualities}
  rows = []
  for fmt, label, feature, _, _ in CODECS:
    if sweeps[fmt] and not codec_available(fmt):
      _note_missing(label, feature)
      continue
    for q in sweeps[fmt]:
      size, decoded = pil_codec(pixels01, fmt, q)
      setting = f"1:{q}" if fmt == "JPEG2000" else f"q={q}"
      rows.append({"method": f"{label} {setting}", "bytes": size, "bpp": quantize.bits_per_pixel(size, h, w),
                   "psnr": metrics.psnr(decoded, pixels01), "family": label + suffix,
                   "setting": setting})
  return rows


def kodak_reference_rows(kodak_dir: str, jpeg_qualities: Sequence[int],
                         webp_qualities: Sequence[int], jp2_ratios: Sequence[int] = (),
                         avif_qualities: Sequence[int] = ()) -> List[dict]:
  """The codec rows, families suffixed ' (all 24 Kodak)', on every Kodak image that loads."""
  rows = []
  for n in data.KODAK_NAMES:
    try:
      pixels = data.load_image(n, kodak_dir).pixels
    except UserError as e:
      logging.warning("Kodak reference skips %s: %s", n, e)
      continue
    rows += [dict(r, image=n) for r in image_codec_rows(pixels, jpeg_qualities, webp_qualities,
                                                        " (all 24 Kodak)", jp2_ratios, avif_qualities)]
  return rows


# ---------------------------------------------------------------------------------------------------
# Tables and the plot


def mean_rows(rows: Sequence[dict]) -> List[dict]:
  """The mean bytes, bpp and PSNR over images of each (family, setting) that every image has."""
  # The subset's images: the 24-image Kodak reference rows are averaged over their own images.
  images = sorted({r["image"] for r in rows if not r["family"].endswith("(all 24 Kodak)")})
  groups: Dict[Tuple[str, str], List[dict]] = {}
  for r in rows:
    groups.setdefault((r["family"], r["setting"]), []).append(r)
  out = []
  for (family, setting), rs in groups.items():
    if family.endswith("(all 24 Kodak)"):
      count = len({r["image"] for r in rs})
    elif sorted({r["image"] for r in rs}) != images:
      continue
    else:
      count = len(images)
    row = {"family": family, "setting": setting, "images": count,
           "bytes": float(np.mean([r["bytes"] for r in rs])), "bpp": float(np.mean([r["bpp"] for r in rs])),
           "psnr": float(np.mean([r["psnr"] for r in rs]))}
    if "params" in rs[0]:
      row["params"] = rs[0]["params"]
    out.append(row)
  return sorted(out, key=lambda r: (r["family"], r["bpp"]))


def psnr_at(curve: Sequence[Tuple[float, float]], bpp: float) -> float:
  """PSNR of a (bpp, PSNR) curve at ``bpp`` by linear interpolation in log bpp; NaN outside it."""
  pts = sorted(curve)
  if len(pts) < 2 or not pts[0][0] <= bpp <= pts[-1][0]:
    return float("nan")
  return float(np.interp(math.log(bpp), [math.log(x) for x, _ in pts], [y for _, y in pts]))


def curves(means: Sequence[dict]) -> Dict[str, List[Tuple[float, float]]]:
  out: Dict[str, List[Tuple[float, float]]] = {}
  for r in means:
    out.setdefault(r["family"], []).append((r["bpp"], r["psnr"]))
  return {k: sorted(v) for k, v in out.items()}


def kodak_images(names: Sequence[str]) -> bool:
  """Whether every image is a Kodak image, so that the published Kodak means are comparable."""
  return bool(names) and all(n in data.KODAK_NAMES for n in names)


def vs_key(label: str) -> str:
  """'Strümpler basic' -> 'vs_strumpler_basic_db': the row key of a 'vs' column (ASCII, for table.json)."""
  ascii_label = unicodedata.normalize("NFKD", label).encode("ascii", "ignore").decode()
  return "vs_" + re.sub(r"[^a-z0-9]+", "_", ascii_label.lower()).strip("_") + "_db"


def vs_columns(kodak: bool) -> List[str]:
  """The 'vs' columns' labels: the compared published curves only for Kodak images (``kodak``)."""
  return ([ref.short for ref in COMPARED] if kodak else []) + ["JPEG", "WebP"]


def add_comparisons(means: List[dict], kodak: bool) -> List[dict]:
  """Each SIREN mean row gets the PSNR difference (dB) to JPEG and WebP at its bpp, and to the COMPARED
  published curves when the images are Kodak images (``kodak``): those are Kodak means, other images
  are not comparable."""
  curve = curves(means)
  others = [(ref.short, ref.points) for ref in COMPARED] if kodak else []
  others += [("JPEG", curve.get("JPEG", [])), ("WebP", curve.get("WebP", []))]
  for r in means:
    if r["family"].startswith("SIREN"):
      for label, points in others:
        r[vs_key(label)] = r["psnr"] - psnr_at(points, r["bpp"])
  return means


def _cell(v, fmt: str) -> str:
  return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def references_note(kodak: bool) -> str:
  """What the table says about the published curves: whether (and how far) they compare."""
  if kodak:
    return ("The published curves (below) are means over all 24 Kodak images, these rows only the images "
            "above: the codec rows '(all 24 Kodak)' against the subset's own show how far the two sets "
            "differ.")
  return ("These images are not Kodak images, so there is no 'vs' column for the published curves (below) "
          "and the plot leaves them out: a Kodak mean says nothing about PSNR on other images.")


def references_section() -> List[str]:
  """table.md's list of the published curves, every point and its source."""
  lines = ["## Published Kodak curves", "", "| method | points (bpp / PSNR dB) | source | how |",
           "|---|---|---|---|"]
  for ref in references.REFERENCES:
    pts = ", ".join(f"{b:.3f} / {p:.2f}" for b, p in ref.points)
    lines.append(f"| {ref.name} | {pts} | {ref.source} | {ref.note} |")
  return lines + ["", "Means over the 24 Kodak images as released (experiments/compression_references.py)."]


def markdown(means: Sequence[dict], rows: Sequence[dict], runs: Sequence[dict], header: str,
             kodak: bool) -> str:
  """table.md; the 'vs' columns of the published curves only for Kodak images (``kodak``), where they
  compare like with like."""
  vs = vs_columns(kodak)
  lines = [header, "", "## Mean over images", "",
           "| method | size / quality | params | bytes | bpp | PSNR (dB) | "
           + " | ".join(f"vs {v} (dB)" for v in vs) + " |", "|---" * (6 + len(vs)) + "|"]
  for r in means:
    lines.append(f"| {r['family']} | {r['setting']} | {r.get('params', '')} | {r['bytes']:.0f} | "
                 f"{r['bpp']:.4f} | {r['psnr']:.2f} | "
                 + " | ".join(_cell(r.get(vs_key(v)), "+.2f") for v in vs) + " |")
  lines += ["", references_note(kodak) + " The 'vs' columns interpolate the other curve linearly in log "
            "bpp at the row's bpp ('–' outside its range).",
            "", "## Training runs", "", "| image | size | params | steps | train s | float32 PSNR (dB) |",
            "|---|---|---|---|---|---|"]
  for r in runs:
    lines.append(f"| {r['image']} | {r['size']} | {r['params']} | {r['steps']} | {r['train_seconds']:.0f} "
                 f"| {r['psnr']:.2f} |")
  lines += [""] + references_section()
  if rows:
    lines += ["", "## Per image", "", "| image | method | bytes | bpp | PSNR (dB) |", "|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['image']} | {r['method']} | {r['bytes']} | {r['bpp']:.4f} | {r['psnr']:.2f} |")
  return "\n".join(lines) + "\n"


def plot(path: str, means: Sequence[dict], title: str, kodak: bool) -> None:
  plots.save_figure(rd_figure(means, title, kodak), path)


def rd_figure(means: Sequence[dict], title: str, kodak: bool):
  """Mean bpp against mean PSNR: one colour per SIREN weight format (dotted: + entropy coding), the
  image codecs dashed in greys, the published Kodak curves dashed in their own colours when the images
  are Kodak images (``kodak``). The x axis ends just beyond the largest SIREN bpp; what is not drawn
  (float32, codec and published points beyond the x range, the published curves for other images) is
  listed under the plot."""
  plt = plots.pyplot()  # pylint: disable=protected-access
  curve = curves(means)
  fig, ax = plt.subplots(figsize=(10.5, 5.5))
  siren = [f for f in curve if f.startswith("SIREN") and f != "SIREN float32"]
  xmax = max([b for f in siren for b, _ in curve[f]] + [0.0]) * X_RANGE_MARGIN or None
  left_off = []
  if "SIREN float32" in curve:
    left_off.append("SIREN float32 (the same network as float16 at twice the bytes; see table.md)")
  colours = {}
  for family in sorted(siren, key=lambda f: ("entropy" in f, f)):
    base = family.replace(" + entropy", "")
    colour = colours.setdefault(base, f"C{len(colours)}")
    entropy = family != base
    xs, ys = zip(*curve[family])
    ax.plot(xs, ys, "x:" if entropy else "o-", color=colour, label=family, ms=5)
    if not entropy:
      for r in means:
        if r["family"] == family:
          ax.annotate(r["setting"], (r["bpp"], r["psnr"]), fontsize=6, color=colour, xytext=(3, -8),
                      textcoords="offset points")
  for _, label, _, marker, grey in CODECS:
    for family, line in ((label, "--"), (label + " (all 24 Kodak)", ":")):
      pts = [p for p in curve.get(family, []) if xmax is None or p[0] <= xmax]
      beyond = [r for r in means if r["family"] == family and xmax is not None and r["bpp"] > xmax]
      if beyond:
        left_off.append(f"{family} {', '.join(r['setting'] for r in beyond)} (up to "
                        f"{max(r['bpp'] for r in beyond):.2f} bpp, beyond the x range; see table.md)")
      if pts:
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker + line, color=grey, label=family, ms=4)
  if kodak:
    for ref, (colour, marker) in zip(references.REFERENCES, REFERENCE_STYLES):
      pts = [p for p in ref.points if xmax is None or p[0] <= xmax]
      beyond = [b for b, _ in ref.points if xmax is not None and b > xmax]
      if beyond:
        left_off.append(f"{ref.name} at {', '.join(f'{b:.3f}' for b in beyond)} bpp (beyond the x "
                        f"range; see table.md)")
      if pts:
        xs, ys = zip(*pts)
        ax.plot(xs, ys, marker + "--", color=colour, label=reference_label(ref),
                ms=10 if marker == "*" else 6)
  else:
    left_off.append("the published curves of " + ", ".join(r.name for r in references.REFERENCES)
                    + " (Kodak means; these images are not Kodak images)")
  ax.set_xlim(0, xmax)
  ax.set_xlabel("bits per pixel")
  ax.set_ylabel("PSNR (dB)")
  ax.grid(True, alpha=0.3)
  # Beside the axes: with four codecs and the published curves the legend would cover the SIRENs.
  ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
  ax.set_title(title, fontsize=9)
  if left_off:  # under the axes; save_figure's tight bounding box keeps it in the PNG
    fig.text(0.02, -0.01, "Not drawn: " + "; ".join(left_off) + ".", ha="left", va="top",
             fontsize=7, wrap=True)
  return fig
