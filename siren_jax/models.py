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
from flax import linen as nn

from siren_jax.sincos import fast_sin

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
  sine: str = "fast"  # "fast": fused sin/cos (siren_jax.sincos); "xla": jnp.sin

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

  @nn.compact
  def __call__(self, coords):
    h = SineLayer(self.width, self.first_omega_0, is_first=True, sine=self.sine, name="layer_0")(coords)
    for i in range(self.depth):
      h = SineLayer(self.width, self.hidden_omega_0, sine=self.sine, name=f"layer_{i + 1}")(h)
    fan_in = h.shape[-1]
    return nn.Dense(self.out_features, kernel_init=hidden_kernel_init(fan_in, self.hidden_omega_0),
                    bias_init=torch_bias_init(fan_in), name="output")(h)


def build_model(model_config, out_features: int) -> nn.Module:
  """The model a config describes (``model.omega_0`` sets both omega_0s unless one is given)."""
  kind = model_config.kind
  if kind == "siren":
    first = model_config.get("first_omega_0") or model_config.omega_0
    hidden = model_config.get("hidden_omega_0") or model_config.omega_0
    return Siren(width=model_config.width, depth=model_config.depth, out_features=out_features,
                 first_omega_0=float(first), hidden_omega_0=float(hidden), sine=model_config.sine)
  raise ValueError(f"unknown model.kind {kind!r}")


def num_params(params) -> int:
  return int(sum(x.size for x in jax.tree_util.tree_leaves(params)))


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

