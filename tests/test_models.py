"""SIREN layers: the paper's initialisation and the property it exists for."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from siren_jax import configuration
from siren_jax.nets import kinds, models
from siren_jax.nets.sincos import fast_sin, sincos
import floatbounds
from conftest import DEFAULT_CONFIG


def _kernel(params, layer):
  p = params["params"][layer]
  return p["dense"]["kernel"] if "dense" in p else p["kernel"]


def _bias(params, layer):
  p = params["params"][layer]
  return p["dense"]["bias"] if "dense" in p else p["bias"]


def test_init_ranges_match_the_paper():
  omega = 30.0
  model = models.Siren(width=512, depth=2, out_features=3, first_omega_0=omega, hidden_omega_0=omega)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  first, hidden, out = _kernel(params, "layer_0"), _kernel(params, "layer_1"), _kernel(params, "output")
  # First layer: U(-1/fan_in, 1/fan_in) with fan_in = 2.
  assert first.shape == (2, 512)
  assert 0.49 < float(jnp.max(jnp.abs(first))) <= 0.5
  # Hidden and output: U(-sqrt(6/fan_in)/omega, +...) with fan_in = 512.
  bound = np.sqrt(6 / 512) / omega
  for w in (hidden, out):
    assert 0.98 * bound < float(jnp.max(jnp.abs(w))) <= bound
    # A uniform distribution's std is bound / sqrt(3).
    assert abs(float(jnp.std(w)) - bound / np.sqrt(3)) < 0.05 * bound
  # Biases: PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)), not Flax's zeros.
  assert 0.9 / np.sqrt(2) < float(jnp.max(jnp.abs(_bias(params, "layer_0")))) <= 1 / np.sqrt(2)
  b1 = _bias(params, "layer_1")
  assert float(jnp.std(b1)) > 0.5 / np.sqrt(3) / np.sqrt(512)
  assert float(jnp.max(jnp.abs(b1))) <= 1 / np.sqrt(512)


def test_omega_0_sets_both_unless_overridden():
  cfg = configuration.load_config(DEFAULT_CONFIG).model
  cfg.omega_0 = 60.0
  m = kinds.build_model(cfg, out_features=1)
  assert (m.first_omega_0, m.hidden_omega_0) == (60.0, 60.0)
  cfg.first_omega_0 = 20.0
  m = kinds.build_model(cfg, out_features=1)
  assert (m.first_omega_0, m.hidden_omega_0) == (20.0, 60.0)


def test_forward_is_sin_of_omega_times_affine():
  model = models.Siren(width=8, depth=1, out_features=1, first_omega_0=30.0, hidden_omega_0=7.0,
                       sine="xla")
  params = model.init(jax.random.PRNGKey(1), jnp.zeros((1, 2)))
  x = jax.random.uniform(jax.random.PRNGKey(2), (5, 2), minval=-1, maxval=1)
  p = params["params"]
  h = jnp.sin(30.0 * (x @ p["layer_0"]["dense"]["kernel"] + p["layer_0"]["dense"]["bias"]))
  h = jnp.sin(7.0 * (h @ p["layer_1"]["dense"]["kernel"] + p["layer_1"]["dense"]["bias"]))
  expected = h @ p["output"]["kernel"] + p["output"]["bias"]
  bound = floatbounds.siren_forward_bound(params, x, 30.0, 7.0, floatbounds.XLA_SIN_MAX_ABS_ERR)
  floatbounds.assert_within(model.apply(params, x), expected, 2 * bound, "forward")  # two evaluations


def _relative_std_drift(zs):
  stds = np.array([float(jnp.std(z)) for z in zs])
  return stds, float(np.max(np.maximum(stds / stds[0], stds[0] / stds)))


def test_siren_init_keeps_activation_statistics_through_depth():
  """The paper's key property (Sec. 3.2): pre-activations keep the same distribution at every depth."""
  model = models.Siren(width=256, depth=12, out_features=1)
  params = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  coords = jax.random.uniform(jax.random.PRNGKey(1), (4096, 2), minval=-1, maxval=1)
  zs = models.pre_activations(model, params, coords)
  assert len(zs) == 13
  stds, drift = _relative_std_drift(zs[1:])  # hidden layers (the first layer's input is not arcsine)
  assert drift < 1.5, stds
  # Pre-activations after layer 1 are ~N(0, 1)-like: unit order, not collapsing or exploding.
  assert 0.5 < stds[-1] < 2.0, stds


