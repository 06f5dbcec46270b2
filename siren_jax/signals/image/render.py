"""Rendering an image run (the image signal's ``render`` hook): a trained network at any resolution or
over any crop of its [-1, 1] square.

    python -m siren_jax.render --workdir=runs/camera --scale=4 --out=camera_x4.png
    python -m siren_jax.render --workdir=runs/camera --size=2048x2048 --window=-0.5,0,-0.5,0 --out=zoom.png
    python -m siren_jax.render --workdir=runs/audio --out=fit.wav [--rate=48000]  (audio runs)
    python -m siren_jax.render --workdir=runs/sdf_csg --resolution=512 --out=mesh512.ply  (SDF runs)

Video runs (task=video) render clips, slow motion and single frames: see ``siren_jax.signals.video.render``.

A fitted SIREN is a continuous function of (y, x), so it can be sampled on any grid. The grid follows the
training convention (``siren_jax/signals/image/data.py``): each axis of the image spans [-1, 1] and pixels are sampled
at their centres. ``--window=y0,y1,x0,x1`` (default the full square ``-1,1,-1,1``) picks the region and
``--size=HxW`` the output pixels over it; ``--scale=s`` instead asks for ``s`` times the training
resolution over the window (the window's share of the training height and width, times ``s``). With that
convention a window whose edges fall on pixel boundaries of a larger render reproduces the corresponding
crop of it, and rendering at the training size reproduces ``reconstruction.png`` for values-supervised
runs. The network's raw output is rendered: runs supervised by gradients or Laplacians alone determine
the image only up to a constant (or harmonic) offset, which ``reconstruction.png`` removes against the
reference image and a render does not.

Memory stays bounded whatever the output size: the output is produced in blocks of rows (each block's
coordinates generated on the fly and evaluated by ``evaluate.make_renderer`` in fixed-size chunks), so the
full coordinate array (8 bytes a pixel) and the float output (4 bytes a pixel and channel) never exist.
``render_workdir`` fills a preallocated uint8 array (the only full-size allocation); the command line
goes one step further and streams the blocks straight into the PNG (``write_png_rows``), so a render's
peak memory does not grow with its size at all.
"""
import math
import struct
import time
import zlib
from typing import Callable, Iterator, Optional, Sequence, Tuple

import numpy as np
from absl import logging

from siren_jax.engine import evaluate, sharding
from siren_jax.engine.trained import load_run, TrainedRun
from siren_jax.errors import UserError
from siren_jax.io import outputs, rundir
from siren_jax.signals.image import data

FULL_WINDOW = (-1.0, 1.0, -1.0, 1.0)
MAX_SIDE = 65536  # refuses typos like --scale=1000 before they start an hours-long render
BLOCK_PIXELS = 1 << 20  # pixels per block of rows: ~8 MB of coordinates, ~12 MB of RGB floats


def parse_window(text: str) -> Tuple[float, float, float, float]:
  """'y0,y1,x0,x1' -> floats, each in [-1, 1] with y0 < y1 and x0 < x1."""
  parts = [p.strip() for p in str(text).split(",")]
  try:
    window = tuple(float(p) for p in parts)
  except ValueError:
    raise UserError(f"--window must be four numbers y0,y1,x0,x1, got {text!r}") from None
  return check_window(window)


def check_window(window: Sequence[float]) -> Tuple[float, float, float, float]:
  if len(window) != 4 or not all(math.isfinite(v) for v in window):
    raise UserError(f"window must be four finite numbers y0,y1,x0,x1, got {tuple(window)}")
  y0, y1, x0, x1 = (float(v) for v in window)
  if not (-1.0 <= y0 < y1 <= 1.0 and -1.0 <= x0 < x1 <= 1.0):
    raise UserError(f"window y0,y1,x0,x1 = {y0:g},{y1:g},{x0:g},{x1:g} must satisfy -1 <= y0 < y1 <= 1 "
                    f"and -1 <= x0 < x1 <= 1 (the image spans [-1, 1] on both axes)")
  return y0, y1, x0, x1


