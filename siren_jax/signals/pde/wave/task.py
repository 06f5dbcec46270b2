"""The wave task (SIREN paper Sec. 4.3): u(t, x, y) fitted from the wave equation, its initial
displacement and its initial velocity alone, no samples of the solution.

The official loss (``loss_functions.wave_pml``, ``dataio.WaveSource``): each step takes
``train.batch_size`` points with (x, y) uniform in [-1, 1]^2 and t uniform in [0, t_max s / S] (a time
curriculum: s the step, S ``train.num_steps``); the last 2 ``pde.initial_points`` are moved to t = 0,
the last ``pde.initial_points`` of those into the disk of radius ``pde.initial_radius`` around the
pulse. The per-point L1 terms are

    |u_tt - (1/m) (u_xx + u_yy)|  (every point),
    |u - u0|, |u_t|               (points at t = 0, weighted by ``pde.initial_weight`` and
                                   ``pde.velocity_weight``; official batch/10 and batch/100),

u0 the Gaussian pulse (``media.wave_initial``) and m the squared slowness. The first
``pde.pretrain_steps`` steps are the official ``--pretrain`` run: every point at |t| <= 0.001 and held
to u0 and zero velocity, no residual, so the network holds the pulse before the equation moves it (the
curriculum then starts from t = 0). The loss is their mean
(the official code sums; Adam does not see the difference). u_t, u_tt, u_xx and u_yy come from
``derivatives.diagonal`` (one pass for SIRENs); ``residual`` takes any field's derivatives, so a closed
form tests it.

Metrics: ``rel_l2``, the relative L2 error over the whole square and ``pde.eval_times`` times evenly in
[0, t_max] against the finite-difference solution (``reference.wave_fd``) on a ``pde.eval_size``^2
grid, is the headline (lower is better); summary.json also has it per time.
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
from siren_jax.signals.pde import common, media, physics, reference
from siren_jax.signals.pde.wave import SIGNAL

IN_FEATURES = 3  # (t, x, y)
# The per-point penalty of each term (``pde.norm``): the official |r|, or r^2.
PENALTIES = {"l1": jnp.abs, "l2": jnp.square}
PRETRAIN_TIME = 1e-3  # the official pretraining's times: uniform in [-this, this]
MAX_EVAL_SIZE = 1024


def residual(velocity: str, coords, values, grads, second):
  """u_tt - (1/m) (u_xx + u_yy) (N,) of a field given by its values (N, 1), gradient and unmixed
  second derivatives (N, 1, 3), axes (t, x, y)."""
  del values, grads
  m = media.squared_slowness(coords[:, 1:], velocity, xp=jnp)
  return second[:, 0, 0] - (second[:, 0, 1] + second[:, 0, 2]) / m


@dataclasses.dataclass(frozen=True)
class WaveLoss:
  """The task's own loss for ``step.make_train_step`` (see the module docstring)."""
  velocity: str
  t_max: float
  num_steps: int
  initial_points: int
  initial_radius: float
  initial_weight: float
  velocity_weight: float
  seed: int
  pretrain_steps: int = 0
  norm: str = "l1"

  @property
  def key(self) -> jax.Array:
    return jax.random.fold_in(jax.random.PRNGKey(self.seed), 0x3A7)

  def sample(self, batch: Dict[str, jax.Array], key: jax.Array, step=0) -> Dict[str, jax.Array]:
    n, m = batch["coords"].shape[0], self.initial_points
    k_xy, k_t, k_disk = jax.random.split(key, 3)
    pretrain = jnp.asarray(step) < self.pretrain_steps
    progress = (jnp.float32(step) - self.pretrain_steps) / max(self.num_steps - self.pretrain_steps, 1)
    horizon = self.t_max * jnp.clip(progress, 0.0, 1.0)
    u = jax.random.uniform(k_t, (n,), jnp.float32)
    t = jnp.where(pretrain, PRETRAIN_TIME * (2 * u - 1), u * horizon)
    xy = jax.random.uniform(k_xy, (n, 2), jnp.float32, -1.0, 1.0)
    xy = xy.at[n - m:].set(common.disk_points(k_disk, m, (0.0, 0.0), self.initial_radius))
    t = t.at[n - 2 * m:].set(0.0)
    initial = jnp.zeros((n,), jnp.float32).at[n - 2 * m:].set(1.0)
    return {"coords": jnp.concatenate([t[:, None], xy], axis=1),
            "initial": jnp.where(pretrain, 1.0, initial),
            "equation": jnp.where(pretrain, 0.0, jnp.ones((n,), jnp.float32)),
            "weights": batch["weights"]}

  def make_sse(self, model, gradient_method: str) -> Callable:
    method = derivatives.resolve_diagonal(model, gradient_method)

    def sse(params, batch):
      coords, w, initial = batch["coords"], batch["weights"], batch["initial"]
      values, grads, second = derivatives.diagonal(model, params, coords, method)
      u0 = media.wave_initial(coords[:, 1:], xp=jnp)
      r = residual(self.velocity, coords, values, grads, second)
      penalty = PENALTIES[self.norm]
      per_term = {"residual": jnp.sum(batch["equation"] * penalty(r) * w),
                  "initial": jnp.sum(initial * penalty(values[:, 0] - u0) * w),
                  "velocity": jnp.sum(initial * penalty(grads[:, 0, 0]) * w)}
      total = (per_term["residual"] + self.initial_weight * per_term["initial"]
               + self.velocity_weight * per_term["velocity"])
      return total, per_term

    return sse


