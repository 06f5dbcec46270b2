"""SIREN against the baselines of the paper (ReLU, tanh, ReLU + positional encoding) and Gaussian
random Fourier features, on one image: the paper-style table and overlaid PSNR curves.

    python -m experiments.compare_activations --image=camera --workdir=runs/compare [--size=256]
        [--steps=500] [--lrs=1e-4,3e-4,1e-3,3e-3] [--kinds=siren,relu,tanh,relu_pe,rff]

Baseline tuning dominates such comparisons, so every family gets the same learning-rate grid (trained
together as one vmapped sweep per family) and its best learning rate is reported. Two columns:
* PSNR after the same number of steps (the best learning rate's final PSNR);
* PSNR at the same wall time. Each family's step time is measured here, in one process. The
  family's PSNR-against-step curve is read at the step that wall time allows, the time being the
  one the cheapest family needs for all its steps (interpolated between logged steps).
Writes table.md, table.json and curves.png to --workdir, plus every point's normal run directory.
"""

import json
import os
import sys

# Not this folder on the path: its compression.py would shadow Python 3.14's stdlib `compression`
# package, which jax imports; the repository root instead.

import numpy as np
from absl import flags, logging

from benchmarks import common
from siren_jax import cli, configuration, sweep
from siren_jax.engine import run
from siren_jax.io import outputs, plots
from siren_jax.nets import kinds
from siren_jax.signals.image import data

_IMAGE = flags.DEFINE_string("image", "camera", "Built-in name, kodimNN, or a path.")
_WORKDIR = flags.DEFINE_string("workdir", None, "Output directory.")
_SIZE = flags.DEFINE_integer("size", 256, "Resize the shorter side to this (0 = native).")
_STEPS = flags.DEFINE_integer("steps", 500, "Training steps for every family.")
_LRS = flags.DEFINE_list("lrs", ["1e-4", "3e-4", "1e-3", "3e-3"], "Learning-rate grid (all families).")
_KINDS = flags.DEFINE_list("kinds", list(kinds.BUILTIN), "Model families.")
_BATCH = flags.DEFINE_integer("batch", 24576, "Pixels per step (0 = full image).")


def base_config(kind: str):
  config = configuration.repo_config("default")
  config.data.image = _IMAGE.value
  config.data.height, config.data.width = _SIZE.value, 0
  config.data.resize = "exact"  # --size rows, whatever the native size
  image = data.load_image(_IMAGE.value, height=_SIZE.value)
  config.train.num_steps = _STEPS.value
  config.train.batch_size = _BATCH.value if _BATCH.value < image.shape[0] * image.shape[1] else 0
  config.train.log_every = max(1, _STEPS.value // 20)
  config.train.checkpoint_every = _STEPS.value
  config.model.kind = kind
  return config


def step_seconds(config, repeats: int = 5) -> float:
  """Median seconds of one training step of this config (the step its run takes: ``run.setup``)."""
  return common.time_run(run.setup([config]), repeats=repeats)[0]


def psnr_at_step(rows, step: float) -> float:
  steps = [r["step"] for r in rows]
  return float(np.interp(step, steps, [float(r["psnr"]) for r in rows]))


def main(_):
  logging.set_verbosity(logging.WARNING)
  workdir = _WORKDIR.value
  os.makedirs(workdir, exist_ok=True)
  table = []
  for kind in _KINDS.value:
    config = base_config(kind)
    results = sweep.run_sweep(config, os.path.join(workdir, kind),
                              ["train.learning_rate=" + ",".join(_LRS.value)])
    done = [r for r in results if r["status"] == "done"]
    best = max(done, key=lambda r: r["psnr"])
    rows = [r for r in outputs.read_jsonl(os.path.join(workdir, kind, best["point"], "metrics.jsonl"))]
    table.append({"kind": kind, "best_lr": best["train.learning_rate"], "psnr_at_steps": best["psnr"],
                  "psnr_by_lr": {str(r["train.learning_rate"]): (round(r["psnr"], 2)
                                                                 if r["status"] == "done" else None)
                                 for r in results},
                  "step_ms": round(step_seconds(config) * 1e3, 1), "num_params": best["num_params"],
                  "rows": rows})
    print(kind, {k: v for k, v in table[-1].items() if k != "rows"}, file=sys.stderr, flush=True)
  budget = min(r["step_ms"] for r in table) / 1e3 * _STEPS.value
  for r in table:
    r["steps_in_budget"] = min(_STEPS.value, budget / (r["step_ms"] / 1e3))
    r["psnr_at_equal_time"] = psnr_at_step(r["rows"], r["steps_in_budget"])
  image_desc = f"{_IMAGE.value} (shorter side {_SIZE.value})" if _SIZE.value else _IMAGE.value
  batch = base_config(_KINDS.value[0]).train.batch_size or "full image"
  lines = [f"Image: {image_desc}; {_STEPS.value} steps, batch {batch}; "
           f"learning rates tried: {', '.join(_LRS.value)}; equal wall time = {budget:.1f} s.", "",
           "| model | best lr | PSNR after equal steps (dB) | PSNR at equal time (dB) | step (ms) | "
           "params | PSNR per lr |", "|---|---|---|---|---|---|---|"]
  for r in table:
    lines.append(f"| {r['kind']} | {r['best_lr']:g} | {r['psnr_at_steps']:.2f} | "
                 f"{r['psnr_at_equal_time']:.2f} | {r['step_ms']} | {r['num_params']} | "
                 f"{json.dumps(r['psnr_by_lr'])} |")
  with outputs.atomic_path(os.path.join(workdir, "table.md")) as tmp, open(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
  outputs.write_json(os.path.join(workdir, "table.json"),
                     {"image": _IMAGE.value, "size": _SIZE.value, "steps": _STEPS.value,
                      "lrs": _LRS.value, "equal_time_seconds": budget,
                      "rows": [{k: v for k, v in r.items() if k != "rows"} for r in table]})
  plt = plots.pyplot()  # pylint: disable=protected-access
  fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
  for r in table:
    steps = [row["step"] for row in r["rows"] if row["step"] > 0]
    psnr = [float(row["psnr"]) for row in r["rows"] if row["step"] > 0]
    label = f"{r['kind']} (lr {r['best_lr']:g})"
    axes[0].plot(steps, psnr, label=label)
    axes[1].plot(np.array(steps) * r["step_ms"] / 1e3, psnr, label=label)
  for ax, xl in zip(axes, ("step", "training time (s, measured step time x steps)")):
    ax.set_xlabel(xl)
    ax.set_ylabel("PSNR (dB)")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
  fig.suptitle(f"{image_desc}: best learning rate per family")
  plots.save_figure(fig, os.path.join(workdir, "curves.png"))
  print("\n".join(lines))


if __name__ == "__main__":
  flags.mark_flag_as_required("workdir")
  cli.run(main)
