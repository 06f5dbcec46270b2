"""One Helmholtz training step (the official PML loss, ``siren_jax.signals.pde.helmholtz.task``) in siren_jax
against the same network and loss in PyTorch eager with autograd (the official code's way: a Jacobian
of the outputs, then a Jacobian of A du/dx and B du/dy, by double backward), in one process on this
machine. Prints JSON.

    /tmp/torchvenv/bin/python -m benchmarks.pde_speed [--width=256] [--batch=8192] [--repeats=10]

PyTorch is not a siren_jax dependency: run this with an interpreter that has it (see
benchmarks/sdf_speed.py). Without torch the JAX timings are still printed.

Both sides do the same work per step: draw ``batch`` uniform points with the last ``source_points``
in the source disk, evaluate u, its gradient and the derivatives of A du/dx and B du/dy, the L1
residual (weighted on the source) and an Adam step. The torch network gets siren_jax's initial
parameters and ``loss_check`` compares both losses on one fixed batch, so the timings are of the same
function. The JAX step is the one ``run.setup`` builds for configs/helmholtz.py at these sizes, with
each derivative route and sine.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

from benchmarks import common
from siren_jax import cli, configuration
from siren_jax.engine import run
from siren_jax.signals.pde import media, pml

_WIDTH = flags.DEFINE_integer("width", 256, "Hidden units (official Helmholtz network: 256).")
_DEPTH = flags.DEFINE_integer("depth", 3, "Hidden layers after the first (official: 3).")
_BATCH = flags.DEFINE_integer("batch", 8192, "Points per step (configs/helmholtz.py; official 52,900).")
_REPEATS = flags.DEFINE_integer("repeats", 10, "Timed steps (median) after warm-up steps.")
_METHODS = flags.DEFINE_list("methods", ["propagate", "forward"], "siren_jax derivative routes.")


def helmholtz_config(method: str, sine: str = "xla"):
  config = configuration.repo_config("helmholtz")
  config.model.width, config.model.depth, config.model.sine = _WIDTH.value, _DEPTH.value, sine
  config.train.batch_size = _BATCH.value
  config.train.gradient_method = method
  config.pde.norm = "l1"  # the official penalty, as the torch side computes it
  config.pde.eval_size = 64  # the reference is not timed
  return config


def build(config):
  fit = run.setup([config])
  return fit, jax.tree_util.tree_map(np.array, fit.states[0].params)


def _torch_loss(torch, layers, x, k, weight, m_sq=1.0):
  """The official helmholtz_pml loss, the mean of the L1 residual (source points weighted)."""
  h = x
  for i, (lin, omega) in enumerate(layers):
    h = lin(h)
    if i < len(layers) - 1:
      h = torch.sin(omega * h)
  a, b, c = _torch_coefficients(torch, x, k)  # from x itself: d/dx(A du/dx) differentiates A too
  xs = x.detach()
  f = torch.view_as_real(media.source(xs, (0.0, 0.0), xp=torch).to(torch.complex64))
  on = (f[:, 0] != 0).float()
  du = [torch.autograd.grad(h[:, j], x, torch.ones_like(h[:, j]), create_graph=True)[0]
        for j in range(2)]  # Jacobian rows: (N, 2) each, d(Re u), d(Im u)
  mul = lambda p, q: torch.stack([p[:, 0] * q[:, 0] - p[:, 1] * q[:, 1],
                                  p[:, 0] * q[:, 1] + p[:, 1] * q[:, 0]], -1)
  adx = mul(a, torch.stack([du[0][:, 0], du[1][:, 0]], -1))
  bdy = mul(b, torch.stack([du[0][:, 1], du[1][:, 1]], -1))
  dx = torch.stack([torch.autograd.grad(adx[:, j], x, torch.ones_like(adx[:, j]),
                                        create_graph=True)[0][:, 0] for j in range(2)], -1)
  dy = torch.stack([torch.autograd.grad(bdy[:, j], x, torch.ones_like(bdy[:, j]),
                                        create_graph=True)[0][:, 1] for j in range(2)], -1)
  r = dx + dy + mul(c, m_sq * k ** 2 * h) - f
  l1 = r.abs().sum(-1)
  return ((1 - on) * l1 + weight * on * l1).mean()


def _torch_coefficients(torch, x, k, width=pml.WIDTH, a0=pml.A0):
  """The official PML coefficients A, B, C as (N, 2) (real, imaginary) pairs, built from ``x`` as
  loss_functions.helmholtz_pml builds them (so autograd sees their dependence on x)."""
  inner = 1.0 - width
  d_x = torch.clamp(x[:, 0].abs() - inner, min=0)
  d_y = torch.clamp(x[:, 1].abs() - inner, min=0)
  s_x, s_y = k * a0 * (d_x / width) ** 2, k * a0 * (d_y / width) ** 2
  e_x = torch.stack([torch.ones_like(s_x), -s_x / k], -1)
  e_y = torch.stack([torch.ones_like(s_y), -s_y / k], -1)

  def div(p, q):
    den = q[:, 0] ** 2 + q[:, 1] ** 2
    return torch.stack([(p[:, 0] * q[:, 0] + p[:, 1] * q[:, 1]) / den,
                        (p[:, 1] * q[:, 0] - p[:, 0] * q[:, 1]) / den], -1)

  prod = torch.stack([e_x[:, 0] * e_y[:, 0] - e_x[:, 1] * e_y[:, 1],
                      e_x[:, 0] * e_y[:, 1] + e_x[:, 1] * e_y[:, 0]], -1)
  return div(e_y, e_x), div(e_x, e_y), prod


def _points(torch, n, m, radius):
  x = torch.rand(n, 2) * 2 - 1
  r, t = radius * torch.rand(m).sqrt(), 2 * np.pi * torch.rand(m)
  x[n - m:] = torch.stack([r * torch.cos(t), r * torch.sin(t)], -1)
  return x.requires_grad_(True)


def time_torch(torch, fit, params0) -> float:
  loss_cfg = fit.task.loss
  layers = common.torch_layers(torch, params0, fit.base.model.omega_0)
  opt = torch.optim.Adam([q for lin, _ in layers for q in lin.parameters()],
                         lr=fit.base.train.learning_rate)

  def step():
    x = _points(torch, _BATCH.value, loss_cfg.source_points, loss_cfg.source_radius)
    loss = _torch_loss(torch, layers, x, loss_cfg.problem.k, loss_cfg.source_weight)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()

  for _ in range(2):
    step()
  times = []
  for _ in range(_REPEATS.value):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
  return float(np.median(times))


def loss_check(torch, fit, params0) -> dict:
  """Both losses at siren_jax's initial parameters on one fixed batch (relative difference)."""
  s = fit.task.loss
  batch = s.sample({"coords": jnp.zeros((_BATCH.value, 2)), "weights": jnp.ones(_BATCH.value)},
                   jax.random.PRNGKey(0))
  model = fit.model.clone(first_omega_0=fit.hypers[0]["first_omega"],
                          hidden_omega_0=fit.hypers[0]["hidden_omega"])
  total, _ = s.make_sse(model, "propagate")(params0, batch)
  ours = float(total) / _BATCH.value
  x = torch.from_numpy(np.array(batch["coords"])).requires_grad_(True)
  theirs = _torch_loss(torch, common.torch_layers(torch, params0, fit.base.model.omega_0), x, s.problem.k,
                       s.source_weight).item()
  return {"jax": ours, "torch": theirs, "relative_difference": abs(ours - theirs) / abs(theirs)}


