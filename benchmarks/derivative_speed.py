"""Cost of derivative supervision: a training step supervised by the gradient or the Laplacian, as a
multiple of the plain fit step, for each differentiation route (issue 3).

    python -m benchmarks.derivative_speed [--size=256] [--width=256] [--depth=3] [--repeats=3]

Full-batch steps on cameraman size^2 with a depth x width SIREN, all timed in this one process (ratios
are what to compare; absolute times on a shared 2-core machine are noisy). Routes:
  gradient:  reverse (vjp per channel; reverse-over-reverse in training), forward (jvp per axis),
             propagate (value+gradient pushed through the sine layers), hessian (vmapped per-pixel
             jax.jacfwd, the textbook route)
  laplacian: forward (jvp-of-jvp per axis), propagate (value+gradient+Laplacian in one pass),
             hessian (vmapped per-pixel jax.hessian)
Goal (issue 3): gradient step <= 2.2x and Laplacian step <= 4.5x the fit step. Prints JSON.
"""

import sys


import jax
import jax.numpy as jnp
from absl import app, flags

from benchmarks import common
from siren_jax import configuration, data, derivatives, models, optim, sharding, targets
from siren_jax import step as step_lib
from siren_jax import hyper as hyper_lib

_SIZE = flags.DEFINE_integer("size", 256, "Image side (cameraman resized).")
_WIDTH = flags.DEFINE_integer("width", 256, "Hidden width.")
_DEPTH = flags.DEFINE_integer("depth", 3, "Hidden layers.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed steps per variant (median; after two warm-ups).")
_SKIP_HESSIAN = flags.DEFINE_bool("skip_hessian", False, "Skip the (slow) jax.hessian routes.")
_MICROBATCH = flags.DEFINE_integer("microbatch", -1, "Pixels per chunk (-1 = the trainer's auto).")


def main(_):
  common.git_rev()  # the commit this run starts from
  image = data.load_image("camera", height=_SIZE.value, width=_SIZE.value)
  h, w, c = image.shape
  signed = data.to_signed(image.pixels)
  arrays = {"coords": data.grid_coords(h, w), "values": signed.reshape(-1, c),
            "gradient": targets.image_gradient(signed).reshape(-1, c, 2),
            "laplacian": targets.image_laplacian(signed).reshape(-1, c)}
  mesh = sharding.make_mesh()
  dataset = step_lib.put_dataset(arrays, mesh, full_batch=True)
  config = configuration.repo_config("default")
  config.model.width, config.model.depth = _WIDTH.value, _DEPTH.value
  model = models.build_model(config.model, out_features=c)
  micro = sharding.resolve_microbatch(_MICROBATCH.value)
  perm = jnp.zeros((1,), jnp.int32)

  cases = [("fit", {"values": 1.0}, "reverse", "propagate")]
  for m in ("reverse", "forward", "propagate") + (() if _SKIP_HESSIAN.value else ("hessian",)):
    cases.append((f"gradient/{m}", {"gradient": 1.0}, m, "propagate"))
  for m in ("forward", "propagate") + (() if _SKIP_HESSIAN.value else ("hessian",)):
    cases.append((f"laplacian/{m}", {"laplacian": 1.0}, "reverse", m))
  results = {}
  for name, terms, gm, lm in cases:
    state = step_lib.create_train_state(jax.random.PRNGKey(0), model, config)
    step = step_lib.make_train_step(model, terms, gm, lm, 0, micro, mesh,
                                    optim.make(config.train)[1])
    hyper = {n: jnp.float32(v) for n, v in hyper_lib.resolve(config).items()}
    seconds, _ = common.time_step(step, state, hyper, dataset.arrays, perm, repeats=_REPEATS.value)
    results[name] = {"ms_per_step": round(seconds * 1e3, 1)}
    print(name, results[name], file=sys.stderr, flush=True)
  fit = results["fit"]["ms_per_step"]
  for r in results.values():
    r["x_fit_step"] = round(r["ms_per_step"] / fit, 2)
  auto_g, auto_l = derivatives.resolve_methods(model, c, "auto", "auto")
  common.emit({"benchmark": "derivative_speed", "machine": common.machine(), "git": common.git_rev(),
               "image": f"camera {h}x{w}", "network": f"{_DEPTH.value}x{_WIDTH.value} SIREN",
               "microbatch": micro, "auto_routes": {"gradient": auto_g, "laplacian": auto_l},
               "steps": results})


if __name__ == "__main__":
  app.run(main)
