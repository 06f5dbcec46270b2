"""Physics references (siren_jax.pde): the PML and media shared with the training loss, the Hankel
solution, the finite-difference Helmholtz and wave solvers (convergence order and closed forms)."""

import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax.errors import UserError
from siren_jax.pde import media, pml
import floatbounds


def _points(n=4001, seed=0):
  return np.random.default_rng(seed).uniform(-1, 1, (n, 2))


def test_pml_is_identity_in_the_physical_region_and_stretches_inside():
  coords = _points()
  inside = pml.in_pml(coords)
  assert inside.any() and (~inside).any()
  for coef in pml.coefficients(coords, media.WAVENUMBER):
    assert np.all(coef[~inside] == 1.0)  # exactly: d = 0 there, so e = 1 - 0i
  e_x, e_y = pml.stretch(coords, media.WAVENUMBER)
  assert np.all(np.abs(e_x[inside] - 1) + np.abs(e_y[inside] - 1) > 0)
  # At the outer edge d = width, so s = k a0 and e = 1 - i a0 whatever k (official convention).
  corner = np.array([[1.0, -1.0]])
  for k in (5.0, 20.0):
    e_x, e_y = pml.stretch(corner, k)
    np.testing.assert_allclose([e_x[0], e_y[0]], [1 - 1j * pml.A0] * 2, rtol=1e-15)
  a, b, c = pml.coefficients(corner, 20.0)
  np.testing.assert_allclose([a[0], b[0], c[0]], [1.0, 1.0, (1 - 1j * pml.A0) ** 2], rtol=1e-15)


def test_pml_numpy_and_jax_agree():
  coords = _points().astype(np.float32)
  ref = pml.coefficients(coords.astype(np.float64), 20.0)
  got = pml.coefficients(jnp.asarray(coords), 20.0, xp=jnp)
  # float32 evaluation of ~12 rounded real operations (distance, square, scale, complex divide of
  # numbers of modulus <= 1 + a0): each errs by eps relative to the largest modulus met, |e|^2 <= 26.
  scale = (1 + pml.A0) ** 2
  for r, g in zip(ref, got):
    floatbounds.assert_within(np.asarray(g).real, r.real, 12 * floatbounds.EPS32 * scale, "real")
    floatbounds.assert_within(np.asarray(g).imag, r.imag, 12 * floatbounds.EPS32 * scale, "imag")


def test_media_models_and_source():
  pts = np.array([[0.0, 0.0], [0.2, 0.25], [0.5, 0.0], [0.05, 0.05]])
  np.testing.assert_array_equal(media.squared_slowness(pts, "uniform"), [1, 1, 1, 1])
  np.testing.assert_array_equal(media.squared_slowness(pts, "square"), [0.25, 0.25, 1, 0.25])
  np.testing.assert_array_equal(media.squared_slowness(pts, "circle"), [0.25, 1, 1, 0.25])
  np.testing.assert_array_equal(np.asarray(media.velocity(jnp.asarray(pts), "square", xp=jnp)),
                                media.velocity(pts, "square"))
  assert media.source_position("uniform") == (0.0, 0.0)
  assert media.source_position("circle") == (-0.35, 0.0)
  with pytest.raises(UserError, match="square"):
    media.velocity(pts, "triangle")
  # The source integrates to its amplitude (midpoint rule, h = 1e-3 << sigma = 1e-2: the rule is
  # exact to O(exp(-2 pi^2 sigma^2 / h^2)) for a Gaussian, the truncation drops < 1e-7 of the mass).
  h = 1e-3
  g = np.arange(-0.1 + h / 2, 0.1, h)
  x, y = np.meshgrid(g, g)
  f = media.source(np.stack([x, y], -1), (0.0, 0.0))
  np.testing.assert_allclose(f.sum() * h * h, media.SOURCE_AMPLITUDE, rtol=1e-6)
  u0 = media.wave_initial(np.array([[0.0, 0.0], [0.5, 0.5]]))
  np.testing.assert_allclose(u0, [media.WAVE_PEAK, 0.0])
