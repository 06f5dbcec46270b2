"""Physics references (siren_jax.signals.pde): the PML and media shared with the training loss, the Hankel
solution, the finite-difference Helmholtz and wave solvers (convergence order and closed forms)."""

import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax.errors import UserError
from siren_jax.signals.pde import media, pml, reference
from siren_jax.signals.pde.inverse import measurements
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


def _manufactured(k, medium):
  """u = (1 - x^2)(1 - y^2) e^{i(6x - 4y)} (zero on the boundary) and f = R(u) by hand, R the PML
  operator d/dx(A u_x) + d/dy(B u_y) + C m k^2 u with A = e_y/e_x, B = e_x/e_y, C = e_x e_y."""
  al, be = 6.0, -4.0

  def parts(c):
    x, y = c[..., 0], c[..., 1]
    e = np.exp(1j * (al * x + be * y))
    p, q = 1 - x * x, 1 - y * y
    u = p * q * e
    u_x, u_y = (-2 * x + 1j * al * p) * q * e, (-2 * y + 1j * be * q) * p * e
    u_xx = (-2 + 2j * al * (-2 * x) - al * al * p) * q * e
    u_yy = (-2 + 2j * be * (-2 * y) - be * be * q) * p * e
    return u, u_x, u_y, u_xx, u_yy

  def rhs(c):
    u, u_x, u_y, u_xx, u_yy = parts(c)
    e_x, e_y = pml.stretch(c, k)
    d_x, d_y = pml.depth(c)
    # e' = -i a0 2 d / width^2 along the outward direction.
    de_x = -1j * pml.A0 * 2 * d_x / pml.WIDTH ** 2 * np.sign(c[..., 0])
    de_y = -1j * pml.A0 * 2 * d_y / pml.WIDTH ** 2 * np.sign(c[..., 1])
    return (e_y * (u_xx / e_x - de_x * u_x / e_x ** 2) + e_x * (u_yy / e_y - de_y * u_y / e_y ** 2)
            + e_x * e_y * medium(c) * k * k * u)

  return (lambda c: parts(c)[0]), rhs


def test_fd_helmholtz_is_second_order():
  """Manufactured solution through the PML and a smooth medium: halving h divides the error by 4."""
  k = media.WAVENUMBER
  medium = lambda c: 1.0 + 0.5 * np.exp(-8 * (c[..., 0] ** 2 + c[..., 1] ** 2))
  exact, rhs = _manufactured(k, medium)
  errors = []
  for n in (65, 129, 257):
    u, coords = reference.helmholtz_fd(n, k, medium, rhs=rhs)
    errors.append(np.linalg.norm(u - exact(coords)) / np.linalg.norm(exact(coords)))
  orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
  # Second-order truncation error: the observed order tends to 2; k h = 0.6 to 0.16 here, the
  # asymptotic regime within the next term's weight (k h)^2 / 12 < 0.03 in the exponent.
  assert np.all(np.abs(orders - 2) < 0.25), (errors, orders)


def test_fd_helmholtz_matches_hankel_away_from_source():
  """Uniform medium: the FD field equals the Hankel solution in the physical region outside the source
  disk, to the five-point stencil's dispersion error."""
  n, k = 257, media.WAVENUMBER
  u, coords = reference.helmholtz_fd(n, k)
  exact = reference.hankel(coords, k)
  r = np.hypot(coords[..., 0], coords[..., 1])
  region = ~pml.in_pml(coords) & (r > media.SOURCE_SAMPLE_RADIUS)
  err = np.linalg.norm((u - exact)[region]) / np.linalg.norm(exact[region])
  # The five-point stencil's numerical wavenumber exceeds k by at most (k h)^2 / 24 relative (along
  # the axes), so the phase lags by <= k r (k h)^2 / 24 at distance r <= 0.5 sqrt(2) from the source;
  # the relative L2 error of a wave with that phase error is at most the phase error. The PML's
  # reflection, exp(-2 k a0 width / 3) = e^-33, and the source's quadrature error are negligible.
  h = 2 / (n - 1)
  bound = k * 0.5 * np.sqrt(2) * (k * h) ** 2 / 24
  assert err < bound, (err, bound)
  # The Gaussian's exp(-k^2 var / 2) = 0.98 factor matters at this accuracy: without it the error is
  # 2%, larger than the bound, so the scaling itself is checked.
  assert np.linalg.norm((u - exact / 0.98)[region]) / np.linalg.norm(exact[region]) > bound


