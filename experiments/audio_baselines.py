"""The paper's audio table (Sec. 4.1): SIREN with our recipe and with the official one, against ReLU,
ReLU + positional encoding and tanh, on the paper's clips; MSE on [-1, 1] (the paper's measure) beside
the paper's figures, and SNR.

    python -m experiments.audio_baselines --workdir=runs/audio_baselines --clips=bach,counting \\
        [--methods=siren,siren_paper,relu,relu_pe,tanh] [--steps=1000] [--batch=0] [--lrs=1e-4] \\
        [--seconds=0] [--out=benchmarks/results/audio]

Methods:
* siren: configs/audio.py (time on [-1, 1], first-layer omega_0 3000, its schedule and learning rate);
* siren_paper: configs/audio_paper.py, the official train_audio.py recipe (linspace(-100, 100)
  coordinates, omega_0 = 30 everywhere, Adam at a constant 1e-4, the whole clip every step);
* relu, relu_pe, tanh: the official script's --model_type relu / nerf / tanh, i.e. the paper recipe
  with that network (ReLU+PE takes the official 1-D Nyquist rule for its frequencies).
The official script trains 9001 full-clip steps; --steps sizes the runs to the time there is, and
--batch=B (random samples per step, 0 = the whole clip) makes CPU steps affordable. Each method's
learning rates (--lrs; every method gets the same grid, overriding its recipe's) are trained together
as one sweep and the best final SNR is reported. --seconds cuts every clip for a quick check.
Writes table.md, table.csv and table.json to --out, and every point's normal run directory (with its
report.html, reconstruction.wav and panels) under --workdir/CLIP/METHOD/.
"""

import csv
import json
import os
import sys

from absl import flags, logging

from siren_jax import cli, configuration, sweep
from siren_jax.errors import UserError
from siren_jax.io import outputs

# The paper's Table (Sec. 4.1, MSE on [-1, 1]); tanh has no published figure.
PAPER_MSE = {"bach": {"siren_paper": 1.1e-5, "relu": 2.5e-2, "relu_pe": 2.4e-2},
             "counting": {"siren_paper": 3.8e-4, "relu": 7.5e-3, "relu_pe": 9.1e-3}}
METHODS = ("siren", "siren_paper", "relu", "relu_pe", "tanh")

_WORKDIR = flags.DEFINE_string("workdir", None, "Directory for the runs (one sweep per clip and method).")
_OUT = flags.DEFINE_string("out", "benchmarks/results/audio", "Where table.md/.csv/.json go.")
_CLIPS = flags.DEFINE_list("clips", ["bach", "counting"], "synth, bach, counting or WAV paths.")
_METHODS = flags.DEFINE_list("methods", list(METHODS), f"Any of {METHODS}.")
_STEPS = flags.DEFINE_integer("steps", 1000, "Training steps for every method.")
_BATCH = flags.DEFINE_integer("batch", 0, "Samples per step (0 = the whole clip, the paper's).")
_LRS = flags.DEFINE_list("lrs", [], "Learning rates tried per method (default: each recipe's own).")
_SECONDS = flags.DEFINE_float("seconds", 0.0, "Cut each clip to this many seconds (0 = all of it).")


def method_config(method: str, clip: str):
  """The config of ``method`` on ``clip`` (see the module docstring)."""
  if method not in METHODS:
    raise UserError(f"--methods: unknown method {method!r} (use {', '.join(METHODS)})")
  config = configuration.repo_config("audio" if method == "siren" else "audio_paper")
  if method not in ("siren", "siren_paper"):
    config.model.kind = method
  config.data.audio = clip
  config.data.seconds = _SECONDS.value
  config.train.num_steps = _STEPS.value
  config.train.batch_size = _BATCH.value
  config.train.log_every = max(1, _STEPS.value // 20)
  config.train.checkpoint_every = _STEPS.value
  return config


def run_method(clip: str, method: str) -> dict:
  """Trains ``method`` on ``clip`` over the learning-rate grid; the best point's row of the table."""
  config = method_config(method, clip)
  lrs = _LRS.value or [repr(config.train.learning_rate)]
  name = os.path.splitext(os.path.basename(clip))[0]
  results = sweep.run_sweep(config, os.path.join(_WORKDIR.value, name, method),
                            ["train.learning_rate=" + ",".join(lrs)])
  done = [r for r in results if r["status"] == "done" and r["snr"] is not None]
  if not done:
    return {"clip": name, "method": method, "status": "diverged at every learning rate"}
  best = max(done, key=lambda r: r["snr"])
  with open(os.path.join(_WORKDIR.value, name, method, best["point"], "summary.json")) as f:
    summary = json.load(f)
  paper = PAPER_MSE.get(name, {}).get(method)
  return {"clip": name, "method": method, "model": config.model.kind,
          "first_omega_0": ((config.model.first_omega_0 or config.model.omega_0)
                            if config.model.kind == "siren" else None),
          "coord_range": config.data.coord_range, "lr": best["train.learning_rate"],
          "schedule": config.train.schedule, "steps": summary["steps"],
          "batch": _BATCH.value or "full", "samples": summary["samples"], "mse": summary["mse"],
          "snr_db": summary["snr"], "paper_mse": paper,
          "mse_over_paper": summary["mse"] / paper if paper else None,
          "train_seconds": summary["train_seconds"], "num_params": summary["num_params"],
          "platform": summary.get("device_kind"), "status": "done"}


COLUMNS = ("clip", "method", "model", "first_omega_0", "coord_range", "lr", "schedule", "steps", "batch",
           "samples", "mse", "paper_mse", "mse_over_paper", "snr_db", "train_seconds", "num_params",
           "platform", "status")


def _cell(value) -> str:
  if isinstance(value, float):
    return f"{value:.3g}" if abs(value) < 1e-2 or abs(value) >= 1e4 else f"{value:.4g}"
  return "" if value is None else str(value)


def write_tables(rows) -> None:
  os.makedirs(_OUT.value, exist_ok=True)
  with outputs.atomic_path(os.path.join(_OUT.value, "table.csv")) as tmp, open(tmp, "w", newline="") as f:
    writer = csv.DictWriter(f, fieldnames=COLUMNS)
    writer.writeheader()
    for r in rows:
      writer.writerow({c: r.get(c) for c in COLUMNS})
  lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
  lines += ["| " + " | ".join(_cell(r.get(c)) for c in COLUMNS) + " |" for r in rows]
  with outputs.atomic_path(os.path.join(_OUT.value, "table.md")) as tmp, open(tmp, "w") as f:
    f.write("\n".join(lines) + "\n")
  outputs.write_json(os.path.join(_OUT.value, "table.json"),
                     {"steps": _STEPS.value, "batch": _BATCH.value, "lrs": _LRS.value,
                      "seconds": _SECONDS.value, "rows": list(rows)})
  print("\n".join(lines))


def main(argv):
  if len(argv) > 1:
    raise UserError(f"unexpected arguments: {' '.join(argv[1:])}")
  for method in _METHODS.value:
    method_config(method, "synth")  # an unknown method fails before any training
  logging.set_verbosity(logging.WARNING)
  rows = []
  for clip in _CLIPS.value:
    for method in _METHODS.value:
      rows.append(run_method(clip, method))
      print({k: rows[-1].get(k) for k in ("clip", "method", "mse", "snr_db", "train_seconds")},
            file=sys.stderr, flush=True)
  write_tables(rows)


if __name__ == "__main__":
  cli.run(main, required=("workdir",))
