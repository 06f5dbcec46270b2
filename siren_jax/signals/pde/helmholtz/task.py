"""The Helmholtz task (SIREN paper Sec. 4.3): a complex wavefield u on [-1, 1]^2, fitted from the PDE
residual alone, no samples of the solution.

The network's two outputs are Re u and Im u at coordinates (x, y). The official loss
(``loss_functions.helmholtz_pml``) penalises the residual of the Helmholtz equation with a perfectly
matched layer (PML, ``siren_jax.signals.pde.pml``) on the border of width ``pde.pml_width``:

    R = d/dx (A du/dx) + d/dy (B du/dy) + C m k^2 u - f,

A = e_y / e_x, B = e_x / e_y, C = e_x e_y (the PML's complex stretches), m the squared slowness
(``siren_jax.signals.pde.media``) and f the (1+1i) Gaussian source. The loss is |Re R| + |Im R| per point
(an L1 norm, as the official code's ``torch.abs`` of the stacked parts; ``pde.norm=l2`` squares the
modulus instead), where the source is nonzero weighted by ``pde.source_weight``; each step takes ``train.batch_size`` fresh uniform points, the last
``pde.source_points`` of them replaced by points uniform in the disk of radius ``pde.source_radius``
around the source, so that the narrow source is seen every step. The official loss is a sum; here it
is a mean (the engine divides by the batch), which Adam does not see but which keeps the logged loss
comparable across batch sizes.

d/dx (A du/dx) = dA/dx du/dx + A d2u/dx2 needs the gradient and the unmixed second derivatives apart:
``derivatives.diagonal`` gives both in one pass for SIRENs. The coefficients' own derivatives are
exact (a jvp of ``pml.coefficients``). ``residual`` takes any field's derivatives, so closed-form
fields test it (tests/test_pde.py).

Metrics: ``rel_l2``, the relative L2 error against the reference (``siren_jax.signals.pde.reference``: the
Hankel solution for the uniform medium, the finite-difference solve with the same PML otherwise) over
the physical region (outside the PML and the source disk), on the reference's ``pde.eval_size``^2
grid of nodes ([-1, 1] ends included), is the headline (lower is better); summary.json also has the mean |R| there.
"""

import dataclasses
import math
from typing import Any, Callable, Dict, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from siren_jax import configuration
from siren_jax.engine.task import Capabilities
from siren_jax.errors import UserError
from siren_jax.nets import derivatives
from siren_jax.signals.pde import common, physics
from siren_jax.signals.pde.helmholtz import SIGNAL

IN_FEATURES = 2  # (x, y)
# The per-point penalty of the complex residual r (``pde.norm``): the official |Re r| + |Im r|, or the
# squared modulus of the usual PINN losses.
NORMS = {"l1": lambda r: jnp.abs(r.real) + jnp.abs(r.imag), "l2": lambda r: r.real ** 2 + r.imag ** 2}
OUT_FEATURES = 2  # Re u, Im u
MAX_EVAL_SIZE = 4096


def field_of(values) -> Any:
  """The complex field of the network's (N, 2) outputs (numpy or jax arrays)."""
  return values[..., 0] + 1j * values[..., 1]


def residual(problem: physics.Helmholtz, coords, values, grads, second):
  """R - f (complex (N,)) at ``coords`` (N, 2) of a field given by its values (N, 2), gradient
  (N, 2, 2) and unmixed second derivatives (N, 2, 2), outputs (Re, Im) and axes (x, y)."""
  u, du, d2u = field_of(values), field_of(jnp.moveaxis(grads, 1, -1)), field_of(
      jnp.moveaxis(second, 1, -1))  # (N,), (N, 2), (N, 2): axes last
  coefficients = lambda c: problem.coefficients(c, xp=jnp)
  (a, b, c), (a_x, _, _) = jax.jvp(coefficients, (coords,), (jnp.zeros_like(coords).at[:, 0].set(1.0),))
  _, (_, b_y, _) = jax.jvp(coefficients, (coords,), (jnp.zeros_like(coords).at[:, 1].set(1.0),))
  r = (a_x * du[:, 0] + a * d2u[:, 0] + b_y * du[:, 1] + b * d2u[:, 1]
       + c * problem.slowness2(coords, xp=jnp) * problem.k ** 2 * u)
  return r - problem.source(coords, xp=jnp)


