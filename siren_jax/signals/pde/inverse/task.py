"""Full-waveform inversion (SIREN paper Sec. 4.3; official ``train_inverse_helmholtz.py``,
``dataio.InverseHelmholtz``, the inverse branch of ``loss_functions.helmholtz_pml``): recover a
medium's velocity from the wavefields its sources make at a few receivers.

One network maps (x, y) to 2 S + 1 outputs: the real and imaginary parts of each source's wavefield
u_i (interleaved, Re u_0, Im u_0, Re u_1, ..., as the official code) and, last, the perturbation of
the squared slowness. As the official code, m = max(last output, -0.999) + 1, held at 1 where |x| or
|y| > ``pde.fixed_beyond`` (0.75: the medium is known near the boundary, inside the PML).

Each step draws ``train.batch_size`` points uniform in [-1, 1]^2; the first R are the receivers, the
last S ``pde.source_points`` lie in the disks of radius ``pde.source_radius`` around the sources. Per
point (mean over the S fields; the engine then averages over the batch):

  residual  penalty(R_i - f_i) of u_i with the Helmholtz PML operator (``operator``) and m,
            where f_i = 0 (weight 1) and where it is not (weight ``pde.source_weight``);
  data      penalty(u_i - d_i) at the receivers, averaged over them (weight ``pde.data_weight``),
            d_i the measurements (``measurements.fwi_data``: the project's FD solve of the true
            cylinder medium, no download);
  slowness  penalty(m - m_0) (weight ``pde.slowness_weight``), the pretrain phase only;
  fields    penalty(u_i - u0_i) (weight ``pde.field_weight``, 0 = official: off), the pretrain
            phase only, u0_i the FD field of source i in the starting medium (the "known fields"
            pretrain: the residual alone learns a wave only slowly, RESULTS.md).

For the first ``pde.pretrain_steps`` steps (the official ``--pretrain``) the residual uses the known
starting medium m_0 (``pde.velocity``, uniform by default) and the slowness term pins the network's
m to it; there is no data term. Afterwards the residual uses the network's m (its only gradient) and
the data term pulls the fields at the receivers to the measurements. penalty is ``pde.norm``: l1,
|Re| + |Im| as the official ``torch.abs`` sums, or l2, the squared modulus (as the forward task).
The official code sums the residual over fields and weights data and slowness terms by the batch
size; with the means here its weights are data_weight = R (30) and slowness_weight = batch / S.

Metrics: ``velocity_error``, the relative L2 error of the recovered velocity 1 / sqrt(m) against the
true cylinder's over the physical region (outside the PML) on a ``pde.eval_size``^2 grid of nodes, is
the headline (lower is better); summary.json also has the starting medium's error
(``initial_velocity_error``), that of the best constant velocity (the true mean over the region:
what an inversion that finds no structure can reach, ``best_constant_velocity_error``), the
network's error at the end of the pretrain phase where a log row falls on it, and the relative
misfit of the fields at the receivers (``data_misfit``).
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
from siren_jax.signals.pde import common, media, operator, physics, pml
from siren_jax.signals.pde.helmholtz import task as helmholtz_task
from siren_jax.signals.pde.inverse import measurements, SIGNAL

IN_FEATURES = 2  # (x, y)
MAX_EVAL_SIZE = 4096
MAX_SOURCES = 32
SLOWNESS_FLOOR = -0.999  # official clamp of the perturbation: m >= 0.001


def out_features(num_sources: int) -> int:
  return 2 * num_sources + 1


def fields_of(values, num_sources: int):
  """(N, S) complex fields of the network's (N, 2 S + 1) outputs (numpy or jax)."""
  return values[..., 0:2 * num_sources:2] + 1j * values[..., 1:2 * num_sources:2]


def slowness_of(coords, raw, fixed_beyond: float, xp=np):
  """m of the network's last output ``raw`` (N,): 1 + max(raw, -0.999), and 1 where |x| or |y| >
  ``fixed_beyond`` whatever the network says (the official pin: the medium near the boundary is
  known, and the PML's equation assumes it)."""
  outside = (xp.abs(coords[..., 0]) > fixed_beyond) | (xp.abs(coords[..., 1]) > fixed_beyond)
  return xp.where(outside, 1.0, xp.maximum(raw, SLOWNESS_FLOOR) + 1.0)


