"""The signed-distance task (paper Sec. 4.2): fit f: [-1, 1]^3 -> R whose zero level set is a surface
given as an oriented point cloud or a mesh (``siren_jax.signals.sdf.shapes``), with the paper's Eq. 6.

Each step takes ``train.batch_size`` on-surface samples (points with normals, the epoch's permutation
of the surface sample, as for pixels) and as many fresh off-surface points uniform in [-1, 1]^3 drawn
from ``fold_in(key(seed), step)`` (``SdfLoss.sample``), and minimises the official
``loss_functions.sdf``, every term a mean over all on- and off-surface samples:

    w_sdf |f| (on) + w_normal (1 - cos(grad f, n)) (on) + w_inter exp(-alpha |f|) (off)
    + w_eikonal | |grad f| - 1 | (all),

with the official weights 3e3, 1e2, 1e2, 5e1 and alpha = 100 (``sdf.weights``, ``sdf.alpha``). The input
gradient comes from ``siren_jax.nets.derivatives`` (``train.gradient_method``).

The headline logged as the run's quality (``surface_error``, lower is better) is the mean |f| over
the surface sample, in the input's units (for analytic shapes, where sdf = 0 there, it is the mean |f - sdf| on the surface); the
final metrics (Chamfer distance, normal consistency, F-score, and the analytic errors) are in
summary.json (``siren_jax.signals.sdf.outputs``).
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
from siren_jax.nets import derivatives, kinds
from siren_jax.signals.sdf import outputs as sdf_outputs, shapes, SIGNAL

LOSS_TERMS = ("sdf", "normal", "inter", "eikonal")
MAX_RESOLUTION = sdf_outputs.MESH_RESOLUTIONS[1]
MAX_TRACE_STEPS = 4096  # sphere-tracing iterations a ray: more is a typo, not a sharper picture
MAX_METRIC_POINTS = 10_000_000  # each metric sample is held in float64 with its k-d tree


def parse_weights(spec: str) -> Dict[str, float]:
  """'sdf:3000,normal:100,inter:100,eikonal:50' -> the four weights (each must be given, >= 0)."""
  weights = {}
  for part in str(spec).split(","):
    name, _, value = part.strip().partition(":")
    if name not in LOSS_TERMS:
      raise UserError(f"sdf.weights: unknown term {name!r} (use {', '.join(LOSS_TERMS)} as name:weight)")
    try:
      weights[name] = float(value)
    except ValueError:
      raise UserError(f"sdf.weights: weight of {name!r} is not a number: {value!r}") from None
    if not (math.isfinite(weights[name]) and weights[name] >= 0):
      raise UserError(f"sdf.weights: weight of {name!r} must be a finite number >= 0")
  missing = [n for n in LOSS_TERMS if n not in weights]
  if missing:
    raise UserError(f"sdf.weights must give every term; missing {missing}")
  return weights


@dataclasses.dataclass(frozen=True)
class SdfLoss:
  """The task's own loss for ``step.make_train_step``: ``sample`` completes a step's batch with
  off-surface points, ``make_sse`` gives the summed per-sample loss (``step.loss_and_grad`` divides by
  the number of samples). The off-surface stream is seeded by the task's config (a sweep's points share
  the task, hence the stream; their seeds still set their initialisations and batch orders)."""
  weights: Dict[str, float]
  alpha: float
  seed: int

  @property
  def key(self) -> jax.Array:
    return jax.random.fold_in(jax.random.PRNGKey(self.seed), 0x5DF)

  def sample(self, batch: Dict[str, jax.Array], key: jax.Array, step=None) -> Dict[str, jax.Array]:
    del step  # the same distribution every step
    n = batch["coords"].shape[0]
    off = jax.random.uniform(key, (n, 3), jnp.float32, -1.0, 1.0)
    ones = jnp.ones((n,), jnp.float32)
    return {"coords": jnp.concatenate([batch["coords"], off]),
            "normals": jnp.concatenate([batch["normals"], jnp.zeros_like(off)]),
            "on_surface": jnp.concatenate([ones, jnp.zeros_like(ones)]),
            "weights": jnp.concatenate([batch["weights"], batch["weights"]])}

  def make_sse(self, model, gradient_method: str) -> Callable:
    w, alpha = self.weights, self.alpha

    def sse(params, batch):
      values, grads = derivatives.gradient(model, params, batch["coords"], gradient_method)
      f, g = values[:, 0], grads[:, 0, :]
      on, weight = batch["on_surface"], batch["weights"]
      norm = jnp.sqrt(jnp.sum(g * g, axis=-1))
      n_norm = jnp.sqrt(jnp.sum(batch["normals"] ** 2, axis=-1))
      cosine = jnp.sum(g * batch["normals"], axis=-1) / jnp.maximum(norm * n_norm, 1e-8)
      per_sample = {"sdf": on * jnp.abs(f), "normal": on * (1.0 - cosine),
                    "inter": (1.0 - on) * jnp.exp(-alpha * jnp.abs(f)),
                    "eikonal": jnp.abs(norm - 1.0)}
      per_term = {k: jnp.sum(v * weight) for k, v in per_sample.items()}
      return sum(w[k] * v for k, v in per_term.items()), per_term

    return sse


@dataclasses.dataclass
class SdfTask(Capabilities):
  """A surface to fit. ``arrays``: the surface sample (``coords`` (N, 3), ``normals`` (N, 3)) in
  normalised coordinates."""
  surface: shapes.Surface
  arrays: Dict[str, np.ndarray]
  terms: Dict[str, float]
  loss: SdfLoss = dataclasses.field()  # required here (Capabilities gives others None)
  settings: Dict[str, Any]  # config.sdf as plain values: what the outputs are made with
  name: str = ""
  needs_network: bool = True  # finish() meshes and renders the network itself

  @property
  def out_features(self) -> int:
    return 1

  @property
  def grid_shape(self) -> tuple:
    r = self.settings["mesh_resolution"]
    return (r, r, r)

  @property
  def headline_name(self) -> str:
    return SIGNAL.headline.key

  def describe(self) -> str:
    s = self.surface
    return (f"signed distance of {s.name} ({s.source}): {len(s.points)} oriented surface points, "
            f"normalised by centre {np.round(s.center, 6).tolist()} and scale {s.scale:.6g}")

  def prediction(self, values: np.ndarray) -> np.ndarray:
    return values.reshape(-1)

  def headline(self, prediction: np.ndarray) -> float:
    return float(np.mean(np.abs(prediction)) * self.surface.scale)

  def summary_fields(self) -> Dict[str, Any]:
    s = self.surface
    return {"shape": s.name, "source": s.source, "surface_points": len(s.points),
            "center": np.asarray(s.center).tolist(), "scale": float(s.scale), "sdf_weights": self.terms,
            "sdf_alpha": self.loss.alpha}

  def finish(self, workdir: str, prediction: np.ndarray, rows: Sequence[dict], summary: Dict[str, Any],
             render_derivatives: Callable, network=None) -> Dict[str, Any]:
    """Metrics into ``summary``; mesh.ply, renders, slices and curves into ``workdir``.
    ``network`` is (model with its ω₀s bound, params, mesh, microbatch)."""
    summary[self.headline_name] = self.headline(prediction)
    return sdf_outputs.write_all(workdir, self, network, rows, summary)


def validate_config(config) -> None:
  """The SDF fields of ``config.data`` and ``config.sdf`` (one-line UserError), those used only after
  training (meshing, renders, slices, metrics) included: a value that fails there would leave a run
  that every re-run trains to the end and fails again."""
  d, s = config.data, config.get("sdf")
  if s is None:
    raise UserError("task=sdf needs the config's sdf section (see configs/sdf.py)")
  if not str(d.get("shape", "")):
    raise UserError(f"data.shape must name an analytic shape {shapes.ANALYTIC} or a file")
  if not 1 <= d.num_points <= shapes.MAX_POINTS:
    raise UserError(f"data.num_points must be in [1, {shapes.MAX_POINTS}], got {d.num_points}")
  if not 0 < d.extent <= 1:
    raise UserError(f"data.extent must be in (0, 1], got {d.extent}")
  parse_weights(s.weights)
  (mesh_lo, mesh_hi), (view_lo, view_hi) = sdf_outputs.MESH_RESOLUTIONS, sdf_outputs.VIEW_SIZES
  checks = [(s.alpha > 0 and math.isfinite(s.alpha), f"sdf.alpha must be > 0, got {s.alpha}"),
            (mesh_lo <= s.mesh_resolution <= mesh_hi,
             f"sdf.mesh_resolution must be in [{mesh_lo}, {mesh_hi}], got {s.mesh_resolution}"),
            (view_lo <= s.render_size <= view_hi,
             f"sdf.render_size must be in [{view_lo}, {view_hi}], got {s.render_size}"),
            (view_lo <= s.slice_size <= view_hi,
             f"sdf.slice_size must be in [{view_lo}, {view_hi}], got {s.slice_size}"),
            (1 <= s.trace_steps <= MAX_TRACE_STEPS,
             f"sdf.trace_steps must be in [1, {MAX_TRACE_STEPS}], got {s.trace_steps}"),
            (s.fscore_tau > 0 and math.isfinite(s.fscore_tau),
             f"sdf.fscore_tau must be a finite number > 0, got {s.fscore_tau}"),
            (1 <= s.metric_points <= MAX_METRIC_POINTS,
             f"sdf.metric_points must be in [1, {MAX_METRIC_POINTS}], got {s.metric_points}"),
            (kinds.get(config.model.kind).resolve is None or config.model.pe_frequencies >= 1,
             f"model.kind={config.model.kind} on a shape needs model.pe_frequencies >= 1 (no image "
             f"size to derive it from)")]
  for ok, message in checks:
    if not ok:
      raise UserError(message)


def prepare(config) -> SdfTask:
  """Loads and normalises ``data.shape`` (one-line errors)."""
  d, s = config.data, config.sdf
  surface = shapes.load_surface(str(d.shape), int(d.num_points), float(d.extent), int(config.seed))
  weights = parse_weights(s.weights)
  return SdfTask(surface=surface, name=surface.name,
                 arrays={"coords": surface.points, "normals": surface.normals},
                 terms=weights, loss=SdfLoss(weights, float(s.alpha), int(config.seed)),
                 settings=dict(s.to_dict(), chunk_size=int(config.eval.chunk_size)))


def check_loaded(config, task: SdfTask, num_devices: int) -> None:
  configuration.check_batch(config, task.arrays["coords"].shape[0], num_devices)
