"""``siren_jax.render`` for PDE runs (``pages.command`` hands over): the fitted field sampled on
any grid of pixel centres (``pixel_grid``) and, for the wave, at any times, written as .npz (the
numbers), .png (panels) or, for the wave, .mp4 (an animation)."""

import os
from typing import Optional, Sequence

import numpy as np

from siren_jax.engine import evaluate, sharding, trained
from siren_jax.errors import UserError
from siren_jax.io import outputs, plots
from siren_jax.signals.image import render as image_render

EXTENSIONS = {"helmholtz": (".npz", ".png"), "wave": (".npz", ".png", ".mp4"),
              "helmholtz_inverse": (".npz", ".png")}
MAX_FRAMES = 10000


def pixel_grid(height: int, width: int, window) -> np.ndarray:
  """(H*W, 2) pixel centres, (x, y) columns, rows of constant y from the window's y0 up to y1.
  ``window`` is render's (y0, y1, x0, x1)."""
  y0, y1, x0, x1 = window
  ys = y0 + (np.arange(height) + 0.5) / height * (y1 - y0)
  xs = x0 + (np.arange(width) + 0.5) / width * (x1 - x0)
  y, x = np.meshgrid(ys, xs, indexing="ij")
  return np.stack([x.reshape(-1), y.reshape(-1)], axis=-1).astype(np.float32)


def _parse_time(text: str):
  try:
    t0, t1 = (float(v) for v in str(text).split(","))
  except ValueError:
    raise UserError(f"--time must be two numbers t0,t1, got {text!r}") from None
  if not t0 < t1:
    raise UserError(f"--time={text}: need t0 < t1")
  return t0, t1


def times_from_flags(f, task: str, t_max: float) -> Optional[np.ndarray]:
  """The wave's render times (None for Helmholtz): ``--t``, or ``--frames`` (default 60) evenly over
  ``--time`` (default [0, t_max], the times the run was trained on), ends included."""
  if task != "wave":
    if f.frames or f.time or f.t is not None or f.fps:
      raise UserError(f"--frames, --time, --t and --fps are for wave runs; this is a {task} run")
    return None
  if f.t is not None:
    if f.frames or f.time:
      raise UserError("give either --t or --frames/--time, not both")
    return np.array([f.t], np.float32)
  frames = f.frames or 60
  if not 1 <= frames <= MAX_FRAMES:
    raise UserError(f"--frames must be in [1, {MAX_FRAMES}], got {frames}")
  t0, t1 = _parse_time(f.time) if f.time else (0.0, t_max)
  return np.linspace(t0, t1, frames).astype(np.float32)


def command(f, load_run) -> None:
  """Checks the flags, loads the run and writes ``f.out``."""
  from siren_jax.io import rundir  # pylint: disable=g-import-not-at-top
  task = trained.saved_task(f.workdir)
  ext = os.path.splitext(f.out)[1].lower()
  if f.rate or f.resolution:
    raise UserError("--rate and --resolution are for audio and SDF runs; a PDE run takes --size and "
                    "--window (and --frames, --time, --t for the wave)")
  if f.scale is not None:
    raise UserError("a PDE run has no training resolution: give --size=HxW instead of --scale")
  if ext not in EXTENSIONS[task]:
    raise UserError(f"--out must end in one of {EXTENSIONS[task]} for a {task} run, got {f.out!r}")
  height, width = image_render.parse_size(f.size) if f.size else (512, 512)
  window = image_render.parse_window(f.window) if f.window else image_render.FULL_WINDOW
  if f.chunk_size < 0:
    raise UserError(f"--chunk_size must be >= 0 (0 = the run's eval.chunk_size), got {f.chunk_size}")
  rundir.check_output_file(f.out, "--out")
  run = load_run(f.workdir)
  times = times_from_flags(f, task, float(run.config.pde.get("t_max", 0.0)))
  if task == "wave" and ext == ".mp4" and len(times) < 2:
    raise UserError("an animation needs --frames >= 2")
  grid = pixel_grid(height, width, window)
  values = evaluate.make_renderer(run.model.apply, sharding.make_mesh(),
                                  f.chunk_size or int(run.config.eval.chunk_size),
                                  sharding.resolve_microbatch(run.config.train.microbatch))
  if task == "helmholtz_inverse":
    _write_inverse(f.out, values(run.params, grid), grid, window, run.config.pde, (height, width))
  elif task == "helmholtz":
    v = values(run.params, grid)
    field = (v[:, 0] + 1j * v[:, 1]).reshape(height, width)
    _write_helmholtz(f.out, field, grid, window)
  else:
    frames = np.stack([values(run.params, np.concatenate(
        [np.full((len(grid), 1), t, np.float32), grid], axis=1))[:, 0].reshape(height, width)
                       for t in times])
    _write_wave(f.out, frames, times, grid, f.fps or 15.0)