def velocity_of(coords, values, num_sources: int, fixed_beyond: float) -> np.ndarray:
  """(N,) wave speed 1 / sqrt(m) read from the network's (N, 2 S + 1) outputs at ``coords``."""
  return 1.0 / np.sqrt(slowness_of(coords, values[:, 2 * num_sources], fixed_beyond))


@dataclasses.dataclass(frozen=True)
class InverseLoss:
  """The task's own loss for ``step.make_train_step`` (see the module docstring)."""
  survey: measurements.Survey
  k: float
  pml_width: float
  a0: float
  start_medium: str  # pde.velocity: the known medium of the pretrain phase
  fixed_beyond: float
  pretrain_steps: int
  source_points: int
  source_radius: float
  source_weight: float
  data_weight: float
  slowness_weight: float
  seed: int
  norm: str = "l2"
  field_weight: float = 0.0
  known: Any = None  # (2 S, n, n) float32: Re, Im of the FD fields of the starting medium

  @property
  def key(self) -> jax.Array:
    return jax.random.fold_in(jax.random.PRNGKey(self.seed), 0xF31)

  def known_at(self, coords):
    """(N, 2 S) the starting medium's FD fields (``known``, on ``reference.grid``'s nodes) at
    ``coords``, bilinear (its O(h^2) error matches the solve's); zeros without them."""
    if self.known is None:
      return jnp.zeros((coords.shape[0], 2 * len(self.survey.sources)), jnp.float32)
    n = self.known.shape[-1]
    index = [(coords[:, 1] + 1.0) * (0.5 * (n - 1)), (coords[:, 0] + 1.0) * (0.5 * (n - 1))]
    grids = jnp.asarray(self.known)
    return jnp.stack([jax.scipy.ndimage.map_coordinates(g, index, order=1, mode="nearest")
                      for g in grids], axis=-1)

  def sample(self, batch: Dict[str, jax.Array], key: jax.Array, step=None) -> Dict[str, jax.Array]:
    """Receivers first, uniform points, each source's disk last; the phase as per-point arrays (the
    engine may cut the batch into chunks) and the measurements at the receiver rows."""
    n, s = batch["coords"].shape[0], len(self.survey.sources)
    r, m = len(self.survey.receivers), s * self.source_points
    keys = jax.random.split(key, s + 1)
    coords = jax.random.uniform(keys[0], (n, IN_FEATURES), jnp.float32, -1.0, 1.0)
    disks = [common.disk_points(keys[i + 1], self.source_points, self.survey.sources[i],
                                self.source_radius) for i in range(s)]
    coords = coords.at[n - m:].set(jnp.concatenate(disks)).at[:r].set(
        jnp.asarray(self.survey.receivers, jnp.float32))
    inverting = jnp.float32(1.0) if step is None else (step >= self.pretrain_steps).astype(jnp.float32)
    data = np.zeros((n, 2 * s), np.float32)
    data[:r, 0::2], data[:r, 1::2] = self.survey.data.real, self.survey.data.imag
    at_receiver = jnp.zeros((n,), jnp.float32).at[:r].set(n / r)  # mean over receivers after / n
    return {"coords": coords, "weights": batch["weights"], "data": jnp.asarray(data),
            "data_scale": at_receiver * inverting, "pretrain": jnp.full((n,), 1.0 - inverting),
            "known": self.known_at(coords)}

  def terms(self, coords, values, grads, second, batch) -> Dict[str, jax.Array]:
    """The loss terms' batch sums (before their weights) of a field given by its values (N, 2S+1),
    gradient and unmixed second derivatives (N, 2S+1, 2); model-free, so closed forms test it."""
    s = len(self.survey.sources)
    penalty = helmholtz_task.NORMS[self.norm]
    known = media.squared_slowness(coords, self.start_medium, xp=jnp)
    net = slowness_of(coords, values[:, 2 * s], self.fixed_beyond, xp=jnp)
    inverting = 1.0 - batch["pretrain"]
    m = inverting * net + batch["pretrain"] * known
    u = fields_of(values, s)
    lhs = operator.apply(coords, u, fields_of(jnp.moveaxis(grads, 1, -1), s).swapaxes(-1, -2),
                         fields_of(jnp.moveaxis(second, 1, -1), s).swapaxes(-1, -2), m,
                         self.k, self.pml_width, self.a0)
    f = jnp.stack([media.source(coords, src, xp=jnp) for src in self.survey.sources], axis=-1)
    err = penalty(lhs - f)  # (N, S)
    w = batch["weights"][:, None] / s
    on = jnp.abs(f) > 0
    misfit = penalty(u - fields_of(batch["data"], s))
    fit = jnp.mean(penalty(u - fields_of(batch["known"], s)), axis=-1) * batch["pretrain"]
    return {"residual": jnp.sum(jnp.where(on, 0.0, err) * w),
            "source": jnp.sum(jnp.where(on, err, 0.0) * w),
            "data": jnp.sum(jnp.mean(misfit, axis=-1) * batch["data_scale"]),
            "slowness": jnp.sum(penalty(net - known) * batch["pretrain"] * batch["weights"]),
            "fields": jnp.sum(fit * batch["weights"])}

  def make_sse(self, model, gradient_method: str) -> Callable:
    method = derivatives.resolve_diagonal(model, gradient_method)
    weights = {"residual": 1.0, "source": self.source_weight, "data": self.data_weight,
               "slowness": self.slowness_weight, "fields": self.field_weight}

    def sse(params, batch):
      coords = batch["coords"]
      per_term = self.terms(coords, *derivatives.diagonal(model, params, coords, method), batch)
      return sum(weights[k] * v for k, v in per_term.items()), per_term

    return sse


