"""Compression's reference data, tables and plot: JPEG and WebP through Pillow, COIN's published Kodak
means, the mean rows over images with their PSNR differences to the other curves at equal bpp, table.md
and rd.png.

Split from experiments/compression.py (which fits the SIRENs, encodes and scores their weights and holds
the command line) so that neither module exceeds the codebase's 400-line limit; everything here works on
plain rows (dicts of method, bytes, bpp, PSNR, family, setting), nothing here trains.
"""

import io
import math
from typing import Dict, List, Sequence, Tuple

import numpy as np
from absl import logging
from PIL import Image

from siren_jax import data, figures, metrics, outputs, quantize
from siren_jax.errors import UserError

# COIN's published Kodak means (Dupont et al. 2021), (bpp, PSNR dB). They are means over the 24 Kodak
# images: they are drawn, and compared with, only when every image of a run is a Kodak image.
COIN_POINTS = ((0.160, 24.64), (0.307, 26.41), (0.611, 28.41))
COIN_LABEL = "COIN, Kodak mean of 24 images (published, 50k steps)"
X_RANGE_MARGIN = 1.15  # the plot's x axis ends this factor beyond the largest SIREN (or COIN) bpp




# ---------------------------------------------------------------------------------------------------
# JPEG and WebP


def pil_codec(pixels01: np.ndarray, fmt: str, quality: int) -> Tuple[int, np.ndarray]:
  """(file bytes, decoded (H, W, C) [0, 1]) of the 8-bit image through Pillow's ``fmt`` encoder."""
  u8 = outputs.to_uint8(pixels01)
  img = Image.fromarray(u8)
  options = {"quality": int(quality)}
  if fmt == "WEBP":
    options["method"] = 6
  buf = io.BytesIO()
  img.save(buf, format=fmt, **options)
  with Image.open(io.BytesIO(buf.getvalue())) as decoded:
    out = np.asarray(decoded.convert(img.mode), np.float32) / 255.0
  return len(buf.getvalue()), out.reshape(pixels01.shape)


def image_codec_rows(pixels01: np.ndarray, jpeg_qualities: Sequence[int],
                     webp_qualities: Sequence[int], suffix: str = "") -> List[dict]:
  """JPEG and WebP rows (method, bytes, bpp, psnr, family, setting) for one image."""
  h, w, _ = pixels01.shape
  rows = []
  for fmt, label, qualities in (("JPEG", "JPEG", jpeg_qualities), ("WEBP", "WebP", webp_qualities)):
    for q in qualities:
      size, decoded = pil_codec(pixels01, fmt, q)
      rows.append({"method": f"{label} q={q}", "bytes": size, "bpp": quantize.bits_per_pixel(size, h, w),
                   "psnr": metrics.psnr(decoded, pixels01), "family": label + suffix,
                   "setting": f"q={q}"})
  return rows


def kodak_reference_rows(kodak_dir: str, jpeg_qualities: Sequence[int],
                         webp_qualities: Sequence[int]) -> List[dict]:
  """JPEG and WebP rows, families suffixed ' (all 24 Kodak)', on every Kodak image that loads."""
  rows = []
  for n in data.KODAK_NAMES:
    try:
      pixels = data.load_image(n, kodak_dir).pixels
    except UserError as e:
      logging.warning("Kodak reference skips %s: %s", n, e)
      continue
    rows += [dict(r, image=n)
             for r in image_codec_rows(pixels, jpeg_qualities, webp_qualities, " (all 24 Kodak)")]
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
  """Whether every image is a Kodak image, so that COIN's published Kodak means are comparable."""
  return bool(names) and all(n in data.KODAK_NAMES for n in names)


def add_comparisons(means: List[dict], kodak: bool) -> List[dict]:
  """Each SIREN mean row gets the PSNR difference (dB) to JPEG and WebP at its bpp, and to COIN when the
  images are Kodak images (``kodak``): COIN's numbers are Kodak means, other images are not comparable."""
  curve = curves(means)
  for r in means:
    if r["family"].startswith("SIREN"):
      if kodak:
        r["vs_coin_db"] = r["psnr"] - psnr_at(COIN_POINTS, r["bpp"])
      r["vs_jpeg_db"] = r["psnr"] - psnr_at(curve.get("JPEG", []), r["bpp"])
      r["vs_webp_db"] = r["psnr"] - psnr_at(curve.get("WebP", []), r["bpp"])
  return means


def _cell(v, fmt: str) -> str:
  return "–" if v is None or (isinstance(v, float) and not math.isfinite(v)) else format(v, fmt)


