"""One SDF training step (paper Eq. 6) in siren_jax against the same network and loss in PyTorch eager
with autograd input gradients (the official code's way), and torch.compile where it works, in one
process on this machine; also siren_jax's input-gradient routes for this loss. Prints JSON.

    /tmp/torchvenv/bin/python -m benchmarks.sdf_speed [--width=256] [--batch=1400] [--repeats=20]

PyTorch is not a siren_jax dependency: run this with an interpreter that has it, e.g. a throwaway venv
that sees the system packages:
    python -m venv --system-site-packages /tmp/torchvenv && /tmp/torchvenv/bin/pip install torch
Without torch the JAX timings are still printed and "torch" says it is missing.

Both sides do the same work per step: gather ``batch`` on-surface points and normals of the surface
sample at random, draw as many uniform off-surface points, evaluate f and grad f (double backward
through the input gradient), and take an Adam step. The torch network gets siren_jax's initial
parameters, and ``loss_check`` compares the two losses on one fixed batch, so the timings are of the
same function. The JAX step is the one ``run.setup`` builds for configs/sdf.py with these sizes, with
``jnp.sin`` for each gradient route and with the fast sine (``model.sine=fast``, the default) for the
reverse route; ``speedup_vs_torch_eager_same_sine`` compares like with like (torch.sin).
"""

import time

import jax
import numpy as np
from absl import flags

from benchmarks import common
from siren_jax import cli, configuration
from siren_jax.engine import run

_WIDTH = flags.DEFINE_integer("width", 256, "Hidden units (the official SDF network: 256).")
_DEPTH = flags.DEFINE_integer("depth", 3, "Hidden layers after the first (official: 3).")
_BATCH = flags.DEFINE_integer("batch", 1400, "On-surface points per step (as many off; official 1400).")
_REPEATS = flags.DEFINE_integer("repeats", 20, "Timed steps (median) after warm-up steps.")
_POINTS = flags.DEFINE_integer("points", 20000, "Surface sample size.")
_METHODS = flags.DEFINE_list("methods", ["reverse", "forward", "propagate"], "siren_jax gradient routes.")
_COMPILE = flags.DEFINE_bool("torch_compile", True, "Also time torch.compile (skipped if it fails).")


def sdf_config(method: str):
  config = configuration.repo_config("sdf")
  config.model.width, config.model.depth = _WIDTH.value, _DEPTH.value
  config.model.sine = "xla"  # the same sine as torch.sin; "fast" is timed as its own row
  config.data.num_points = _POINTS.value
  config.train.batch_size = _BATCH.value
  config.train.gradient_method = method
  return config


def build(config):
  """The fit ``run.setup`` builds for ``config`` and its initial parameters as numpy (the timed step
  donates its state)."""
  fit = run.setup([config])
  return fit, jax.tree_util.tree_map(np.array, fit.states[0].params)


def time_jax(fit) -> float:
  return common.time_run(fit, repeats=_REPEATS.value, warmups=3)[0]


def _torch_step(torch, layers, opt, coords, normals, weights, alpha, batch):
  """One step of the official loss on a fresh batch; returns the loss (a tensor)."""
  idx = torch.randint(0, coords.shape[0], (batch,))
  x = torch.cat([coords[idx], torch.rand(batch, 3) * 2 - 1]).requires_grad_(True)
  n = torch.cat([normals[idx], torch.zeros(batch, 3)])
  on = torch.cat([torch.ones(batch), torch.zeros(batch)])
  loss = _torch_loss(torch, layers, x, n, on, weights, alpha)
  opt.zero_grad(set_to_none=True)
  loss.backward()
  opt.step()
  return loss


def _torch_loss(torch, layers, x, n, on, weights, alpha):
  h = x
  for i, (lin, omega) in enumerate(layers):
    h = lin(h)
    if i < len(layers) - 1:
      h = torch.sin(omega * h)
  f = h[:, 0]
  g = torch.autograd.grad(f, x, torch.ones_like(f), create_graph=True)[0]
  cos = torch.nn.functional.cosine_similarity(g, n, dim=-1, eps=1e-8)
  terms = {"sdf": (on * f.abs()).mean(), "normal": (on * (1 - cos)).mean(),
           "inter": ((1 - on) * torch.exp(-alpha * f.abs())).mean(),
           "eikonal": (g.norm(dim=-1) - 1).abs().mean()}
  return sum(weights[k] * v for k, v in terms.items())


