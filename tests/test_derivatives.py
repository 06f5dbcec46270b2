"""Input derivatives: every fast path against jax.hessian / jacfwd references and a closed form."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from siren_jax.nets import derivatives, models
import floatbounds


def _net(channels=3, sine="fast", depth=2, width=24, omega=30.0):
  model = models.Siren(width=width, depth=depth, out_features=channels, first_omega_0=omega,
                       hidden_omega_0=omega, sine=sine)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  coords = jax.random.uniform(jax.random.PRNGKey(1), (257, 2), minval=-1, maxval=1)
  return model, params, coords


# Fan-ins of _net's layers (2 -> 24 -> 24 -> 24 -> C) and its omega: the routes' error bound.
_BOUND = floatbounds.chain_rel_bound((2, 24, 24, 24), omega=30.0)


def _rel_err(a, b):
  return float(jnp.max(jnp.abs(a - b)) / jnp.max(jnp.abs(b)))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("sine", ["fast", "xla"])
def test_gradient_methods_match_reference(channels, sine):
  model, params, coords = _net(channels, sine)
  ref_v, ref_g = derivatives.gradient(model, params, coords, "hessian")
  assert ref_g.shape == (257, channels, 2)
  for method in ("reverse", "forward", "propagate"):
    v, g = jax.jit(lambda p, x, m=method: derivatives.gradient(model, p, x, m))(params, coords)
    assert g.shape == ref_g.shape
    assert _rel_err(v, ref_v) <= _BOUND, method
    assert _rel_err(g, ref_g) <= _BOUND, method


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("sine", ["fast", "xla"])
def test_laplacian_methods_match_reference(channels, sine):
  model, params, coords = _net(channels, sine)
  ref_v, ref_l = derivatives.laplacian(model, params, coords, "hessian")
  assert ref_l.shape == (257, channels)
  for method in ("forward", "propagate"):
    v, lap = jax.jit(lambda p, x, m=method: derivatives.laplacian(model, p, x, m))(params, coords)
    assert _rel_err(v, ref_v) <= _BOUND, method
    assert _rel_err(lap, ref_l) <= _BOUND, method


@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("dims", [2, 3])
def test_diagonal_methods_match_reference(channels, dims):
  """The unmixed second derivatives (and the value and gradient beside them) of every route against
  jax.hessian's diagonal, for the 2-D Helmholtz and 3-D (t, x, y) wave inputs."""
  model = models.Siren(width=24, depth=2, out_features=channels, first_omega_0=30.0,
                       hidden_omega_0=30.0)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, dims)))
  coords = jax.random.uniform(jax.random.PRNGKey(1), (129, dims), minval=-1, maxval=1)
  ref_v, ref_g, ref_d = derivatives.diagonal(model, params, coords, "hessian")
  assert ref_d.shape == (129, channels, dims)
  _, ref_l = derivatives.laplacian(model, params, coords, "hessian")
  np.testing.assert_allclose(np.sum(ref_d, axis=-1), ref_l, rtol=0, atol=float(
      _BOUND * jnp.max(jnp.abs(ref_l))))  # the diagonal sums to the Laplacian
  bound = floatbounds.chain_rel_bound((dims, 24, 24, 24), omega=30.0)
  for method in ("forward", "propagate"):
    v, g, d = jax.jit(lambda p, x, m=method: derivatives.diagonal(model, p, x, m))(params, coords)
    assert d.shape == ref_d.shape, method
    assert _rel_err(v, ref_v) <= bound, method
    assert _rel_err(g, ref_g) <= bound, method
    assert _rel_err(d, ref_d) <= bound, method


def test_closed_form_one_unit_siren():
  """f(x) = wo sin(w1 (v1 sin(w0 (a.x + b0)) + b1)) + bo, derivatives by hand."""
  w0, w1 = 30.0, 7.0
  model = models.Siren(width=1, depth=1, out_features=1, first_omega_0=w0, hidden_omega_0=w1,
                       sine="fast")
  a, b0, v1, b1, wo, bo = np.array([0.3, -0.2]), 0.1, 0.4, -0.05, 1.3, 0.2
  params = {"params": {
      "layer_0": {"dense": {"kernel": jnp.asarray(a[:, None], jnp.float32), "bias": jnp.array([b0])}},
      "layer_1": {"dense": {"kernel": jnp.array([[v1]]), "bias": jnp.array([b1])}},
      "output": {"kernel": jnp.array([[wo]]), "bias": jnp.array([bo])}}}
  x = np.random.default_rng(0).uniform(-1, 1, (50, 2))
  u = w0 * (x @ a + b0)
  v = w1 * (v1 * np.sin(u) + b1)
  f = wo * np.sin(v) + bo
  grad = (wo * np.cos(v) * w1 * v1 * np.cos(u) * w0)[:, None] * a[None, :]
  lap = sum(wo * (-np.sin(v) * (w1 * v1 * np.cos(u) * w0 * a[k]) ** 2
                  + np.cos(v) * w1 * v1 * (-np.sin(u)) * (w0 * a[k]) ** 2) for k in range(2))
  # First-order float32 error bounds: the arguments u and v carry the rounding of x, a and the
  # affine maps (a few eps of their absolute terms, scaled by omega), which every derivative sees
  # through |cos|, |sin| <= 1, plus a few roundings of each product of the chain rule.
  e = floatbounds.EPS32
  du = 4 * e * w0 * (np.abs(x) @ np.abs(a) + abs(b0))
  dv = 4 * e * w1 * (abs(v1) + abs(b1)) + w1 * abs(v1) * du
  tol_f = abs(wo) * dv + 4 * e * (abs(wo) + abs(bo))
  g_mag = abs(wo * w1 * v1 * w0) * np.abs(a)[None, :]
  tol_g = g_mag * (dv + du + 8 * e)[:, None]
  t1 = sum(abs(wo) * (w1 * v1 * w0 * a[k]) ** 2 for k in range(2))
  t2 = sum(abs(wo * w1 * v1) * (w0 * a[k]) ** 2 for k in range(2))
  tol_l = t1 * (dv + 2 * du + 8 * e) + t2 * (dv + du + 8 * e)
  xj = jnp.asarray(x, jnp.float32)
  for method in ("reverse", "forward", "propagate"):
    vals, g = derivatives.gradient(model, params, xj, method)
    floatbounds.assert_within(vals[:, 0], f, tol_f, f"value ({method})")
    floatbounds.assert_within(g[:, 0, :], grad, tol_g, f"gradient ({method})")
  for method in ("forward", "propagate"):
    _, lp = derivatives.laplacian(model, params, xj, method)
    floatbounds.assert_within(lp[:, 0], lap, tol_l, f"Laplacian ({method})")
    _, _, diag = derivatives.diagonal(model, params, xj, method)
    floatbounds.assert_within(jnp.sum(diag[:, 0], axis=-1), lap, tol_l, f"diagonal sum ({method})")


def test_unknown_method():
  model, params, coords = _net()
  with pytest.raises(ValueError):
    derivatives.gradient(model, params, coords, "nope")
