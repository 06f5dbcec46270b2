"""What the PDE tasks share: a sampler whose points are drawn, not stored, the draw of points in a
disk around a source, and the relative L2 error."""

import jax
import jax.numpy as jnp
import numpy as np

from siren_jax.engine import step

MAX_SAMPLES = 2 ** 31 - 1  # the sampler's nominal sample count: points are drawn, not stored


def sampler(in_features: int) -> step.Sampler:
  """A ``step.Sampler`` whose batches carry only their size and weights: the task's loss
  (``sample(batch, key, step)``) draws the points themselves."""

  def gather(arrays, idx):
    del arrays
    return {"coords": jnp.zeros(idx.shape + (in_features,), jnp.float32),
            "weights": jnp.ones(idx.shape, jnp.float32)}

  return step.Sampler(num_samples=MAX_SAMPLES, in_features=in_features, gather=gather)


def disk_points(key, count: int, center, radius: float):
  """(count, 2) points uniform over the disk of ``radius`` around ``center`` (the official draw:
  r = radius sqrt(U), angle 2 pi U)."""
  k_r, k_theta = jax.random.split(key)
  r = radius * jnp.sqrt(jax.random.uniform(k_r, (count,)))
  theta = 2 * jnp.pi * jax.random.uniform(k_theta, (count,))
  return jnp.asarray(center, jnp.float32) + jnp.stack([r * jnp.cos(theta), r * jnp.sin(theta)], -1)


def rel_l2(field: np.ndarray, reference: np.ndarray, mask=None) -> float:
  """||u - u_ref|| / ||u_ref|| over ``mask`` (all entries when None)."""
  field, reference = np.asarray(field), np.asarray(reference)
  if mask is not None:
    field, reference = field[mask], reference[mask]
  return float(np.linalg.norm(field - reference) / np.linalg.norm(reference))
