"""Training: ``create_train_state``, a jit-compiled ``train_step`` and the loop that drives them.

One loop serves every experiment. Batches are random pixels without replacement within an epoch
(``train.batch_size`` > 0) or the whole image (0). The pixels of a batch are sharded across all local
devices and the parameters replicated (``jax.sharding``), so the same code runs on one CPU or many
accelerators. Randomness is a pure function of ``config.seed`` and the step number: the batch of step s
comes from ``fold_in(data_key, epoch(s))``, so a resumed run sees exactly the batches it would have seen.
"""

import dataclasses
import functools
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

from siren_jax import checkpoints, configuration, data, metrics, models, outputs
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
  """Device-resident training data. ``weights`` is 0 on the padding that makes a full batch divisible
  by the device count, 1 elsewhere."""
  coords: jax.Array   # (N, 2)
  targets: jax.Array  # (N, C) in [-1, 1]
  weights: jax.Array  # (N,)
  num_pixels: int     # real pixels (N minus padding)


def make_mesh() -> Mesh:
  return Mesh(np.array(jax.devices()), ("data",))


def put_dataset(coords: np.ndarray, targets: np.ndarray, mesh: Mesh, full_batch: bool) -> Dataset:
  """Full batch: pixels padded to a multiple of the device count and sharded. Minibatches: replicated
  (each step gathers its batch, then shards it)."""
  n = coords.shape[0]
  weights = np.ones((n,), np.float32)
  if full_batch:
    pad = (-n) % mesh.size
    coords = np.concatenate([coords, np.zeros((pad, coords.shape[1]), coords.dtype)])
    targets = np.concatenate([targets, np.zeros((pad, targets.shape[1]), targets.dtype)])
    weights = np.concatenate([weights, np.zeros((pad,), np.float32)])
    sharding = NamedSharding(mesh, P("data"))
  else:
    sharding = NamedSharding(mesh, P())
  put = lambda x: jax.device_put(np.asarray(x, np.float32), sharding)
  return Dataset(put(coords), put(targets), put(weights), n)


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


def weighted_sse(pred: jax.Array, target: jax.Array, weights: jax.Array) -> jax.Array:
  """Sum over pixels of the channel-mean squared error, weighted (0 for padding)."""
  return jnp.sum(jnp.mean((pred - target) ** 2, axis=-1) * weights)


def loss_and_grad(apply_fn, params, coords, targets, weights, microbatch: int, mesh: Optional[Mesh]):
  """Weighted MSE and its gradient, accumulated over cache-sized chunks when ``microbatch`` > 0."""
  sse_and_grad = jax.value_and_grad(
      lambda p, c, t, w: weighted_sse(apply_fn(p, c), t, w))
  num_devices = mesh.size if mesh is not None else 1
  if not microbatch or coords.shape[0] // num_devices <= microbatch:
    sse, grads = sse_and_grad(params, coords, targets, weights)
  else:
    chunks = [to_chunks(a, num_devices, microbatch, mesh) for a in (coords, targets, weights)]

    def body(acc, chunk):
      return jax.tree_util.tree_map(jnp.add, acc, sse_and_grad(params, *chunk)), None

    zero = (jnp.zeros((), jnp.float32), jax.tree_util.tree_map(jnp.zeros_like, params))
    (sse, grads), _ = jax.lax.scan(body, zero, chunks)
  total = jnp.sum(weights)
  return sse / total, jax.tree_util.tree_map(lambda g: g / total, grads)


