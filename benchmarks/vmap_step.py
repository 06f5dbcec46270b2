"""Step cost of K sweep points trained in one program, by how many of them one vmap batches (issue 4).

    python -m benchmarks.vmap_step [--sizes=32,64,256] [--k=8] [--widths=1,2,4,8] [--supervision=values]

For each image size: the plain (single-run) step, times K, against one step of K stacked points where
``vmap_width`` points at a time are vmapped and the program loops over the slices (train.vmap_width:
width K is one batched computation, width 1 steps the points one after another inside the program).
Cameraman size^2, default 3x256 SIREN, full batch up to 64^2 and 16384 random pixels above (the
default batch is larger than a 64^2 image). The K points are copies with different omega_0s (10, 20,
...), as in a sweep. Median of 3 steps after two warm-ups, every variant in one process. Prints JSON;
``together_over_k_plain`` < 1 means training the K points together is faster than one by one.
"""

import sys


import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import common
from siren_jax import configuration, data, models, optim, sharding, targets
from siren_jax import step as step_lib
from siren_jax import hyper as hyper_lib

_SIZES = flags.DEFINE_list("sizes", ["32", "64", "256"], "Image sides (cameraman resized).")
_K = flags.DEFINE_integer("k", 8, "Points trained together.")
_WIDTHS = flags.DEFINE_list("widths", ["1", "2", "4", "8"], "vmap widths to time.")
_SUPERVISION = flags.DEFINE_enum("supervision", "values", ["values", "gradient"], "What is fitted.")


def main(_):
  common.git_rev()  # the commit this run starts from
  config = configuration.repo_config("default")
  micro = sharding.resolve_microbatch(-1)
  mesh = sharding.make_mesh()
  terms = {_SUPERVISION.value: 1.0}
  k = _K.value
  results = []
  for size in map(int, _SIZES.value):
    image = data.load_image("camera", height=size, width=size)
    h, w, c = image.shape
    signed = data.to_signed(image.pixels)
    arrays = {"coords": data.grid_coords(h, w), "values": signed.reshape(-1, c),
              "gradient": targets.image_gradient(signed).reshape(-1, c, 2)}
    batch = 0 if h * w <= 64 * 64 else 16384
    dataset = step_lib.put_dataset(arrays, mesh, full_batch=batch == 0)
    model = models.build_model(config.model, out_features=c)
    perm = (step_lib.epoch_permutation(jax.random.PRNGKey(1), 0, h * w) if batch
            else jnp.zeros((1,), jnp.int32))
    hypers = []
    for i in range(k):
      point = configuration.repo_config("default")
      point.model.omega_0 = 10.0 + 10.0 * i
      hypers.append({n: jnp.float32(v) for n, v in hyper_lib.resolve(point).items()})
    tx = optim.make(config.train)[0]  # one optimiser object: stacked states share its treedef
    # Steps donate their state: every variant starts from freshly made ones.
    states = lambda: [step_lib.create_train_state(jax.random.PRNGKey(i), model, config, tx=tx)
                      for i in range(k)]
    row = {"image": f"camera {h}x{w}", "batch": batch or "full", "k": k}
    plain = step_lib.make_train_step(model, terms, "reverse", "propagate", batch, micro, mesh,
                                     optim.make(config.train)[1])
    seconds, _ = common.time_step(plain, states()[0], hypers[0], dataset.arrays, perm, repeats=3)
    row["plain_ms"] = round(seconds * 1e3, 1)
    print(row, file=sys.stderr, flush=True)
    for width in map(int, _WIDTHS.value):
      step = step_lib.make_train_step(model, terms, "reverse", "propagate", batch, micro, mesh,
                                   optim.make(config.train)[1], num_points=k, vmap_width=width)
      seconds, _ = common.time_step(step, sharding.stack_points(states()), sharding.stack_points(hypers),
                                    dataset.arrays, sharding.stack_points([perm] * k), repeats=3)
      row[f"width{width}_ms"] = round(seconds * 1e3, 1)
      row[f"width{width}_together_over_k_plain"] = round(seconds * 1e3 / (k * row["plain_ms"]), 2)
      print(row, file=sys.stderr, flush=True)
    results.append(row)
  common.emit({"benchmark": "vmap_step", "machine": common.machine(), "git": common.git_rev(),
               "supervision": _SUPERVISION.value, "microbatch": micro, "results": results})


if __name__ == "__main__":
  app.run(main)
