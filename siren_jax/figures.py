"""The figures a run or sweep writes (PNG, through matplotlib's Agg backend), each saved atomically
with ``outputs.atomic_path``: error heatmaps, loss and PSNR curves, derivative and blend panels, sweep
heatmaps and curves."""

import itertools
import math
import os
import textwrap
from typing import List, Optional, Sequence

import numpy as np

from siren_jax.outputs import atomic_path, read_jsonl


def _pyplot():
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt  # pylint: disable=g-import-not-at-top
  return plt


def pyplot():
  """matplotlib.pyplot on the Agg backend, for the figure modules beside this one."""
  return _pyplot()


def save_figure(fig, path: str, dpi: int = 100) -> None:
  plt = _pyplot()
  with atomic_path(path) as tmp:
    fig.savefig(tmp, dpi=dpi, bbox_inches="tight", format="png")
  plt.close(fig)


def write_error_heatmap(path: str, pred: np.ndarray, target: np.ndarray, title: str = "",
                        compared: str = "reconstruction − original",
                        mask: Optional[np.ndarray] = None) -> None:
  """|pred - target| (mean over channels, in [0, 1] units) as a heatmap with a colour bar. The default
  title names the two images (``compared``). With a (H, W) boolean ``mask`` (a Poisson blend's region,
  where pred is meant to differ from target) the mask is outlined and the mean is taken outside it."""
  plt = _pyplot()
  err = np.abs(np.clip(pred, 0, 1) - target).mean(axis=-1)
  h, w = err.shape
  scale = 6.0 / max(h, w)
  fig, ax = plt.subplots(figsize=(w * scale + 1.5, h * scale + 0.6))
  vmax = max(float(np.percentile(err, 99.5)), 1e-6)  # a few outliers must not wash out the map
  im = ax.imshow(err, cmap="inferno", vmin=0.0, vmax=vmax, interpolation="nearest")
  ax.set_axis_off()
  if mask is not None:
    ax.contour(mask.astype(float), levels=[0.5], colors="cyan", linewidths=1)
    mean = f"mean outside the mask {err[~mask].mean():.2e}" if (~mask).any() else "mean –"
  else:
    mean = f"mean {err.mean():.2e}"
  title = title or f"|{compared}| ({mean}, max {err.max():.2e}; colours clip at p99.5)"
  ax.set_title(textwrap.fill(title, max(40, int(12 * w * scale))), fontsize=9)
  fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
  save_figure(fig, path)


def _finite(value) -> bool:
  """Whether ``value`` is a finite number (metrics rows may lack a value or hold "nan"/"inf")."""
  try:
    return math.isfinite(float(value))
  except (TypeError, ValueError):
    return False


def write_curves(path: str, rows: List[dict], title: str = "", loss_label: str = "loss",
                 metric: str = "psnr", metric_label: str = "PSNR (dB)") -> None:
  """Loss and the headline (``metric``, PSNR for images) against step and against training time, from
  metrics.jsonl rows."""
  plt = _pyplot()
  rows = [r for r in rows if "step" in r]
  fig, axes = plt.subplots(2, 2, figsize=(10, 6.5))
  if rows:
    steps = [r["step"] for r in rows]
    secs = [r.get("train_seconds", r.get("elapsed_s", 0.0)) for r in rows]
    # The step-0 row has no loss (older files wrote the string "nan"): plot the rows that have one.
    has_loss = [_finite(r.get("loss")) for r in rows]
    loss = [float(r["loss"]) for r, ok in zip(rows, has_loss) if ok]
    psnr = [float(r[metric]) for r in rows]
    for col, (x, label) in enumerate([(steps, "step"), (secs, "training time (s)")]):
      axes[0, col].semilogy([v for v, ok in zip(x, has_loss) if ok], loss)
      axes[0, col].set_ylabel(loss_label)
      axes[1, col].plot(x, psnr)
      axes[1, col].set_ylabel(metric_label)
      for row in range(2):
        axes[row, col].set_xlabel(label)
        axes[row, col].grid(True, alpha=0.3)
  if title:
    fig.suptitle(title)
  fig.tight_layout()
  save_figure(fig, path)


