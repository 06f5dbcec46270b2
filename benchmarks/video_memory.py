"""Peak memory of a large video fit: read, train a few steps, evaluate (per-frame PSNR and SSIM, the
outputs, report.html) and render, in one process, against a limit (issue 13: a 300-frame 512x512 clip
in under 4 GB).

    python -m benchmarks.video_memory --frames=300 --size=512 [--steps=5] [--limit_gb=4]

The clip is synthetic (a drifting colour pattern, different in every frame) written as an H.264 mp4
frame by frame, then read through the normal video path (``configs/video.py`` with data.video set to
it). The model is small (--width, --depth) because what is measured is the data's memory, not the
network's. Peak resident memory (VmHWM, the kernel's high-water mark of RSS) is read after each phase;
the JSON lands in benchmarks/results/video/memory_<frames>x<size>.json.
"""

import os
import tempfile
import time

import numpy as np
from absl import flags

from benchmarks import common
from siren_jax import cli, configuration
from siren_jax.engine import train, trained
from siren_jax.io import outputs
from siren_jax.signals.video import files as video_files, render as video_render

_FRAMES = flags.DEFINE_integer("frames", 300, "Frames of the synthetic clip.")
_SIZE = flags.DEFINE_integer("size", 512, "Frame height and width.")
_STEPS = flags.DEFINE_integer("steps", 5, "Training steps.")
_WIDTH = flags.DEFINE_integer("width", 64, "SIREN width.")
_DEPTH = flags.DEFINE_integer("depth", 1, "SIREN hidden layers.")
_BATCH = flags.DEFINE_integer("batch", 65536, "Samples per step.")
_LIMIT = flags.DEFINE_float("limit_gb", 4.0, "The memory the run must stay under (GB, 1e9 bytes).")
_OUT = flags.DEFINE_string("out", os.path.join("benchmarks", "results", "video"), "Result directory.")


def peak_rss_bytes() -> int:
  """The process's peak resident set size so far (VmHWM)."""
  with open("/proc/self/status") as f:
    for line in f:
      if line.startswith("VmHWM:"):
        return int(line.split()[1]) * 1024
  raise RuntimeError("no VmHWM in /proc/self/status")


def synthetic_frames(num_frames: int, size: int):
  """uint8 (size, size, 3) frames of colour waves drifting at different speeds, one at a time."""
  axis = np.linspace(-1.0, 1.0, size, dtype=np.float32)
  y, x = np.meshgrid(axis, axis, indexing="ij")
  for i in range(num_frames):
    t = i / max(num_frames - 1, 1)
    waves = [np.sin(6 * x + 4 * y + 9 * t), np.sin(5 * y - 7 * t + 3 * x * y), np.cos(8 * x * t - 3 * y)]
    yield np.round((np.stack(waves, -1) + 1.0) * 127.5).astype(np.uint8)


def config_for(path: str):
  config = configuration.repo_config("video")
  config.data.video = path
  config.data.height = config.data.width = 0  # native size
  config.model.width, config.model.depth = _WIDTH.value, _DEPTH.value
  config.train.num_steps = _STEPS.value
  config.train.batch_size = _BATCH.value
  config.train.log_every = config.train.checkpoint_every = max(_STEPS.value, 1)
  return config


def main(_):
  common.git_rev()
  phases = {"start": peak_rss_bytes()}
  with tempfile.TemporaryDirectory() as tmp:
    clip = os.path.join(tmp, "clip.mp4")
    video_files.write_clip(clip, synthetic_frames(_FRAMES.value, _SIZE.value), 24.0)
    phases["clip written"] = peak_rss_bytes()
    t0 = time.perf_counter()
    summary = train.train_and_evaluate(config_for(clip), os.path.join(tmp, "run"))
    phases["trained, evaluated, outputs and report written"] = peak_rss_bytes()
    run = trained.load_run(os.path.join(tmp, "run"))
    frames = video_render.iter_frames(run, video_render.frame_times(_FRAMES.value), _SIZE.value,
                                      _SIZE.value)
    video_files.write_clip(os.path.join(tmp, "render.mp4"), frames, 24.0)
    phases["rendered to mp4"] = peak_rss_bytes()
    seconds = time.perf_counter() - t0
  peak = max(phases.values())
  result = {"frames": _FRAMES.value, "size": _SIZE.value, "samples": _FRAMES.value * _SIZE.value ** 2,
            "steps": _STEPS.value, "width": _WIDTH.value, "depth": _DEPTH.value, "batch": _BATCH.value,
            "peak_rss_gb_after": {k: round(v / 1e9, 3) for k, v in phases.items()},
            "peak_rss_gb": round(peak / 1e9, 3), "limit_gb": _LIMIT.value,
            "within_limit": peak < _LIMIT.value * 1e9, "psnr": summary["psnr"],
            "seconds": round(seconds, 1), "git": common.git_rev(), "machine": common.machine()}
  path = os.path.join(_OUT.value, f"memory_{_FRAMES.value}x{_SIZE.value}.json")
  outputs.write_json(path, result)
  print(f"peak RSS {peak / 1e9:.2f} GB for {_FRAMES.value} frames of {_SIZE.value}x{_SIZE.value} "
        f"({'within' if result['within_limit'] else 'OVER'} the {_LIMIT.value:g} GB limit); {path}")


if __name__ == "__main__":
  cli.run(main)