@dataclasses.dataclass
class WaveFit:
  """The fitted wave at the evaluation times on the evaluation grid, evaluated once on first use."""
  task: Any
  evaluate: Callable
  _frames: Any = None

  @property
  def frames(self) -> np.ndarray:
    if self._frames is None:
      n, grid = self.task.eval_size, self.task.grid
      self._frames = np.stack([np.asarray(self.evaluate(np.concatenate(
          [np.full((len(grid), 1), t, np.float32), grid], axis=1)))[:, 0].reshape(n, n)
                               for t in self.task.times])
    return self._frames


@dataclasses.dataclass
class WaveTask(Capabilities):
  """A wave problem and its finite-difference reference at the evaluation times (computed once)."""
  name: str
  velocity: str
  loss: WaveLoss = dataclasses.field()  # required here (Capabilities gives others None)
  eval_size: int
  times: np.ndarray  # (T,) evaluation times in [0, t_max]
  grid: np.ndarray  # (n*n, 2) the reference's nodes, (x, y), row-major [row = y, col = x]
  reference: np.ndarray  # (T, n, n)
  sampler: Any = dataclasses.field()  # common.sampler, the loss draws the points (required here)
  arrays: Dict[str, np.ndarray] = dataclasses.field(default_factory=dict)
  terms: Dict[str, float] = dataclasses.field(default_factory=dict)

  @property
  def out_features(self) -> int:
    return 1

  @property
  def grid_shape(self) -> tuple:
    return (len(self.times), self.eval_size, self.eval_size)

  @property
  def headline_name(self) -> str:
    return SIGNAL.headline.key

  def describe(self) -> str:
    return (f"wave equation, {self.velocity} medium, Gaussian pulse at rest at t = 0, t in [0, "
            f"{self.loss.t_max:g}]; reference: finite differences on a {self.eval_size}^2 grid at "
            f"{len(self.times)} times")

  def prediction(self, evaluate: Callable) -> WaveFit:
    return WaveFit(self, evaluate)

  def headline(self, fit: WaveFit) -> float:
    return common.rel_l2(fit.frames, self.reference)

  def per_time(self, fit: WaveFit):
    return [common.rel_l2(f, r) for f, r in zip(fit.frames, self.reference)]

  def summary_fields(self) -> Dict[str, Any]:
    return {"velocity": self.velocity, "t_max": self.loss.t_max, "reference": "finite-difference "
            "time stepping", "eval_size": self.eval_size, "eval_times": self.times.tolist(),
            "initial_weight": self.loss.initial_weight, "velocity_weight": self.loss.velocity_weight,
            "pretrain_steps": self.loss.pretrain_steps, "norm": self.loss.norm}

  def finish(self, workdir: str, fit: WaveFit, rows: Sequence[dict], summary: Dict[str, Any],
             render_derivatives: Callable) -> Dict[str, Any]:
    """rel_l2 (overall and per time) into ``summary``; frames, animation and curves into ``workdir``."""
    del render_derivatives
    from siren_jax.signals.pde.wave import outputs as wave_outputs  # pylint: disable=g-import-not-at-top
    summary[self.headline_name] = self.headline(fit)
    summary["rel_l2_per_time"] = self.per_time(fit)
    return wave_outputs.write_all(workdir, self, fit.frames, rows, summary)


