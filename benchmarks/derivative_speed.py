"""Cost of derivative supervision: a training step supervised by the gradient or the Laplacian, as a
multiple of the plain fit step, for each differentiation route (issue 3).

    python -m benchmarks.derivative_speed [--size=256] [--width=256] [--depth=3] [--repeats=3]

Full-batch steps on cameraman size^2 with a depth x width SIREN (configs/default.py with the case's
train.supervision and routes, built by ``siren_jax.engine.run.setup``), all timed in this one process (ratios
are what to compare; absolute times on a shared 2-core machine are noisy). Routes:
  gradient:  reverse (vjp per channel; reverse-over-reverse in training), forward (jvp per axis),
             propagate (value+gradient pushed through the sine layers), hessian (vmapped per-pixel
             jax.jacfwd, the textbook route)
  laplacian: forward (jvp-of-jvp per axis), propagate (value+gradient+Laplacian in one pass),
             hessian (vmapped per-pixel jax.hessian)
Goal (issue 3): gradient step <= 2.2x and Laplacian step <= 4.5x the fit step. Prints JSON.
"""

import sys


from absl import app, flags

from benchmarks import common
from siren_jax import configuration
from siren_jax.engine import run
from siren_jax.nets import derivatives

_SIZE = flags.DEFINE_integer("size", 256, "Image side (cameraman resized).")
_WIDTH = flags.DEFINE_integer("width", 256, "Hidden width.")
_DEPTH = flags.DEFINE_integer("depth", 3, "Hidden layers.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed steps per variant (median; after two warm-ups).")
_SKIP_HESSIAN = flags.DEFINE_bool("skip_hessian", False, "Skip the (slow) jax.hessian routes.")
_MICROBATCH = flags.DEFINE_integer("microbatch", -1, "Pixels per chunk (-1 = the trainer's auto).")


def case_config(supervision: str, gradient_method: str, laplacian_method: str):
  """configs/default.py on cameraman at exactly size^2, full batch, supervised by ``supervision`` (one
  term, weight 1) through these routes."""
  config = configuration.repo_config("default")
  config.data.image, config.data.resize = "camera", "exact"
  config.data.height = config.data.width = _SIZE.value
  config.model.width, config.model.depth = _WIDTH.value, _DEPTH.value
  t = config.train
  t.supervision, t.batch_size, t.microbatch = supervision, 0, _MICROBATCH.value
  t.gradient_method, t.laplacian_method = gradient_method, laplacian_method
  return config


def cases():
  """(name, supervision, gradient route, Laplacian route) of every timed step."""
  hessian = () if _SKIP_HESSIAN.value else ("hessian",)
  return ([("fit", "values", "reverse", "propagate")]
          + [(f"gradient/{m}", "gradient", m, "propagate")
             for m in ("reverse", "forward", "propagate") + hessian]
          + [(f"laplacian/{m}", "laplacian", "reverse", m) for m in ("forward", "propagate") + hessian])


def main(_):
  common.git_rev()  # the commit this run starts from
  results, plain = {}, None
  for name, supervision, gm, lm in cases():
    fit = run.setup([case_config(supervision, gm, lm)])
    plain = plain or fit  # the plain fit's run, cases()'s first
    seconds, _ = common.time_run(fit, repeats=_REPEATS.value)
    results[name] = {"ms_per_step": round(seconds * 1e3, 1)}
    print(name, results[name], file=sys.stderr, flush=True)
  fit_ms = results["fit"]["ms_per_step"]
  for r in results.values():
    r["x_fit_step"] = round(r["ms_per_step"] / fit_ms, 2)
  h, w, c = plain.task.shape
  auto_g, auto_l = derivatives.resolve_methods(plain.model, c, "auto", "auto")
  common.emit({"benchmark": "derivative_speed", "machine": common.machine(), "git": common.git_rev(),
               "image": f"camera {h}x{w}", "network": f"{_DEPTH.value}x{_WIDTH.value} SIREN",
               "microbatch": plain.microbatch, "auto_routes": {"gradient": auto_g, "laplacian": auto_l},
               "steps": results})


if __name__ == "__main__":
  app.run(main)
