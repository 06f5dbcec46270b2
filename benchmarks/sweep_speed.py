"""A K-value omega_0 sweep trained together (one vmapped program) vs the same K runs one by one (issue 4).

    python benchmarks/sweep_speed.py [--k=8] [--sizes=64,256] [--steps=300,50]

Both sides are complete runs as a user would launch them (compilation, evaluation and every output
included), on cameraman at each size with the default 3x256 SIREN and recipe (full batch at 64^2,
since the default batch is larger than the image). Wall times come from the same process, one after
the other, after an untimed warm-up of both paths. Prints JSON.
"""

import copy
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
      _warm_up(base, tmp)
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
    step_k, step_1 = step_times(base, omegas)
    results.append({"image": f"camera {size}x{size}", "steps": steps,
                    "batch": base.train.batch_size or "full", "k": _K.value,
                    "together_seconds": round(t_together, 1),
                    "one_by_one_seconds": round(t_separate, 1),
                    "speedup": round(t_separate / t_together, 2),
                    "step_ms_together_k_points": round(step_k * 1e3, 1),
                    "step_ms_one_point_times_k": round(step_1 * len(omegas) * 1e3, 1),
                    "psnr_together": [round(r["psnr"], 2) for r in together],
                    "max_psnr_difference_vs_one_by_one_db": round(max(diffs), 3)})
    print(results[-1], file=sys.stderr, flush=True)
  common.emit({"benchmark": "sweep_speed", "machine": common.machine(), "git": common.git_rev(),
               "omega_0": omegas, "results": results})


def _warm_up(base, tmp):
  """A 2-step sweep of 2 points and a 2-step single run, untimed. The first run in a process pays
  one-off costs (imports of matplotlib and orbax, font caches, the first jit of every helper); without
  this the side timed first, the sweep, paid them alone."""
  warm = copy.deepcopy(base)
  warm.train.num_steps = warm.train.log_every = warm.train.checkpoint_every = 2
  sweep.run_sweep(warm, os.path.join(tmp, "warm_sweep"), ["model.omega_0=20,30"])
  train.train_and_evaluate(warm, os.path.join(tmp, "warm_single"))


def step_times(base, omegas, repeats=5):
  """Median seconds of one vmapped step of all K points, and of one single-point step."""
  import jax, jax.numpy as jnp  # noqa: E401  pylint: disable=g-import-not-at-top
  from siren_jax import data, models  # pylint: disable=g-import-not-at-top
  image = data.load_image("camera", height=base.data.height, width=base.data.width)
  h, w, c = image.shape
  mesh = train.make_mesh()
  arrays = {"coords": data.grid_coords(h, w), "values": data.to_signed(image.pixels).reshape(-1, c)}
  dataset = train.put_dataset(arrays, mesh, full_batch=base.train.batch_size == 0)
  model = models.build_model(base.model, c, (h, w))
  micro = train.resolve_microbatch(-1)
  tx = train.make_optimizer(base.train)
  hypers = [dict(train.hyperparams(base), first_omega=o, hidden_omega=o) for o in omegas]
  perm = (train.epoch_permutation(jax.random.PRNGKey(0), 0, h * w) if base.train.batch_size
          else jnp.zeros((1,), jnp.int32))
  out = []
  for k in (len(omegas), 0):
    states = [train.create_train_state(jax.random.PRNGKey(i), model, base, tx=tx)
              for i in range(max(k, 1))]
    hy = [{n: jnp.float32(v) for n, v in hh.items()} for hh in hypers[:max(k, 1)]]
    stack = lambda t: jax.tree_util.tree_map(lambda *x: jnp.stack(x), *t)
    state, hyper = (stack(states), stack(hy)) if k else (states[0], hy[0])
    p = jnp.stack([perm] * k) if k else perm
    step = train.make_train_step(model, {"values": 1.0}, "reverse", "propagate",
                                 base.train.batch_size, micro, mesh, num_points=k)
    out.append(common.time_step(step, state, hyper, dataset.arrays, p, repeats=repeats)[0])
  return out[0], out[1]


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