class _DefaultInitSineMLP(nn.Module):
  """The same architecture with Flax's default initialisers (lecun normal, zero bias)."""
  @nn.compact
  def __call__(self, x):
    zs = []
    for _ in range(13):
      z = 30.0 * nn.Dense(256)(x)
      zs.append(z)
      x = jnp.sin(z)
    return zs


def test_default_init_does_not_keep_statistics():
  coords = jax.random.uniform(jax.random.PRNGKey(1), (4096, 2), minval=-1, maxval=1)
  mlp = _DefaultInitSineMLP()
  params = mlp.init(jax.random.PRNGKey(0), coords[:1])
  stds, _ = _relative_std_drift(mlp.apply(params, coords)[1:])
  # Lecun-normal weights times omega_0 = 30 give pre-activations of std ~30: blown up by 30x
  # relative to SIREN's unit scale, so every later sine sees essentially random phases (white noise).
  assert stds.min() > 15.0, stds


@pytest.mark.parametrize("scale", [1.0, 100.0, 2000.0])
def test_fast_sincos_matches_numpy(scale):
  x = np.linspace(-scale, scale, 200001, dtype=np.float32)
  s, c = jax.jit(sincos)(x)
  ref = x.astype(np.float64)
  assert np.max(np.abs(np.asarray(s) - np.sin(ref))) < floatbounds.SINCOS_MAX_ABS_ERR
  assert np.max(np.abs(np.asarray(c) - np.cos(ref))) < floatbounds.SINCOS_MAX_ABS_ERR


def test_fast_sin_derivatives_are_exact_cos_and_minus_sin():
  x = jnp.linspace(-50.0, 50.0, 1001)
  d1 = jax.vmap(jax.grad(fast_sin))(x)
  d2 = jax.vmap(jax.grad(jax.grad(fast_sin)))(x)
  err = floatbounds.SINCOS_MAX_ABS_ERR  # the derivatives are sincos's own cos and -sin
  floatbounds.assert_within(d1, np.cos(np.asarray(x, np.float64)), err, "d/dx")
  floatbounds.assert_within(d2, -np.sin(np.asarray(x, np.float64)), err, "d2/dx2")
  # Forward mode (jvp of jvp) agrees too.
  t = jnp.ones_like(x)
  d2_fwd = jax.jvp(lambda y: jax.jvp(fast_sin, (y,), (t,))[1], (x,), (t,))[1]
  floatbounds.assert_within(d2_fwd, d2, 2 * err, "forward-mode d2/dx2")


def test_fast_and_xla_sine_give_the_same_network():
  kw = dict(width=64, depth=3, out_features=3)
  fast, ref = models.Siren(**kw, sine="fast"), models.Siren(**kw, sine="xla")
  params = fast.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  x = jax.random.uniform(jax.random.PRNGKey(1), (1000, 2), minval=-1, maxval=1)
  bound = (floatbounds.siren_forward_bound(params, x, 30.0, 30.0, floatbounds.SINCOS_MAX_ABS_ERR)
           + floatbounds.siren_forward_bound(params, x, 30.0, 30.0, floatbounds.XLA_SIN_MAX_ABS_ERR))
  floatbounds.assert_within(fast.apply(params, x), ref.apply(params, x), bound, "fast vs xla")


