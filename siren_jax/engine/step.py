"""The training step: initial states, the device-resident data, the loss of any supervision and its
gradient (accumulated over cache-sized chunks), and ``make_train_step``, the one place a step is built,
for one run or the stacked points of a sweep.

Batches are random samples without replacement within an epoch (``train.batch_size`` > 0) or every
sample (0). The samples of a batch are sharded across all local devices and the parameters replicated
(``jax.sharding``), so the same code runs on one CPU or many accelerators. Randomness is a pure
function of the seed and the step: the batch of step s comes from ``fold_in(data_key, epoch(s))``, so a
resumed run sees exactly the batches it would have seen.
"""

import dataclasses
import functools
from typing import Callable, Dict, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax.training import train_state
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from siren_jax.engine import hyper as hyper_lib, optim, sampling, sharding
from siren_jax.nets import derivatives

TrainState = train_state.TrainState


def create_train_state(rng: jax.Array, model, config, in_features: int = 2,
                       tx: Optional[optax.GradientTransformation] = None) -> TrainState:
  """Initial state. It holds no ``apply_fn``: the step binds each point's ω₀s to the model itself
  (``hyper.bind``), so a bound function here could only be the wrong one. Points of a sweep pass one
  shared ``tx`` so their states stack."""
  point_model = hyper_lib.bind(model, hyper_lib.resolve(config))  # hidden-layer init depends on omega_0
  params = point_model.init(rng, jnp.zeros((1, in_features), jnp.float32))
  return TrainState.create(apply_fn=None, params=params,
                           tx=tx if tx is not None else optim.make(config.train)[0])


@dataclasses.dataclass(frozen=True)
class Dataset:
  """Device-resident training data: a dict of per-pixel arrays with a leading pixel axis: ``coords``
  (N, 2), ``weights`` (N,) (0 on the padding that makes a full batch divisible by the device count) and
  the targets of the supervision terms (``values`` (N, C), ``gradient`` (N, C, 2), ``laplacian`` (N, C))."""
  arrays: Dict[str, jax.Array]


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


def put_compact(arrays: Dict[str, np.ndarray], mesh: Mesh) -> Dataset:
  """A ``Sampler`` task's compact arrays (e.g. a uint8 video), replicated as they are: no per-sample
  float copy, no weights (the sampler's batches carry their own)."""
  return Dataset({k: jax.device_put(v, NamedSharding(mesh, P())) for k, v in arrays.items()})


@dataclasses.dataclass(frozen=True)
class Sampler:
  """How a task too large for per-sample float arrays (a video: 78.6M samples for 300 frames of
  512x512) is trained: its ``arrays`` stay compact on the device (``put_compact``), and
  ``gather(arrays, idx)`` turns flat sample indices into a batch (``coords`` (B, ``in_features``), the
  targets of the terms and ``weights``) inside the step. Each step draws its batch uniformly with
  replacement from ``fold_in(data_key, step)``, so no permutation of all samples is ever stored and a
  resumed run still sees exactly the batches it would have seen; ``batch_size`` 0 takes every sample."""
  num_samples: int
  in_features: int
  gather: Callable


def sample_indices(data_key: jax.Array, step, batch_size: int, num_samples: int) -> jax.Array:
  """A ``Sampler`` step's sample indices (every sample in order for ``batch_size`` 0)."""
  if not batch_size:
    return jnp.arange(num_samples, dtype=jnp.int32)
  return jax.random.randint(jax.random.fold_in(data_key, step), (batch_size,), 0, num_samples,
                            dtype=jnp.int32)


def epoch_permutation(data_key: jax.Array, epoch: int, num_pixels: int) -> jax.Array:
  """The pixel order of one epoch. Sorting is slow on CPU (17 ms for 65k pixels), so it is computed
  once per epoch and each step slices its batch out of it."""
  return _permutation(jax.random.fold_in(data_key, epoch), num_pixels)


@functools.partial(jax.jit, static_argnums=1)
def _permutation(key, n):
  return jax.random.permutation(key, n)


def resolve_vmap_width(vmap_width: int, num_points: int) -> int:
  """-1 (auto): 1 on CPU, all points elsewhere. On the 2-core CPU one 64^2 run already keeps both
  cores busy, so batching points buys no throughput and its larger activations cost cache
  (benchmarks/vmap_step.py, RESULTS.md); looping inside one program still saves a compilation and a
  dispatch per point and step. 0: all points."""
  if vmap_width == -1:
    vmap_width = 1 if jax.default_backend() == "cpu" else 0
  return min(vmap_width or num_points, num_points)


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


