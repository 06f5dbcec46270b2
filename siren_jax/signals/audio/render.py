"""Render an audio run to a WAV at any sample rate (the ``render`` command's audio half):

    python -m siren_jax.render --workdir=runs/audio --out=fit.wav [--rate=48000]

The clip's span is sampled at ``--rate`` (default the clip's own rate, which reproduces the training
coordinates and so reconstruction.wav, up to the peak scale it is written at): output sample j sits at
time j / rate (``audio.render_coords``). The network's output is written in the clip's own units (times
the peak the targets were divided by) as a 32-bit float WAV, streamed block by block: coordinates are
made per block and evaluated in fixed-size chunks by ``evaluate.make_renderer``, so memory does not
grow with the output's length.
"""

import json
import os
import struct
from typing import Iterator, Tuple

import numpy as np
from absl import logging

from siren_jax.engine import evaluate, sharding
from siren_jax.engine.trained import load_run, TrainedRun
from siren_jax.errors import UserError
from siren_jax.io import outputs, rundir
from siren_jax.signals.audio import clips as audio

BLOCK_SAMPLES = 1 << 20  # output samples per block: ~4 MB of coordinates
MAX_RATE = 1_000_000
MAX_DATA_BYTES = (1 << 32) - 64  # a RIFF file's sizes are 32-bit


def clip_facts(workdir: str) -> Tuple[int, int, float, float]:
  """(samples, rate, coord_range, peak) of the run's clip, from its summary.json."""
  path = os.path.join(workdir, "summary.json")
  try:
    with open(path) as f:
      summary = json.load(f)
    return (int(summary["samples"]), int(summary["rate"]), float(summary["coord_range"]),
            float(summary["peak"]))
  except FileNotFoundError:
    raise UserError(f"{workdir} has no summary.json yet (the run has not finished), so its clip's "
                    f"length and rate are unknown") from None
  except (OSError, ValueError, KeyError, TypeError) as e:
    raise UserError(f"cannot read the clip's length and rate from {path}: {e}") from None


def iter_blocks(run: TrainedRun, num_samples: int, rate: int, out_rate: int, coord_range: float,
                peak: float, chunk_size: int = 0) -> Iterator[np.ndarray]:
  """(M, C) float32 blocks of the render at ``out_rate``, in order, in the clip's units."""
  total = audio.num_render_samples(num_samples, rate, out_rate)
  chunk = chunk_size or int(run.config.eval.chunk_size)
  microbatch = sharding.resolve_microbatch(int(run.config.train.get("microbatch", -1)))
  values = evaluate.make_renderer(run.model.apply, sharding.make_mesh(), chunk, microbatch)
  for first in range(0, total, BLOCK_SAMPLES):
    count = min(BLOCK_SAMPLES, total - first)
    coords = audio.render_coords(num_samples, rate, out_rate, coord_range, first, count)
    yield (np.asarray(values(run.params, coords), np.float32) * np.float32(peak))


def _float_wav_header(num_frames: int, channels: int, rate: int) -> bytes:
  """A RIFF/WAVE header for 32-bit IEEE float samples (format tag 3)."""
  block = 4 * channels
  data_bytes = num_frames * block
  fmt = struct.pack("<HHIIHH", 3, channels, rate, rate * block, block, 32)
  return (b"RIFF" + struct.pack("<I", 4 + 8 + len(fmt) + 8 + data_bytes) + b"WAVE"
          + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", data_bytes))


def render_to_wav(run: TrainedRun, path: str, out_rate: int, chunk_size: int = 0) -> int:
  """Streams the render at ``out_rate`` into ``path`` (atomically); returns the samples written."""
  num_samples, rate, coord_range, peak = clip_facts(run.workdir)
  total = audio.num_render_samples(num_samples, rate, out_rate)
  if total * 4 * run.channels > MAX_DATA_BYTES:
    raise UserError(f"--rate={out_rate} gives {total} samples x {run.channels} channel(s): over a WAV "
                    f"file's 4 GiB limit")
  written = 0
  with outputs.atomic_path(path) as tmp, open(tmp, "wb") as f:
    f.write(_float_wav_header(total, run.channels, out_rate))
    for block in iter_blocks(run, num_samples, rate, out_rate, coord_range, peak, chunk_size):
      f.write(block.astype("<f4").tobytes())
      written += block.shape[0]
  return written


def command(f) -> None:
  """The render command for an audio run (``f``: the render command's parsed flags)."""
  if not f.out.lower().endswith(".wav"):
    raise UserError(f"--out must be a .wav path for an audio run, got {f.out!r}")
  if not 0 <= f.rate <= MAX_RATE:
    raise UserError(f"--rate must be in [1, {MAX_RATE}] Hz (0 = the clip's own), got {f.rate}")
  if f.chunk_size < 0:
    raise UserError(f"--chunk_size must be >= 0 (0 = the run's eval.chunk_size), got {f.chunk_size}")
  rundir.check_output_file(f.out, "--out")
  run = load_run(f.workdir)
  out_rate = f.rate or clip_facts(f.workdir)[1]
  logging.info("Rendering %s (step %d) at %d Hz to %s", f.workdir, run.step, out_rate, f.out)
  n = render_to_wav(run, f.out, out_rate, f.chunk_size)
  logging.info("wrote %d samples (%.3f s) to %s", n, n / out_rate, f.out)
