"""A K-value omega_0 sweep trained together (one vmapped program) vs the same K runs one by one (issue 4).

    python benchmarks/sweep_speed.py [--k=8] [--sizes=64,256] [--steps=300,50]

Both sides are complete runs as a user would launch them (compilation, evaluation and every output
included), on cameraman at each size with the default 3x256 SIREN and recipe (full batch at 64^2,
since the default batch is larger than the image). Wall times come from the same process, one after
the other. Prints JSON.
"""

import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags, logging  # noqa: E402

from benchmarks import common  # noqa: E402
from configs import default as default_config  # noqa: E402
from siren_jax import sweep, train  # noqa: E402

_K = flags.DEFINE_integer("k", 8, "Number of omega_0 values.")
_SIZES = flags.DEFINE_list("sizes", ["64", "256"], "Image sides.")
_STEPS = flags.DEFINE_list("steps", ["300", "50"], "Training steps per size.")


def main(_):
  logging.set_verbosity(logging.WARNING)
  omegas = [10.0 + 10.0 * i for i in range(_K.value)]
  results = []
  for size, steps in zip(map(int, _SIZES.value), map(int, _STEPS.value)):
    base = default_config.get_config()
    base.data.height = base.data.width = size
    base.train.num_steps = steps
    base.train.log_every = steps
    base.train.checkpoint_every = steps
    if size * size < base.train.batch_size:
      base.train.batch_size = 0
    with tempfile.TemporaryDirectory() as tmp:
      t0 = time.perf_counter()
      together = sweep.run_sweep(base, os.path.join(tmp, "together"),
                                 ["model.omega_0=" + ",".join(f"{o:g}" for o in omegas)])
      t_together = time.perf_counter() - t0
      t0 = time.perf_counter()
      separate = []
      for omega in omegas:
        config = default_config.get_config()
        config.update_from_flattened_dict({k: v for k, v in _flat(base).items()})
        config.model.omega_0 = omega
        separate.append(train.train_and_evaluate(config, os.path.join(tmp, f"sep{omega:g}")))
      t_separate = time.perf_counter() - t0
    diffs = [abs(a["psnr"] - b["psnr"]) for a, b in zip(together, separate)]
    results.append({"image": f"camera {size}x{size}", "steps": steps,
                    "batch": base.train.batch_size or "full", "k": _K.value,
                    "together_seconds": round(t_together, 1),
                    "one_by_one_seconds": round(t_separate, 1),
                    "speedup": round(t_separate / t_together, 2),
                    "psnr_together": [round(r["psnr"], 2) for r in together],
                    "max_psnr_difference_vs_one_by_one_db": round(max(diffs), 3)})
    print(results[-1], file=sys.stderr, flush=True)
  common.emit({"benchmark": "sweep_speed", "machine": common.machine(), "git": common.git_rev(),
               "omega_0": omegas, "results": results})


def _flat(config, prefix=""):
  out = {}
  for k, v in config.items():
    if hasattr(v, "items"):
      out.update(_flat(v, f"{prefix}{k}."))
    else:
      out[f"{prefix}{k}"] = v
  return out


if __name__ == "__main__":
  app.run(main)
