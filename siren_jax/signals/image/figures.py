"""An image run's figures (PNG, ``siren_jax.io.plots``): error heatmaps, and the derivative and blend
panels of Poisson runs."""

from typing import Optional, Sequence

import numpy as np

from siren_jax.io import plots


def write_error_heatmap(path: str, pred: np.ndarray, target: np.ndarray, title: str = "",
                        compared: str = "reconstruction − original",
                        mask: Optional[np.ndarray] = None) -> None:
  """|pred - target| (mean over channels, in [0, 1] units) as a heatmap with a labelled colour bar. The
  default title names the two images (``compared``) on one line; the statistics go under the map, so
  nothing wraps however narrow the image. With a (H, W) boolean ``mask`` (a Poisson blend's region,
  where pred is meant to differ from target) the mask is outlined and the mean is taken outside it."""
  plt = plots.pyplot()
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
  plots.save_figure(fig, path)


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
  plt = plots.pyplot()
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
  plots.save_figure(fig, path)


def write_blend_panel(path: str, blend: dict, result01) -> None:
  """Poisson blending: background, source with the mask outline, naive paste, SIREN blend."""
  plt = plots.pyplot()
  h, w = blend["mask"].shape
  scale = 3.2 / max(h, w)
  fig, axes = plt.subplots(1, 4, figsize=(4 * w * scale + 0.8, h * scale + 0.7))
  _show(axes[0], blend["background"], "background")
  _show(axes[1], blend["source"], "source (mask outlined)")
  axes[1].contour(blend["mask"].astype(float), levels=[0.5], colors="yellow", linewidths=1)
  _show(axes[2], blend["naive"], "copy-paste")
  _show(axes[3], result01, "SIREN fit to blended gradients")
  fig.tight_layout()
  plots.save_figure(fig, path)