def field_residual(problem, f: Callable, coords, method: str = "forward"):
  """R - f of any function ``f`` from (N, 2) coordinates to (N, 2) (Re, Im) values."""
  values, grads, second = derivatives.diagonal_of(f, coords, method)
  return residual(problem, coords, values, grads, second)


@dataclasses.dataclass(frozen=True)
class HelmholtzLoss:
  """The task's own loss for ``step.make_train_step`` (see the module docstring)."""
  problem: physics.Helmholtz
  source_points: int
  source_radius: float
  source_weight: float
  seed: int
  norm: str = "l1"

  @property
  def key(self) -> jax.Array:
    return jax.random.fold_in(jax.random.PRNGKey(self.seed), 0x4E1)

  def sample(self, batch: Dict[str, jax.Array], key: jax.Array, step=None) -> Dict[str, jax.Array]:
    del step  # the same distribution every step
    n, m = batch["coords"].shape[0], self.source_points
    k_uniform, k_disk = jax.random.split(key)
    coords = jax.random.uniform(k_uniform, (n, IN_FEATURES), jnp.float32, -1.0, 1.0)
    near = common.disk_points(k_disk, m, self.problem.source_xy, self.source_radius)
    return {"coords": coords.at[n - m:].set(near), "weights": batch["weights"]}

  def make_sse(self, model, gradient_method: str) -> Callable:
    method = derivatives.resolve_diagonal(model, gradient_method)
    problem, weight = self.problem, self.source_weight
    penalty = NORMS[self.norm]

    def sse(params, batch):
      coords = batch["coords"]
      values, grads, second = derivatives.diagonal(model, params, coords, method)
      r = residual(problem, coords, values, grads, second)
      err = penalty(r)
      on = problem.source_support(coords, xp=jnp)
      w = batch["weights"]
      per_term = {"residual": jnp.sum(jnp.where(on, 0.0, err) * w),
                  "source": jnp.sum(jnp.where(on, err, 0.0) * w)}
      return per_term["residual"] + weight * per_term["source"], per_term

    return sse


@dataclasses.dataclass
class HelmholtzFit:
  """The fitted field on the evaluation grid, evaluated once on first use."""
  task: Any
  evaluate: Callable
  _field: Any = None

  @property
  def field(self) -> np.ndarray:
    if self._field is None:
      n = self.task.eval_size
      values = np.asarray(self.evaluate(self.task.grid), np.float64)
      self._field = field_of(values).reshape(n, n)
    return self._field


@dataclasses.dataclass
class HelmholtzTask(Capabilities):
  """A Helmholtz problem and its reference solution on the evaluation grid (computed once)."""
  name: str
  problem: physics.Helmholtz
  loss: HelmholtzLoss = dataclasses.field()  # required here (Capabilities gives others None)
  eval_size: int
  grid: np.ndarray  # (n*n, 2) the reference's nodes (physics.grid), (x, y), row-major [row = y, col = x]
  reference: np.ndarray  # complex (n, n)
  reference_kind: str
  mask: np.ndarray  # bool (n, n): the physical region scored
  sampler: Any = dataclasses.field()  # common.sampler, the loss draws the points (required here)
  settings: Dict[str, Any]
  arrays: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
  terms: Dict[str, float] = dataclasses.field(default_factory=dict)
  needs_network: bool = True  # finish() evaluates the residual on the grid

  @property
  def out_features(self) -> int:
    return OUT_FEATURES

  @property
  def grid_shape(self) -> tuple:
    return (self.eval_size, self.eval_size)

  @property
  def headline_name(self) -> str:
    return SIGNAL.headline.key

  def describe(self) -> str:
    p = self.problem
    return (f"Helmholtz equation, {p.velocity} medium, k={p.k:g}, source at {tuple(p.source_xy)}, PML "
            f"width {p.pml_width:g}; reference: {self.reference_kind} on a {self.eval_size}^2 grid")

  def prediction(self, evaluate: Callable) -> HelmholtzFit:
    return HelmholtzFit(self, evaluate)

  def headline(self, fit: HelmholtzFit) -> float:
    return common.rel_l2(fit.field, self.reference, self.mask)

  def summary_fields(self) -> Dict[str, Any]:
    p = self.problem
    return {"velocity": p.velocity, "wavenumber": p.k, "source": list(p.source_xy),
            "pml_width": p.pml_width, "reference": self.reference_kind, "eval_size": self.eval_size,
            "scored_points": int(self.mask.sum()), "source_weight": self.loss.source_weight,
            "norm": self.loss.norm}

  def finish(self, workdir: str, fit: HelmholtzFit, rows: Sequence[dict], summary: Dict[str, Any],
             render_derivatives: Callable, network=None) -> Dict[str, Any]:
    """rel_l2 and the mean |R| into ``summary``; the field figures into ``workdir``."""
    del render_derivatives
    from siren_jax.signals.pde.helmholtz import outputs as helmholtz_outputs  # pylint: disable=g-import-not-at-top
    summary[self.headline_name] = self.headline(fit)
    model, params, _, _ = network
    summary["mean_abs_residual"] = mean_abs_residual(self, model, params)
    return helmholtz_outputs.write_all(workdir, self, fit.field, rows, summary)


