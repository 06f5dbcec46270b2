"""A video run's figures (matplotlib Agg, saved atomically through ``plots.save_figure``): the frame
grid (original, fit and error of a few frames) and per-frame PSNR and SSIM."""

from typing import Sequence

import numpy as np

from siren_jax.io import plots

GRID_FRAMES = 4


def grid_indices(num_frames: int, count: int = GRID_FRAMES) -> list:
  """``count`` frames spread evenly from the first to the last (all of them when there are fewer)."""
  return sorted(set(np.linspace(0, num_frames - 1, min(count, num_frames)).round().astype(int).tolist()))


def write_frame_grid(path: str, originals: Sequence[np.ndarray], fits: Sequence[np.ndarray],
                     indices: Sequence[int], psnrs: Sequence[float], num_frames: int) -> None:
  """Rows original / fit / |fit - original| (mean over channels, one colour scale for all frames);
  one column per frame of ``indices``. Frames are uint8 (H, W, 3)."""
  plt = plots.pyplot()  # pylint: disable=protected-access  (the project's one Agg set-up)
  h, w = originals[0].shape[:2]
  k = len(indices)
  scale = 2.4 / max(h, w)
  fig, axes = plt.subplots(3, k, figsize=(k * w * scale + 1.2, 3 * h * scale + 1.0), squeeze=False)
  errors = [np.abs(f.astype(np.float32) - o.astype(np.float32)).mean(-1) / 255.0
            for o, f in zip(originals, fits)]
  vmax = max(max(float(np.percentile(e, 99.5)) for e in errors), 1e-6)
  for col, i in enumerate(indices):
    axes[0, col].imshow(originals[col], interpolation="nearest")
    axes[0, col].set_title(f"frame {i + 1}/{num_frames}", fontsize=9)
    axes[1, col].imshow(fits[col], interpolation="nearest")
    axes[1, col].set_title(f"fit: {psnrs[i]:.2f} dB", fontsize=9)
    im = axes[2, col].imshow(errors[col], cmap="inferno", vmin=0.0, vmax=vmax, interpolation="nearest")
    axes[2, col].set_title(f"|error| mean {errors[col].mean():.1e}", fontsize=9)
  for ax in axes.ravel():
    ax.set_axis_off()
  for row, label in enumerate(("original", "fit", "|fit − original|")):
    axes[row, 0].text(-0.06, 0.5, label, transform=axes[row, 0].transAxes, rotation=90,
                      ha="right", va="center", fontsize=9)
  fig.colorbar(im, ax=list(axes[2]), fraction=0.03, pad=0.02)
  plots.save_figure(fig, path)


def write_frame_metrics(path: str, psnrs: Sequence[float], ssims: Sequence[float], title: str) -> None:
  """PSNR (with its mean and ± 1 standard deviation) and SSIM of every frame."""
  plt = plots.pyplot()  # pylint: disable=protected-access
  frames = np.arange(1, len(psnrs) + 1)
  mean, std = float(np.mean(psnrs)), float(np.std(psnrs))
  fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5.2), sharex=True)
  top.plot(frames, psnrs, marker="." if len(psnrs) <= 60 else None, label="PSNR of the frame")
  top.axhline(mean, color="k", lw=1, label=f"mean {mean:.2f} dB")
  top.axhspan(mean - std, mean + std, color="k", alpha=0.1, label=f"± std {std:.2f} dB")
  top.set_ylabel("PSNR (dB)")
  top.legend(fontsize=8, loc="best")
  bottom.plot(frames, ssims, color="tab:green", marker="." if len(ssims) <= 60 else None)
  bottom.set_ylabel("SSIM")
  bottom.set_xlabel("frame")
  for ax in (top, bottom):
    ax.grid(True, alpha=0.3)
  fig.suptitle(title)
  fig.tight_layout()
  plots.save_figure(fig, path)