def _show(ax, img, title, cmap="gray", vmin=0.0, vmax=1.0):
  img = np.asarray(img)
  if img.ndim == 3 and img.shape[-1] == 1:
    img = img[..., 0]
  if img.ndim == 3 and cmap != "gray":
    img = img.mean(-1)
  im = ax.imshow(np.clip(img, vmin, vmax) if cmap == "gray" else img, cmap=cmap, vmin=vmin,
                 vmax=vmax, interpolation="nearest")
  ax.set_title(title, fontsize=9)
  ax.set_axis_off()
  return im


def write_derivative_panel(path: str, image01, fit01, grad_ref, grad_fit, lap_ref, lap_fit,
                           gradient_name: str = "sobel", laplacian_name: str = "5point",
                           top_titles: Optional[Sequence[str]] = None) -> None:
  """2x3 panel: image / gradient magnitude / Laplacian, ground truth (top) vs the fit (bottom).
  Derivatives are per unit of the [-1, 1] coordinate; both rows share each column's colour scale.
  ``top_titles`` (three) replace the top row's titles when it shows something other than the image and
  its derivatives (a Poisson blend's composite gradient field)."""
  plt = _pyplot()
  h, w = np.asarray(image01).shape[:2]
  scale = 3.2 / max(h, w)
  fig, axes = plt.subplots(2, 3, figsize=(3 * w * scale + 1.8, 2 * h * scale + 0.8))
  gmax = max(float(np.percentile(grad_ref, 99.5)), 1e-6)
  lmax = max(float(np.percentile(np.abs(lap_ref), 99.0)), 1e-6)
  for row, (img, g, lap, label) in enumerate([(image01, grad_ref, lap_ref, "image"),
                                              (fit01, grad_fit, lap_fit, "fit")]):
    titles = ([label, f"{label} |gradient| ({gradient_name})", f"{label} Laplacian ({laplacian_name})"]
              if row == 0 else ["fit", "fit |gradient|", "fit Laplacian"])
    if row == 0 and top_titles:
      titles = list(top_titles)
    _show(axes[row, 0], img, titles[0])
    gi = _show(axes[row, 1], np.asarray(g).mean(-1), titles[1], cmap="magma", vmin=0.0, vmax=gmax)
    li = _show(axes[row, 2], np.asarray(lap).mean(-1), titles[2], cmap="RdBu_r", vmin=-lmax, vmax=lmax)
    fig.colorbar(gi, ax=axes[row, 1], fraction=0.046, pad=0.04)
    fig.colorbar(li, ax=axes[row, 2], fraction=0.046, pad=0.04)
  fig.tight_layout()
  save_figure(fig, path)


def write_blend_panel(path: str, blend: dict, result01) -> None:
  """Poisson blending: background, source with the mask outline, naive paste, SIREN blend."""
  plt = _pyplot()
  h, w = blend["mask"].shape
  scale = 3.2 / max(h, w)
  fig, axes = plt.subplots(1, 4, figsize=(4 * w * scale + 0.8, h * scale + 0.7))
  _show(axes[0], blend["background"], "background")
  _show(axes[1], blend["source"], "source (mask outlined)")
  axes[1].contour(blend["mask"].astype(float), levels=[0.5], colors="yellow", linewidths=1)
  _show(axes[2], blend["naive"], "copy-paste")
  _show(axes[3], result01, "SIREN fit to blended gradients")
  fig.tight_layout()
  save_figure(fig, path)


def _heatmap(ax, grid, rows, cols, row_field, col_field, title="", clim=None):
  """PSNR grid with every cell's value written in it (diverged cells say so). ``clim`` (low, high)
  fixes the colour scale, so several panels can share one; by default it spans this grid."""
  finite = grid[np.isfinite(grid)]
  if clim is None:
    clim = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
  im = ax.imshow(grid, cmap="viridis", aspect="auto", vmin=clim[0], vmax=clim[1])
  ax.set_xticks(range(len(cols)), [str(v) for v in cols])
  ax.set_yticks(range(len(rows)), [str(v) for v in rows])
  ax.set_xlabel(col_field)
  ax.set_ylabel(row_field)
  if title:
    ax.set_title(title, fontsize=9)
  mid = 0.5 * (clim[0] + clim[1])  # dark cells (low end of viridis) get white text
  for i in range(len(rows)):
    for j in range(len(cols)):
      text = "diverged" if not np.isfinite(grid[i, j]) else f"{grid[i, j]:.1f}"
      ax.text(j, i, text, ha="center", va="center", fontsize=8,
              color="white" if not np.isfinite(grid[i, j]) or grid[i, j] < mid else "black")
  return im


