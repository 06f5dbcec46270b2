"""Cost of vmapping the training step over a sweep's points, per supervision (issue 4).

    python benchmarks/vmap_step.py [--size=256] [--batch=16384] [--ks=1,3]

One step of the plain (unvmapped) program against the vmapped step of K stacked points (K = 1 isolates
the cost of vmap itself), for value and for gradient supervision, on cameraman size^2 with the default
3x256 SIREN and random-pixel batches. The points are identical copies, so only the program differs.
Median of 3 steps after two warm-ups, all in one process. Prints JSON.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
from absl import app, flags  # noqa: E402

from benchmarks import common  # noqa: E402
from configs import default as default_config  # noqa: E402
from siren_jax import data, models, targets, train  # noqa: E402

_SIZE = flags.DEFINE_integer("size", 256, "Image side (cameraman resized).")
_BATCH = flags.DEFINE_integer("batch", 16384, "Random pixels per step and point.")
_KS = flags.DEFINE_list("ks", ["1", "3"], "Numbers of points trained together.")


def main(_):
  image = data.load_image("camera", height=_SIZE.value, width=_SIZE.value)
  h, w, c = image.shape
  signed = data.to_signed(image.pixels)
  arrays = {"coords": data.grid_coords(h, w), "values": signed.reshape(-1, c),
            "gradient": targets.image_gradient(signed).reshape(-1, c, 2)}
  mesh = train.make_mesh()
  dataset = train.put_dataset(arrays, mesh, full_batch=False)
  config = default_config.get_config()
  model = models.build_model(config.model, out_features=c)
  hyper = {n: jnp.float32(v) for n, v in train.hyperparams(config).items()}
  perm = train.epoch_permutation(jax.random.PRNGKey(1), 0, h * w)
  micro = train.resolve_microbatch(-1)
  stack = lambda tree, k: jax.tree_util.tree_map(lambda x: jnp.stack([x] * k), tree)
  results = {}
  for name, terms in (("values", {"values": 1.0}), ("gradient", {"gradient": 1.0})):
    row = {}
    for k in [0] + [int(k) for k in _KS.value]:
      state = train.create_train_state(jax.random.PRNGKey(0), model, config)
      args = (state, hyper, perm) if not k else (stack(state, k), stack(hyper, k), stack(perm, k))
      step = train.make_train_step(model, terms, "reverse", "propagate", _BATCH.value, micro, mesh,
                                   num_points=k)
      seconds, _ = common.time_step(step, args[0], args[1], dataset.arrays, args[2], repeats=3)
      row["plain" if not k else f"vmapped_k{k}"] = round(seconds * 1e3, 1)
      print(name, k, row, file=sys.stderr, flush=True)
    for k in _KS.value:
      row[f"vmapped_k{k}_over_k_plain"] = round(row[f"vmapped_k{k}"] / (int(k) * row["plain"]), 2)
    results[name] = row
  common.emit({"benchmark": "vmap_step", "machine": common.machine(), "git": common.git_rev(),
               "image": f"camera {h}x{w}", "batch": _BATCH.value, "microbatch": micro,
               "ms_per_step": results})


if __name__ == "__main__":
  app.run(main)
