"""Receiver data for full-waveform inversion, made with the project's finite-difference Helmholtz
solver (reference.py), so the inversion runs from a fresh clone with no download.

As the official experiment (train_inverse_helmholtz.py, dataio.InverseHelmholtz): k = 20, each of the
5 sources (media.fwi_sources) fires alone with the official (1 + 1i) Gaussian; the 30 receivers
(media.fwi_receivers) record the complex field for the true medium, a cylinder of different velocity
(media.cylinder_slowness). One sparse LU factorisation serves every source (``solve_fields``, which
also gives the inversion its starting medium's fields); results are cached in memory for the life of
the process. ``Survey`` holds a survey's geometry, data and true medium for the inversion task.
"""

import dataclasses
import functools
from typing import Tuple

import numpy as np
import scipy.interpolate
import scipy.sparse.linalg

from siren_jax.errors import UserError
from siren_jax.signals.pde import media, pml, reference

GRID = 257  # FD nodes a side: phase error <= k r (k h)^2 / 24 < 1.5% at the receivers (reference.py)


def solve_fields(n, k, model, sources, width=pml.WIDTH, a0=pml.A0) -> np.ndarray:
  """(S, n, n) complex FD fields (``reference.grid(n)``'s nodes) of the official Gaussian source at
  each of ``sources`` (S, 2) in ``model`` (a velocity model's name or a callable coords -> m), one
  sparse LU factorisation for them all: the receiver data, and the inversion's known starting fields."""
  operator = scipy.sparse.linalg.splu(reference.helmholtz_operator(n, k, model, width, a0),
                                      permc_spec="MMD_AT_PLUS_A")
  coords, _ = reference.grid(n)
  inner = coords[1:-1, 1:-1]
  out = np.zeros((len(sources), n, n), np.complex128)
  for i, src in enumerate(sources):
    out[i, 1:-1, 1:-1] = operator.solve(media.source(inner, src).ravel()).reshape(n - 2, n - 2)
  return out


@functools.lru_cache(maxsize=8)
def _fields(n, k, center, radius, velocity, sources):
  """The FD fields (S, n, n) of each source in the cylinder medium, and the grid's 1-D axis."""
  medium = lambda c: media.cylinder_slowness(c, center, radius, velocity)
  return solve_fields(n, k, medium, sources), reference.grid(n)[0][0, :, 0]


def fwi_data(n=GRID, k=media.WAVENUMBER, center=(0.0, 0.0), radius=media.CIRCLE_RADIUS,
             velocity=media.CONTRAST,
             sources=None, receivers=None):
  """(sources (S, 2), receivers (R, 2), values (R, S) complex): the field of each source at each
  receiver in the cylinder medium (bicubic interpolation of the FD grid, its error O(h^4) below the
  solve's O(h^2)). Deterministic; computed once per argument set and kept in memory."""
  sources = media.fwi_sources() if sources is None else np.asarray(sources, np.float64)
  receivers = media.fwi_receivers() if receivers is None else np.asarray(receivers, np.float64)
  if sources.ndim != 2 or sources.shape[1] != 2 or receivers.ndim != 2 or receivers.shape[1] != 2:
    raise UserError("FWI sources and receivers must be (count, 2) arrays of (x, y)")
  if np.abs(np.concatenate([sources, receivers])).max() >= 1.0:
    raise UserError("FWI sources and receivers must lie inside (-1, 1)^2")
  fields, axis = _fields(int(n), float(k), tuple(map(float, center)), float(radius), float(velocity),
                         tuple(map(tuple, sources.tolist())))
  values = np.stack([
      scipy.interpolate.RegularGridInterpolator((axis, axis), f.real, method="cubic")(receivers[:, ::-1])
      + 1j * scipy.interpolate.RegularGridInterpolator((axis, axis), f.imag, method="cubic")(
          receivers[:, ::-1]) for f in fields], axis=-1)
  return sources, receivers, values


@dataclasses.dataclass(frozen=True)
class Survey:
  """The inversion's geometry and data: sources (S, 2), receivers (R, 2), their measurements (R, S)
  complex and the true medium (a cylinder) they were made in."""
  sources: np.ndarray
  receivers: np.ndarray
  data: np.ndarray
  center: Tuple[float, float]
  radius: float
  velocity: float

  def true_velocity(self, coords) -> np.ndarray:
    return media.cylinder_velocity(coords, self.center, self.radius, self.velocity)