@dataclasses.dataclass
class InverseFit:
  """The network on the evaluation grid and at the receivers, evaluated once on first use."""
  task: Any
  evaluate: Callable
  _grid: Any = None

  @property
  def grid_values(self) -> np.ndarray:
    if self._grid is None:
      self._grid = np.asarray(self.evaluate(self.task.grid), np.float64)
    return self._grid

  @property
  def velocity(self) -> np.ndarray:
    """(n, n) recovered velocity 1 / sqrt(m)."""
    n = self.task.eval_size
    return velocity_of(self.task.grid, self.grid_values, self.task.num_sources,
                       self.task.loss.fixed_beyond).reshape(n, n)

  @property
  def fields(self) -> np.ndarray:
    """(S, n, n) complex wavefields."""
    n = self.task.eval_size
    return np.moveaxis(fields_of(self.grid_values, self.task.num_sources), -1, 0).reshape(-1, n, n)

  def at_receivers(self) -> np.ndarray:
    """(R, S) complex fields at the receivers."""
    values = np.asarray(self.evaluate(self.task.survey.receivers.astype(np.float32)), np.float64)
    return fields_of(values, self.task.num_sources)


@dataclasses.dataclass
class InverseTask(Capabilities):
  """An inversion's survey, its true and starting velocity on the evaluation grid."""
  name: str
  loss: InverseLoss = dataclasses.field()  # required here (Capabilities gives others None)
  survey: measurements.Survey
  eval_size: int
  grid: np.ndarray  # (n*n, 2) float32 nodes (physics.grid), row-major [row = y, col = x]
  true_velocity: np.ndarray  # (n, n)
  start_velocity: np.ndarray  # (n, n): the known medium of the pretrain phase
  mask: np.ndarray  # bool (n, n): the physical region scored (outside the PML)
  sampler: Any = dataclasses.field()  # required here (Capabilities gives others None)
  settings: Dict[str, Any]
  arrays: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
  terms: Dict[str, float] = dataclasses.field(default_factory=dict)

  @property
  def num_sources(self) -> int:
    return len(self.survey.sources)

  @property
  def out_features(self) -> int:
    return out_features(self.num_sources)

  @property
  def grid_shape(self) -> tuple:
    return (self.eval_size, self.eval_size)

  @property
  def headline_name(self) -> str:
    return SIGNAL.headline.key

  def describe(self) -> str:
    s, l = self.survey, self.loss
    return (f"full-waveform inversion, k={l.k:g}: {len(s.sources)} sources, {len(s.receivers)} "
            f"receivers, true medium a cylinder of radius {s.radius:g} at {tuple(s.center)} with c = "
            f"{s.velocity:g}; {l.pretrain_steps} pretrain steps in the {l.start_medium} medium")

  def prediction(self, evaluate: Callable) -> InverseFit:
    return InverseFit(self, evaluate)

  def velocity_error(self, velocity: np.ndarray) -> float:
    return common.rel_l2(velocity, self.true_velocity, self.mask)

  def headline(self, fit: InverseFit) -> float:
    return self.velocity_error(fit.velocity)

  def summary_fields(self) -> Dict[str, Any]:
    s, l = self.survey, self.loss
    return {"wavenumber": l.k, "sources": s.sources.tolist(), "num_receivers": len(s.receivers),
            "cylinder": {"center": list(s.center), "radius": s.radius, "velocity": s.velocity},
            "start_medium": l.start_medium, "pretrain_steps": l.pretrain_steps,
            "pml_width": l.pml_width, "fixed_beyond": l.fixed_beyond, "eval_size": self.eval_size,
            "scored_points": int(self.mask.sum()), "norm": l.norm, "source_weight": l.source_weight,
            "data_weight": l.data_weight, "slowness_weight": l.slowness_weight,
            "field_weight": l.field_weight, "initial_velocity_error": self.velocity_error(self.start_velocity),
            "best_constant_velocity_error": self.velocity_error(np.full_like(
                self.true_velocity, self.true_velocity[self.mask].mean()))}

  def finish(self, workdir: str, fit: InverseFit, rows: Sequence[dict], summary: Dict[str, Any],
             render_derivatives: Callable) -> Dict[str, Any]:
    """The velocity errors and the receiver misfit into ``summary``; the figures into ``workdir``."""
    del render_derivatives
    from siren_jax.signals.pde.inverse import outputs as inverse_outputs  # pylint: disable=g-import-not-at-top
    summary[self.headline_name] = self.headline(fit)
    after = [r for r in rows if r.get("step") == self.loss.pretrain_steps and self.headline_name in r]
    if after:
      summary["pretrained_velocity_error"] = after[-1][self.headline_name]
    data = self.survey.data
    summary["data_misfit"] = float(np.linalg.norm(fit.at_receivers() - data) / np.linalg.norm(data))
    return inverse_outputs.write_all(workdir, self, fit, rows, summary)


