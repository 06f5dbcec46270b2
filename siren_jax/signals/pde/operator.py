"""The Helmholtz operator with the official PML (``siren_jax.signals.pde.pml``) applied to fields given by their
derivatives, for any number of fields and a squared slowness given per point (the inversion's comes
from the network, not from a named medium):

    d/dx (A du/dx) + d/dy (B du/dy) + C m k^2 u = dA/dx du/dx + A d2u/dx2 + dB/dy du/dy + B d2u/dy2
                                                  + C m k^2 u.

The coefficients' own derivatives are exact (a jvp of ``pml.coefficients``), so only the field's
gradient and unmixed second derivatives are needed (``derivatives.diagonal``).
"""

import jax
import jax.numpy as jnp

from siren_jax.signals.pde import pml


def apply(coords, u, du, d2u, m, k: float, width: float, a0: float):
  """The operator (N, S) complex at ``coords`` (N, 2) on S fields: values ``u`` (N, S), gradient
  ``du`` and unmixed second derivatives ``d2u`` (N, S, 2), axes (x, y); ``m`` (N,) the squared
  slowness."""
  coefficients = lambda c: pml.coefficients(c, k, width=width, a0=a0, xp=jnp)
  (a, b, c), (a_x, _, _) = jax.jvp(coefficients, (coords,), (jnp.zeros_like(coords).at[:, 0].set(1.0),))
  _, (_, b_y, _) = jax.jvp(coefficients, (coords,), (jnp.zeros_like(coords).at[:, 1].set(1.0),))
  col = lambda v: v[:, None]
  return (col(a_x) * du[..., 0] + col(a) * d2u[..., 0] + col(b_y) * du[..., 1] + col(b) * d2u[..., 1]
          + col(c * m) * k ** 2 * u)
