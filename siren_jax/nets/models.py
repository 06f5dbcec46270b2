"""SIREN: sine-activated MLPs with the initialisation of Sitzmann et al. (NeurIPS 2020).

A sine layer computes ``sin(omega_0 * (W x + b))``. omega_0 multiplies the whole affine map, as in the
official code (the paper writes ``sin(omega_0 W x + b)``; the code's form is the one that was trained).

Initialisation, following the official implementation:

* first layer:  W ~ U(-1/fan_in, 1/fan_in). With inputs in [-1, 1] and omega_0 = 30 the first layer's
  pre-activations span several periods of the sine, which is what lets the network represent fine detail.
* later layers: W ~ U(-sqrt(6/fan_in)/omega_0, sqrt(6/fan_in)/omega_0). Dividing by omega_0 cancels the
  omega_0 in the forward pass, so omega_0 * W x has unit-order variance and the arcsine-distributed
  activations of the previous layer map to (approximately) the same distribution at every depth.
* biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), PyTorch's nn.Linear default, which the official code keeps.
  Flax's default zero bias is a silent difference: it removes the random phase of every first-layer sine.
* the output layer is linear, initialised like a hidden layer with the hidden omega_0.

The network is a pure function of an explicit parameter pytree: ``Siren(...).apply(params, coords)`` maps
(..., in_features) coordinates to (..., out_features) values, pointwise over the leading axes.
"""

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from siren_jax.engine import hyper
from siren_jax.nets.kind import Kind
from siren_jax.nets.sincos import fast_sin

SINE_IMPLS = {"fast": fast_sin, "xla": jnp.sin}


def _uniform(bound: float) -> Callable:
  def init(key, shape, dtype=jnp.float32):
    return jax.random.uniform(key, shape, dtype, -bound, bound)
  return init


def first_layer_kernel_init(fan_in: int) -> Callable:
  return _uniform(1.0 / fan_in)


def hidden_kernel_init(fan_in: int, omega_0: float) -> Callable:
  return _uniform((6.0 / fan_in) ** 0.5 / omega_0)


def torch_bias_init(fan_in: int) -> Callable:
  return _uniform(1.0 / fan_in ** 0.5)


class SineLayer(nn.Module):
  """``sin(omega_0 * (W x + b))`` with SIREN's initialisation (first-layer or hidden-layer variant)."""
  features: int
  omega_0: float
  is_first: bool = False
  sine: str = "fast"  # "fast": fused sin/cos (siren_jax.nets.sincos); "xla": jnp.sin

  @nn.compact
  def __call__(self, x):
    fan_in = x.shape[-1]
    kernel_init = (first_layer_kernel_init(fan_in) if self.is_first
                   else hidden_kernel_init(fan_in, self.omega_0))
    z = nn.Dense(self.features, kernel_init=kernel_init, bias_init=torch_bias_init(fan_in),
                 name="dense")(x)
    return SINE_IMPLS[self.sine](self.omega_0 * z)


class Siren(nn.Module):
  """SIREN MLP: a first sine layer, ``depth`` hidden sine layers of ``width``, a linear output layer.

  ``depth`` counts hidden layers as the official code's ``hidden_layers`` does: depth=3, width=256 is the
  paper's image-fitting network (2->256, three 256->256 sine layers, 256->out linear).
  """
  width: int = 256
  depth: int = 3
  out_features: int = 1
  first_omega_0: float = 30.0
  hidden_omega_0: float = 30.0
  sine: str = "fast"
  pe_frequencies: int = 0  # > 0: NeRF's positional encoding in front (siren_pe; Strümpler et al. 2022)

  @nn.compact
  def __call__(self, coords):
    if self.pe_frequencies:
      coords = PositionalEncoding(self.pe_frequencies)(coords)
    h = SineLayer(self.width, self.first_omega_0, is_first=True, sine=self.sine, name="layer_0")(coords)
    for i in range(self.depth):
      h = SineLayer(self.width, self.hidden_omega_0, sine=self.sine, name=f"layer_{i + 1}")(h)
    fan_in = h.shape[-1]
    return nn.Dense(self.out_features, kernel_init=hidden_kernel_init(fan_in, self.hidden_omega_0),
                    bias_init=torch_bias_init(fan_in), name="output")(h)