def _write_helmholtz(path: str, field: np.ndarray, grid: np.ndarray, window) -> None:
  if path.lower().endswith(".npz"):
    with outputs.atomic_path(path) as tmp, open(tmp, "wb") as fh:
      np.savez_compressed(fh, field=field.astype(np.complex64), coords=grid)
    return
  lim = float(np.max(np.abs(field))) or 1.0
  _save_panels(path, window, [("real", field.real, "RdBu_r", -lim, lim),
                              ("imaginary", field.imag, "RdBu_r", -lim, lim),
                              ("magnitude", np.abs(field), "magma", 0.0, lim)])


def _save_panels(path: str, window, panels) -> None:
  """One row of labelled maps over ``window`` (y0, y1, x0, x1), each (title, image, colour map, vmin,
  vmax; None for the image's own range) with its colour bar."""
  plt = plots.pyplot()
  y0, y1, x0, x1 = window
  fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.6))
  for ax, (name, img, cmap, lo, hi) in zip(np.atleast_1d(axes), panels):
    im = ax.imshow(img, cmap=cmap, vmin=lo, vmax=hi, origin="lower", extent=(x0, x1, y0, y1))
    ax.set_title(name)
    ax.set_xlabel("x")
    ax.set_ylabel("y")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
  fig.tight_layout()
  plots.save_figure(fig, path)


def _write_inverse(path: str, values: np.ndarray, grid: np.ndarray, window, p, shape) -> None:
  """The recovered velocity and every source's field (``inverse_task``'s reading of the outputs)."""
  from siren_jax.signals.pde.inverse import task as inverse_task  # pylint: disable=g-import-not-at-top
  s = int(p.num_sources)
  velocity = inverse_task.velocity_of(grid, values, s, float(p.fixed_beyond)).reshape(shape)
  fields = np.moveaxis(inverse_task.fields_of(values, s), -1, 0).reshape((s,) + tuple(shape))
  if path.lower().endswith(".npz"):
    with outputs.atomic_path(path) as tmp, open(tmp, "wb") as fh:
      np.savez_compressed(fh, velocity=velocity.astype(np.float32), fields=fields.astype(np.complex64),
                          coords=grid)
    return
  lim = float(np.max(np.abs(fields[0]))) or 1.0
  _save_panels(path, window, [("recovered velocity", velocity, "viridis", None, None),
                              ("source 0: real part", fields[0].real, "RdBu_r", -lim, lim)])


def _write_wave(path: str, frames: np.ndarray, times: Sequence[float], grid: np.ndarray,
                fps: float) -> None:
  ext = os.path.splitext(path)[1].lower()
  if ext == ".npz":
    with outputs.atomic_path(path) as tmp, open(tmp, "wb") as fh:
      np.savez_compressed(fh, field=frames.astype(np.float32), times=np.asarray(times), coords=grid)
    return
  from siren_jax.signals.pde.wave import outputs as wave_outputs  # pylint: disable=g-import-not-at-top
  if ext == ".png":
    wave_outputs.write_frame_grid(path, list(frames), None, list(times), "fitted wave")
  else:
    wave_outputs.write_animation(path, frames, None, times, fps)
