"""Fit-step speed against the machine's fp32 matmul ceiling (issue 2).

    python -m benchmarks.step_speed [--size=256] [--width=256] [--depth=3] [--repeats=5]

One full-batch training step (forward, backward, Adam) on cameraman at size^2 pixels with a depth x width
SIREN, for each implementation variant, timed in the same process (compare them as ratios: timings on
a shared 2-core machine are noisy). Each variant is configs/default.py with its model.sine and
train.microbatch, built by ``siren_jax.engine.run.setup`` as a run builds it. The step's FLOPs are its matmuls
(2 m k n each, forward plus both backward products); the ceiling is the GFLOP/s of those same matmuls
run alone (plain jnp.dot, jit, same shapes), measured here both on whole-image shapes and on the step's
chunk shapes; the better of the two is the ceiling. Prints JSON.
"""

from absl import app, flags

from benchmarks import common, matmuls
from siren_jax import configuration
from siren_jax.engine import run, sharding

_SIZE = flags.DEFINE_integer("size", 256, "Image side (cameraman resized).")
_WIDTH = flags.DEFINE_integer("width", 256, "Hidden width.")
_DEPTH = flags.DEFINE_integer("depth", 3, "Hidden layers.")
_REPEATS = flags.DEFINE_integer("repeats", 5, "Timed steps per variant (after one warm-up).")


def variant_config(size, width, depth, sine, microbatch):
  """The default config on cameraman at exactly size^2, full batch, with this network and variant."""
  config = configuration.repo_config("default")
  config.data.image, config.data.resize = "camera", "exact"
  config.data.height = config.data.width = size
  config.model.width, config.model.depth, config.model.sine = width, depth, sine
  config.train.supervision, config.train.batch_size, config.train.microbatch = "values", 0, microbatch
  return config


def time_variants(n_side, width, depth, repeats):
  """{name: (seconds per step, microbatch, sine)} of every variant, and the image's (H, W, C)."""
  chunk_variants = [(f"fast_sine+chunks{m}", "fast", m) for m in (1024, 2048, 4096, 8192)]
  timed, shape = {}, None
  for name, sine, micro in chunk_variants + [("fast_sine", "fast", 0), ("xla_sine", "xla", 0),
                                             ("xla_sine+chunks2048", "xla", 2048)]:
    fit = run.setup([variant_config(n_side, width, depth, sine, micro)])
    shape = fit.task.shape
    timed[name] = (common.time_run(fit, repeats=repeats)[0], micro, sine)
  return timed, shape


def main(_):
  common.git_rev()  # the commit this run starts from
  n_side, width, depth, repeats = _SIZE.value, _WIDTH.value, _DEPTH.value, _REPEATS.value
  timed, (h, w, c) = time_variants(n_side, width, depth, repeats)
  n = h * w
  shapes = matmuls.layer_shapes(2, width, depth, c)
  flops = matmuls.step_flops(n, shapes)
  auto_micro = sharding.resolve_microbatch(-1)
  variants = {name: {"ms_per_step": round(sec * 1e3, 1), "gflops": round(flops / sec / 1e9, 1),
                     "microbatch": micro, "sine": sine}
              for name, (sec, micro, sine) in timed.items()}

  ceiling_whole = matmuls.ceiling_gflops(n, shapes, n, repeats)
  ceiling_chunk = matmuls.ceiling_gflops(n, shapes, auto_micro, repeats) if auto_micro else 0.0
  ceiling = max(ceiling_whole, ceiling_chunk)
  for v in variants.values():
    v["fraction_of_ceiling"] = round(v["gflops"] / ceiling, 3)
  base = variants["xla_sine"]["ms_per_step"]
  for v in variants.values():
    v["speedup_vs_xla_sine"] = round(base / v["ms_per_step"], 2)
  common.emit({
      "benchmark": "step_speed", "machine": common.machine(), "git": common.git_rev(),
      "image": f"camera {h}x{w}", "network": f"{depth}x{width} SIREN", "pixels_per_step": n,
      "gflop_per_step": round(flops / 1e9, 2),
      "matmul_ceiling_gflops": {"whole_image_shapes": round(ceiling_whole, 1),
                                f"chunk_shapes_{auto_micro}": round(ceiling_chunk, 1),
                                "used": round(ceiling, 1)},
      "default_variant": f"fast_sine+chunks{auto_micro}" if auto_micro else "fast_sine",
      "variants": variants})


if __name__ == "__main__":
  app.run(main)