def parse_size(text: str) -> Tuple[int, int]:
  """'HxW' (or a single N for N x N) -> (H, W)."""
  parts = str(text).lower().replace("*", "x").split("x")
  try:
    dims = [int(p) for p in parts]
  except ValueError:
    raise UserError(f"--size must be HxW in pixels (e.g. 1024x768), got {text!r}") from None
  if len(dims) == 1:
    dims = dims * 2
  if len(dims) != 2:
    raise UserError(f"--size must be HxW in pixels (e.g. 1024x768), got {text!r}")
  return check_size(*dims)


def check_size(height: int, width: int) -> Tuple[int, int]:
  if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
    raise UserError(f"output size {height}x{width} (HxW) must be between 1 and {MAX_SIDE} pixels on "
                    f"each side")
  return int(height), int(width)


def scaled_size(run: TrainedRun, scale: float, window=FULL_WINDOW) -> Tuple[int, int]:
  """``scale`` times the training resolution over ``window``."""
  if not (math.isfinite(scale) and scale > 0):
    raise UserError(f"--scale must be a positive number, got {scale}")
  if not (run.height and run.width):
    raise UserError(f"{run.workdir} has no summary.json yet (the run has not finished), so its training "
                    f"size is unknown: give --size=HxW instead of --scale")
  y0, y1, x0, x1 = check_window(window)
  return check_size(max(1, round(scale * run.height * (y1 - y0) / 2)),
                    max(1, round(scale * run.width * (x1 - x0) / 2)))


def _block_rows(width: int) -> int:
  return max(1, BLOCK_PIXELS // width)


def iter_blocks(run: TrainedRun, height: int, width: int, window=FULL_WINDOW,
                chunk_size: int = 0) -> Iterator[Tuple[int, np.ndarray]]:
  """Yields ``(first_row, uint8 rows)`` blocks of the render, top to bottom; a block is (rows, W) for
  one channel, (rows, W, C) otherwise. ``chunk_size`` (pixels per forward pass) defaults to the run's
  ``eval.chunk_size``."""
  height, width = check_size(height, width)
  y0, y1, x0, x1 = check_window(window)
  rows = min(_block_rows(width), height)
  chunk = chunk_size or int(run.config.eval.chunk_size)
  # Split a full block into equal chunks: no padded pixels are evaluated except in the last block.
  pieces = -(-rows * width // chunk)
  chunk = -(-rows * width // pieces)
  microbatch = sharding.resolve_microbatch(int(run.config.train.get("microbatch", -1)))
  render = evaluate.make_renderer(run.model.apply, sharding.make_mesh(), chunk, microbatch)
  ys = y0 + (data.pixel_centres(height) + 1.0) * 0.5 * (y1 - y0)
  xs = x0 + (data.pixel_centres(width) + 1.0) * 0.5 * (x1 - x0)
  for r0 in range(0, height, rows):
    block_ys = ys[r0:r0 + rows]
    coords = np.empty((block_ys.size, width, 2), np.float32)
    coords[..., 0] = block_ys[:, None]
    coords[..., 1] = xs[None, :]
    values = render(run.params, coords.reshape(-1, 2))
    yield r0, outputs.to_uint8(data.to_unit(values.reshape(block_ys.size, width, -1)))


def render_array(run: TrainedRun, height: int, width: int, window=FULL_WINDOW,
                 chunk_size: int = 0) -> np.ndarray:
  """The render as one uint8 array, (H, W) for grey or (H, W, C), filled block by block."""
  height, width = check_size(height, width)
  out = np.empty((height, width) if run.channels == 1 else (height, width, run.channels), np.uint8)
  for r0, block in iter_blocks(run, height, width, window, chunk_size):
    out[r0:r0 + block.shape[0]] = block
  return out


def render_workdir(workdir: str, height: int, width: int, window=FULL_WINDOW,
                   chunk_size: int = 0) -> np.ndarray:
  """Renders ``workdir``'s latest checkpoint as a uint8 (H, W) or (H, W, C) array over ``window``
  (``chunk_size`` pixels per forward pass; 0 = the run's ``eval.chunk_size``)."""
  return render_array(load_run(workdir), height, width, window, chunk_size)


_PNG_COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> grey, grey+alpha, RGB, RGBA


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
  return (struct.pack(">I", len(payload)) + kind + payload
          + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF))


def _up_filtered(block: np.ndarray, previous_row: np.ndarray) -> bytes:
  """PNG scanlines with filter 2 ('Up': each byte minus the one above, mod 256), which suits the smooth
  images a SIREN produces and is vectorised over the block, unlike adaptive per-row filtering."""
  rows = block.reshape(block.shape[0], -1)
  above = np.concatenate([previous_row[None], rows[:-1]])
  filtered = rows - above  # uint8 arithmetic wraps mod 256
  return np.concatenate([np.full((rows.shape[0], 1), 2, np.uint8), filtered], axis=1).tobytes()


def write_png_rows(path: str, height: int, width: int, channels: int,
                   blocks: Iterator[Tuple[int, np.ndarray]], compress_level: int = 6,
                   on_block: Optional[Callable[[int], None]] = None) -> None:
  """Writes an 8-bit PNG from consecutive row blocks (as ``iter_blocks`` yields them) without ever
  holding the whole image; atomically (temp file and rename)."""
  if channels not in _PNG_COLOUR_TYPES:
    raise UserError(f"cannot write a {channels}-channel PNG")
  compressor = zlib.compressobj(compress_level)
  previous = np.zeros((width * channels,), np.uint8)
  done = 0
  with outputs.atomic_path(path) as tmp, open(tmp, "wb") as f:
    f.write(b"\x89PNG\r\n\x1a\n")
    f.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8,
                                            _PNG_COLOUR_TYPES[channels], 0, 0, 0)))
    for r0, block in blocks:
      if r0 != done:
        raise ValueError(f"row blocks out of order: expected row {done}, got {r0}")
      compressed = compressor.compress(_up_filtered(block, previous))
      if compressed:
        f.write(_png_chunk(b"IDAT", compressed))
      previous = block.reshape(block.shape[0], -1)[-1].copy()
      done += block.shape[0]
      if on_block:
        on_block(done)
    if done != height:
      raise ValueError(f"got {done} rows for a {height}-row PNG")
    f.write(_png_chunk(b"IDAT", compressor.flush()))
    f.write(_png_chunk(b"IEND", b""))