def validate_config(config) -> None:
  """The fields of ``config.pde`` and the batch (one-line UserError)."""
  p = config.get("pde")
  if p is None:
    raise UserError(f"task={config.task} needs the config's pde section (see configs/wave.py)")
  b = config.train.batch_size
  checks = [physics.velocity_check(p),
            (math.isfinite(p.t_max) and 0 < p.t_max <= 0.45,
             f"pde.t_max must be in (0, 0.45] (the reference holds until the pulse reaches the edge), "
             f"got {p.t_max}"),
            (p.get("norm", "l1") in PENALTIES, f"pde.norm must be one of {tuple(PENALTIES)}, got "
                                               f"{p.get('norm')!r}"),
            (0 <= p.pretrain_steps < config.train.num_steps,
             f"pde.pretrain_steps must be in [0, train.num_steps={config.train.num_steps}), got "
             f"{p.pretrain_steps}"),
            (p.initial_points >= 1, f"pde.initial_points must be >= 1, got {p.initial_points}"),
            (b > 2 * p.initial_points, f"train.batch_size={b} must be more than 2 pde.initial_points="
                                       f"{2 * p.initial_points}"),
            (0 < p.initial_radius <= 1, f"pde.initial_radius must be in (0, 1], got {p.initial_radius}"),
            (math.isfinite(p.initial_weight) and p.initial_weight >= 0,
             f"pde.initial_weight must be >= 0 (0 = the official batch_size / 10), got {p.initial_weight}"),
            (math.isfinite(p.velocity_weight) and p.velocity_weight >= 0,
             f"pde.velocity_weight must be >= 0 (0 = the official batch_size / 100), got "
             f"{p.velocity_weight}"),
            (16 <= p.eval_size <= MAX_EVAL_SIZE,
             f"pde.eval_size must be in [16, {MAX_EVAL_SIZE}], got {p.eval_size}"),
            (2 <= p.eval_times <= 100, f"pde.eval_times must be in [2, 100], got {p.eval_times}"),
            (config.train.get("sampling", "uniform") == "uniform",
             "train.sampling must be 'uniform' for a PDE: its points are drawn fresh each step")]
  for ok, message in checks:
    if not ok:
      raise UserError(message)


def prepare(config) -> WaveTask:
  """The problem of ``config.pde`` and its reference at the evaluation times."""
  p, b = config.pde, config.train.batch_size
  n = int(p.eval_size)
  times = np.linspace(0.0, float(p.t_max), int(p.eval_times))
  frames, _ = reference.wave_fd(n, times, model=p.velocity)
  loss = WaveLoss(velocity=str(p.velocity), t_max=float(p.t_max), num_steps=int(config.train.num_steps),
                  initial_points=int(p.initial_points), initial_radius=float(p.initial_radius),
                  initial_weight=float(p.initial_weight) or b / 10.0,
                  velocity_weight=float(p.velocity_weight) or b / 100.0, seed=int(config.seed),
                  pretrain_steps=int(p.pretrain_steps), norm=str(p.get("norm", "l1")))
  return WaveTask(name=f"wave_{p.velocity}", velocity=str(p.velocity), loss=loss, eval_size=n,
                  times=times, grid=physics.grid(n).reshape(-1, 2).astype(np.float32),
                  reference=np.asarray(frames), sampler=common.sampler(IN_FEATURES))


def check_loaded(config, task: WaveTask, num_devices: int) -> None:
  configuration.check_batch(config, common.MAX_SAMPLES, num_devices)
