"""Training-step speed of two checkouts of the project, alternated in one run (A B A B ...), so that a
refactor's speed is compared under the same machine load.

    python -m benchmarks.checkout_speed --before=../old_checkout --after=. [--rounds=2]

Each variant is ``python -m siren_jax.main`` on a shipped config (through the command line only, so
any two versions of the package can be compared), run in each checkout in turn; the figure is
summary.json's steps / train_seconds (compilation excluded). Variants cover the step's three
batchings: uniform minibatches (the default image fit), error-weighted draws (``train.sampling=
error``) and a sampler's gathers (the video default). Prints one JSON line per run and a table of the
medians and their ratio (after / before).
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

from absl import app, flags

_BEFORE = flags.DEFINE_string("before", None, "Checkout to compare against.")
_AFTER = flags.DEFINE_string("after", ".", "Checkout under test.")
_ROUNDS = flags.DEFINE_integer("rounds", 2, "Runs of each variant in each checkout, alternated.")

VARIANTS = {
    "image_uniform": ("configs/default.py", ("--config.train.num_steps=100",
                                             "--config.train.log_every=100")),
    "image_error": ("configs/default.py", ("--config.train.num_steps=100", "--config.train.log_every=100",
                                           "--config.train.sampling=error",
                                           "--config.train.sampling_every=50",
                                           "--config.train.checkpoint_every=100")),
    "video_sampler": ("configs/video.py", ("--config.train.num_steps=60", "--config.train.log_every=60",
                                           "--config.train.checkpoint_every=60")),
}


def run_once(checkout: str, config: str, extra, workdir: str) -> float:
  """Steps per second of one run (compilation excluded)."""
  cmd = [sys.executable, "-m", "siren_jax.main", f"--config={config}", f"--workdir={workdir}", *extra]
  proc = subprocess.run(cmd, cwd=checkout, capture_output=True, text=True, check=False)
  if proc.returncode != 0:
    raise SystemExit(f"{' '.join(cmd)} (in {checkout}) failed:\n{proc.stderr[-2000:]}")
  with open(os.path.join(workdir, "summary.json")) as f:
    summary = json.load(f)
  return summary["steps"] / summary["train_seconds"]


def main(argv):
  del argv
  if not _BEFORE.value:
    raise app.UsageError("--before is required")
  checkouts = {"before": os.path.abspath(_BEFORE.value), "after": os.path.abspath(_AFTER.value)}
  speeds = {(v, c): [] for v in VARIANTS for c in checkouts}
  with tempfile.TemporaryDirectory() as tmp:
    for r in range(_ROUNDS.value):
      for variant, (config, extra) in VARIANTS.items():
        for label, checkout in checkouts.items():
          s = run_once(checkout, config, extra, os.path.join(tmp, f"{variant}_{label}_{r}"))
          speeds[(variant, label)].append(s)
          print(json.dumps({"variant": variant, "checkout": label, "round": r,
                            "steps_per_s": round(s, 3)}), flush=True)
  print("| variant | before (steps/s, median) | after | after / before |")
  print("| --- | --- | --- | --- |")
  for variant in VARIANTS:
    b, a = (statistics.median(speeds[(variant, c)]) for c in ("before", "after"))
    print(f"| {variant} | {b:.2f} | {a:.2f} | {a / b:.3f} |")


if __name__ == "__main__":
  app.run(main)
