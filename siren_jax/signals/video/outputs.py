"""What a finished video run writes, and the per-frame metrics in its summary.

The reconstruction is rendered frame by frame; each frame is scored (PSNR on [0, 1] after clipping, as
for images, and SSIM) and kept as uint8 for the animated files, so a clip's float form never exists:

* ``reconstruction.webm`` and ``original.webm``: the fit and the clip as fitted (after cutting and
  resizing), VP9 at the clip's frame rate (PyAV), which report.html plays in ``<video>`` elements
  with controls (pause, scrub, frame steps);
* ``frames.png``: original, fit and error of a few frames; ``frame_metrics.png``: PSNR and SSIM of
  every frame; ``frame_metrics.json``: those numbers;
* ``original.png``, ``reconstruction.png`` and ``error.png``: the middle frame, as an image run writes
  them (the report's zoom and split views); ``curves.png``: loss and mean PSNR during training.
"""

import os
from typing import Any, Dict, Sequence

import numpy as np

from siren_jax.engine import metrics
from siren_jax.io import outputs, plots, progress
from siren_jax.signals.image import figures
from siren_jax.signals.video import figures as video_figures, files as video_files

SSIM_WINDOW = 7  # scikit-image's default (uniform 7x7) window


def ssim(pred01: np.ndarray, ref01: np.ndarray) -> float:
  """Mean SSIM of one frame (channels averaged), ``pred01`` clipped to [0, 1] first; NaN for frames
  under 3 pixels on a side (no window fits)."""
  from skimage.metrics import structural_similarity  # pylint: disable=g-import-not-at-top  (slow)
  side = min(ref01.shape[:2])
  win = min(SSIM_WINDOW, side if side % 2 else side - 1)
  if win < 3:
    return float("nan")
  return float(structural_similarity(np.clip(pred01, 0.0, 1.0), ref01, channel_axis=-1,
                                     data_range=1.0, win_size=win))


def score_and_render(task, fit) -> tuple:
  """(per-frame PSNR, per-frame SSIM, uint8 reconstruction (T, H, W, C)), one frame at a time."""
  recon = np.empty_like(task.frames)
  psnrs, ssims = [], []
  report = progress.counter("rendering and scoring", "frames")
  for i, pred, ref in fit.frames():
    psnrs.append(metrics.psnr(pred, ref))
    ssims.append(ssim(pred, ref))
    recon[i] = outputs.to_uint8(pred).reshape(recon.shape[1:])
    report(i + 1, len(recon))
  return psnrs, ssims, recon


def frame_summary(psnrs: Sequence[float], ssims: Sequence[float]) -> Dict[str, float]:
  """The per-frame statistics summary.json holds; ``psnr`` (the headline) is the mean over frames."""
  p = np.asarray(psnrs, np.float64)
  return {"psnr": float(p.mean()), "psnr_frame_mean": float(p.mean()), "psnr_frame_std": float(p.std()),
          "psnr_frame_min": float(p.min()), "psnr_frame_max": float(p.max()),
          "ssim": float(np.nanmean(ssims)) if np.isfinite(ssims).any() else float("nan")}


def write_outputs(workdir: str, task, fit, rows: Sequence[dict], summary: Dict[str, Any]) -> Dict[str, Any]:
  """Scores ``fit`` (``video_task.VideoFit``) into ``summary`` and writes the files listed above."""
  with progress.phase(f"rendering and scoring {len(task.frames)} frames"):
    psnrs, ssims, recon = score_and_render(task, fit)
  summary.update(frame_summary(psnrs, ssims))
  path = lambda name: os.path.join(workdir, name)
  outputs.write_json(path("frame_metrics.json"),
                     [{"frame": i, "psnr": p, "ssim": s} for i, (p, s) in enumerate(zip(psnrs, ssims))])
  with progress.phase("encoding original.webm and reconstruction.webm"):
    video_files.write_clip(path("reconstruction.webm"), recon, task.fps)
    video_files.write_clip(path("original.webm"), task.frames, task.fps)
  shown = video_figures.grid_indices(len(psnrs))
  stats = (f"{summary['psnr_frame_mean']:.2f} ± {summary['psnr_frame_std']:.2f} dB, SSIM "
           f"{summary['ssim']:.3f}")
  with progress.phase("drawing frames.png and frame_metrics.png"):
    video_figures.write_frame_grid(path("frames.png"), [task.frames[i] for i in shown],
                                   [recon[i] for i in shown], shown, psnrs, len(psnrs))
    video_figures.write_frame_metrics(path("frame_metrics.png"), psnrs, ssims,
                                      f"{task.name}: {stats} after {summary['steps']} steps")
  middle = len(psnrs) // 2
  outputs.write_png(path("original.png"), task.reference01(middle))
  outputs.write_png(path("reconstruction.png"), recon[middle].astype(np.float32) / 255.0)
  figures.write_error_heatmap(path("error.png"), recon[middle].astype(np.float32) / 255.0,
                              task.reference01(middle),
                              compared=f"reconstruction − original, frame {middle + 1}")
  plots.write_curves(path("curves.png"), rows, loss_label="training loss (MSE of values)",
                       title=f"{task.name}: {stats} (mean per-frame PSNR) after {summary['steps']} steps")
  return summary
