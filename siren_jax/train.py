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
import time
from typing import Any, Callable, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from absl import logging
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from siren_jax import (checkpoints, configuration, data, derivatives, fit_data, metrics, models,
                       outputs, supervision, targets)
from siren_jax.errors import UserError

TrainState = train_state.TrainState


def make_lr_schedule(t) -> optax.Schedule:
  """Learning rate against step: linear warm-up, then constant, cosine or exponential decay to
  ``final_lr_fraction * learning_rate`` at ``num_steps``."""
  lr, warm, total = t.learning_rate, t.warmup_steps, max(t.num_steps, 1)
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


def create_train_state(rng: jax.Array, model, config, in_features: int = 2) -> TrainState:
  params = model.init(rng, jnp.zeros((1, in_features), jnp.float32))
  tx = optax.adam(make_lr_schedule(config.train))
  return TrainState.create(apply_fn=model.apply, params=params, tx=tx)


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Device-resident training data: a dict of per-pixel arrays with a leading pixel axis: ``coords``
  (N, 2), ``weights`` (N,) (0 on the padding that makes a full batch divisible by the device count) and
  the targets of the supervision terms (``values`` (N, C), ``gradient`` (N, C, 2), ``laplacian`` (N, C))."""
  arrays: Dict[str, jax.Array]
  num_pixels: int  # real pixels (N minus padding)


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
  return Dataset({k: jax.device_put(np.asarray(v, np.float32), sharding) for k, v in arrays.items()}, n)


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
  """'auto' picks the cheapest measured route (benchmarks/derivative_speed.py): reverse mode for the
  gradient of a 1- or 2-channel image (one backward pass per channel beats a jvp per axis), the one-pass
  propagation through the sine layers otherwise and for the Laplacian; forward mode for non-SIRENs."""
  is_siren = isinstance(model, models.Siren)
  if gradient_method == "auto":
    gradient_method = "reverse" if channels <= 2 or not is_siren else "propagate"
  if laplacian_method == "auto":
    laplacian_method = "propagate" if is_siren else "forward"
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


def make_train_step(sse_fn, batch_size: int, microbatch: int, mesh: Mesh) -> Callable:
  """``train_step(state, arrays, perm) -> (state, metrics)``, jit-compiled with the state donated.
  With ``batch_size`` > 0 the step takes pixels ``perm[pos * b:(pos + 1) * b]`` where pos is the
  step's position in its epoch; with 0 it uses every pixel."""
  batch_sharding = NamedSharding(mesh, P("data"))

  def train_step(state: TrainState, arrays, perm):
    if batch_size:
      pos = state.step % (perm.shape[0] // batch_size)
      idx = jax.lax.dynamic_slice_in_dim(perm, pos * batch_size, batch_size)
      arrays = jax.lax.with_sharding_constraint(
          jax.tree_util.tree_map(lambda a: a[idx], arrays), batch_sharding)
    loss, per_term, grads = loss_and_grad(sse_fn, state.params, arrays, microbatch, mesh)
    return state.apply_gradients(grads=grads), {"loss": loss, **{f"loss_{k}": v for k, v in per_term.items()}}

  return jax.jit(train_step, donate_argnums=0)


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
  configuration.validate(config)
  fit = fit_data.prepare(config)
  h, w, c = fit.shape
  mesh = make_mesh()
  configuration.validate_for_image(config, h, w, mesh.size)
  resolved = configuration.to_dict(config)
  config_path = os.path.join(workdir, "config.json")
  if os.path.exists(config_path):
    with open(config_path) as f:
      configuration.check_resumable(json.load(f), resolved)
  os.makedirs(workdir, exist_ok=True)
  outputs.write_json(config_path, resolved)

  model = models.build_model(config.model, out_features=c)
  init_key, data_key = jax.random.split(jax.random.PRNGKey(config.seed))
  t = config.train
  batch_size = t.batch_size
  coords = fit.arrays["coords"]
  dataset = put_dataset(fit.arrays, mesh, full_batch=batch_size == 0)
  replicated = NamedSharding(mesh, P())
  state = jax.device_put(create_train_state(init_key, model, config), replicated)
  n_params = models.num_params(state.params)
  schedule = make_lr_schedule(t)
  protocol = supervision.headline_protocol(fit.terms)

  ckpt = checkpoints.Checkpointer(os.path.join(workdir, "checkpoints"), t.max_checkpoints)
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  restored = ckpt.restore_latest(state)
  train_seconds = elapsed_offset = 0.0
  rows = []
  if restored is not None:
    state, meta = restored
    state = jax.device_put(state, replicated)
    train_seconds, elapsed_offset = meta["train_seconds"], meta["elapsed_s"]
    rows = [r for r in outputs.read_jsonl(metrics_path) if r.get("step", 0) <= int(state.step)]
    logging.info("Resuming %s from step %d (checkpoint in %s)", workdir, int(state.step), ckpt.directory)
  outputs.write_jsonl(metrics_path, rows)
  start_step = int(state.step)

  grad_m, lap_m = resolve_derivative_methods(model, c, t.gradient_method, t.laplacian_method)
  logging.info("Image %s (%s): %dx%d, %d channel(s); supervision %s; model %s width %d depth %d, "
               "%d parameters; %d device(s); batch %s", fit.name, fit.source, w, h, c,
               ",".join(f"{k}:{v:g}" for k, v in fit.terms.items()), config.model.kind,
               config.model.width, config.model.depth, n_params, mesh.size,
               batch_size or f"full ({h * w} pixels)")

  microbatch = resolve_microbatch(t.microbatch)
  sse_fn = make_sse_fn(model, fit.terms, grad_m, lap_m)
  step_fn = make_train_step(sse_fn, batch_size, microbatch, mesh)
  steps_per_epoch = (h * w) // batch_size if batch_size else 1
  epoch = start_step // steps_per_epoch
  perm = (jax.device_put(epoch_permutation(data_key, epoch, h * w), replicated) if batch_size
          else jnp.zeros((1,), jnp.int32))
  t0 = time.perf_counter()
  compiled = step_fn.lower(state, dataset.arrays, perm).compile()
  compile_seconds = time.perf_counter() - t0
  render = make_renderer(model.apply, mesh, config.eval.chunk_size, microbatch)

  def evaluate(params):
    """Unclipped [0, 1] reconstruction (H, W, C)."""
    return data.to_unit(render(params, coords).reshape(h, w, c))

  def headline(pred01):
    if fit.blend is not None:
      return blend_psnr_outside(pred01, fit.blend, config.eval.crop_border)
    return metrics.psnr(supervision.aligned(pred01, fit.reference01, protocol), fit.reference01,
                        config.eval.crop_border)

  def log_row(step, step_metrics, pred01, wall):
    row = {"step": step, "loss": step_metrics.get("loss", float("nan")), "psnr": headline(pred01),
           "lr": float(schedule(step - 1 if step else 0)), "train_seconds": round(train_seconds, 4),
           "elapsed_s": round(wall, 4)}
    row.update({k: v for k, v in step_metrics.items() if k != "loss"})
    outputs.append_jsonl(metrics_path, row)
    rows.append(row)
    return row

  wall_start = time.perf_counter() - elapsed_offset
  if start_step == 0:
    log_row(0, {}, evaluate(state.params), 0.0)
  step = start_step
  last_log_step, last_log_time = step, train_seconds
  interval_start = time.perf_counter()
  try:
    while step < t.num_steps:
      if batch_size and step // steps_per_epoch != epoch:
        epoch = step // steps_per_epoch
        perm = jax.device_put(epoch_permutation(data_key, epoch, h * w), replicated)
      state, step_metrics = compiled(state, dataset.arrays, perm)
      step += 1
      log_now = step % t.log_every == 0 or step == t.num_steps
      ckpt_now = step % t.checkpoint_every == 0 or step == t.num_steps
      if not (log_now or ckpt_now):
        continue
      step_metrics = {k: float(v) for k, v in step_metrics.items()}  # waits for the step
      loss = step_metrics["loss"]
      train_seconds += time.perf_counter() - interval_start
      if not math.isfinite(loss):
        raise UserError(f"loss became {loss} at step {step} (learning rate {float(schedule(step)):.3g} "
                        f"too high?); the last good checkpoint (step {ckpt.latest_step()}) is kept")
      if log_now:
        row = log_row(step, step_metrics, evaluate(state.params), time.perf_counter() - wall_start)
        rate = (step - last_log_step) / max(train_seconds - last_log_time, 1e-9)
        logging.info("step %d/%d  loss %.3e  psnr %.2f dB  lr %.2e  %.1f steps/s  train %.1fs  ETA %s",
                     step, t.num_steps, loss, row["psnr"], row["lr"], rate, train_seconds,
                     _format_duration((t.num_steps - step) / max(rate, 1e-9)))
        last_log_step, last_log_time = step, train_seconds
      if ckpt_now:
        if not _all_finite(state.params):
          raise UserError(f"parameters became non-finite at step {step}; the last good checkpoint "
                          f"(step {ckpt.latest_step()}) is kept")
        ckpt.save(step, state, {"train_seconds": train_seconds,
                                "elapsed_s": time.perf_counter() - wall_start})
      interval_start = time.perf_counter()
  except KeyboardInterrupt:
    ckpt.wait()
    raise UserError(f"interrupted at step {step}; the checkpoint at step {ckpt.latest_step()} is kept, "
                    f"re-run the same command to resume") from None
  ckpt.wait()

  pred01 = evaluate(state.params)
  summary = {
      "image": fit.name, "source": fit.source, "height": h, "width": w, "channels": c,
      "supervision": fit.terms, "psnr_protocol": protocol, "psnr_crop_border": config.eval.crop_border,
      "steps": int(state.step), "train_seconds": round(train_seconds, 3),
      "compile_seconds": round(compile_seconds, 3),
      "num_params": n_params, "devices": mesh.size, "platform": jax.devices()[0].platform,
      "device_kind": jax.devices()[0].device_kind,
  }
  if fit.blend is not None:
    summary["psnr"] = summary["psnr_outside_mask"] = headline(pred01)
    summary["psnr_protocol"] = "psnr_outside_mask"
    result = blend_result(pred01, fit.blend)
    outputs.write_blend_panel(os.path.join(workdir, "blend.png"), fit.blend, result)
    shown = result
  else:
    protocols = supervision.evaluate(pred01, fit.reference01, config.eval.crop_border)
    summary.update(protocols)
    summary["psnr"] = protocols[protocol]
    shown = np.clip(supervision.aligned(pred01, fit.reference01, protocol), 0.0, 1.0)
  outputs.write_png(os.path.join(workdir, "reconstruction.png"), shown)
  outputs.write_png(os.path.join(workdir, "original.png"), fit.reference01)
  outputs.write_error_heatmap(os.path.join(workdir, "error.png"), shown, fit.reference01)
  outputs.write_curves(os.path.join(workdir, "curves.png"), rows,
                       title=f"{fit.name}: {summary['psnr']:.2f} dB ({summary['psnr_protocol']}) "
                             f"after {int(state.step)} steps")
  d_render = make_renderer(derivative_fn(model, c), mesh, min(config.eval.chunk_size, 16384),
                           microbatch)
  _, grad_mag, lap = d_render(state.params, coords)
  ref_signed = data.to_signed(fit.reference01)
  outputs.write_derivative_panel(
      os.path.join(workdir, "derivatives.png"), fit.reference01, shown,
      np.sqrt(np.sum(targets.image_gradient(ref_signed) ** 2, axis=-1)), grad_mag.reshape(h, w, c),
      targets.image_laplacian(ref_signed), lap.reshape(h, w, c))
  summary["elapsed_s"] = round(time.perf_counter() - wall_start, 3)
  outputs.write_json(os.path.join(workdir, "summary.json"), summary)
  logging.info("Done: %s %.2f dB (%s) after %d steps, %.1f s of training; outputs in %s", fit.name,
               summary["psnr"], summary["psnr_protocol"], int(state.step), train_seconds, workdir)
  return summary


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