MAX_HEATMAP_PANELS = 12


def _suptitle(fig, title: str) -> None:
  """``title`` over the whole figure, wrapped to its width (about 11 characters an inch at 9 pt). It sits
  above the figure's top edge, which save_figure's tight bounding box extends to include, so however
  many lines it wraps to it never covers the panels or their titles."""
  if title:
    fig.suptitle(textwrap.fill(title, max(30, int(11 * fig.get_figwidth()))), fontsize=9, y=1.0,
                 va="bottom")


def write_sweep_plots(workdir: str, axes, results, title: str = "", metric: str = "psnr",
                      label: str = "PSNR") -> None:
  """psnr.png (one swept axis) or heatmap.png (the first two axes; with more, one panel per combination
  of the others, up to MAX_HEATMAP_PANELS), and curves.png: every point's PSNR vs step. ``title`` (what
  the points share: image, steps, recipe) heads each figure. ``metric`` is the results' and rows' key
  of the headline (and the name of its one-axis plot), ``label`` its name on the axes."""
  plt = _pyplot()
  fields = [f for f, _ in axes]
  psnr = {tuple(r[f] for f in fields): (r[metric] if r["status"] == "done" else float("nan"))
          for r in results}
  if len(axes) == 1:
    (field, values), = axes
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(range(len(values)), [psnr[(v,)] for v in values], "o-")
    ax.set_xticks(range(len(values)), [str(v) for v in values])
    ax.set_xlabel(field)
    ax.set_ylabel(f"final {label} (dB)")
    ax.grid(True, alpha=0.3)
    _suptitle(fig, title)
    save_figure(fig, os.path.join(workdir, f"{metric}.png"))
  else:
    (f0, v0), (f1, v1) = axes[:2]
    rest = list(itertools.product(*[values for _, values in axes[2:]]))
    if len(rest) <= MAX_HEATMAP_PANELS:
      grids = [np.array([[psnr[(a, b) + extra] for b in v1] for a in v0], dtype=float) for extra in rest]
      finite = np.concatenate([g[np.isfinite(g)] for g in grids])
      ncol = min(len(rest), 3)
      nrow = -(-len(rest) // ncol)
      fig, axs = plt.subplots(nrow, ncol, squeeze=False,
                              figsize=(ncol * (1.2 * len(v1) + 2.5), nrow * (0.8 * len(v0) + 1.8)))
      clim = (float(finite.min()), float(finite.max())) if finite.size else None  # shared by all
      for ax, grid, extra in zip(axs.flat, grids, rest):
        panel = ", ".join(f"{f}={v}" for (f, _), v in zip(axes[2:], extra))
        im = _heatmap(ax, grid, v0, v1, f0, f1, panel, clim)
        if ax not in axs[:, 0]:
          ax.set_ylabel("")  # the rows are the same in every panel; their label stays at the left
      for ax in list(axs.flat)[len(rest):]:
        ax.axis("off")
      fig.colorbar(im, ax=axs, label=f"final {label} (dB)")
      _suptitle(fig, title)
      save_figure(fig, os.path.join(workdir, "heatmap.png"))
  fig, ax = plt.subplots(figsize=(8, 5))
  colours = plt.get_cmap("tab10" if len(results) <= 10 else "tab20")
  styles = ["-", "--", ":", "-."]  # beyond 20 points colours repeat; the line style tells them apart
  for i, r in enumerate(results):
    rows = read_jsonl(os.path.join(workdir, r["point"], "metrics.jsonl"))
    rows = [row for row in rows if row.get("step", 0) > 0]
    if rows:
      ax.plot([row["step"] for row in rows], [float(row[metric]) for row in rows], label=r["point"],
              color=colours(i % colours.N), linestyle=styles[(i // colours.N) % len(styles)])
  ax.set_xlabel("step")
  ax.set_ylabel(f"{label} (dB)")
  ax.grid(True, alpha=0.3)
  if len(results) <= 20:
    ax.legend(fontsize=7, ncol=2)
  _suptitle(fig, title)
  save_figure(fig, os.path.join(workdir, "curves.png"))
