"""A wave run's outputs: frames.png (fit, reference and error at a few times), errors.png (rel_l2 at
every evaluated time), wave.mp4 (the three side by side over time, H.264 through PyAV), wave.npz (the
fitted and reference frames), curves.png and summary.json."""

import os
from typing import Any, Dict, Optional, Sequence

import numpy as np

from siren_jax.io import outputs, plots
from siren_jax.signals.pde.helmholtz.outputs import extent
from siren_jax.signals.video import files as video_files

GRID_FRAMES = 5
ANIMATION_SIDE = 256  # pixels of each panel of the animation (nearest-neighbour scaled)


def _indices(num: int, count: int = GRID_FRAMES):
  return sorted(set(np.linspace(0, num - 1, min(count, num)).round().astype(int).tolist()))


def _limit(frames) -> float:
  """The colour scale's limit: the largest |u| after the first frame (the released pulse spreads, and
  the t = 0 peak, clipped, would wash out every later frame)."""
  later = frames[1:] if len(frames) > 1 else frames
  return float(max(np.max(np.abs(f)) for f in later)) or 1.0


def write_frame_grid(path: str, fits: Sequence[np.ndarray], refs: Optional[Sequence[np.ndarray]],
                     times: Sequence[float], title: str) -> None:
  """Rows fit, reference and |fit - reference| (without references: the fit alone) at up to
  ``GRID_FRAMES`` of the times; one colour scale for all frames (``_limit``)."""
  plt = plots.pyplot()
  cols = _indices(len(fits))
  rows = 3 if refs is not None else 1
  fig, axes = plt.subplots(rows, len(cols), figsize=(2.6 * len(cols) + 1, 2.6 * rows + 0.8),
                           squeeze=False)
  lim = _limit(refs if refs is not None else fits)
  ext = extent(fits[0].shape[0])
  err_max = (max(float(np.max(np.abs(fits[i] - refs[i]))) for i in cols) if refs is not None else 0)
  for j, i in enumerate(cols):
    panels = [(fits[i], "RdBu_r", -lim, lim, f"fit, t = {times[i]:.3f}")]
    if refs is not None:
      panels += [(refs[i], "RdBu_r", -lim, lim, "reference"),
                 (np.abs(fits[i] - refs[i]), "inferno", 0.0, max(err_max, 1e-12), "|fit − reference|")]
    for row, (img, cmap, lo, hi, label) in enumerate(panels):
      im = axes[row, j].imshow(img, cmap=cmap, vmin=lo, vmax=hi, origin="lower", extent=ext,
                               interpolation="nearest")
      axes[row, j].set_title(label, fontsize=9)
      axes[row, j].set_axis_off()
      if j == len(cols) - 1:
        fig.colorbar(im, ax=axes[row, j], fraction=0.046, pad=0.03)
  fig.suptitle(title, fontsize=10)
  fig.tight_layout()
  plots.save_figure(fig, path)


def write_error_curve(path: str, times: Sequence[float], errors: Sequence[float], title: str) -> None:
  plt = plots.pyplot()
  fig, ax = plt.subplots(figsize=(7, 3.6))
  ax.plot(times, errors, marker=".")
  ax.set_xlabel("t")
  ax.set_ylabel("relative L2 error")
  ax.grid(True, alpha=0.3)
  ax.set_title(title, fontsize=10)
  fig.tight_layout()
  plots.save_figure(fig, path)


def _rgb(img: np.ndarray, cmap: str, lo: float, hi: float) -> np.ndarray:
  """uint8 (S, S, 3) of a field through a colormap, flipped so y points up, scaled to ANIMATION_SIDE."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  norm = np.clip((np.asarray(img, np.float64) - lo) / max(hi - lo, 1e-30), 0.0, 1.0)[::-1]
  n = norm.shape[0]
  idx = (np.arange(ANIMATION_SIDE) * n // ANIMATION_SIDE)
  norm = norm[idx][:, idx]
  return (matplotlib.colormaps[cmap](norm)[..., :3] * 255).astype(np.uint8)


def write_animation(path: str, fits: np.ndarray, refs: Optional[np.ndarray], times, fps: float) -> int:
  """fit | reference | |error| (or the fit alone) per frame, as a video (``video_files.write_clip``)."""
  lim = _limit(refs if refs is not None else fits)
  err_max = float(np.max(np.abs(fits - refs))) if refs is not None else 0.0
  gap = np.full((ANIMATION_SIDE, 4, 3), 255, np.uint8)

  def frames():
    for i in range(len(times)):
      parts = [_rgb(fits[i], "RdBu_r", -lim, lim)]
      if refs is not None:
        parts += [gap, _rgb(refs[i], "RdBu_r", -lim, lim), gap,
                  _rgb(np.abs(fits[i] - refs[i]), "inferno", 0.0, max(err_max, 1e-12))]
      yield np.concatenate(parts, axis=1)

  return video_files.write_clip(path, frames(), fps)


def write_all(workdir: str, task, frames: np.ndarray, rows: Sequence[dict],
              summary: Dict[str, Any]) -> Dict[str, Any]:
  path = lambda name: os.path.join(workdir, name)
  title = (f"wave equation, {task.velocity} medium: rel_l2 {summary['rel_l2']:.3g} against finite "
           f"differences after {summary.get('steps', '?')} steps")
  write_frame_grid(path("frames.png"), list(frames), list(task.reference), list(task.times), title)
  write_error_curve(path("errors.png"), task.times, summary["rel_l2_per_time"], title)
  write_animation(path("wave.mp4"), frames, task.reference, task.times, fps=8.0)
  with outputs.atomic_path(path("wave.npz")) as tmp, open(tmp, "wb") as f:
    np.savez_compressed(f, field=frames.astype(np.float32), reference=task.reference.astype(np.float32),
                        times=task.times)
  plots.write_curves(path("curves.png"), rows, title=title, loss_label="loss (mean L1 terms)",
                       metric="rel_l2", metric_label="relative L2 error")
  return summary
