"""Step cost of K sweep points trained in one program, by how many of them one vmap batches (issue 4).

    python -m benchmarks.vmap_step [--sizes=32,64,256] [--k=8] [--widths=1,2,4,8] [--supervision=values]

For each image size: the plain (single-run) step, times K, against one step of K stacked points where
``vmap_width`` points at a time are vmapped and the program loops over the slices (train.vmap_width:
width K is one batched computation, width 1 steps the points one after another inside the program).
Cameraman size^2, default 3x256 SIREN, full batch up to 64^2 and 16384 random pixels above (the
default batch is larger than a 64^2 image). The K points are copies with different omega_0s (10, 20,
...) and seeds, as in a sweep, built by ``siren_jax.engine.run.setup`` as a sweep builds them. Median of 3
steps after two warm-ups, every variant in one process. Prints JSON; ``together_over_k_plain`` < 1
means training the K points together is faster than one by one.
"""

import sys


from absl import app, flags

from benchmarks import common
from siren_jax import configuration
from siren_jax.engine import run

_SIZES = flags.DEFINE_list("sizes", ["32", "64", "256"], "Image sides (cameraman resized).")
_K = flags.DEFINE_integer("k", 8, "Points trained together.")
_WIDTHS = flags.DEFINE_list("widths", ["1", "2", "4", "8"], "vmap widths to time.")
_SUPERVISION = flags.DEFINE_enum("supervision", "values", ["values", "gradient"], "What is fitted.")


def point_configs(size: int, k: int, vmap_width: int):
  """K points of configs/default.py on cameraman at exactly size^2 (full batch up to 64^2, 16384
  random pixels above), point i with seed i and omega_0 10 (i + 1), trained ``vmap_width`` at a time."""
  configs = []
  for i in range(k):
    config = configuration.repo_config("default")
    config.data.image, config.data.resize = "camera", "exact"
    config.data.height = config.data.width = size
    config.train.supervision = _SUPERVISION.value
    config.train.batch_size = 0 if size * size <= 64 * 64 else 16384
    config.train.vmap_width = vmap_width
    config.seed, config.model.omega_0 = i, 10.0 + 10.0 * i
    configs.append(config)
  return configs


def time_size(size: int, k: int):
  """One result row: the plain step (point 0 alone) and the K points' step at each vmap width; and
  the microbatch they ran with. Steps donate their states: every variant is built afresh."""
  plain = run.setup(point_configs(size, 1, -1))
  h, w, _ = plain.task.shape
  row = {"image": f"camera {h}x{w}", "batch": plain.batch_size or "full", "k": k}
  seconds, _ = common.time_run(plain, repeats=3)
  row["plain_ms"] = round(seconds * 1e3, 1)
  print(row, file=sys.stderr, flush=True)
  for width in map(int, _WIDTHS.value):
    together = run.setup(point_configs(size, k, width), task=plain.task, mesh=plain.mesh)
    seconds, _ = common.time_run(together, repeats=3)
    row[f"width{width}_ms"] = round(seconds * 1e3, 1)
    row[f"width{width}_together_over_k_plain"] = round(seconds * 1e3 / (k * row["plain_ms"]), 2)
    print(row, file=sys.stderr, flush=True)
  return row, plain.microbatch


def main(_):
  common.git_rev()  # the commit this run starts from
  timed = [time_size(size, _K.value) for size in map(int, _SIZES.value)]
  results, micro = [row for row, _ in timed], timed[-1][1]
  common.emit({"benchmark": "vmap_step", "machine": common.machine(), "git": common.git_rev(),
               "supervision": _SUPERVISION.value, "microbatch": micro, "results": results})


if __name__ == "__main__":
  app.run(main)