# Baselines (paper Sec. 3, Tancik et al. 2020), each with its authors' initialisation:
#   relu     ReLU MLP, He (Kaiming) normal fan-in weights: the official SIREN code's ReLU baseline.
#   tanh     tanh MLP, Xavier (Glorot) normal weights: the official SIREN code's tanh baseline.
#   relu_pe  NeRF positional encoding [x, sin(2^k pi x), cos(2^k pi x)], k < L, then a ReLU MLP with
#            Glorot uniform weights (NeRF's TensorFlow default). L = 0 picks the official SIREN code's
#            Nyquist rule: floor(log2(min(H, W) / 4)).
#   siren_pe the same encoding in front of a SIREN (its first layer's init then sees fan-in D + 2 D L), as
#            in Strümpler et al. 2022's image codec; L = 0 picks the Nyquist rule too.
#   rff      Gaussian random Fourier features [cos(2 pi B x), sin(2 pi B x)], B ~ N(0, sigma^2) fixed
#            (a "constants" collection, never trained), then a ReLU MLP with Glorot normal weights
#            (the stax default in Tancik et al.'s code).
# Baseline biases are zero, as in those codebases' defaults for these inits.
_INITS = {"he_normal": nn.initializers.he_normal(), "xavier_normal": nn.initializers.xavier_normal(),
          "glorot_uniform": nn.initializers.glorot_uniform(), "glorot_normal": nn.initializers.glorot_normal()}
_ACTIVATIONS = {"relu": nn.relu, "tanh": jnp.tanh}


class PositionalEncoding(nn.Module):
  """NeRF-style encoding of coordinates in [-1, 1]: [x, sin(2^k pi x), cos(2^k pi x)] for k < L."""
  num_frequencies: int

  def __call__(self, x):
    freqs = (2.0 ** jnp.arange(self.num_frequencies)) * jnp.pi
    xf = x[..., :, None] * freqs  # (..., D, L)
    enc = jnp.concatenate([jnp.sin(xf), jnp.cos(xf)], axis=-1).reshape(*x.shape[:-1], -1)
    return jnp.concatenate([x, enc], axis=-1)


class RandomFourierFeatures(nn.Module):
  """Gaussian Fourier feature mapping (Tancik et al. 2020): B ~ N(0, scale^2), fixed at init."""
  num_features: int
  scale: float

  @nn.compact
  def __call__(self, x):
    b = self.variable("constants", "B", lambda: self.scale * jax.random.normal(
        self.make_rng("params"), (x.shape[-1], self.num_features)))
    proj = 2.0 * jnp.pi * x @ jax.lax.stop_gradient(b.value)
    return jnp.concatenate([jnp.cos(proj), jnp.sin(proj)], axis=-1)


class MLP(nn.Module):
  """A baseline MLP with the same layer count as ``Siren``: an input layer, ``depth`` hidden layers of
  ``width``, a linear output; optionally after a coordinate encoding."""
  width: int = 256
  depth: int = 3
  out_features: int = 1
  activation: str = "relu"
  kernel_init: str = "he_normal"
  encoding: str = "none"  # none | pe | rff
  pe_frequencies: int = 6
  rff_features: int = 256
  rff_scale: float = 10.0

  @nn.compact
  def __call__(self, coords):
    h = coords
    if self.encoding == "pe":
      h = PositionalEncoding(self.pe_frequencies)(h)
    elif self.encoding == "rff":
      h = RandomFourierFeatures(self.rff_features, self.rff_scale)(h)
    act, init = _ACTIVATIONS[self.activation], _INITS[self.kernel_init]
    for i in range(self.depth + 1):
      h = act(nn.Dense(self.width, kernel_init=init, name=f"layer_{i}")(h))
    return nn.Dense(self.out_features, kernel_init=init, name="output")(h)


