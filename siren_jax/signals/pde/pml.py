"""The perfectly matched layer (PML) of the official Helmholtz experiments (vsitzmann/siren,
loss_functions.helmholtz_pml), written once for numpy and jax.numpy (pass ``xp``).

The layer fills |x| > 1 - width and |y| > 1 - width of [-1, 1]^2. At a distance d into it the damping
is s = k a0 (d / width)^2 and the coordinate stretch e = 1 - i s / k (the official code divides by the
wavenumber k, its "omega"; k therefore cancels and e = 1 - i a0 (d / width)^2). With the e^{+i w t}
time convention of the official reference (a Hankel function of the second kind, outgoing) this sign
makes outgoing waves decay inside the layer. Stretching x -> x~ with d/dx~ = (1/e_x) d/dx and
multiplying by e_x e_y turns Laplacian + m k^2 into

  d/dx(A du/dx) + d/dy(B du/dy) + C m k^2 u,   A = e_y / e_x,  B = e_x / e_y,  C = e_x e_y,

the residual both the training loss and the finite-difference reference use. All three equal 1 in
the physical region, where the equation is the plain Helmholtz equation.
"""

import numpy as np

WIDTH = 0.5  # official Lpml
A0 = 5.0  # official a0


def depth(coords, width=WIDTH, xp=np):
  """Distances (d_x, d_y) >= 0 of the points ``coords`` (columns x, y; extra leading columns such as
  t are not accepted, slice them off) into the layer along x and y, zero in the physical region."""
  inner = 1.0 - width
  x, y = coords[..., 0], coords[..., 1]
  return xp.maximum(xp.abs(x) - inner, 0.0), xp.maximum(xp.abs(y) - inner, 0.0)


def in_pml(coords, width=WIDTH, xp=np):
  """Boolean mask of the points inside the layer (|x| > 1 - width or |y| > 1 - width)."""
  inner = 1.0 - width
  return (xp.abs(coords[..., 0]) > inner) | (xp.abs(coords[..., 1]) > inner)


def damping(coords, k, width=WIDTH, a0=A0, xp=np):
  """Real damping profiles (s_x, s_y) = k a0 (d / width)^2, zero outside the layer."""
  d_x, d_y = depth(coords, width, xp)
  return k * a0 * (d_x / width) ** 2, k * a0 * (d_y / width) ** 2


def stretch(coords, k, width=WIDTH, a0=A0, xp=np):
  """Complex stretching factors (e_x, e_y) = 1 - i s / k, equal to 1 in the physical region."""
  s_x, s_y = damping(coords, k, width, a0, xp)
  return 1.0 - 1j * (s_x / k), 1.0 - 1j * (s_y / k)


def coefficients(coords, k, width=WIDTH, a0=A0, xp=np):
  """(A, B, C) = (e_y / e_x, e_x / e_y, e_x e_y) of the stretched operator, complex arrays shaped like
  ``coords[..., 0]``."""
  e_x, e_y = stretch(coords, k, width, a0, xp)
  return e_y / e_x, e_x / e_y, e_x * e_y
