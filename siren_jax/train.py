"""Training: ``create_train_state``, a jit-compiled ``train_step`` and the loop that drives them.

One loop serves every experiment. Batches are random pixels without replacement within an epoch
(``train.batch_size`` > 0) or the whole image (0). The pixels of a batch are sharded across all local
devices and the parameters replicated (``jax.sharding``), so the same code runs on one CPU or many
accelerators. Randomness is a pure function of ``config.seed`` and the step number: the batch of step s
comes from ``fold_in(data_key, epoch(s))``, so a resumed run sees exactly the batches it would have seen.
"""

import dataclasses
import functools
import json
import math
import os
import signal
import time
from typing import Any, Callable, Dict, List, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from siren_jax import (checkpoints, configuration, data, derivatives, fit_data, memory, metrics,
                       models, outputs, report, rundir, supervision, targets)
from siren_jax.errors import Interrupted, UserError, signal_number

TrainState = train_state.TrainState
REPORT_EVERY_SECONDS = 60.0  # how often report.html is refreshed while training
# Between metrics rows, a progress line after this much training, then at least this often (seconds).
PROGRESS_FIRST_SECONDS = 10.0
PROGRESS_EVERY_SECONDS = 30.0


def refresh_report(workdir: str) -> None:
  """Writes workdir/report.html. The report is a convenience: a failure here must not stop a fit."""
  try:
    report.write_report(workdir)
  except Exception as e:  # pylint: disable=broad-except
    logging.warning("could not write %s/report.html: %s", workdir, e)


# Config fields that change no array shape: points of a sweep that differ only in these train together as
# one vmapped program (siren_jax.sweep). Each enters the step as a traced value (see ``hyperparams``).
VMAPPABLE_FIELDS = ("seed", "train.learning_rate", "model.omega_0", "model.first_omega_0",
                    "model.hidden_omega_0")


def make_lr_schedule(t, peak: Optional[float] = None) -> optax.Schedule:
  """Learning rate against step: linear warm-up, then constant, cosine or exponential decay to
  ``final_lr_fraction * peak`` at ``num_steps`` (peak defaults to ``learning_rate``)."""
  lr = t.learning_rate if peak is None else peak
  warm, total = t.warmup_steps, max(t.num_steps, 1)
  decay_steps = max(total - warm, 1)
  if t.schedule == "constant":
    main = optax.constant_schedule(lr)
  elif t.schedule == "cosine":
    main = optax.cosine_decay_schedule(lr, decay_steps, alpha=t.final_lr_fraction)
  elif t.schedule == "exponential":
    main = optax.exponential_decay(lr, decay_steps, decay_rate=max(t.final_lr_fraction, 1e-12))
  else:
    raise UserError(f"unknown train.schedule {t.schedule!r}")
  if warm == 0:
    return main
  return optax.join_schedules([optax.linear_schedule(lr / warm, lr, warm), main], [warm])


def make_optimizer(t) -> optax.GradientTransformation:
  """Adam times the schedule's *shape* (peak 1). The step multiplies by the point's peak learning rate,
  a traced value, so points with different learning rates share one compiled program."""
  return optax.chain(optax.scale_by_adam(), optax.scale_by_schedule(make_lr_schedule(t, peak=1.0)))


def hyperparams(config) -> Dict[str, float]:
  """The per-point values a step takes as inputs rather than constants (see VMAPPABLE_FIELDS)."""
  m = config.model
  return {"lr": float(config.train.learning_rate),
          "first_omega": float(m.get("first_omega_0") or m.omega_0),
          "hidden_omega": float(m.get("hidden_omega_0") or m.omega_0)}


def model_with(model, hyper):
  """``model`` with the omegas of ``hyper`` (Python floats or traced scalars); other families as-is."""
  if isinstance(model, models.Siren):
    return model.clone(first_omega_0=hyper["first_omega"], hidden_omega_0=hyper["hidden_omega"])
  return model