def validate_config(config) -> None:
  """The fields of ``config.pde`` and the batch (one-line UserError)."""
  p = config.get("pde")
  if p is None:
    raise UserError(f"task={config.task} needs the config's pde section (see "
                    "configs/helmholtz_inverse.py)")
  physics.validate(p)
  for ok, message in _checks(p, config.train):
    if not ok:
      raise UserError(message)


def _finite_at_least(value, low) -> bool:
  return isinstance(value, (int, float)) and math.isfinite(value) and value >= low


def _center(p):
  """``pde.cylinder_center`` as a tuple of floats, None where it is not a sequence of numbers."""
  try:
    return tuple(float(v) for v in p.cylinder_center)
  except (TypeError, ValueError):
    return None


def _checks(p, t):
  """(ok, message) of every inversion field; the batch must hold the receivers and source disks."""
  s, per_side = p.num_sources, p.receivers_per_side
  center = _center(p)
  reserved = 3 * per_side + s * p.source_points
  return [(1 <= s <= MAX_SOURCES, f"pde.num_sources must be in [1, {MAX_SOURCES}], got {s}"),
          (1 <= per_side <= 200, f"pde.receivers_per_side must be in [1, 200], got {per_side}"),
          (p.source_points >= 1, f"pde.source_points must be >= 1, got {p.source_points}"),
          (t.batch_size > reserved,
           f"train.batch_size={t.batch_size} must be more than the {reserved} points it reserves for "
           f"receivers and source disks (3 pde.receivers_per_side + pde.num_sources x "
           f"pde.source_points)"),
          (0 < p.source_radius <= 1, f"pde.source_radius must be in (0, 1], got {p.source_radius}"),
          (center is not None and len(center) == 2 and all(abs(v) < 1 for v in center),
           f"pde.cylinder_center must be two numbers in (-1, 1), got {p.cylinder_center}"),
          (0 < p.cylinder_radius < 1, f"pde.cylinder_radius must be in (0, 1), got {p.cylinder_radius}"),
          (_finite_at_least(p.cylinder_velocity, 1e-3) and p.cylinder_velocity <= 1e3,
           f"pde.cylinder_velocity must be in [0.001, 1000], got {p.cylinder_velocity}"),
          (0 < p.fixed_beyond <= 1, f"pde.fixed_beyond must be in (0, 1], got {p.fixed_beyond}"),
          (33 <= p.fd_size <= 1025, f"pde.fd_size must be in [33, 1025], got {p.fd_size}"),
          (0 <= p.pretrain_steps <= t.num_steps,
           f"pde.pretrain_steps must be in [0, train.num_steps={t.num_steps}], got {p.pretrain_steps}"),
          (p.get("norm", "l2") in helmholtz_task.NORMS,
           f"pde.norm must be one of {tuple(helmholtz_task.NORMS)}, got {p.get('norm')!r}"),
          (_finite_at_least(p.source_weight, 0),
           f"pde.source_weight must be >= 0 (0 = the official batch_size / 1000), got {p.source_weight}"),
          (_finite_at_least(p.data_weight, 0), f"pde.data_weight must be >= 0, got {p.data_weight}"),
          (_finite_at_least(p.slowness_weight, 0),
           f"pde.slowness_weight must be >= 0, got {p.slowness_weight}"),
          (_finite_at_least(p.field_weight, 0),
           f"pde.field_weight must be >= 0 (0 = the official pretrain, residual only), got "
           f"{p.field_weight}"),
          (16 <= p.eval_size <= MAX_EVAL_SIZE,
           f"pde.eval_size must be in [16, {MAX_EVAL_SIZE}], got {p.eval_size}"),
          (t.get("sampling", "uniform") == "uniform",
           "train.sampling must be 'uniform' for a PDE: its points are drawn fresh each step")]