@pytest.mark.parametrize("kind,expected_std", [
    ("relu", lambda fan_in: np.sqrt(2.0 / fan_in)),  # He normal
    ("tanh", lambda fan_in: np.sqrt(2.0 / (fan_in + 256))),  # Xavier normal (fan_out = 256)
    ("relu_pe", lambda fan_in: np.sqrt(2.0 / (fan_in + 256))),  # Glorot uniform: std sqrt(2/(in+out))
    ("rff", lambda fan_in: np.sqrt(2.0 / (fan_in + 256))),  # Glorot normal
])
def test_baseline_families_use_their_authors_init(kind, expected_std):
  cfg = configuration.load_config(DEFAULT_CONFIG).model
  cfg.kind = kind
  model = kinds.build_model(cfg, out_features=3, grid_shape=(256, 256))
  variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  hidden = variables["params"]["layer_2"]["kernel"]  # a 256 -> 256 layer
  assert hidden.shape == (256, 256)
  assert abs(float(jnp.std(hidden)) / expected_std(256) - 1.0) < 0.05
  assert float(jnp.max(jnp.abs(variables["params"]["layer_2"]["bias"]))) == 0.0
  if kind == "relu_pe":  # Nyquist rule for 256 px: L = log2(64) = 6 -> 2 + 2*2*6 = 26 inputs
    assert variables["params"]["layer_0"]["kernel"].shape == (26, 256)
  if kind == "rff":  # B ~ N(0, 10^2), fixed, and not counted as a parameter
    b = variables["constants"]["RandomFourierFeatures_0"]["B"]
    assert b.shape == (2, 256) and 7.0 < float(jnp.std(b)) < 13.0
    assert models.num_params(variables) == sum(x.size for x in jax.tree_util.tree_leaves(
        variables["params"]))


def test_fourier_matrix_is_not_trained():
  cfg = configuration.load_config(DEFAULT_CONFIG).model
  cfg.kind, cfg.width, cfg.depth = "rff", 16, 1
  model = kinds.build_model(cfg, out_features=1)
  variables = model.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  x = jnp.linspace(-1, 1, 20).reshape(10, 2)
  grads = jax.grad(lambda v: jnp.sum(model.apply(v, x) ** 2))(variables)
  assert float(jnp.max(jnp.abs(grads["constants"]["RandomFourierFeatures_0"]["B"]))) == 0.0


def test_siren_pe_encodes_its_input_and_is_a_siren_after_it():
  config = configuration.load_config(DEFAULT_CONFIG)
  config.model.kind, config.model.width, config.model.depth = "siren_pe", 16, 1
  config.model.pe_frequencies = 3
  model = kinds.build_model(config.model, out_features=3)
  x = jax.random.uniform(jax.random.PRNGKey(1), (5, 2), minval=-1, maxval=1)
  params = model.init(jax.random.PRNGKey(0), x)
  kernel = params["params"]["layer_0"]["dense"]["kernel"]
  assert kernel.shape == (2 + 2 * 2 * 3, 16)  # [x, sin, cos] of 3 frequencies per axis
  # SIREN's first-layer init on the encoded fan-in, and the same network as a plain Siren applied to
  # the encoding: the encoding is the only difference.
  assert float(jnp.max(jnp.abs(kernel))) <= 1.0 / kernel.shape[0]
  encoded = models.PositionalEncoding(3)(x)
  plain = models.Siren(width=16, depth=1, out_features=3)
  np.testing.assert_array_equal(np.asarray(model.apply(params, x)),
                                np.asarray(plain.apply(params, encoded)))
  config.model.pe_frequencies = 0  # the Nyquist rule of the sample grid, as relu_pe
  auto = kinds.build_model(config.model, out_features=3, grid_shape=(64, 96))
  assert auto.pe_frequencies == models.nyquist_frequencies(64, 96)


def test_derivative_routes_skip_propagation_through_an_encoding():
  from siren_jax.nets import derivatives  # pylint: disable=g-import-not-at-top
  encoded = models.Siren(width=8, depth=1, pe_frequencies=2)
  assert derivatives.resolve_methods(encoded, 1, "auto", "auto")[1] == "forward"
  assert derivatives.resolve_methods(models.Siren(width=8, depth=1), 1, "auto", "auto")[1] == "propagate"
  params = encoded.init(jax.random.PRNGKey(0), jnp.zeros((1, 2)))
  with pytest.raises(ValueError, match="without an input encoding"):
    derivatives.propagate(encoded, params, jnp.zeros((4, 2)))