def loss_and_grad(sse_fn, params, batch: Dict[str, jax.Array], microbatch: int, mesh: Optional[Mesh],
                  count: Optional[int] = None):
  """(loss, per-term means, gradient) of the weighted mean loss over the batch, accumulated over
  cache-sized chunks when ``microbatch`` > 0. The weighted sum is divided by the sum of the weights
  (padding has weight 0), or by ``count`` where given: importance weights (``sampling.draw``) keep the
  loss unbiased only over the fixed sample count."""
  sse_and_grad = jax.value_and_grad(sse_fn, has_aux=True)
  num_devices = mesh.size if mesh is not None else 1
  if not microbatch or batch["coords"].shape[0] // num_devices <= microbatch:
    (sse, per_term), grads = sse_and_grad(params, batch)
  else:
    chunks = {k: sharding.to_chunks(v, num_devices, microbatch, mesh) for k, v in batch.items()}

    def body(acc, chunk):
      return jax.tree_util.tree_map(jnp.add, acc, sse_and_grad(params, chunk)), None

    zero = jax.tree_util.tree_map(
        jnp.zeros_like, jax.eval_shape(sse_and_grad, params, {k: v[0] for k, v in chunks.items()}))
    ((sse, per_term), grads), _ = jax.lax.scan(body, zero, chunks)
  total = jnp.sum(batch["weights"]) if count is None else count
  scale = lambda t: jax.tree_util.tree_map(lambda g: g / total, t)
  return sse / total, scale(per_term), scale(grads)