def time_torch(torch, fit, params0, compiled: bool) -> float:
  task, s = fit.task, fit.task.loss
  layers = common.torch_layers(torch, params0, fit.base.model.omega_0)
  params = [q for lin, _ in layers for q in lin.parameters()]
  opt = torch.optim.Adam(params, lr=fit.base.train.learning_rate)
  coords, normals = (torch.from_numpy(np.asarray(task.arrays[k])) for k in ("coords", "normals"))
  fn = _torch_step
  if compiled:
    fn = torch.compile(_torch_step)
  args = (torch, layers, opt, coords, normals, s.weights, s.alpha, _BATCH.value)
  for _ in range(3):
    fn(*args).item()
  times = []
  for _ in range(_REPEATS.value):
    t0 = time.perf_counter()
    fn(*args).item()
    times.append(time.perf_counter() - t0)
  return float(np.median(times))


def loss_check(torch, fit, params0) -> dict:
  """Both losses at siren_jax's initial parameters on one fixed batch (relative difference)."""
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top
  rng = np.random.default_rng(0)
  b = _BATCH.value
  idx = rng.choice(fit.num_samples, b)
  x = np.concatenate([fit.task.arrays["coords"][idx], rng.uniform(-1, 1, (b, 3))]).astype(np.float32)
  n = np.concatenate([fit.task.arrays["normals"][idx], np.zeros((b, 3))]).astype(np.float32)
  on = np.concatenate([np.ones(b), np.zeros(b)]).astype(np.float32)
  s = fit.task.loss
  model = fit.model.clone(first_omega_0=fit.hypers[0]["first_omega"],
                          hidden_omega_0=fit.hypers[0]["hidden_omega"])
  total, _ = s.make_sse(model, "reverse")(params0, {
      "coords": jnp.asarray(x), "normals": jnp.asarray(n), "on_surface": jnp.asarray(on),
      "weights": jnp.ones(2 * b)})
  ours = float(total) / (2 * b)
  layers = common.torch_layers(torch, params0, fit.base.model.omega_0)
  theirs = _torch_loss(torch, layers, torch.from_numpy(x).requires_grad_(True), torch.from_numpy(n),
                       torch.from_numpy(on), s.weights, s.alpha).item()
  return {"jax": ours, "torch": theirs, "relative_difference": abs(ours - theirs) / abs(theirs)}


def time_torch_all(torch, fit, params0) -> dict:
  """Torch's rows of the result: version, loss check, eager and compiled step seconds."""
  out = {"torch": {"version": torch.__version__, "threads": torch.get_num_threads()},
         "loss_check": loss_check(torch, fit, params0),
         "torch_eager_step_s": time_torch(torch, fit, params0, compiled=False)}
  if _COMPILE.value:
    try:
      out["torch_compile_step_s"] = time_torch(torch, fit, params0, compiled=True)
    except Exception as e:  # pylint: disable=broad-except  (compile support varies by machine)
      out["torch_compile_step_s"] = f"failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"
  return out


def main(_):
  result = {"machine": common.machine(), "git": common.git_rev(), "width": _WIDTH.value,
            "depth": _DEPTH.value, "batch_on_surface": _BATCH.value, "batch_total": 2 * _BATCH.value,
            "repeats": _REPEATS.value, "jax_step_s": {}}
  configs = {m: sdf_config(m) for m in _METHODS.value}
  configs["reverse+fast_sine"] = sdf_config("reverse")
  configs["reverse+fast_sine"].model.sine = "fast"
  fits = {name: build(config) for name, config in configs.items()}
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    torch = None
    result["torch"] = ("missing: run with an interpreter that has PyTorch, e.g. "
                       "/tmp/torchvenv/bin/python -m benchmarks.sdf_speed")
  if torch is not None:  # first, before XLA's CPU threads have run (they would compete)
    result.update(time_torch_all(torch, *fits[next(iter(fits))]))
  for name, (fit, _) in fits.items():
    result["jax_step_s"][name] = time_jax(fit)
  best = min(result["jax_step_s"], key=result["jax_step_s"].get)
  result["jax_best"] = best
  if torch is not None:
    result["speedup_vs_torch_eager"] = result["torch_eager_step_s"] / result["jax_step_s"][best]
    same_sine = min(v for k, v in result["jax_step_s"].items() if k in _METHODS.value)  # jnp.sin
    result["speedup_vs_torch_eager_same_sine"] = result["torch_eager_step_s"] / same_sine
    if isinstance(result.get("torch_compile_step_s"), float):
      result["speedup_vs_torch_compile"] = result["torch_compile_step_s"] / result["jax_step_s"][best]
  common.emit(result)


if __name__ == "__main__":
  cli.run(main)
