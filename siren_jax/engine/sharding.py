"""Devices and the layout of per-sample arrays on them: the mesh that shards samples over all local
devices (parameters replicated), cache-sized chunks, and stacking the points of a sweep. Shared by the
training step and evaluation."""

from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P


def make_mesh(devices=None) -> Mesh:
  return Mesh(np.array(devices if devices is not None else jax.devices()), ("data",))


def describe_devices() -> str:
  devices = jax.devices()
  return f"{len(devices)} x {devices[0].device_kind} ({devices[0].platform})"


def resolve_microbatch(microbatch: int) -> int:
  """-1 (auto): 2048-sample chunks on CPU, where activations that fit in cache make a step faster
  (benchmarks/step_speed.py, RESULTS.md); no chunking on accelerators."""
  if microbatch >= 0:
    return microbatch
  return 2048 if jax.default_backend() == "cpu" else 0


def to_chunks(x: jax.Array, num_devices: int, microbatch: int, mesh: Optional[Mesh]):
  """(B, ...) sharded over devices -> (num_chunks, num_devices * m, ...), each chunk sharded the same
  way, so every device walks through its own samples in cache-sized pieces. Pads with zeros."""
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


def stack_points(trees):
  """Per-point pytrees -> one pytree with a leading points axis (what a sweep's step takes)."""
  return jax.tree_util.tree_map(lambda *xs: jnp.stack(xs), *trees)


def index_point(tree, i):
  return jax.tree_util.tree_map(lambda x: x[i], tree)