@dataclasses.dataclass(frozen=True)
class Batching:
  """How each step picks its batch. The step's last input, ``draw`` (one per point), means what
  ``kind`` says:

  * ``full``: every sample each step; ``draw`` is unused;
  * ``epoch``: ``batch_size`` samples without replacement within an epoch; ``draw`` is the epoch's
    permutation (``epoch_permutation``);
  * ``sampler``: ``batch_size`` samples that a task's ``Sampler`` gathers from compact arrays;
    ``draw`` is the point's data key;
  * ``error``: ``batch_size`` samples in proportion to each sample's error, importance-weighted
    (``train.sampling=error``); ``draw`` is ``{"key": data key, **sampling.error_distribution(...)}``.
  """
  kind: str
  batch_size: int = 0
  sampler: Optional[Sampler] = None

  @classmethod
  def of(cls, batch_size: int, sampler: Optional[Sampler] = None, error: bool = False) -> "Batching":
    if sampler is not None:
      return cls("sampler", batch_size, sampler)
    if not batch_size:
      return cls("full")
    return cls("error" if error else "epoch", batch_size)

  def select(self, arrays, draw, step, shard: Callable):
    """The step's batch of ``arrays`` (``shard`` lays a batch out over the devices, where it can)."""
    b = self.batch_size
    if self.kind == "full":
      return arrays
    if self.kind == "sampler":
      idx = sample_indices(draw, step, b, self.sampler.num_samples)
      return shard(self.sampler.gather(arrays, idx), idx.shape[0])
    if self.kind == "error":
      idx, weights = sampling.draw(jax.random.fold_in(draw["key"], step), draw, b)
      picked = jax.tree_util.tree_map(lambda a: a[idx], arrays)
      return shard(dict(picked, weights=weights), b)  # importance weights in place of the data's
    pos = step % (draw.shape[0] // b)
    idx = jax.lax.dynamic_slice_in_dim(draw, pos * b, b)
    return shard(jax.tree_util.tree_map(lambda a: a[idx], arrays), b)


def _make_loss(model, hyper, terms, gradient_method: str, laplacian_method: str, task_loss,
               params_transform: Optional[Callable], arrays, step):
  """(sse_fn, arrays) of a step: the targets' loss, or the task's own on its fresh samples, seen
  through ``params_transform``."""
  if task_loss is None:
    sse_fn = make_sse_fn(hyper_lib.bind(model, hyper), terms, gradient_method, laplacian_method)
  else:
    arrays = task_loss.sample(arrays, jax.random.fold_in(task_loss.key, step), step)
    sse_fn = task_loss.make_sse(hyper_lib.bind(model, hyper), gradient_method)
  if params_transform is not None:
    plain_sse = sse_fn
    sse_fn = lambda p, batch: plain_sse(params_transform(p), batch)
  return sse_fn, arrays


def _over_points(train_step: Callable, num_points: int, width: int) -> Callable:
  """``train_step`` jit-compiled for one point, or for ``num_points`` stacked ones, ``width`` at a
  time vmapped (``jax.lax.map`` over such slices)."""
  if not num_points:
    return jax.jit(train_step, donate_argnums=0)
  if width == num_points:
    return jax.jit(jax.vmap(train_step, in_axes=(0, 0, None, 0)), donate_argnums=0)

  def points_step(state, hyper, arrays, draw):
    return jax.lax.map(lambda x: train_step(x[0], x[1], arrays, x[2]), (state, hyper, draw),
                       batch_size=width if width > 1 else None)

  return jax.jit(points_step, donate_argnums=0)


def make_train_step(model, terms: Dict[str, float], gradient_method: str, laplacian_method: str,
                    batching: Batching, microbatch: int, mesh: Mesh, schedule: Callable,
                    num_points: int = 0, vmap_width: int = 0,
                    params_transform: Optional[Callable] = None, task_loss=None) -> Callable:
  """``train_step(state, hyper, arrays, draw) -> (state, metrics)``, jit-compiled, state donated.

  ``metrics`` holds the loss, each term's loss and ``lr``, the learning rate this step applied
  (``hyper["lr"]`` times ``schedule``, the shape that ``optim.make`` returns with the optimiser).
  ``batching`` (``Batching``) says which samples a step takes and what ``draw`` is.
  ``params_transform`` (optional) maps the parameters the loss sees, e.g. straight-through
  quantisation for quantisation-aware training (``quantize.fake_quantise``). ``task_loss`` (optional,
  e.g. ``sdf_task.SdfLoss``) is a task's own loss in place of ``make_sse_fn``'s targets:
  ``task_loss.sample(batch, key, step)`` completes each batch (fresh samples from
  ``fold_in(task_loss.key, step)``, a pure function of the step, so a resumed run draws the same ones;
  ``step`` itself for losses whose sampling changes over training, e.g. a time curriculum) and
  ``task_loss.make_sse(model, gradient_method)`` gives its summed loss ``sse(params, batch)``.
  ``num_points`` > 0 steps stacked states, hyperparameters and draws (a sweep's points trained
  together; the data is shared) in one program: ``vmap_width`` points at a time are vmapped, and the
  program loops over such slices (``jax.lax.map``), so ``vmap_width`` = ``num_points`` is one batched
  computation and 1 steps the points one after another without leaving the program (0: all points at
  once, -1: ``resolve_vmap_width``).
  """
  width = resolve_vmap_width(vmap_width, num_points)
  batch_sharding = NamedSharding(mesh, P("data"))
  # A sweep keeps each point's batch whole on its device (no sample sharding inside the vmap), and
  # the points vmapped together share the cache: each one's chunk shrinks so a chunk of all still fits.
  chunk = max(128, microbatch // width) if (num_points and microbatch) else microbatch
  count = batching.batch_size if batching.kind == "error" else None

  def shard(arrays, n):
    if num_points or n % mesh.size:
      return arrays
    return jax.lax.with_sharding_constraint(arrays, batch_sharding)

  def train_step(state: TrainState, hyper, arrays, draw):
    arrays = batching.select(arrays, draw, state.step, shard)
    sse_fn, arrays = _make_loss(model, hyper, terms, gradient_method, laplacian_method, task_loss,
                                params_transform, arrays, state.step)
    loss, per_term, grads = loss_and_grad(sse_fn, state.params, arrays, chunk,
                                          None if num_points else mesh, count=count)
    lr = hyper["lr"] * schedule(state.step)
    updates, opt_state = state.tx.update(grads, state.opt_state, state.params)
    params = jax.tree_util.tree_map(lambda p, u: p - hyper["lr"] * u, state.params, updates)
    state = state.replace(step=state.step + 1, params=params, opt_state=opt_state)
    return state, {"loss": loss, "lr": lr, **{f"loss_{k}": v for k, v in per_term.items()}}

  return _over_points(train_step, num_points, width)