def mean_abs_residual(task: HelmholtzTask, model, params, chunk: int = 8192) -> float:
  """Mean |R - f| (complex modulus) over the scored grid points, in chunks."""
  coords = task.grid[task.mask.reshape(-1)]
  method = derivatives.resolve_diagonal(model, "auto")
  fn = jax.jit(lambda p, c: jnp.abs(residual(task.problem, c, *derivatives.diagonal(model, p, c,
                                                                                   method))))
  total = 0.0
  for start in range(0, len(coords), chunk):
    total += float(jnp.sum(fn(params, jnp.asarray(coords[start:start + chunk]))))
  return total / max(len(coords), 1)


def validate_config(config) -> None:
  """The fields of ``config.pde`` and the batch (one-line UserError)."""
  p = config.get("pde")
  if p is None:
    raise UserError(f"task={config.task} needs the config's pde section (see configs/helmholtz.py)")
  physics.validate(p)
  b = config.train.batch_size
  checks = [(p.get("norm", "l1") in NORMS, f"pde.norm must be one of {tuple(NORMS)}, got "
                                            f"{p.get('norm')!r}"),
            (p.source_points >= 1, f"pde.source_points must be >= 1, got {p.source_points}"),
            (b > p.source_points, f"train.batch_size={b} must be more than pde.source_points="
                                  f"{p.source_points} (0, a full batch, has no meaning for a PDE)"),
            (0 < p.source_radius <= 1, f"pde.source_radius must be in (0, 1], got {p.source_radius}"),
            (math.isfinite(p.source_weight) and p.source_weight >= 0,
             f"pde.source_weight must be >= 0 (0 = the official batch_size / 1000), got "
             f"{p.source_weight}"),
            (16 <= p.eval_size <= MAX_EVAL_SIZE,
             f"pde.eval_size must be in [16, {MAX_EVAL_SIZE}], got {p.eval_size}"),
            (config.train.get("sampling", "uniform") == "uniform",
             "train.sampling must be 'uniform' for a PDE: its points are drawn fresh each step")]
  for ok, message in checks:
    if not ok:
      raise UserError(message)


def source_weight(config) -> float:
  """``pde.source_weight``, or the official per-point weight batch_size / 1000 for 0."""
  return float(config.pde.source_weight) or config.train.batch_size / 1000.0


def prepare(config) -> HelmholtzTask:
  """The problem of ``config.pde`` and its reference on the evaluation grid."""
  p = config.pde
  problem = physics.Helmholtz.from_config(p)
  n = int(p.eval_size)
  nodes = physics.grid(n).reshape(-1, 2)
  reference, kind = problem.reference(n)
  mask = problem.scored(nodes, float(p.source_radius)).reshape(n, n)
  loss = HelmholtzLoss(problem, int(p.source_points), float(p.source_radius), source_weight(config),
                       int(config.seed), norm=str(p.get("norm", "l1")))
  return HelmholtzTask(name=f"helmholtz_{p.velocity}", problem=problem, loss=loss, eval_size=n,
                       grid=nodes.astype(np.float32), reference=reference.reshape(n, n), reference_kind=kind, mask=mask,
                       sampler=common.sampler(IN_FEATURES),
                       settings=p.to_dict())


def check_loaded(config, task: HelmholtzTask, num_devices: int) -> None:
  configuration.check_batch(config, common.MAX_SAMPLES, num_devices)