def test_fd_helmholtz_square_medium_converges():
  """The square medium (coefficient jumps): the FD fields at n and 2n - 1 (shared nodes) differ less
  as the grid is refined, and the field is continuous across the jump (no blow-up)."""
  fields = [reference.helmholtz_fd(n, model="square")[0] for n in (65, 129, 257)]
  d1 = np.linalg.norm(fields[0] - fields[1][::2, ::2]) / np.linalg.norm(fields[1])
  d2 = np.linalg.norm(fields[1] - fields[2][::2, ::2]) / np.linalg.norm(fields[2])
  assert d2 < d1 / 2  # at least first order, which is all a jump in m allows


@pytest.mark.parametrize("order", [2, 4])
def test_wave_fd_order_on_a_standing_wave(order):
  """u = sin(2 pi x) sin(3 pi y) cos(sqrt(13) pi t) is zero on the boundary and solves u_tt = Lap u:
  the error at t = 0.7 falls as h^order."""
  omega = np.pi * np.sqrt(13.0)
  mode = lambda c: np.sin(2 * np.pi * c[..., 0]) * np.sin(3 * np.pi * c[..., 1])
  errors = []
  for n in (17, 33, 65):
    frames, coords = reference.wave_fd(n, [0.7], initial=mode, order=order)
    errors.append(np.abs(frames[0] - mode(coords) * np.cos(omega * 0.7)).max())
  orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
  assert np.all(np.abs(orders - order) < 0.3), (errors, orders)


def test_wave_fd_matches_the_exact_gaussian_pulse():
  """A Gaussian pulse in a uniform medium against its Hankel-transform solution: the fourth-order
  scheme's error falls by ~16 per halving of h (a wider pulse than the official one, so these small
  grids are in the asymptotic regime), and t = 0 reproduces the start."""
  var = 4e-3
  init = lambda c: media.wave_initial(c, variance=var, cutoff=0.0)
  coords9, _ = reference.grid(9)
  # The quadrature's next error term is dq^4 / 720 f'''(0) ~ 1e-9 of peak s^2; allow 1e-6 of the peak.
  np.testing.assert_allclose(reference.wave_uniform(coords9, 0.0, variance=var), init(coords9),
                             atol=1e-6 * media.WAVE_PEAK)
  errors = []
  for n in (33, 65, 129):
    frames, coords = reference.wave_fd(n, [0.0, 0.3], initial=init)
    exact = reference.wave_uniform(coords, 0.3, variance=var)
    errors.append(np.linalg.norm(frames[1] - exact) / np.linalg.norm(exact))
  orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
  assert np.all(orders > 3.5), (errors, orders)


def test_reference_input_errors():
  with pytest.raises(UserError):
    reference.grid(3)
  with pytest.raises(UserError):
    reference.wave_fd(17, [0.2, 0.1])
  with pytest.raises(UserError):
    reference.helmholtz_fd(17, model="triangle")


def test_fwi_data_geometry_symmetry_and_uniform_limit():
  """The official layout; a cylinder on the x = 0 axis gives mirror-symmetric data; with no contrast
  the data are the Hankel field at the receivers, to the FD dispersion bound."""
  sources, receivers, values = measurements.fwi_data(n=129, radius=0.2, velocity=1.5)
  assert sources.shape == (5, 2) and receivers.shape == (30, 2) and values.shape == (30, 5)
  np.testing.assert_allclose(sources[:, 1], -177 / 510)
  assert np.all(np.abs(receivers).max(axis=1) >= 0.4)  # a U of receivers 0.4 from the centre
  # x -> -x maps source i to 4 - i, the top receivers j to 9 - j and swaps the left and right sides.
  mirror = np.concatenate([np.arange(9, -1, -1), np.arange(20, 30), np.arange(10, 20)])
  np.testing.assert_allclose(values[mirror][:, ::-1], values, rtol=1e-9, atol=1e-12)
  again = measurements.fwi_data(n=129, radius=0.2, velocity=1.5)[2]
  np.testing.assert_array_equal(again, values)
  n, k = 257, media.WAVENUMBER
  _, _, flat = measurements.fwi_data(n=n, velocity=1.0)
  exact = np.stack([reference.hankel(receivers, k, tuple(s)) for s in sources], axis=-1)
  distance = np.hypot(*(receivers[:, None, :] - sources[None, :, :]).transpose(2, 0, 1)).max()
  bound = k * distance * (k * 2 / (n - 1)) ** 2 / 24  # phase bound, as in the Hankel test above
  assert np.linalg.norm(flat - exact) / np.linalg.norm(exact) < bound
  with pytest.raises(UserError):
    measurements.fwi_data(receivers=np.zeros((3, 3)))