def nyquist_frequencies(*sides: int) -> int:
  """The official SIREN code's PE rule: log2 of the Nyquist rate of the shortest side of the sample
  grid (an image's (H, W), a clip's (N,))."""
  return max(1, int(np.floor(np.log2(min(sides) / 4.0))))


def _pe_frequencies(model_config, image_shape) -> int:
  """``model.pe_frequencies``, or 0's Nyquist rule of the sample grid ((H, W), or (N,) for a clip)."""
  return model_config.pe_frequencies or nyquist_frequencies(*image_shape[:2])


def _pe_resolve(model_config, grid_shape) -> dict:
  return {"pe_frequencies": _pe_frequencies(model_config, grid_shape)}


def _pe_input(model_config, in_features: int) -> int:
  """An encoding's width: 0 (the Nyquist rule) counts as the most it gives, 16 frequencies."""
  return in_features * (1 + 2 * max(model_config.pe_frequencies, 16))


def _build_siren(model_config, out_features: int, grid_shape, encoded: bool = False) -> nn.Module:
  first, hidden = hyper.omegas(model_config)
  freqs = _pe_frequencies(model_config, grid_shape) if encoded else 0
  return Siren(width=model_config.width, depth=model_config.depth, out_features=out_features,
               first_omega_0=first, hidden_omega_0=hidden, sine=model_config.sine, pe_frequencies=freqs)


def _mlp(activation: str, init: str, **encoding):
  def build(m, out_features, grid_shape):
    del grid_shape
    return MLP(m.width, m.depth, out_features, activation, init, **encoding)
  return build


def _build_relu_pe(m, out_features, grid_shape) -> nn.Module:
  return MLP(m.width, m.depth, out_features, "relu", "glorot_uniform", encoding="pe",
             pe_frequencies=_pe_frequencies(m, grid_shape))


def _build_rff(m, out_features, grid_shape) -> nn.Module:
  del grid_shape
  return MLP(m.width, m.depth, out_features, "relu", "glorot_normal", encoding="rff",
             rff_features=m.rff_features, rff_scale=float(m.rff_scale))


_OMEGAS = ("omega_0", "first_omega_0", "hidden_omega_0", "sine")
SIREN = Kind("siren", _build_siren, _OMEGAS, sine=True, plain_sine=True)
SIREN_PE = Kind("siren_pe", lambda m, o, g: _build_siren(m, o, g, encoded=True),
                _OMEGAS + ("pe_frequencies",), sine=True, input_features=_pe_input,
                resolve=_pe_resolve)
RELU = Kind("relu", _mlp("relu", "he_normal"))
TANH = Kind("tanh", _mlp("tanh", "xavier_normal"))
RELU_PE = Kind("relu_pe", _build_relu_pe, ("pe_frequencies",), input_features=_pe_input,
               resolve=_pe_resolve)
RFF = Kind("rff", _build_rff, ("rff_features", "rff_scale"),
           input_features=lambda m, d: 2 * m.rff_features)
KINDS = (SIREN, RELU, TANH, RELU_PE, RFF, SIREN_PE)  # the built-in kinds (siren_jax.nets.kinds)


def num_params(variables) -> int:
  """Trainable parameters (the "params" collection; fixed Fourier matrices are not counted)."""
  tree = variables["params"] if isinstance(variables, dict) and "params" in variables else variables
  return int(sum(x.size for x in jax.tree_util.tree_leaves(tree)))


def pre_activations(model: Siren, params, coords) -> list:
  """The pre-activations omega_0 (W x + b) of every sine layer, in order (for init diagnostics)."""
  zs = []

  def capture(next_fun, args, kwargs, context):
    out = next_fun(*args, **kwargs)
    if isinstance(context.module, nn.Dense) and context.module.name == "dense":
      zs.append(out * context.module.parent.omega_0)
    return out

  with nn.intercept_methods(capture):
    model.apply(params, coords)
  return zs