def survey(p) -> measurements.Survey:
  """The sources, receivers and their FD measurements in the true cylinder medium of ``config.pde``."""
  center = _center(p)
  sources, receivers, data = measurements.fwi_data(
      n=int(p.fd_size), k=float(p.wavenumber), center=center, radius=float(p.cylinder_radius),
      velocity=float(p.cylinder_velocity), sources=media.fwi_sources(int(p.num_sources)),
      receivers=media.fwi_receivers(int(p.receivers_per_side)))
  return measurements.Survey(sources, receivers, data, center, float(p.cylinder_radius),
                             float(p.cylinder_velocity))


def known_fields(p, s: measurements.Survey) -> np.ndarray:
  """(2 S, n, n) float32 Re and Im of each source's FD field in the starting medium (``pde.velocity``)
  with the loss's PML, on ``pde.fd_size``^2 nodes: the targets of the pretrain's field term."""
  f = measurements.solve_fields(int(p.fd_size), float(p.wavenumber), str(p.velocity), s.sources,
                          float(p.pml_width), float(p.pml_a0))
  return np.stack([f.real, f.imag], axis=1).reshape(-1, *f.shape[1:]).astype(np.float32)


def prepare(config) -> InverseTask:
  """The survey (FD measurements), the loss and the true and starting velocity on the grid."""
  p = config.pde
  s = survey(p)
  loss = InverseLoss(
      survey=s, k=float(p.wavenumber), pml_width=float(p.pml_width), a0=float(p.pml_a0),
      start_medium=str(p.velocity), fixed_beyond=float(p.fixed_beyond),
      pretrain_steps=int(p.pretrain_steps), source_points=int(p.source_points),
      source_radius=float(p.source_radius),
      source_weight=float(p.source_weight) or config.train.batch_size / 1000.0,
      data_weight=float(p.data_weight), slowness_weight=float(p.slowness_weight),
      seed=int(config.seed), norm=str(p.get("norm", "l2")), field_weight=float(p.field_weight),
      known=known_fields(p, s) if p.field_weight > 0 else None)
  n = int(p.eval_size)
  nodes = physics.grid(n).reshape(-1, 2)
  return InverseTask(name="helmholtz_inverse", loss=loss, survey=s, eval_size=n,
                     grid=nodes.astype(np.float32), true_velocity=s.true_velocity(nodes).reshape(n, n),
                     start_velocity=media.velocity(nodes, str(p.velocity)).reshape(n, n),
                     mask=~np.asarray(pml.in_pml(nodes, float(p.pml_width))).reshape(n, n),
                     sampler=common.sampler(IN_FEATURES), settings=p.to_dict())


def check_loaded(config, task: InverseTask, num_devices: int) -> None:
  del task
  configuration.check_batch(config, common.MAX_SAMPLES, num_devices)
