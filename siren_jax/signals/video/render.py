"""Rendering a trained video run (``python -m siren_jax.render`` dispatches here for task=video runs):
any frame count over any time range (more frames than the clip had is slow motion), any size and
spatial window, or a single frame at any time.

    python -m siren_jax.render --workdir=runs/video --out=slow.gif --frames=192
    python -m siren_jax.render --workdir=runs/video --out=big.mp4 --scale=4 --time=-0.5,0.5
    python -m siren_jax.render --workdir=runs/video --out=still.png --t=0.1 --size=512x512
    python -m siren_jax.render --workdir=runs/video --out=frames/ --frames=96

Times are the training coordinate t in [-1, 1] (frame i of T at (2 i + 1) / T - 1). ``--frames=N`` over
``--time=t0,t1`` (default the whole clip, -1,1) samples N equal slots of the range at their centres, so
N = T over the whole clip reproduces the training frames. Frames are produced one at a time (each
evaluated in ``eval.chunk_size`` pieces): video files and PNG frames stream, WebP and GIF hold the uint8
frames (``video_files``).
"""

import json
import math
import os
from typing import Iterator, Tuple

import numpy as np
from absl import logging

from siren_jax.engine import evaluate, sharding
from siren_jax.engine.trained import load_run, TrainedRun
from siren_jax.errors import UserError
from siren_jax.io import outputs, rundir
from siren_jax.signals.image import data, render as image_render
from siren_jax.signals.video import files as video_files, task as video_task

MAX_FRAMES = 100000  # refuses typos like --frames=1e9 before they start a days-long render


def parse_time(text: str) -> Tuple[float, float]:
  parts = str(text).split(",")
  try:
    t0, t1 = (float(p) for p in parts)
  except ValueError:
    raise UserError(f"--time must be two numbers t0,t1 in [-1, 1], got {text!r}") from None
  if not (-1.0 <= t0 < t1 <= 1.0):
    raise UserError(f"--time={text}: need -1 <= t0 < t1 <= 1")
  return t0, t1


def frame_times(num_frames: int, time_range=(-1.0, 1.0)) -> np.ndarray:
  """Centres of ``num_frames`` equal slots of ``time_range`` (the training frames' rule)."""
  t0, t1 = time_range
  return (t0 + (data.pixel_centres(num_frames).astype(np.float64) + 1.0) * 0.5 * (t1 - t0))


def iter_frames(run: TrainedRun, times, height: int, width: int, window=image_render.FULL_WINDOW,
                chunk_size: int = 0) -> Iterator[np.ndarray]:
  """uint8 (H, W, C) frames of the run at each time in ``times`` (training coordinates in [-1, 1])."""
  scale = np.float32(video_task.time_scale(run.config.model))
  microbatch = sharding.resolve_microbatch(int(run.config.train.get("microbatch", -1)))
  chunk = chunk_size or int(run.config.eval.chunk_size)
  values = evaluate.make_renderer(run.model.apply, sharding.make_mesh(), min(chunk, height * width),
                                  microbatch)
  from siren_jax.signals.video import clips as video  # pylint: disable=g-import-not-at-top
  for t in times:
    coords = video.frame_coords(np.float32(t) * scale, height, width, window)
    yield outputs.to_uint8(data.to_unit(values(run.params, coords).reshape(height, width, -1)))


def _clip_summary(workdir: str) -> dict:
  path = os.path.join(workdir, "summary.json")
  if not os.path.exists(path):
    raise UserError(f"{workdir} has no summary.json yet: give --frames, --fps and --size")
  with open(path) as f:
    return json.load(f)


def command(f) -> None:
  """The render command for a video run (``f``: the parsed flags of ``siren_jax.render``)."""
  if f.scale is not None and f.size:
    raise UserError("give either --scale or --size, not both")
  window = image_render.parse_window(f.window) if f.window else image_render.FULL_WINDOW
  single = f.t is not None
  if single and not (math.isfinite(f.t) and -1.0 <= f.t <= 1.0):
    raise UserError(f"--t must be in [-1, 1], got {f.t}")
  if single and not f.out.lower().endswith(".png"):
    raise UserError(f"--t renders one frame: --out must be a .png path, got {f.out!r}")
  if single and (f.frames or f.time):
    raise UserError("--t renders one frame: leave out --frames and --time")
  if not single:
    video_files.check_path(f.out)
  if not (0 <= f.frames <= MAX_FRAMES):
    raise UserError(f"--frames must be in [0, {MAX_FRAMES}] (0 = the clip's count), got {f.frames}")
  lo, hi = video_files.FPS_RANGE
  if not (f.fps == 0 or lo <= f.fps <= hi):
    raise UserError(f"--fps must be 0 (the clip's) or in [{lo:g}, {hi:g}], got {f.fps}")
  if f.chunk_size < 0:
    raise UserError(f"--chunk_size must be >= 0 (0 = the run's eval.chunk_size), got {f.chunk_size}")
  time_range = parse_time(f.time) if f.time else (-1.0, 1.0)
  if not video_files.is_frame_directory(f.out):
    rundir.check_output_file(f.out, "--out")
  run = load_run(f.workdir)
  summary = {} if (f.size and f.frames and f.fps) else _clip_summary(f.workdir)
  height, width = (image_render.parse_size(f.size) if f.size
                   else image_render.scaled_size(run, 1.0 if f.scale is None else f.scale, window))
  if single:
    frame = next(iter_frames(run, [f.t], height, width, window, f.chunk_size))
    outputs.write_png(f.out, frame.astype(np.float32) / 255.0)
    logging.info("Rendered t=%g of %s (step %d) at %dx%d to %s", f.t, f.workdir, run.step, height,
                 width, f.out)
    return
  count = f.frames or int(summary["frames"])
  fps = f.fps or float(summary.get("fps", 24.0))
  logging.info("Rendering %d frames over t in [%g, %g] of %s (step %d) at %dx%d (HxW), %g fps, to %s",
               count, *time_range, f.workdir, run.step, height, width, fps, f.out)
  written = video_files.write_clip(f.out, iter_frames(run, frame_times(count, time_range), height,
                                                      width, window, f.chunk_size), fps)
  logging.info("Wrote %d frames to %s", written, f.out)
