"""A Helmholtz problem as the training task sees it: wavenumber, medium, source and PML in one
frozen value, with the functions the loss and the metrics evaluate, each a thin call into the
physics modules (``pml``, ``media``, ``reference``), so that the task holds no physics of its own.

Every function takes ``xp`` (numpy for the references and figures, jax.numpy inside the step).
"""

import dataclasses
import math
from typing import Tuple

import numpy as np

from siren_jax.errors import UserError
from siren_jax.signals.pde import media, pml, reference


@dataclasses.dataclass(frozen=True)
class Helmholtz:
  """k: wavenumber; velocity: the medium's name (``media.VELOCITY_MODELS``); source_xy: the source's
  position (the medium's own); pml_width, a0: the PML's width and strength (``pml.stretch``)."""
  k: float
  velocity: str
  source_xy: Tuple[float, float]
  pml_width: float
  a0: float

  @classmethod
  def from_config(cls, p) -> "Helmholtz":
    return cls(k=float(p.wavenumber), velocity=str(p.velocity),
               source_xy=tuple(float(v) for v in media.source_position(p.velocity)),
               pml_width=float(p.pml_width), a0=float(p.pml_a0))

  def coefficients(self, coords, xp=np):
    """(A, B, C) complex (N,) at ``coords`` (N, 2)."""
    return pml.coefficients(coords, self.k, width=self.pml_width, a0=self.a0, xp=xp)

  def slowness2(self, coords, xp=np):
    return media.squared_slowness(coords, self.velocity, xp=xp)

  def source(self, coords, xp=np):
    """f, complex (N,): the (1+1i) Gaussian source at ``source_xy``."""
    return media.source(coords, self.source_xy, xp=xp)

  def source_support(self, coords, xp=np):
    """Where the (truncated) source is nonzero: the points its loss term weighs."""
    return xp.abs(self.source(coords, xp=xp)) > 0

  def scored(self, coords, radius: float) -> np.ndarray:
    """(N,) bool: the physical region, outside the PML and the source disk of ``radius``."""
    d = np.hypot(coords[:, 0] - self.source_xy[0], coords[:, 1] - self.source_xy[1])
    return ~np.asarray(pml.in_pml(coords, self.pml_width)) & (d >= radius)

  def reference(self, n: int):
    """(complex (n, n) reference on ``grid(n)``, what it is): the Hankel solution for the uniform
    medium, the finite-difference solve with the same PML otherwise."""
    if self.velocity == "uniform":
      return reference.hankel(grid(n), self.k, self.source_xy), "Hankel solution"
    field, _ = reference.helmholtz_fd(n, self.k, self.velocity, self.source_xy, width=self.pml_width,
                                      a0=self.a0)
    return field, "finite-difference solve"


def grid(n: int) -> np.ndarray:
  """(n, n, 2) (x, y) of the evaluation grid: the reference's nodes, [-1, 1] ends included."""
  return reference.grid(n)[0]


def velocity_check(p) -> tuple:
  """(ok, message) of ``config.pde.velocity``: the one check of a medium's name, for every PDE task."""
  return (p.velocity in media.VELOCITY_MODELS,
          f"pde.velocity must be one of {media.VELOCITY_MODELS}, got {p.velocity!r}")


def validate(p) -> None:
  """The physics fields of ``config.pde`` (one-line UserError)."""
  checks = [(math.isfinite(p.wavenumber) and 0 < p.wavenumber <= 1000,
             f"pde.wavenumber must be in (0, 1000], got {p.wavenumber}"),
            (0 <= p.pml_width < 1, f"pde.pml_width must be in [0, 1), got {p.pml_width}"),
            (math.isfinite(p.pml_a0) and p.pml_a0 >= 0, f"pde.pml_a0 must be >= 0, got {p.pml_a0}"),
            velocity_check(p)]
  for ok, message in checks:
    if not ok:
      raise UserError(message)