def create_train_state(rng: jax.Array, model, config, in_features: int = 2,
                       tx: Optional[optax.GradientTransformation] = None) -> TrainState:
  """Initial state. ``apply_fn`` is the given model's (the step rebinds the point's omegas), and
  points of a sweep pass one shared ``tx`` so their states stack."""
  point_model = model_with(model, hyperparams(config))  # hidden-layer init depends on omega_0
  params = point_model.init(rng, jnp.zeros((1, in_features), jnp.float32))
  return TrainState.create(apply_fn=model.apply, params=params,
                           tx=tx if tx is not None else make_optimizer(config.train))


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Device-resident training data: a dict of per-pixel arrays with a leading pixel axis: ``coords``
  (N, 2), ``weights`` (N,) (0 on the padding that makes a full batch divisible by the device count) and
  the targets of the supervision terms (``values`` (N, C), ``gradient`` (N, C, 2), ``laplacian`` (N, C))."""
  arrays: Dict[str, jax.Array]


def make_mesh(devices=None) -> Mesh:
  return Mesh(np.array(devices if devices is not None else jax.devices()), ("data",))


def put_dataset(arrays: Dict[str, np.ndarray], mesh: Mesh, full_batch: bool) -> Dataset:
  """Full batch: pixels padded to a multiple of the device count and sharded. Minibatches: replicated
  (each step gathers its batch, then shards it)."""
  n = arrays["coords"].shape[0]
  arrays = dict(arrays, weights=np.ones((n,), np.float32))
  if full_batch:
    pad = (-n) % mesh.size
    arrays = {k: np.concatenate([v, np.zeros((pad,) + v.shape[1:], v.dtype)]) for k, v in arrays.items()}
    sharding = NamedSharding(mesh, P("data"))
  else:
    sharding = NamedSharding(mesh, P())
  return Dataset({k: jax.device_put(np.asarray(v, np.float32), sharding) for k, v in arrays.items()})


def epoch_permutation(data_key: jax.Array, epoch: int, num_pixels: int) -> jax.Array:
  """The pixel order of one epoch. Sorting is slow on CPU (17 ms for 65k pixels), so it is computed
  once per epoch and each step slices its batch out of it."""
  return _permutation(jax.random.fold_in(data_key, epoch), num_pixels)


@functools.partial(jax.jit, static_argnums=1)
def _permutation(key, n):
  return jax.random.permutation(key, n)


def resolve_microbatch(microbatch: int) -> int:
  """-1 (auto): 2048-pixel chunks on CPU, where activations that fit in cache make a step ~1.4x
  faster (benchmarks/step_speed.py); no chunking on accelerators."""
  if microbatch >= 0:
    return microbatch
  return 2048 if jax.default_backend() == "cpu" else 0


def resolve_vmap_width(vmap_width: int, num_points: int) -> int:
  """-1 (auto): 1 on CPU, all points elsewhere. On the 2-core CPU one 64^2 run already keeps both
  cores busy, so batching points buys no throughput and its larger activations cost cache
  (benchmarks/vmap_step.py, RESULTS.md); looping inside one program still saves a compilation and a
  dispatch per point and step. 0: all points."""
  if vmap_width == -1:
    vmap_width = 1 if jax.default_backend() == "cpu" else 0
  return min(vmap_width or num_points, num_points)


def to_chunks(x: jax.Array, num_devices: int, microbatch: int, mesh: Optional[Mesh]):
  """(B, ...) sharded over devices -> (num_chunks, num_devices * m, ...), each chunk sharded the same
  way, so every device walks through its own pixels in cache-sized pieces. Pads with zeros."""
  b = x.shape[0]
  local = b // num_devices
  num_chunks = -(-local // microbatch)
  m = -(-local // num_chunks)
  x = x.reshape(num_devices, local, *x.shape[1:])
  x = jnp.pad(x, [(0, 0), (0, num_chunks * m - local)] + [(0, 0)] * (x.ndim - 2))
  x = x.reshape(num_devices, num_chunks, m, *x.shape[2:]).swapaxes(0, 1)
  x = x.reshape(num_chunks, num_devices * m, *x.shape[3:])
  if mesh is not None:
    x = jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P(None, "data")))
  return x


def from_chunks(y: jax.Array, num_devices: int, b: int) -> jax.Array:
  """Inverse of ``to_chunks`` (drops the padding)."""
  num_chunks, dm = y.shape[:2]
  m = dm // num_devices
  y = y.reshape(num_chunks, num_devices, m, *y.shape[2:]).swapaxes(0, 1)
  y = y.reshape(num_devices, num_chunks * m, *y.shape[3:])[:, :b // num_devices]
  return y.reshape(b, *y.shape[2:])


def resolve_derivative_methods(model, channels: int, gradient_method: str, laplacian_method: str):
  """'auto' picks the cheapest route measured (benchmarks/derivative_speed.py, RESULTS.md). For the
  gradient that is reverse mode (one backward pass per channel) for 1-2 channels, forward mode (one jvp
  per axis) otherwise. For the Laplacian it is the one-pass propagation for SIRENs and jvp-of-jvp
  otherwise (on cameraman 256², propagation costs 3.7x a fit step and jvp-of-jvp 7.5x)."""
  if gradient_method == "auto":
    gradient_method = "reverse" if channels <= 2 else "forward"
  if laplacian_method == "auto":
    laplacian_method = "propagate" if isinstance(model, models.Siren) else "forward"
  return gradient_method, laplacian_method


def make_sse_fn(model, terms: Dict[str, float], gradient_method: str, laplacian_method: str):
  """``sse(params, batch) -> (total, per_term)``: weighted sums over the batch's pixels of each term's
  squared error (mean over channels, and axes for the gradient), scaled by the term weights."""
  need_grad, need_lap = "gradient" in terms, "laplacian" in terms

  def sse(params, batch):
    coords, w = batch["coords"], batch["weights"]
    grads = lap = None
    if need_lap and need_grad and laplacian_method == "propagate":
      values, grads, lap = derivatives.propagate(model, params, coords, laplacian=True)
    else:
      if need_lap:
        values, lap = derivatives.laplacian(model, params, coords, laplacian_method)
      if need_grad:
        values, grads = derivatives.gradient(model, params, coords, gradient_method)
      if not (need_lap or need_grad):
        values = model.apply(params, coords)
    per_term = {}
    if "values" in terms:
      per_term["values"] = jnp.sum(jnp.mean((values - batch["values"]) ** 2, axis=-1) * w)
    if need_grad:
      per_term["gradient"] = jnp.sum(jnp.mean((grads - batch["gradient"]) ** 2, axis=(-2, -1)) * w)
    if need_lap:
      per_term["laplacian"] = jnp.sum(jnp.mean((lap - batch["laplacian"]) ** 2, axis=-1) * w)
    total = sum(terms[k] * v for k, v in per_term.items())
    return total, per_term

  return sse


def loss_and_grad(sse_fn, params, batch: Dict[str, jax.Array], microbatch: int, mesh: Optional[Mesh]):
  """(loss, per-term means, gradient) of the weighted mean loss over the batch, accumulated over
  cache-sized chunks when ``microbatch`` > 0."""
  sse_and_grad = jax.value_and_grad(sse_fn, has_aux=True)
  num_devices = mesh.size if mesh is not None else 1
  if not microbatch or batch["coords"].shape[0] // num_devices <= microbatch:
    (sse, per_term), grads = sse_and_grad(params, batch)
  else:
    chunks = {k: to_chunks(v, num_devices, microbatch, mesh) for k, v in batch.items()}

    def body(acc, chunk):
      return jax.tree_util.tree_map(jnp.add, acc, sse_and_grad(params, chunk)), None

    zero = jax.tree_util.tree_map(
        jnp.zeros_like, jax.eval_shape(sse_and_grad, params, {k: v[0] for k, v in chunks.items()}))
    ((sse, per_term), grads), _ = jax.lax.scan(body, zero, chunks)
  total = jnp.sum(batch["weights"])
  scale = lambda t: jax.tree_util.tree_map(lambda g: g / total, t)
  return sse / total, scale(per_term), scale(grads)


def make_train_step(model, terms: Dict[str, float], gradient_method: str, laplacian_method: str,
                    batch_size: int, microbatch: int, mesh: Mesh, num_points: int = 0,
                    vmap_width: int = 0) -> Callable:
  """``train_step(state, hyper, arrays, perm) -> (state, metrics)``, jit-compiled, state donated.

  With ``batch_size`` > 0 the step takes pixels ``perm[pos * b:(pos + 1) * b]`` where pos is the step's
  position in its epoch; with 0 it uses every pixel. ``num_points`` > 0 steps stacked states,
  hyperparameters and permutations (a sweep's points trained together; the data is shared) in one
  program: ``vmap_width`` points at a time are vmapped, and the program loops over such slices
  (``jax.lax.map``), so ``vmap_width`` = ``num_points`` is one batched computation and 1 steps the points
  one after another without leaving the program (0: all points at once, -1: ``resolve_vmap_width``).
  """
  width = resolve_vmap_width(vmap_width, num_points)
  batch_sharding = NamedSharding(mesh, P("data"))

  def train_step(state: TrainState, hyper, arrays, perm):
    if batch_size:
      pos = state.step % (perm.shape[0] // batch_size)
      idx = jax.lax.dynamic_slice_in_dim(perm, pos * batch_size, batch_size)
      arrays = jax.tree_util.tree_map(lambda a: a[idx], arrays)
      if not num_points:
        arrays = jax.lax.with_sharding_constraint(arrays, batch_sharding)
    sse_fn = make_sse_fn(model_with(model, hyper), terms, gradient_method, laplacian_method)
    # A sweep keeps each point's batch whole on its device (no pixel sharding inside the vmap), and
    # the points vmapped together share the cache: each one's chunk shrinks so a chunk of all still fits.
    loss, per_term, grads = loss_and_grad(
        sse_fn, state.params, arrays,
        max(128, microbatch // width) if (num_points and microbatch) else microbatch,
        None if num_points else mesh)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = jax.tree_util.tree_map(lambda p, u: p - hyper["lr"] * u, state.params, updates)
    state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    return state, {"loss": loss, **{f"loss_{k}": v for k, v in per_term.items()}}

  if not num_points:
    return jax.jit(train_step, donate_argnums=0)

  if width == num_points:
    return jax.jit(jax.vmap(train_step, in_axes=(0, 0, None, 0)), donate_argnums=0)

  def points_step(state, hyper, arrays, perm):
    return jax.lax.map(lambda x: train_step(x[0], x[1], arrays, x[2]), (state, hyper, perm),
                       batch_size=width if width > 1 else None)

  return jax.jit(points_step, donate_argnums=0)


def make_renderer(fn: Callable, mesh: Optional[Mesh], chunk_size: int, microbatch: int) -> Callable:
  """``render(params, coords) -> numpy pytree``: evaluates ``fn(params, coords)`` (any pointwise
  function returning per-pixel arrays: the network, its derivatives) ``chunk_size`` pixels per call
  (one compilation, bounded memory; the last chunk is padded), in cache-sized pieces within a call."""
  num_devices = mesh.size if mesh is not None else 1
  chunk_size = max(num_devices, chunk_size - chunk_size % num_devices)
  sharding = NamedSharding(mesh, P("data")) if mesh is not None else None

  @jax.jit
  def apply(params, coords):
    if not microbatch or chunk_size // num_devices <= microbatch:
      return fn(params, coords)
    chunks = to_chunks(coords, num_devices, microbatch, mesh)
    out = jax.lax.map(lambda c: fn(params, c), chunks)
    return jax.tree_util.tree_map(lambda y: from_chunks(y, num_devices, coords.shape[0]), out)

  def render(params, coords: np.ndarray):
    n = coords.shape[0]
    pieces = []
    for start in range(0, n, chunk_size):
      chunk = coords[start:start + chunk_size]
      m = chunk.shape[0]
      if m < chunk_size:
        chunk = np.concatenate([chunk, np.zeros((chunk_size - m, chunk.shape[1]), chunk.dtype)])
      chunk = jax.device_put(chunk, sharding) if sharding is not None else chunk
      pieces.append(jax.tree_util.tree_map(lambda y, m=m: np.asarray(y)[:m], apply(params, chunk)))
    return jax.tree_util.tree_map(lambda *ys: np.concatenate(ys, axis=0), *pieces)

  return render


def _all_finite(tree) -> bool:
  return all(bool(jnp.all(jnp.isfinite(x))) for x in jax.tree_util.tree_leaves(tree))


def _format_duration(seconds: float) -> str:
  if not math.isfinite(seconds):
    return "?"
  seconds = int(round(seconds))
  h, rem = divmod(seconds, 3600)
  m, s = divmod(rem, 60)
  return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


class Progress:
  """The log's progress lines. One per metrics row (every ``log_every`` steps), and between rows a
  time-based one (after PROGRESS_FIRST_SECONDS of training, then every PROGRESS_EVERY_SECONDS): with
  slow steps (configs/kodak.py: 100 steps of 0.5-2.5 s between rows) the rate and ETA would otherwise
  come only minutes in. Time-based lines are log lines only: they evaluate nothing and write nothing
  (metrics.jsonl keeps its rows at log_every steps), so runs and resumes stay bit-identical. Times are
  training seconds, as in metrics.jsonl. ``labels`` name the points of a sweep (their directories)."""

  def __init__(self, num_steps: int, labels: Sequence[str], step: int, train_seconds: float):
    self.num_steps, self.labels = num_steps, list(labels)
    self.last_step, self.last_seconds = step, train_seconds
    self.next_line = train_seconds + PROGRESS_FIRST_SECONDS

  def due(self, train_seconds: float) -> bool:
    return train_seconds >= self.next_line

  def _speed(self, step: int, train_seconds: float) -> str:
    """'R steps/s  train Ts  ETA E', R measured since the previous line."""
    rate = (step - self.last_step) / max(train_seconds - self.last_seconds, 1e-9)
    eta = _format_duration((self.num_steps - step) / max(rate, 1e-9))
    self.last_step, self.last_seconds = step, train_seconds
    self.next_line = train_seconds + PROGRESS_EVERY_SECONDS
    points = f" ({len(self.labels)} points)" if len(self.labels) > 1 else ""
    return f"{rate:.1f} steps/s{points}  train {train_seconds:.1f}s  ETA {eta}"

  def row(self, step: int, train_seconds: float, loss: float, psnrs: Dict[int, float], lr: float):
    """The line of a metrics row; ``psnrs`` has the points that have not diverged."""
    if len(self.labels) == 1:
      logging.info("step %d/%d  loss %.3e  psnr %.2f dB  lr %.2e  %s", step, self.num_steps, loss,
                   psnrs[0], lr, self._speed(step, train_seconds))
    else:
      values = "; ".join(f"{name}: " + (f"{psnrs[i]:.2f}" if i in psnrs else "diverged")
                         for i, name in enumerate(self.labels))
      logging.info("step %d/%d  psnr (dB) %s  %s", step, self.num_steps, values,
                   self._speed(step, train_seconds))

  def between(self, step: int, train_seconds: float, loss: Optional[float]):
    """A time-based line between rows (with the step's training loss when there is one point)."""
    loss_text = f"  loss {loss:.3e}" if loss is not None and len(self.labels) == 1 else ""
    logging.info("step %d/%d%s  %s", step, self.num_steps, loss_text, self._speed(step, train_seconds))


def derivative_fn(model, channels: int) -> Callable:
  """``fn(params, coords) -> (values, |gradient|, Laplacian)`` per pixel, for the derivative panels."""
  grad_m, lap_m = resolve_derivative_methods(model, channels, "auto", "auto")

  def fn(params, coords):
    if lap_m == "propagate":
      values, grads, lap = derivatives.propagate(model, params, coords, laplacian=True)
    else:
      values, grads = derivatives.gradient(model, params, coords, grad_m)
      _, lap = derivatives.laplacian(model, params, coords, lap_m)
    return values, jnp.sqrt(jnp.sum(grads ** 2, axis=-1)), lap

  return fn


def train_and_evaluate(config, workdir: str) -> Dict[str, Any]:
  """Fits ``config.data.image`` under ``config.train.supervision`` and writes the run's outputs to
  ``workdir``; resumes from the workdir's last checkpoint if there is one.

  Returns the summary (also written to ``workdir/summary.json``).
  """
  return train_points([config], [workdir])[0]


def check_workdir(resolved: Dict[str, Any], workdir: str) -> None:
  """Refuses to resume ``workdir`` unless its config.json is readable and matches ``resolved`` (the
  config now); checkpoints without a config.json have nothing to be checked against, so are refused too."""
  config_path = os.path.join(workdir, "config.json")
  ckpt_dir = os.path.join(workdir, "checkpoints")
  if not os.path.exists(config_path):
    if checkpoints.has_steps(ckpt_dir):
      raise UserError(f"{workdir} has checkpoints but no config.json to check them against, so they "
                      f"cannot be resumed safely; put the run's config.json back, or move {ckpt_dir} "
                      f"aside to start over, or use a new --workdir")
    return
  try:
    with open(config_path) as f:
      saved = json.load(f)
  except (OSError, ValueError) as e:
    raise UserError(f"cannot read {config_path} ({e}); it is what a resumed run is checked against: "
                    f"restore it, or use a new --workdir") from None
  if not isinstance(saved, dict):
    raise UserError(f"{config_path} holds a JSON {type(saved).__name__}, not a config; restore it, or "
                    f"use a new --workdir")
  configuration.check_resumable(saved, resolved)


def stack_points(trees):
  """Per-point pytrees -> one pytree with a leading points axis (what a sweep's step takes)."""
  return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def _index(tree, i):
  return jax.tree_util.tree_map(lambda x: x[i], tree)


def preflight(configs: Sequence[Any]):
  """Every check that can fail on the user's input, done before anything is written: each config's
  values, the image (loaded and turned into targets) and what depends on its size and the machine.
  Points of one group share the data of the first. Returns (fit data, device mesh)."""
  for config in configs:
    configuration.validate(config)
  fit = fit_data.prepare(configs[0])
  h, w, _ = fit.shape
  mesh = make_mesh()
  for config in configs:
    configuration.validate_for_image(config, h, w, mesh.size)
  memory.check_fits(configs[0], h * w, fit.shape[-1], len(configs),
                    resolve_microbatch(configs[0].train.microbatch))
  return fit, mesh


def describe_devices() -> str:
  devices = jax.devices()
  return f"{len(devices)} x {devices[0].device_kind} ({devices[0].platform})"


def train_points(configs: Sequence[Any], workdirs: Sequence[str]) -> List[Dict[str, Any]]:
  """Trains several points that differ only in VMAPPABLE_FIELDS as one vmapped program, each with its
  own workdir, checkpoints and outputs exactly as a single run would write them. One point is a plain
  run (no vmap). All points must resume from the same step. Returns their summaries.

  Everything is validated before anything is written; then this process owns the workdirs
  (``rundir.own``: a second process on one of them is refused in one line) until it returns.
  """
  fit, mesh = preflight(configs)
  for config, workdir in zip(configs, workdirs):
    check_workdir(configuration.to_dict(config), workdir)
  with rundir.own(workdirs):
    return _train_owned(configs, workdirs, fit, mesh)


def _train_owned(configs, workdirs, fit, mesh) -> List[Dict[str, Any]]:
  """``train_points`` once its inputs are validated and its workdirs owned."""
  k = len(configs)
  base = configs[0]
  h, w, c = fit.shape

  t = base.train
  model = models.build_model(base.model, out_features=c, image_shape=(h, w))
  batch_size = configuration.effective_batch_size(base, h * w)
  coords = fit.arrays["coords"]
  dataset = put_dataset(fit.arrays, mesh, full_batch=batch_size == 0)
  replicated = NamedSharding(mesh, P())
  hypers = [hyperparams(cfg) for cfg in configs]
  keys = [jax.random.split(jax.random.PRNGKey(cfg.seed)) for cfg in configs]  # (init, data) per point
  tx = make_optimizer(t)
  states = [create_train_state(init_key, model, cfg, tx=tx) for cfg, (init_key, _) in zip(configs, keys)]
  n_params = models.num_params(states[0].params)
  schedules = [make_lr_schedule(cfg.train) for cfg in configs]
  protocol = supervision.headline_protocol(fit.terms)

  ckpts = [checkpoints.Checkpointer(os.path.join(wd, "checkpoints"), t.max_checkpoints)
           for wd in workdirs]
  metrics_paths = [os.path.join(wd, "metrics.jsonl") for wd in workdirs]
  train_seconds = elapsed_offset = 0.0
  rows = [[] for _ in range(k)]
  for i in range(k):
    restored = ckpts[i].restore_latest(states[i])  # the newest intact checkpoint (see checkpoints.py)
    if restored is not None:
      states[i], meta = restored
      train_seconds, elapsed_offset = meta["train_seconds"], meta["elapsed_s"]
      rows[i] = [r for r in outputs.read_jsonl(metrics_paths[i])
                 if r.get("step", 0) <= int(states[i].step)]
      logging.info("Resuming %s from step %d", workdirs[i], int(states[i].step))
    outputs.write_jsonl(metrics_paths[i], rows[i])
  start_steps = {int(st.step) for st in states}
  if len(start_steps) != 1:  # a point fell back past a damaged checkpoint: a re-run regroups them
    raise UserError(f"points resume from different steps {sorted(start_steps)}; re-run to train them "
                    f"apart")
  start_step = start_steps.pop()
  # Only now: a checkpoint that does not fit the config is bad input, reported in one line and no more.
  logging.info("JAX devices: %s", describe_devices())
  if batch_size != t.batch_size:
    logging.info("train.batch_size=%d is more than the image's %d pixels: every step uses the whole "
                 "image (full batch)", t.batch_size, h * w)
  for config, workdir in zip(configs, workdirs):  # only now: a refused resume leaves the workdir as it was
    outputs.write_json(os.path.join(workdir, "config.json"), configuration.to_dict(config))

  grad_m, lap_m = resolve_derivative_methods(model, c, t.gradient_method, t.laplacian_method)
  vmap_width = resolve_vmap_width(int(t.get("vmap_width", -1)), k)
  resized = (f" (resized from {fit.native_shape[0]}x{fit.native_shape[1]}, data.resize="
             f"{base.data.get('resize', 'exact')})" if fit.native_shape not in ((), (h, w)) else "")
  logging.info("Image %s (%s): %dx%d (HxW)%s, %d channel(s); supervision %s; model %s width %d depth "
               "%d, %d parameters; %d device(s); batch %s%s", fit.name, fit.source, h, w, resized, c,
               ",".join(f"{name}:{v:g}" for name, v in fit.terms.items()), base.model.kind,
               base.model.width, base.model.depth, n_params, mesh.size,
               batch_size or f"full ({h * w} pixels)",
               f"; {k} points trained together in one program, {vmap_width} vmapped at a time"
               if k > 1 else "")

  microbatch = resolve_microbatch(t.microbatch)
  step_fn = make_train_step(model, fit.terms, grad_m, lap_m, batch_size, microbatch, mesh,
                            num_points=k if k > 1 else 0, vmap_width=vmap_width)
  steps_per_epoch = (h * w) // batch_size if batch_size else 1
  epoch = start_step // steps_per_epoch

  def place(per_point):
    """Per-point trees on the devices: point 0's own for a single run, stacked for a vmapped group."""
    return jax.device_put(per_point[0] if k == 1 else stack_points(per_point), replicated)

  def permutations(epoch):
    if not batch_size:
      return place([jnp.zeros((1,), jnp.int32)] * k)
    return place([epoch_permutation(data_key, epoch, h * w) for _, data_key in keys])

  point_hyper = [{n: jnp.float32(v) for n, v in hy.items()} for hy in hypers]
  state = place(states)
  hyper = place(point_hyper)
  perm = permutations(epoch)
  t0 = time.perf_counter()
  compiled = step_fn.lower(state, hyper, dataset.arrays, perm).compile()
  compile_seconds = time.perf_counter() - t0
  render = make_renderer(lambda ph, x: model_with(model, ph[1]).apply(ph[0], x), mesh,
                         base.eval.chunk_size, microbatch)
  point_state = (lambda st, i: st) if k == 1 else _index

  def evaluate(params, i):
    """Point i's unclipped [0, 1] reconstruction (H, W, C)."""
    return data.to_unit(render((params, point_hyper[i]), coords).reshape(h, w, c))

  def headline(pred01):
    if fit.blend is not None:
      return blend_psnr_outside(pred01, fit.blend, base.eval.crop_border)
    return metrics.psnr(supervision.aligned(pred01, fit.reference01, protocol), fit.reference01,
                        base.eval.crop_border)

  def log_row(i, step, step_metrics, pred01, wall):
    # The step-0 row has no training loss (no step has run): its key is left out, not faked.
    row = {"step": step, **({"loss": step_metrics["loss"]} if "loss" in step_metrics else {}),
           "psnr": headline(pred01), "lr": float(schedules[i](step - 1 if step else 0)),
           "train_seconds": round(train_seconds, 4), "elapsed_s": round(wall, 4)}
    row.update({name: v for name, v in step_metrics.items() if name != "loss"})
    outputs.append_jsonl(metrics_paths[i], row)
    rows[i].append(row)
    return row

  wall_start = time.perf_counter() - elapsed_offset
  if start_step == 0:
    for i in range(k):
      log_row(i, 0, {}, evaluate(point_state(state, i).params, i), 0.0)
  diverged = [None] * k  # the step at which a point diverged
  stop_messages = [""] * k

  def stop(i, at_step, what):
    """Marks point i diverged: a sweep's other points train on; a single run ends after the loop."""
    latest = ckpts[i].latest_step()
    kept = ("no checkpoint had been saved" if latest is None else
            f"its checkpoints are kept (the latest, step {latest}, was saved with finite parameters)")
    diverged[i], stop_messages[i] = at_step, f"{what}; {kept}"
    if k > 1:
      logging.warning("%s: %s", workdirs[i], stop_messages[i])

  last_report = time.perf_counter()
  step = start_step
  progress = Progress(t.num_steps, [os.path.basename(os.path.normpath(wd)) for wd in workdirs], step,
                      train_seconds)
  interval_start = time.perf_counter()
  try:
    while step < t.num_steps:
      if batch_size and step // steps_per_epoch != epoch:
        epoch = step // steps_per_epoch
        perm = permutations(epoch)
      state, step_metrics = compiled(state, hyper, dataset.arrays, perm)
      step += 1
      log_now = step % t.log_every == 0 or step == t.num_steps
      ckpt_now = step % t.checkpoint_every == 0 or step == t.num_steps
      if not (log_now or ckpt_now):
        if progress.due(train_seconds + time.perf_counter() - interval_start):
          loss = jax.device_get(step_metrics["loss"])  # waits for the step: the rate is honest
          progress.between(step, train_seconds + time.perf_counter() - interval_start,
                           float(np.reshape(loss, -1)[0]))
        continue
      host_metrics = jax.device_get(step_metrics)  # waits for the step: the timing below is honest
      train_seconds += time.perf_counter() - interval_start
      per_point = [{name: float(np.reshape(v, -1)[i]) for name, v in host_metrics.items()}
                   for i in range(k)]
      for i in range(k):
        loss = per_point[i]["loss"]
        if diverged[i] is None and not math.isfinite(loss):
          stop(i, step, f"loss became {loss} at step {step} (learning rate "
                        f"{float(schedules[i](step)):.3g} too high?)")
      live = [i for i in range(k) if diverged[i] is None]
      if not live:
        break
      if log_now:
        wall = time.perf_counter() - wall_start
        psnrs = {i: log_row(i, step, per_point[i], evaluate(point_state(state, i).params, i), wall)["psnr"]
                 for i in live}
        progress.row(step, train_seconds, per_point[0]["loss"], psnrs, rows[0][-1]["lr"])
        if time.perf_counter() - last_report > REPORT_EVERY_SECONDS:
          for i in live:
            refresh_report(workdirs[i])
          last_report = time.perf_counter()
      if ckpt_now:
        for i in live:
          point = point_state(state, i)
          if not _all_finite(point.params):
            stop(i, step, f"parameters became non-finite at step {step}")
            continue
          ckpts[i].save(step, point, {"train_seconds": train_seconds,
                                      "elapsed_s": time.perf_counter() - wall_start})
        if all(d is not None for d in diverged):
          break
      interval_start = time.perf_counter()
  except KeyboardInterrupt as e:  # SIGINT, or SIGTERM (errors.Terminated)
    for ck in ckpts:
      ck.wait()
    signum, latest = signal_number(e), ckpts[0].latest_step()
    kept = ("no checkpoint had been saved" if latest is None
            else f"the checkpoints at step {latest} are kept")
    raise Interrupted(f"{'interrupted' if signum == signal.SIGINT else 'terminated (SIGTERM)'} at step "
                      f"{step}; {kept}, re-run the same command to resume", signum) from None
  for ck in ckpts:
    ck.wait()
  for i in range(k):  # the final state is always saved (num_steps=0 too), so that it can be rendered
    if diverged[i] is None and ckpts[i].latest_step() != step:
      ckpts[i].save(step, point_state(state, i), {"train_seconds": train_seconds,
                                                  "elapsed_s": time.perf_counter() - wall_start})

  summaries = []
  for i in range(k):
    common = {"image": fit.name, "source": fit.source, "height": h, "width": w, "channels": c,
              "model": base.model.kind, "supervision": fit.terms, "psnr_protocol": protocol,
              "psnr_crop_border": base.eval.crop_border, "train_seconds": round(train_seconds, 3),
              "compile_seconds": round(compile_seconds, 3), "num_params": n_params,
              "devices": mesh.size, "platform": jax.devices()[0].platform,
              "device_kind": jax.devices()[0].device_kind, "trained_together": k,
              "vmap_width": vmap_width}
    if diverged[i] is not None:
      summary = dict(common, status="diverged", steps=diverged[i], psnr=float("nan"),
                     message=stop_messages[i])
      outputs.write_json(os.path.join(workdirs[i], "summary.json"), summary)
      refresh_report(workdirs[i])  # its curves show where it diverged; the sweep's report links here
      summaries.append(summary)
      continue
    point = point_state(state, i)
    summary = _finish_point(workdirs[i], fit, dict(common, status="done", steps=int(point.step)),
                            evaluate(point.params, i), rows[i], model_with(model, hypers[i]),
                            point.params, mesh, base, microbatch, protocol)
    summary["elapsed_s"] = round(time.perf_counter() - wall_start, 3)
    warning = no_progress_warning(rows[i], summary)
    if warning:
      summary["warning"] = warning
      logging.warning("%s: %s", workdirs[i], warning)
    outputs.write_json(os.path.join(workdirs[i], "summary.json"), summary)
    refresh_report(workdirs[i])
    logging.info("Done: %s %.2f dB (%s) after %d steps, %.1f s of training; outputs in %s", fit.name,
                 summary["psnr"], summary["psnr_protocol"], summary["steps"], train_seconds,
                 workdirs[i])
    summaries.append(summary)
  if k == 1 and diverged[0] is not None:  # its summary.json says so too, for the report
    raise UserError(stop_messages[0])
  return summaries


NO_PROGRESS_DB = 1.0  # a fit that ends less than this above its step-0 PSNR has learned nothing useful


def no_progress_warning(rows: Sequence[dict], summary: Dict[str, Any]) -> Optional[str]:
  """A warning when a run that took steps ends near (or below) its initial quality: too high a
  learning rate can bounce around without ever producing a non-finite loss, and would end "done"."""
  first = rows[0] if rows and rows[0].get("step") == 0 else {}
  try:
    initial, final = float(first.get("psnr", "nan")), float(summary["psnr"])
  except (TypeError, ValueError):
    return None
  if summary.get("steps", 0) <= 0 or not (math.isfinite(initial) and math.isfinite(final)):
    return None
  if final >= initial + NO_PROGRESS_DB:
    return None
  return (f"the run ended at {final:.2f} dB after {summary['steps']} steps, less than "
          f"{NO_PROGRESS_DB:g} dB above its {initial:.2f} dB at step 0: it has not learned (learning "
          f"rate too high or too low?)")


def _finish_point(workdir, fit, summary, pred01, rows, model, params, mesh, config, microbatch,
                  protocol) -> Dict[str, Any]:
  """Final evaluation and image outputs of one point; returns its summary."""
  h, w, c = fit.shape
  if fit.blend is not None:
    summary["psnr"] = summary["psnr_outside_mask"] = blend_psnr_outside(pred01, fit.blend,
                                                                        config.eval.crop_border)
    summary["psnr_protocol"] = "psnr_outside_mask"
    shown = blend_result(pred01, fit.blend)
    outputs.write_blend_panel(os.path.join(workdir, "blend.png"), fit.blend, shown)
  else:
    protocols = supervision.evaluate(pred01, fit.reference01, config.eval.crop_border)
    summary.update(protocols)
    summary["psnr_raw"] = protocols["psnr"]  # the reconstruction as it is, before any alignment
    summary["psnr"] = protocols[protocol]
    shown = np.clip(supervision.aligned(pred01, fit.reference01, protocol), 0.0, 1.0)
  outputs.write_png(os.path.join(workdir, "reconstruction.png"), shown)
  outputs.write_png(os.path.join(workdir, "original.png"), fit.reference01)
  if fit.blend is not None:  # the background is the reference only outside the mask
    outputs.write_error_heatmap(os.path.join(workdir, "error.png"), shown, fit.reference01,
                                compared="blend − background", mask=fit.blend["mask"])
  else:
    outputs.write_error_heatmap(os.path.join(workdir, "error.png"), shown, fit.reference01)
  terms = " + ".join(f"{w:g}·{name}" if w != 1 else name for name, w in fit.terms.items())
  outputs.write_curves(os.path.join(workdir, "curves.png"), rows,
                       title=f"{fit.name}: {summary['psnr']:.2f} dB ({summary['psnr_protocol']}) "
                             f"after {summary['steps']} steps",
                       loss_label=f"training loss (MSE of {terms})")
  d_render = make_renderer(derivative_fn(model, c), mesh, min(config.eval.chunk_size, 16384),
                           microbatch)
  _, grad_mag, lap = d_render(params, fit.arrays["coords"])
  t = config.train
  image01, grad_ref, lap_ref, top_titles = panel_targets(fit, t)
  outputs.write_derivative_panel(
      os.path.join(workdir, "derivatives.png"), image01, shown, grad_ref, grad_mag.reshape(h, w, c),
      lap_ref, lap.reshape(h, w, c), gradient_name=t.gradient_target, laplacian_name=t.laplacian_target,
      top_titles=top_titles)
  return summary


def panel_targets(fit, t):
  """(image, |gradient|, Laplacian, top-row titles or None) for derivatives.png's top row: the run's
  own targets (the ones it fits, or would fit, under gradient or Laplacian supervision), so the two rows
  compare like with like. A Poisson blend trains on a composite gradient field that no image has: the
  row shows that field's magnitude, its divergence (the Laplacian the fit approaches) and the
  copy-paste composite, not the background's."""
  h, w, c = fit.shape
  if fit.blend is not None:
    field = fit.arrays["gradient"].reshape(h, w, c, 2)
    return (fit.blend["naive"], np.sqrt(np.sum(field ** 2, axis=-1)), targets.divergence(field),
            ["copy-paste (not a target)", f"trained on: blended |gradient| ({t.gradient_target})",
             "divergence of the blended gradient"])
  ref_signed = data.to_signed(fit.reference01)
  return (fit.reference01,
          np.sqrt(np.sum(targets.gradient_target(ref_signed, t.gradient_target) ** 2, axis=-1)),
          targets.laplacian_target(ref_signed, t.laplacian_target), None)


def blend_result(pred01: np.ndarray, blend: dict) -> np.ndarray:
  """The blend, offset so it matches the background outside the mask (gradients fix it up to a
  constant), clipped to [0, 1]."""
  outside = ~blend["mask"]
  offset = (blend["background"][outside] - pred01[outside]).mean(axis=0)
  return np.clip(pred01 + offset, 0.0, 1.0)


def blend_psnr_outside(pred01: np.ndarray, blend: dict, crop_border: int = 0) -> float:
  """How faithfully the blend keeps the background where it should: PSNR outside the mask."""
  result = blend_result(pred01, blend)
  outside = ~blend["mask"]
  if crop_border:
    outside = outside.copy()
    outside[:crop_border] = outside[-crop_border:] = False
    outside[:, :crop_border] = outside[:, -crop_border:] = False
  return metrics.psnr(result[outside], blend["background"][outside])