def main(_):
  result = {"machine": common.machine(), "git": common.git_rev(), "width": _WIDTH.value,
            "depth": _DEPTH.value, "batch": _BATCH.value, "repeats": _REPEATS.value, "jax_step_s": {}}
  configs = {m: helmholtz_config(m) for m in _METHODS.value}
  configs["propagate+fast_sine"] = helmholtz_config("propagate", "fast")
  fits = {name: build(config) for name, config in configs.items()}
  try:
    import torch  # pylint: disable=g-import-not-at-top
  except ImportError:
    torch = None
    result["torch"] = "missing: run with an interpreter that has PyTorch (/tmp/torchvenv/bin/python)"
  if torch is not None:  # first, before XLA's CPU threads have run (they would compete)
    fit, params0 = fits["propagate"]
    result["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads()}
    result["loss_check"] = loss_check(torch, fit, params0)
    result["torch_eager_step_s"] = time_torch(torch, fit, params0)
  for name, (fit, _) in fits.items():
    result["jax_step_s"][name] = common.time_run(fit, repeats=_REPEATS.value, warmups=2)[0]
  best = min(result["jax_step_s"], key=result["jax_step_s"].get)
  result["jax_best"] = best
  if torch is not None:
    result["speedup_vs_torch_eager"] = result["torch_eager_step_s"] / result["jax_step_s"][best]
    same_sine = min(v for k, v in result["jax_step_s"].items() if k in _METHODS.value)
    result["speedup_vs_torch_eager_same_sine"] = result["torch_eager_step_s"] / same_sine
  common.emit(result)


if __name__ == "__main__":
  cli.run(main)
