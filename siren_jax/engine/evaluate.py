"""Evaluation apart from training: a network (or any pointwise function of it, such as its input
derivatives) over many coordinates, in fixed-size chunks (one compilation, bounded memory), sharded
over the devices and walked in cache-sized pieces. The training loop, ``render``, the reports'
derivative panels and the experiments all evaluate through ``make_renderer``."""

from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from siren_jax.engine import sharding
from siren_jax.nets import derivatives


def make_renderer(fn: Callable, mesh: Optional[Mesh], chunk_size: int, microbatch: int) -> Callable:
  """``render(params, coords) -> numpy pytree``: evaluates ``fn(params, coords)`` (any pointwise
  function returning per-sample arrays: the network, its derivatives) ``chunk_size`` samples per call
  (one compilation, bounded memory; the last chunk is padded), in cache-sized pieces within a call."""
  num_devices = mesh.size if mesh is not None else 1
  chunk_size = max(num_devices, chunk_size - chunk_size % num_devices)
  placement = NamedSharding(mesh, P("data")) if mesh is not None else None

  @jax.jit
  def apply(params, coords):
    if not microbatch or chunk_size // num_devices <= microbatch:
      return fn(params, coords)
    chunks = sharding.to_chunks(coords, num_devices, microbatch, mesh)
    out = jax.lax.map(lambda c: fn(params, c), chunks)
    return jax.tree_util.tree_map(lambda y: sharding.from_chunks(y, num_devices, coords.shape[0]), out)

  def render(params, coords: np.ndarray):
    n = coords.shape[0]
    pieces = []
    for start in range(0, n, chunk_size):
      chunk = coords[start:start + chunk_size]
      m = chunk.shape[0]
      if m < chunk_size:
        chunk = np.concatenate([chunk, np.zeros((chunk_size - m, chunk.shape[1]), chunk.dtype)])
      chunk = jax.device_put(chunk, placement) if placement is not None else chunk
      pieces.append(jax.tree_util.tree_map(lambda y, m=m: np.asarray(y)[:m], apply(params, chunk)))
    return jax.tree_util.tree_map(lambda *ys: np.concatenate(ys, axis=0), *pieces)

  return render


def derivative_fn(model, channels: int) -> Callable:
  """``fn(params, coords) -> (values, |gradient|, Laplacian)`` per sample, for derivative panels."""
  grad_m, lap_m = derivatives.resolve_methods(model, channels, "auto", "auto")

  def fn(params, coords):
    if lap_m == "propagate":
      values, grads, lap = derivatives.propagate(model, params, coords, laplacian=True)
    else:
      values, grads = derivatives.gradient(model, params, coords, grad_m)
      _, lap = derivatives.laplacian(model, params, coords, lap_m)
    return values, jnp.sqrt(jnp.sum(grads ** 2, axis=-1)), lap

  return fn
