"""A K-value omega_0 sweep trained together (one program) vs the same K runs one by one (issue 4).

    python -m benchmarks.sweep_speed [--k=8] [--sizes=64,256] [--steps=300,50] [--vmap_widths=-1,0]

Both sides are complete runs as a user would launch them (compilation, evaluation and every output
included), on cameraman at each size with the default 3x256 SIREN and recipe (full batch at 64^2,
since the default batch is larger than the image). The sweep is timed once per train.vmap_width
(-1: the backend's default, 0: all K points vmapped). Wall times come from the same process, one after
the other, after an untimed warm-up of both paths. The per-step cost of each vmap width is
benchmarks/vmap_step.py. Prints JSON.
"""

import copy
import os
import sys
import tempfile
import time


from absl import app, flags, logging

from benchmarks import common
from siren_jax import configuration, sweep
from siren_jax.engine import step as step_lib, train

_K = flags.DEFINE_integer("k", 8, "Number of omega_0 values.")
_SIZES = flags.DEFINE_list("sizes", ["64", "256"], "Image sides.")
_STEPS = flags.DEFINE_list("steps", ["300", "50"], "Training steps per size.")
_WIDTHS = flags.DEFINE_list("vmap_widths", ["-1", "0"], "train.vmap_width values to time the sweep at.")


def main(_):
  common.git_rev()  # the commit this run starts from
  logging.set_verbosity(logging.WARNING)
  omegas = [10.0 + 10.0 * i for i in range(_K.value)]
  results = []
  for size, steps in zip(map(int, _SIZES.value), map(int, _STEPS.value)):
    base = configuration.repo_config("default")
    base.data.height = base.data.width = size
    base.train.num_steps = steps
    base.train.log_every = steps
    base.train.checkpoint_every = steps
    if size * size < base.train.batch_size:
      base.train.batch_size = 0
    row = {"image": f"camera {size}x{size}", "steps": steps, "batch": base.train.batch_size or "full",
           "k": _K.value}
    with tempfile.TemporaryDirectory() as tmp:
      _warm_up(base, tmp)
      separate = []
      t0 = time.perf_counter()
      for omega in omegas:
        config = copy.deepcopy(base)
        config.model.omega_0 = omega
        separate.append(train.train_and_evaluate(config, os.path.join(tmp, f"sep{omega:g}")))
      row["one_by_one_seconds"] = round(time.perf_counter() - t0, 1)
      row["psnr_one_by_one"] = [round(r["psnr"], 2) for r in separate]
      for width in map(int, _WIDTHS.value):
        config = copy.deepcopy(base)
        config.train.vmap_width = width
        t0 = time.perf_counter()
        together = sweep.run_sweep(config, os.path.join(tmp, f"together{width}"),
                                   ["model.omega_0=" + ",".join(f"{o:g}" for o in omegas)])
        seconds = time.perf_counter() - t0
        name = f"together_vmap_width{step_lib.resolve_vmap_width(width, _K.value)}"
        row[f"{name}_seconds"] = round(seconds, 1)
        row[f"{name}_speedup"] = round(row["one_by_one_seconds"] / seconds, 2)
        row[f"{name}_max_psnr_difference_db"] = round(
            max(abs(a["psnr"] - b["psnr"]) for a, b in zip(together, separate)), 3)
        print(row, file=sys.stderr, flush=True)
    results.append(row)
  common.emit({"benchmark": "sweep_speed", "machine": common.machine(), "git": common.git_rev(),
               "omega_0": omegas, "results": results})


def _warm_up(base, tmp):
  """A 2-step sweep of 2 points and a 2-step single run, untimed. The first run in a process pays
  one-off costs (imports of matplotlib and orbax, font caches, the first jit of every helper); without
  this the side timed first paid them alone."""
  warm = copy.deepcopy(base)
  warm.train.num_steps = warm.train.log_every = warm.train.checkpoint_every = 2
  sweep.run_sweep(warm, os.path.join(tmp, "warm_sweep"), ["model.omega_0=20,30"])
  train.train_and_evaluate(warm, os.path.join(tmp, "warm_single"))


if __name__ == "__main__":
  app.run(main)