def render_to_png(run: TrainedRun, path: str, height: int, width: int, window=FULL_WINDOW,
                  chunk_size: int = 0, log: Optional[Callable[[str], None]] = None) -> None:
  """Streams the render into ``path`` (PNG), logging progress about every 10% of the rows."""
  if not path.lower().endswith(".png"):
    raise UserError(f"--out must be a .png path, got {path!r}")
  t0 = time.perf_counter()
  every = max(height // 10, 1)
  last = [0]

  def progress(done):
    if log and (done - last[0] >= every or done == height):
      last[0] = done
      log(f"rendered {done}/{height} rows ({time.perf_counter() - t0:.1f}s)")

  write_png_rows(path, height, width, run.channels,
                 iter_blocks(run, height, width, window, chunk_size), on_block=progress)


def command(f) -> None:
  """``siren_jax.render`` for an image run (``f``: the command's parsed flags)."""
  if f.scale is not None and f.size:
    raise UserError("give either --scale or --size, not both")
  window = parse_window(f.window) if f.window else FULL_WINDOW
  size = parse_size(f.size) if f.size else None
  if not f.out.lower().endswith(".png"):
    raise UserError(f"--out must be a .png path, got {f.out!r}")
  if f.chunk_size < 0:
    raise UserError(f"--chunk_size must be >= 0 (0 = the run's eval.chunk_size), got {f.chunk_size}")
  rundir.check_output_file(f.out, "--out")  # before minutes of rendering, not after
  run = load_run(f.workdir)
  height, width = size or scaled_size(run, 1.0 if f.scale is None else f.scale, window)
  logging.info("Rendering %s (step %d) at %dx%d (HxW) over window %s to %s", f.workdir, run.step, height,
               width, ",".join(f"{v:g}" for v in window), f.out)
  render_to_png(run, f.out, height, width, window, f.chunk_size, log=logging.info)
