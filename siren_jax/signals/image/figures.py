"""The figures a run or sweep writes (PNG, through matplotlib's Agg backend), each saved atomically
with ``outputs.atomic_path``: error heatmaps, loss and PSNR curves, derivative and blend panels, sweep
heatmaps and curves."""

import itertools
import math
import os
import textwrap
from typing import List, Optional, Sequence

import numpy as np

from siren_jax.io.outputs import atomic_path, read_jsonl


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
  """|pred - target| (mean over channels, in [0, 1] units) as a heatmap with a labelled colour bar. The
  default title names the two images (``compared``) on one line; the statistics go under the map, so
  nothing wraps however narrow the image. With a (H, W) boolean ``mask`` (a Poisson blend's region,
  where pred is meant to differ from target) the mask is outlined and the mean is taken outside it."""
  plt = _pyplot()
  err = np.abs(np.clip(pred, 0, 1) - target).mean(axis=-1)
  h, w = err.shape
  scale = 6.0 / max(h, w)
  fig, ax = plt.subplots(figsize=(max(w * scale, 4.0) + 1.5, h * scale + 0.9))
  vmax = max(float(np.percentile(err, 99.5)), 1e-6)  # a few outliers must not wash out the map
  im = ax.imshow(err, cmap="inferno", vmin=0.0, vmax=vmax, interpolation="nearest")
  ax.set_axis_off()
  if mask is not None:
    ax.contour(mask.astype(float), levels=[0.5], colors="cyan", linewidths=1)
    mean = f"mean outside the mask {err[~mask].mean():.2e}" if (~mask).any() else "mean –"
  else:
    mean = f"mean {err.mean():.2e}"
  ax.set_title(title or f"|{compared}|", fontsize=10)
  ax.text(0.5, -0.02, f"{mean}, max {err.max():.2e}; colours clip at the 99.5th percentile",
          transform=ax.transAxes, ha="center", va="top", fontsize=8)
  bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
  bar.set_label("absolute error (values in [0, 1], mean over channels)", fontsize=8)
  save_figure(fig, path)


def plain_log_ticks(axis) -> None:
  """Tick labels of a log-scaled ``axis`` (ax.yaxis, ax.xaxis) as plain numbers (13.5, 0.002, 1e-05)
  rather than matplotlib's mathtext (1.35×10¹). Ticks between decades are labelled only when the
  axis spans less than a decade, where there may be no decade tick at all."""
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top

  def minor(value, pos):
    low, high = sorted(axis.get_view_interval())
    return f"{value:.3g}" if low > 0 and high < 10 * low else ""

  axis.set_major_formatter(ticker.FuncFormatter(lambda value, pos: f"{value:.3g}"))
  axis.set_minor_formatter(ticker.FuncFormatter(minor))


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
      plain_log_ticks(axes[0, col].yaxis)
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


def write_derivative_panel(path: str, image01, fit01, grad_ref, grad_mag, lap_ref, lap_fit,
                           gradient_name: str = "sobel", laplacian_name: str = "5point",
                           top_titles: Optional[Sequence[str]] = None, title: str = "",
                           note: str = "") -> None:
  """2x3 panel: image / gradient magnitude / Laplacian, ground truth (top) vs the fit (bottom).
  Derivatives are per unit of the [-1, 1] coordinate, of values on the [-1, 1] scale (the units the
  network is trained in); both rows share each column's colour scale. ``top_titles`` (three) replace
  the top row's titles when it shows something other than the image and its derivatives (a Poisson
  blend's composite gradient field). ``title`` heads the figure; ``note`` (a line under it) says what
  was not supervised, so that a values-only fit's noisy Laplacian is not read as a failure."""
  plt = _pyplot()
  h, w = np.asarray(image01).shape[:2]
  scale = 3.2 / max(h, w)
  fig, axes = plt.subplots(2, 3, figsize=(3 * w * scale + 2.4, 2 * h * scale + 1.0))
  gmax = max(float(np.percentile(grad_ref, 99.5)), 1e-6)
  lmax = max(float(np.percentile(np.abs(lap_ref), 99.0)), 1e-6)
  for row, (img, g, lap, label) in enumerate([(image01, grad_ref, lap_ref, "image"),
                                              (fit01, grad_mag, lap_fit, "fit")]):
    titles = ([label, f"{label} |gradient| ({gradient_name})", f"{label} Laplacian ({laplacian_name})"]
              if row == 0 else ["fit", "fit |gradient|", "fit Laplacian"])
    if row == 0 and top_titles:
      titles = list(top_titles)
    _show(axes[row, 0], img, titles[0])
    gi = _show(axes[row, 1], np.asarray(g).mean(-1), titles[1], cmap="magma", vmin=0.0, vmax=gmax)
    li = _show(axes[row, 2], np.asarray(lap).mean(-1), titles[2], cmap="RdBu_r", vmin=-lmax, vmax=lmax)
    fig.colorbar(gi, ax=axes[row, 1], fraction=0.046, pad=0.04).set_label("|∇f| per unit coordinate",
                                                                         fontsize=7)
    fig.colorbar(li, ax=axes[row, 2], fraction=0.046, pad=0.04).set_label("Δf per unit coordinate²",
                                                                         fontsize=7)
  fig.tight_layout()
  heading = title or "image, gradient magnitude and Laplacian: target (top), network (bottom)"
  lines = [heading, "values on [-1, 1], derivatives per unit of the [-1, 1] coordinate; colours clip "
                    "at the 99.5th (|gradient|) and 99th (|Laplacian|) percentiles of the target"]
  fig.suptitle("\n".join(lines + ([note] if note else [])), fontsize=8, y=1.0, va="bottom")
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


