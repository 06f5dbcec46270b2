"""Upsampling's outputs: table.md and table.json of the rows, one figure per image (crops of the ground
truth and of every method), and the --crop and recipe texts they use.

Split from experiments/upsampling.py (which builds the cases, fits and scores the SIRENs and holds the
command line) so that neither module exceeds the codebase's 400-line limit; everything here works on the
rows and ground truths it is given, nothing here fits.
"""

import math
import os
import textwrap
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from siren_jax.errors import UserError
from siren_jax.io import outputs, plots


def _cell(value, fmt: str) -> str:
  if value is None:
    return "–"
  if isinstance(value, float) and not math.isfinite(value):
    return "diverged" if math.isnan(value) else "∞"
  return format(value, fmt)


def table_lines(rows: Sequence[Dict], header: Sequence[str]) -> List[str]:
  """Markdown: one block of rows per case; the best PSNR and SSIM of a case in bold."""
  lines = list(header) + [
      "| image | ground truth (HxW) | input (HxW) | factor | method | PSNR (dB) | SSIM | "
      "PSNR − bicubic (dB) | fit PSNR on input (dB) | steps | train s |",
      "|---|---|---|---|---|---|---|---|---|---|---|"]
  for key in dict.fromkeys(r["case"] for r in rows):
    block = [r for r in rows if r["case"] == key]
    best_psnr = max((r["psnr"] for r in block if math.isfinite(r["psnr"])), default=None)
    best_ssim = max((r["ssim"] for r in block if math.isfinite(r["ssim"])), default=None)
    for r in block:
      p, s = _cell(r["psnr"], ".2f"), _cell(r["ssim"], ".4f")
      p = f"**{p}**" if r["psnr"] == best_psnr else p
      s = f"**{s}**" if r["ssim"] == best_ssim else s
      (h, w), (lh, lw) = r["ground_truth_size"], r["input_size"]
      lines.append(f"| {r['image']} | {h}x{w} | {lh}x{lw} | {r['factor']} | {r['method']} | {p} | {s} | "
                   f"{_cell(r['psnr_vs_bicubic'], '+.2f')} | {_cell(r['fit_psnr'], '.2f')} | "
                   f"{_cell(r['steps'], 'd')} | {_cell(r['train_seconds'], '.1f')} |")
  return lines


def write_tables(workdir: str, rows: Sequence[Dict], settings: Dict, command: str = "") -> List[str]:
  header = ([f"Command: `{command}`", ""] if command else []) + [
      f"SIREN recipe: {settings['recipe']}. All methods are 8-bit: the SIREN is rendered to uint8 like a "
      "saved PNG; PSNR and SSIM against the 8-bit ground truth.", ""]
  lines = table_lines(rows, header)
  with outputs.atomic_path(os.path.join(workdir, "table.md")) as tmp, open(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
  outputs.write_json(os.path.join(workdir, "table.json"),
                     {"command": command, "settings": settings,
                      "rows": [{k: v for k, v in r.items() if k != "pred"} for r in rows]})
  return lines


def parse_crop(text: str) -> Tuple[float, float, float, float]:
  try:
    y0, y1, x0, x1 = (float(v) for v in str(text).split(","))
  except ValueError:
    raise UserError(f"--crop must be four fractions y0,y1,x0,x1, got {text!r}") from None
  if not (0 <= y0 < y1 <= 1 and 0 <= x0 < x1 <= 1):
    raise UserError(f"--crop {text!r}: need 0 <= y0 < y1 <= 1 and 0 <= x0 < x1 <= 1")
  return y0, y1, x0, x1


def write_figure(path: str, rows: Sequence[Dict], crop: Optional[Tuple[float, float, float, float]],
                 ground_truths: Dict[str, np.ndarray]) -> None:
  """One row per factor: the ground truth crop, then each method's crop titled with PSNR / SSIM."""
  plt = plots.pyplot()  # pylint: disable=protected-access
  keys = list(dict.fromkeys(r["case"] for r in rows))
  methods = list(dict.fromkeys(r["method"] for r in rows))
  ncols = len(methods) + 1
  fig, axes = plt.subplots(len(keys), ncols, figsize=(2.3 * ncols, 2.8 * len(keys)), squeeze=False)

  def cut(img):
    h, w = img.shape[:2]
    if crop is None:
      return img
    y0, y1, x0, x1 = crop
    return img[int(round(y0 * h)):int(round(y1 * h)), int(round(x0 * w)):int(round(x1 * w))]

  def show(ax, img, title):
    img = cut(img)
    ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=255,
              interpolation="nearest")
    ax.set_title(title, fontsize=7)
    ax.set_axis_off()

  for i, key in enumerate(keys):
    block = {r["method"]: r for r in rows if r["case"] == key}
    first = next(iter(block.values()))
    h, w = first["ground_truth_size"]
    show(axes[i, 0], ground_truths[key],
         f"ground truth {h}x{w} (HxW)\n(input x{first['factor']} smaller)")
    for j, method in enumerate(methods, start=1):
      r = block.get(method)
      if r is None or r["pred"] is None:
        axes[i, j].set_axis_off()
        continue
      title = "\n".join(textwrap.wrap(method.replace("+", "+ "), 26))
      show(axes[i, j], r["pred"], f"{title}\n{r['psnr']:.2f} dB, SSIM {r['ssim']:.3f}")
  fig.tight_layout()
  plots.save_figure(fig, path, dpi=120)


def describe_recipe(base) -> str:
  t, m = base.train, base.model
  return (f"'default' = omega_0 {m.omega_0:g}, {m.depth}x{m.width}, Adam {t.learning_rate:g} with "
          f"{t.schedule} decay, {t.num_steps} steps, batches of {t.batch_size or 'all'} pixels (the whole "
          f"input when it has no more); other variants override fields of it")


def write_outputs(workdir: str, rows: Sequence[Dict], cases: Sequence,
                  variants: Sequence[Tuple[str, object]], base, crop, command: str = "") -> None:
  """table.md, table.json and one figure per image (``cases``: the experiment's Case objects)."""
  settings = {"variants": [v for v, _ in variants], "recipe": describe_recipe(base),
              "cases": [{"case": c.key, "image": c.image, "source": c.source, "factor": c.factor}
                        for c in cases]}
  write_tables(workdir, rows, settings, command)
  ground_truths = {c.key: c.ground_truth for c in cases}
  for label in dict.fromkeys(c.label for c in cases):
    keys = {c.key for c in cases if c.label == label}
    tiny = any(c.tiny for c in cases if c.label == label)
    write_figure(os.path.join(workdir, f"{label}.png"), [r for r in rows if r["case"] in keys],
                 None if tiny else crop, ground_truths)
