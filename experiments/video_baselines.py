"""SIREN against ReLU and ReLU + positional encoding on a video (SIREN paper Sec. 4.1, Table: cat video
29.90 ± 1.08 dB SIREN, 25.12 ± 1.16 ReLU), and SIREN with a separate time ω₀.

    python -m experiments.video_baselines [--steps=300] [--width=256] [--video=astronaut_pan]
        [--variants=siren,relu,relu_pe] [--time_omegas=10,60] [--lrs=3e-4,1e-3,3e-3]

Every variant is configs/video.py with one change (model.kind, or model.time_omega_0), trained at each
learning rate of --lrs as one sweep (``siren_jax.sweep``: the rates train together as one vmapped
program) and reported at its best rate: mean ± standard deviation over frames of the per-frame PSNR,
mean SSIM, training seconds (the sum over the sweep's points, divided by their count) and parameters.
ReLU + PE uses the Nyquist rule of the frame size for its frequencies (model.pe_frequencies=0).
Writes table.md and table.json to --out (default benchmarks/results/video), and each variant's sweep
(every point a normal run directory, with its report.html) under --workdir.
"""

import json
import os
import sys

from absl import flags, logging

from siren_jax import cli, configuration, sweep
from siren_jax.io import outputs

_WORKDIR = flags.DEFINE_string("workdir", os.path.join("runs", "video_baselines"), "Run directories.")
_OUT = flags.DEFINE_string("out", os.path.join("benchmarks", "results", "video"), "Table directory.")
_VIDEO = flags.DEFINE_string("video", "astronaut_pan", "data.video: built-in clip, frames, GIF or file.")
_FRAMES = flags.DEFINE_integer("frames", 0, "data.frames (0 = the config's).")
_SIZE = flags.DEFINE_integer("size", 0, "data.height and data.width (0 = the config's).")
_STEPS = flags.DEFINE_integer("steps", 300, "Training steps of every variant.")
_WIDTH = flags.DEFINE_integer("width", 256, "Hidden width of every variant.")
_DEPTH = flags.DEFINE_integer("depth", 3, "Hidden layers of every variant.")
_BATCH = flags.DEFINE_integer("batch", 0, "Samples per step (0 = the config's).")
_VARIANTS = flags.DEFINE_list("variants", ["siren", "relu", "relu_pe"], "model.kind of each variant.")
_TIME_OMEGAS = flags.DEFINE_list("time_omegas", ["10", "60"],
                                 "SIREN variants with model.time_omega_0 at these values ('' = none).")
_LRS = flags.DEFINE_list("lrs", ["3e-4", "1e-3", "3e-3"], "Learning rates tried for every variant.")


def variants():
  """(name, overrides) of every variant: one per model kind, one per time ω₀."""
  out = [(kind, {"model.kind": kind}) for kind in _VARIANTS.value]
  out += [(f"siren_time_omega_{t}", {"model.kind": "siren", "model.time_omega_0": float(t)})
          for t in _TIME_OMEGAS.value if t]
  return out


def config_for(overrides):
  config = configuration.repo_config("video")
  config.data.video = _VIDEO.value
  if _FRAMES.value:
    config.data.frames = _FRAMES.value
  if _SIZE.value:
    config.data.height = config.data.width = _SIZE.value
  config.model.width, config.model.depth = _WIDTH.value, _DEPTH.value
  config.train.num_steps = _STEPS.value
  if _BATCH.value:
    config.train.batch_size = _BATCH.value
  config.train.log_every = max(1, _STEPS.value // 10)
  config.train.checkpoint_every = _STEPS.value
  for field, value in overrides.items():
    section, name = field.split(".")
    config[section][name] = value
  return config


def best_point(workdir: str, results):
  done = [r for r in results if r["status"] == "done"]
  if not done:
    return None
  best = max(done, key=lambda r: r["psnr"])
  with open(os.path.join(workdir, best["point"], "summary.json")) as f:
    return best, json.load(f)


def main(_):
  logging.set_verbosity(logging.WARNING)
  rows = []
  for name, overrides in variants():
    workdir = os.path.join(_WORKDIR.value, name)
    results = sweep.run_sweep(config_for(overrides), workdir,
                              ["train.learning_rate=" + ",".join(_LRS.value)])
    found = best_point(workdir, results)
    if found is None:
      rows.append({"variant": name, "status": "all learning rates diverged"})
      continue
    best, summary = found
    rows.append({"variant": name, "best_lr": best["train.learning_rate"],
                 "psnr_mean": summary["psnr_frame_mean"], "psnr_std": summary["psnr_frame_std"],
                 "ssim": summary["ssim"], "train_seconds_per_point": summary["train_seconds"],  # its share
                 "num_params": summary["num_params"], "clip": [summary["video"], summary["frames"],
                                                               summary["height"], summary["width"]],
                 "psnr_by_lr": {str(r["train.learning_rate"]): r["psnr"] for r in results}})
    print(name, rows[-1], file=sys.stderr, flush=True)
  write_table(rows)


def write_table(rows) -> None:
  lines = [f"Clip {_VIDEO.value}; {_STEPS.value} steps, width {_WIDTH.value}, depth {_DEPTH.value}; "
           f"learning rates tried: {', '.join(_LRS.value)} (best shown).", "",
           "| variant | best lr | per-frame PSNR (dB), mean ± std | mean SSIM | train s / point | params |",
           "|---|---|---|---|---|---|"]
  for r in rows:
    if "psnr_mean" not in r:
      lines.append(f"| {r['variant']} | {r['status']} | | | | |")
      continue
    lines.append(f"| {r['variant']} | {r['best_lr']:g} | {r['psnr_mean']:.2f} ± {r['psnr_std']:.2f} | "
                 f"{r['ssim']:.3f} | {r['train_seconds_per_point']:.1f} | {r['num_params']} |")
  os.makedirs(_OUT.value, exist_ok=True)
  with outputs.atomic_path(os.path.join(_OUT.value, "table.md")) as tmp, open(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
  outputs.write_json(os.path.join(_OUT.value, "table.json"),
                     {"video": _VIDEO.value, "steps": _STEPS.value, "width": _WIDTH.value,
                      "depth": _DEPTH.value, "lrs": _LRS.value, "rows": rows})
  print("\n".join(lines))


if __name__ == "__main__":
  cli.run(main)