def _heatmap(ax, grid, rows, cols, row_field, col_field, title="", clim=None, marks=()):
  """PSNR grid with every cell's value written in it (diverged cells say so, and the (row, col) cells
  in ``marks``, points that did not learn, are hatched and say so). ``clim`` (low, high) fixes the
  colour scale, so several panels can share one; by default it spans this grid."""
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
      if (i, j) in marks:
        text += f"\n{NOT_LEARNED}"
        ax.add_patch(_pyplot().Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="//",
                                         edgecolor="red", linewidth=0))
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


NOT_LEARNED = "not learned"  # a sweep point's status when it ended near its step-0 headline


def numeric_axis(values) -> Optional[str]:
  """How to space swept values on an x axis: "log" (positive numbers spanning a factor of 4 or more:
  omega_0 10, 30, 90; learning rates), "linear" (other numbers), or None (categories: names, bools)."""
  if not values or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
    return None
  if min(values) > 0 and max(values) >= 4 * min(values):
    return "log"
  return "linear"


def _one_axis_plot(path: str, field: str, values, headline: dict, stuck: set, label: str,
                   title: str) -> None:
  """The final headline against the one swept field, its values placed by number (on a log axis when
  they span a wide range) and labelled as given; points that did not learn drawn as red crosses."""
  plt = _pyplot()
  fig, ax = plt.subplots(figsize=(6, 4))
  scale = numeric_axis(values)
  xs = list(values) if scale else list(range(len(values)))
  ax.plot(xs, [headline[(v,)] for v in values], "o-")
  bad = [(x, headline[(v,)]) for x, v in zip(xs, values) if (v,) in stuck]
  if bad:
    ax.plot(*zip(*bad), "x", color="red", markersize=10, mew=2, label=NOT_LEARNED)
    ax.legend(fontsize=8)
  if scale == "log":
    ax.set_xscale("log")
    ax.xaxis.set_minor_formatter(_plain_formatter(""))
  ax.set_xticks(xs, [str(v) for v in values])
  ax.set_xlabel(field + (" (log scale)" if scale == "log" else ""))
  ax.set_ylabel(f"final {label}")
  ax.grid(True, alpha=0.3)
  _suptitle(fig, title)
  save_figure(fig, path)


def _plain_formatter(text: str):
  from matplotlib import ticker  # pylint: disable=g-import-not-at-top
  return ticker.FuncFormatter(lambda value, pos: text)


def write_sweep_plots(workdir: str, axes, results, title: str = "", metric: str = "psnr",
                      label: str = "PSNR (dB)") -> None:
  """psnr.png (one swept axis) or heatmap.png (the first two axes; with more, one panel per combination
  of the others, up to MAX_HEATMAP_PANELS), and curves.png: every point's PSNR vs step, from step 0.
  ``title`` (what the points share: image, steps, recipe) heads each figure. ``metric`` is the
  results' and rows' key of the headline (and the name of its one-axis plot), ``label`` its name on
  the axes. Points that did not learn (status ``NOT_LEARNED``) are marked in each figure."""
  plt = _pyplot()
  fields = [f for f, _ in axes]
  psnr = {tuple(r[f] for f in fields): (r[metric] if r["status"] in ("done", NOT_LEARNED)
                                        else float("nan")) for r in results}
  stuck = {tuple(r[f] for f in fields) for r in results if r["status"] == NOT_LEARNED}
  if len(axes) == 1:
    (field, values), = axes
    _one_axis_plot(os.path.join(workdir, f"{metric}.png"), field, values, psnr, stuck, label, title)
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
        marks = {(i, j) for i, a in enumerate(v0) for j, b in enumerate(v1) if (a, b) + extra in stuck}
        im = _heatmap(ax, grid, v0, v1, f0, f1, panel, clim, marks)
        if ax not in axs[:, 0]:
          ax.set_ylabel("")  # the rows are the same in every panel; their label stays at the left
      for ax in list(axs.flat)[len(rest):]:
        ax.axis("off")
      fig.colorbar(im, ax=axs, label=f"final {label}")
      _suptitle(fig, title)
      save_figure(fig, os.path.join(workdir, "heatmap.png"))
  fig, ax = plt.subplots(figsize=(8, 5))
  colours = plt.get_cmap("tab10" if len(results) <= 10 else "tab20")
  styles = ["-", "--", ":", "-."]  # beyond 20 points colours repeat; the line style tells them apart
  for i, r in enumerate(results):
    rows = read_jsonl(os.path.join(workdir, r["point"], "metrics.jsonl"))
    rows = [row for row in rows if "step" in row and _finite(row.get(metric))]
    if rows:
      name = r["point"] + (f" ({NOT_LEARNED})" if r["status"] == NOT_LEARNED else "")
      ax.plot([row["step"] for row in rows], [float(row[metric]) for row in rows], label=name,
              color=colours(i % colours.N), linestyle=styles[(i // colours.N) % len(styles)])
  ax.set_xlabel("step")
  ax.set_ylabel(label)
  ax.grid(True, alpha=0.3)
  if len(results) <= 20:
    ax.legend(fontsize=7, ncol=2)
  _suptitle(fig, title)
  save_figure(fig, os.path.join(workdir, "curves.png"))