def make_train_step(batch_size: int, microbatch: int, mesh: Mesh) -> Callable:
  """``train_step(state, coords, targets, weights, perm) -> (state, metrics)``, jit-compiled with the
  state donated. With ``batch_size`` > 0 the step takes pixels ``perm[pos * b:(pos + 1) * b]`` where
  pos is the step's position in its epoch; with 0 it uses every pixel."""
  batch_sharding = NamedSharding(mesh, P("data"))

  def train_step(state: TrainState, coords, targets, weights, perm):
    if batch_size:
      pos = state.step % (perm.shape[0] // batch_size)
      idx = jax.lax.dynamic_slice_in_dim(perm, pos * batch_size, batch_size)
      coords, targets, weights = jax.lax.with_sharding_constraint(
          (coords[idx], targets[idx], weights[idx]), batch_sharding)
    loss, grads = loss_and_grad(state.apply_fn, state.params, coords, targets, weights, microbatch,
                                mesh)
    return state.apply_gradients(grads=grads), {"loss": loss}

  return jax.jit(train_step, donate_argnums=0)


def make_renderer(model, mesh: Optional[Mesh], chunk_size: int, microbatch: int) -> Callable:
  """``render(params, coords) -> np.ndarray``: evaluates the network ``chunk_size`` pixels per call
  (one compilation, bounded memory; the last chunk is padded), in cache-sized pieces within a call."""
  num_devices = mesh.size if mesh is not None else 1
  chunk_size = max(num_devices, chunk_size - chunk_size % num_devices)
  sharding = NamedSharding(mesh, P("data")) if mesh is not None else None

  @jax.jit
  def apply(params, coords):
    if not microbatch or chunk_size // num_devices <= microbatch:
      return model.apply(params, coords)
    chunks = to_chunks(coords, num_devices, microbatch, mesh)
    return from_chunks(jax.lax.map(lambda c: model.apply(params, c), chunks), num_devices,
                       coords.shape[0])

  def render(params, coords: np.ndarray) -> np.ndarray:
    n = coords.shape[0]
    out = []
    for start in range(0, n, chunk_size):
      chunk = coords[start:start + chunk_size]
      m = chunk.shape[0]
      if m < chunk_size:
        chunk = np.concatenate([chunk, np.zeros((chunk_size - m, chunk.shape[1]), chunk.dtype)])
      chunk = jax.device_put(chunk, sharding) if sharding is not None else chunk
      out.append(np.asarray(apply(params, chunk))[:m])
    return np.concatenate(out, axis=0)

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


def _write_report_images(workdir: str, pred01: np.ndarray, target01: np.ndarray, rows, title: str):
  outputs.write_png(os.path.join(workdir, "reconstruction.png"), pred01)
  outputs.write_error_heatmap(os.path.join(workdir, "error.png"), pred01, target01)
  outputs.write_curves(os.path.join(workdir, "curves.png"), rows, title=title)


def train_and_evaluate(config, workdir: str) -> Dict[str, Any]:
  """Fits ``config.data.image`` and writes the run's outputs to ``workdir``; resumes if it can.

  Returns the summary (also written to ``workdir/summary.json``).
  """
  configuration.validate(config)
  image = data.load_image(config.data.image, config.data.kodak_dir, config.data.height,
                          config.data.width, config.data.max_pixels)
  h, w, c = image.shape
  mesh = make_mesh()
  configuration.validate_for_image(config, h, w, mesh.size)
  resolved = configuration.to_dict(config)
  config_path = os.path.join(workdir, "config.json")
  if os.path.exists(config_path):
    import json  # pylint: disable=g-import-not-at-top
    with open(config_path) as f:
      configuration.check_resumable(json.load(f), resolved)
  os.makedirs(workdir, exist_ok=True)
  outputs.write_json(config_path, resolved)

  model = models.build_model(config.model, out_features=c)
  init_key, data_key = jax.random.split(jax.random.PRNGKey(config.seed))
  t = config.train
  batch_size = t.batch_size
  coords = data.grid_coords(h, w)
  target01 = image.pixels
  targets = data.to_signed(target01).reshape(-1, c)
  dataset = put_dataset(coords, targets, mesh, full_batch=batch_size == 0)
  replicated = NamedSharding(mesh, P())
  state = jax.device_put(create_train_state(init_key, model, config), replicated)
  n_params = models.num_params(state.params)
  schedule = make_lr_schedule(t)

  ckpt = checkpoints.Checkpointer(os.path.join(workdir, "checkpoints"), t.max_checkpoints)
  metrics_path = os.path.join(workdir, "metrics.jsonl")
  restored = ckpt.restore_latest(state)
  train_seconds = elapsed_offset = 0.0
  if restored is not None:
    state, meta = restored
    state = jax.device_put(state, replicated)
    train_seconds, elapsed_offset = meta["train_seconds"], meta["elapsed_s"]
    rows = [r for r in outputs.read_jsonl(metrics_path) if r.get("step", 0) <= int(state.step)]
    outputs.write_jsonl(metrics_path, rows)
    logging.info("Resuming %s from step %d (checkpoint in %s)", workdir, int(state.step), ckpt.directory)
  else:
    rows = []
    outputs.write_jsonl(metrics_path, rows)
  start_step = int(state.step)

  logging.info("Image %s (%s): %dx%d, %d channel(s); model %s width %d depth %d, %d parameters; "
               "%d device(s); batch %s", image.name, image.source, w, h, c, config.model.kind,
               config.model.width, config.model.depth, n_params, mesh.size,
               batch_size or f"full ({h * w} pixels)")

  microbatch = resolve_microbatch(t.microbatch)
  step_fn = make_train_step(batch_size, microbatch, mesh)
  steps_per_epoch = (h * w) // batch_size if batch_size else 1
  epoch = start_step // steps_per_epoch
  perm = (jax.device_put(epoch_permutation(data_key, epoch, h * w), replicated) if batch_size
          else jnp.zeros((1,), jnp.int32))
  args = (dataset.coords, dataset.targets, dataset.weights)
  t0 = time.perf_counter()
  compiled = step_fn.lower(state, *args, perm).compile()
  compile_seconds = time.perf_counter() - t0
  render = make_renderer(model, mesh, config.eval.chunk_size, microbatch)

  def evaluate(params):
    pred = render(params, coords).reshape(h, w, c)
    return np.clip(data.to_unit(pred), 0.0, 1.0)

  def log_row(step, loss, pred01, wall):
    psnr = metrics.psnr(pred01, target01, config.eval.crop_border)
    row = {"step": step, "loss": loss, "psnr": psnr, "lr": float(schedule(step - 1 if step else 0)),
           "train_seconds": round(train_seconds, 4), "elapsed_s": round(wall, 4)}
    outputs.append_jsonl(metrics_path, row)
    rows.append(row)
    return row

  wall_start = time.perf_counter() - elapsed_offset
  if start_step == 0:
    log_row(0, float("nan"), evaluate(state.params), 0.0)
  step = start_step
  last_log_step, last_log_time = step, train_seconds
  interval_start = time.perf_counter()
  try:
    while step < t.num_steps:
      if batch_size and step // steps_per_epoch != epoch:
        epoch = step // steps_per_epoch
        perm = jax.device_put(epoch_permutation(data_key, epoch, h * w), replicated)
      state, step_metrics = compiled(state, *args, perm)
      step += 1
      log_now = step % t.log_every == 0 or step == t.num_steps
      ckpt_now = step % t.checkpoint_every == 0 or step == t.num_steps
      if not (log_now or ckpt_now):
        continue
      loss = float(step_metrics["loss"])  # waits for the step: the timing below is honest
      train_seconds += time.perf_counter() - interval_start
      if not math.isfinite(loss):
        raise UserError(f"loss became {loss} at step {step} (learning rate {float(schedule(step))} "
                        f"too high?); the last good checkpoint (step {ckpt.latest_step()}) is kept")
      if log_now:
        pred01 = evaluate(state.params)
        row = log_row(step, loss, pred01, time.perf_counter() - wall_start)
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
  final_psnr = metrics.psnr(pred01, target01, config.eval.crop_border)
  summary = {
      "image": image.name, "source": image.source, "height": h, "width": w, "channels": c,
      "psnr": final_psnr, "psnr_crop_border": config.eval.crop_border,
      "steps": int(state.step), "train_seconds": round(train_seconds, 3),
      "compile_seconds": round(compile_seconds, 3),
      "elapsed_s": round(time.perf_counter() - wall_start, 3),
      "num_params": n_params, "devices": mesh.size, "platform": jax.devices()[0].platform,
      "device_kind": jax.devices()[0].device_kind,
  }
  _write_report_images(workdir, pred01, target01, rows,
                       f"{image.name}: {final_psnr:.2f} dB after {int(state.step)} steps")
  outputs.write_json(os.path.join(workdir, "summary.json"), summary)
  logging.info("Done: %s %.2f dB after %d steps, %.1f s of training; outputs in %s", image.name,
               final_psnr, int(state.step), train_seconds, workdir)
  return summary