def coin_note(kodak: bool) -> str:
  """What the table says about COIN: its numbers, and whether (and how far) they compare."""
  published = ("COIN's published means over the 24 Kodak images: "
               + ", ".join(f"{p:.2f} dB at {b:.3f} bpp" for b, p in COIN_POINTS) + ".")
  if kodak:
    return (published + " They cover all 24 images, these rows only the images above: the JPEG and "
            "WebP rows '(all 24 Kodak)' against the subset's own show how far the two sets differ.")
  return (published + " These images are not Kodak images, so there is no 'vs COIN' column and the plot "
          "leaves COIN out: a Kodak mean says nothing about PSNR on other images.")


def markdown(means: Sequence[dict], rows: Sequence[dict], runs: Sequence[dict], header: str,
             kodak: bool) -> str:
  """table.md; the 'vs COIN' column only for Kodak images (``kodak``), where it compares like with
  like."""
  vs = (["COIN"] if kodak else []) + ["JPEG", "WebP"]
  lines = [header, "", "## Mean over images", "",
           "| method | size / quality | params | bytes | bpp | PSNR (dB) | "
           + " | ".join(f"vs {v} (dB)" for v in vs) + " |", "|---" * (6 + len(vs)) + "|"]
  for r in means:
    lines.append(f"| {r['family']} | {r['setting']} | {r.get('params', '')} | {r['bytes']:.0f} | "
                 f"{r['bpp']:.4f} | {r['psnr']:.2f} | "
                 + " | ".join(_cell(r.get(f"vs_{v.lower()}_db"), "+.2f") for v in vs) + " |")
  lines += ["", coin_note(kodak) + " The 'vs' columns interpolate the other curve linearly in log bpp "
            "at the row's bpp ('–' outside its range).",
            "", "## Training runs", "", "| image | size | params | steps | train s | float32 PSNR (dB) |",
            "|---|---|---|---|---|---|"]
  for r in runs:
    lines.append(f"| {r['image']} | {r['size']} | {r['params']} | {r['steps']} | {r['train_seconds']:.0f} "
                 f"| {r['psnr']:.2f} |")
  if rows:
    lines += ["", "## Per image", "", "| image | method | bytes | bpp | PSNR (dB) |", "|---|---|---|---|---|"]
  for r in rows:
    lines.append(f"| {r['image']} | {r['method']} | {r['bytes']} | {r['bpp']:.4f} | {r['psnr']:.2f} |")
  return "\n".join(lines) + "\n"


def plot(path: str, means: Sequence[dict], title: str, kodak: bool) -> None:
  figures.save_figure(rd_figure(means, title, kodak), path)


def rd_figure(means: Sequence[dict], title: str, kodak: bool):
  """Mean bpp against mean PSNR: one colour per SIREN weight format (dotted: + entropy coding), the
  image codecs dashed, COIN's published Kodak means as stars when the images are Kodak images
  (``kodak``). What is not drawn (float32, codec points beyond the x range, COIN for other images) is
  listed under the plot."""
  plt = figures._pyplot()  # pylint: disable=protected-access
  curve = curves(means)
  fig, ax = plt.subplots(figsize=(8.5, 5.5))
  siren = [f for f in curve if f.startswith("SIREN") and f != "SIREN float32"]
  xmax = max([b for f in siren for b, _ in curve[f]] + ([COIN_POINTS[-1][0]] if kodak else [])
             + [0.0]) * X_RANGE_MARGIN or None
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
  for family, style in (("JPEG", "s--"), ("WebP", "^--"), ("JPEG (all 24 Kodak)", "s:"),
                        ("WebP (all 24 Kodak)", "^:")):
    pts = [p for p in curve.get(family, []) if xmax is None or p[0] <= xmax]
    beyond = [r for r in means if r["family"] == family and xmax is not None and r["bpp"] > xmax]
    if beyond:
      left_off.append(f"{family} {', '.join(r['setting'] for r in beyond)} (up to "
                      f"{max(r['bpp'] for r in beyond):.2f} bpp, beyond the x range; see table.md)")
    if pts:
      xs, ys = zip(*pts)
      ax.plot(xs, ys, style, color="0.35" if family.startswith("JPEG") else "0.6", label=family, ms=4)
  if kodak:
    xs, ys = zip(*COIN_POINTS)
    ax.plot(xs, ys, "k*--", label=COIN_LABEL, ms=11)
  else:
    left_off.append("COIN's published points (Kodak means; these images are not Kodak images)")
  ax.set_xlim(0, xmax)
  ax.set_xlabel("bits per pixel")
  ax.set_ylabel("PSNR (dB)")
  ax.grid(True, alpha=0.3)
  ax.legend(fontsize=7, loc="lower right")
  ax.set_title(title, fontsize=9)
  if left_off:  # under the axes; save_figure's tight bounding box keeps it in the PNG
    fig.text(0.02, -0.01, "Not drawn: " + "; ".join(left_off) + ".", ha="left", va="top",
             fontsize=7, wrap=True)
  return fig
