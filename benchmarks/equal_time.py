"""Runs compared at equal training time: each run's headline PSNR when the shortest one finished.

    python -m benchmarks.equal_time RUN_DIR [RUN_DIR ...] [--seconds=T]

Reads each run's metrics.jsonl (written by ``python -m siren_jax.main``) and reports, at T seconds of
training (default: the shortest run's total), the last evaluation logged at or before T: its step and
PSNR under the run's headline protocol (psnr_offset for gradient supervision, psnr_affine for the
Laplacian). Logged rows are the only evaluations, so a run logged every N steps is read up to N steps
early; log often for a fair reading. Training seconds exclude evaluation and start-up. Prints JSON.
"""

import json
import os

from absl import flags


from benchmarks import common
from siren_jax import cli
from siren_jax.errors import UserError
from siren_jax.io import outputs

_SECONDS = flags.DEFINE_float("seconds", 0.0, "Training time to compare at (0 = the shortest run's).")


def read_run(run_dir: str) -> dict:
  rows = outputs.read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
  if not rows:
    raise UserError(f"{run_dir}: no metrics.jsonl rows (not a run directory, or a run not started)")
  summary = {}  # a run still going has none yet
  if os.path.exists(os.path.join(run_dir, "summary.json")):
    with open(os.path.join(run_dir, "summary.json")) as f:
      summary = json.load(f)
  with open(os.path.join(run_dir, "config.json")) as f:
    config = json.load(f)
  return {"run": run_dir, "rows": rows, "protocol": summary.get("psnr_protocol", ""),
          "config": config}


def main(argv):
  if len(argv) < 2:
    raise UserError("give one or more run directories")
  runs = [read_run(d) for d in argv[1:]]
  seconds = _SECONDS.value or min(r["rows"][-1]["train_seconds"] for r in runs)
  results = []
  for r in runs:
    t = r["config"]["train"]
    final = r["rows"][-1]
    results.append({
        "run": r["run"], "protocol": r["protocol"],
        "recipe": {k: t[k] for k in ("learning_rate", "schedule", "batch_size", "num_steps")},
        "final": {"step": final["step"], "train_seconds": final["train_seconds"],
                  "psnr": round(final["psnr"], 2)},
        "at_equal_time": common.at_time(r["rows"], seconds)})
  common.emit({"benchmark": "equal_time", "machine": common.machine(), "seconds": round(seconds, 1),
               "runs": results})


if __name__ == "__main__":
  cli.run(main)
