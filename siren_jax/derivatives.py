"""Derivatives of a fitted network with respect to its input coordinates: gradient and Laplacian.

The network is pointwise (output pixel i depends only on input pixel i), so per-pixel derivatives of a
whole batch come from one differentiation of the batched function, with no per-pixel ``vmap``:

* ``gradient(..., method="reverse")``: one ``vjp`` per output channel of the batched network.
  d(sum_i f_c(x_i))/dx_i = grad f_c(x_i). It costs about one backward pass per channel.
* ``gradient(..., method="forward")``: one ``jvp`` per input axis (2). That is cheaper when there are
  more channels than axes.
* ``laplacian(..., method="forward")``: jvp-of-jvp along each axis, summed.
* ``method="propagate"`` (SIREN only): value, gradient and Laplacian pushed through the sine layers
  in one forward pass. For z = h W + b and a = sin(w z):
      d_k a = w cos(w z) d_k z,
      lap a = w cos(w z) lap z - w^2 sin(w z) sum_k (d_k z)^2,
  each stream through its own matmul with the layer's kernel.
* ``method="hessian"``: ``jax.hessian`` of the per-point function, vmapped over pixels. It is the
  textbook reference for the tests and the benchmark, not for use.

Units: derivatives are per unit of the [-1, 1] coordinate, in the network's output units (the
training values in [-1, 1]), with axes ordered (y, x) as everywhere in siren_jax.
"""

from typing import Tuple

import jax
import jax.numpy as jnp

from siren_jax import models
from siren_jax.sincos import sincos

GRADIENT_METHODS = ("reverse", "forward", "propagate", "hessian")
LAPLACIAN_METHODS = ("forward", "propagate", "hessian")


def resolve_methods(model, channels: int, gradient_method: str, laplacian_method: str):
  """'auto' picks the cheapest route measured (benchmarks/derivative_speed.py, RESULTS.md). For the
  gradient that is reverse mode (one backward pass per channel) for 1-2 channels, forward mode (one jvp
  per axis) otherwise. For the Laplacian it is the one-pass propagation for SIRENs and jvp-of-jvp
  otherwise (their measured costs are in benchmarks/RESULTS.md)."""
  if gradient_method == "auto":
    gradient_method = "reverse" if channels <= 2 else "forward"
  if laplacian_method == "auto":
    laplacian_method = "propagate" if _plain_siren(model) else "forward"
  return gradient_method, laplacian_method


def _plain_siren(model) -> bool:
  """A Siren whose first layer sees the coordinates themselves (propagation starts from them)."""
  return isinstance(model, models.Siren) and not model.pe_frequencies


def _axis_tangents(coords):
  n, d = coords.shape
  return [jnp.zeros((n, d), coords.dtype).at[:, k].set(1.0) for k in range(d)]


def gradient(model, params, coords, method: str = "reverse") -> Tuple[jax.Array, jax.Array]:
  """(values (N, C), gradient (N, C, D)) of ``model.apply(params, coords)`` w.r.t. ``coords`` (N, D)."""
  f = lambda x: model.apply(params, x)
  if method == "reverse":
    values, vjp = jax.vjp(f, coords)
    if values.shape[-1] == 1:  # one channel: a single vjp, no vmap over a one-element basis
      return values, vjp(jnp.ones_like(values))[0][:, None, :]
    basis = jnp.eye(values.shape[-1], dtype=values.dtype)
    grads = jax.vmap(lambda e: vjp(jnp.broadcast_to(e, values.shape))[0])(basis)  # (C, N, D)
    return values, jnp.moveaxis(grads, 0, 1)
  if method == "forward":
    values, lin = jax.linearize(f, coords)
    grads = [lin(t) for t in _axis_tangents(coords)]  # D x (N, C)
    return values, jnp.stack(grads, axis=-1)
  if method == "propagate":
    values, grads, _ = propagate(model, params, coords, laplacian=False)
    return values, grads
  if method == "hessian":
    point = lambda x: model.apply(params, x[None])[0]
    return f(coords), jax.vmap(jax.jacfwd(point))(coords)
  raise ValueError(f"unknown gradient method {method!r}; one of {GRADIENT_METHODS}")


def laplacian(model, params, coords, method: str = "forward") -> Tuple[jax.Array, jax.Array]:
  """(values (N, C), Laplacian (N, C)) of ``model.apply(params, coords)`` w.r.t. ``coords``."""
  f = lambda x: model.apply(params, x)
  if method == "forward":
    values, lap = f(coords), 0.0
    for t in _axis_tangents(coords):
      d1 = lambda x, t=t: jax.jvp(f, (x,), (t,))[1]
      lap = lap + jax.jvp(d1, (coords,), (t,))[1]
    return values, lap
  if method == "propagate":
    values, _, lap = propagate(model, params, coords, laplacian=True)
    return values, lap
  if method == "hessian":
    point = lambda x: model.apply(params, x[None])[0]
    hess = jax.vmap(jax.hessian(point))(coords)  # (N, C, D, D)
    return f(coords), jnp.trace(hess, axis1=-2, axis2=-1)
  raise ValueError(f"unknown laplacian method {method!r}; one of {LAPLACIAN_METHODS}")


def _siren_layers(params):
  """[(kernel, bias), ...] of a Siren's sine layers in order, and the output layer's (kernel, bias)."""
  p = params["params"]
  names = sorted((k for k in p if k.startswith("layer_")), key=lambda k: int(k.split("_")[1]))
  layers = [(p[k]["dense"]["kernel"], p[k]["dense"]["bias"]) for k in names]
  return layers, (p["output"]["kernel"], p["output"]["bias"])


def propagate(model, params, coords, laplacian: bool = True):
  """Value, gradient and (optionally) Laplacian of a ``models.Siren`` in one forward pass.

  Returns (values (N, C), grads (N, C, D), Laplacian (N, C) or None).
  """
  if not _plain_siren(model):
    raise ValueError(f"method='propagate' needs a Siren without an input encoding, not "
                     f"{type(model).__name__}")
  if model.sine == "fast":
    sc = sincos
  else:
    sc = lambda x: (jnp.sin(x), jnp.cos(x))
  omegas = [model.first_omega_0] + [model.hidden_omega_0] * model.depth
  layers, (w_out, b_out) = _siren_layers(params)
  d = coords.shape[1]
  # Layer 0 in closed form: d_k z = W[k] (the same for every pixel), lap z = 0.
  w0, b0 = layers[0]
  s, c = sc(omegas[0] * (coords @ w0 + b0))
  h = s
  dh = [omegas[0] * c * w0[k] for k in range(d)]  # D x (N, F)
  lap_h = -(omegas[0] ** 2) * s * jnp.sum(w0 ** 2, axis=0) if laplacian else None
  # One matmul per stream. Stacking the streams into one (2 + D, N, F) matmul costs the same FLOPs but
  # XLA's CPU backend then copies the stack in and out of every layer, forward and backward: measured
  # ~2x slower for the Laplacian step (benchmarks/derivative_speed.py).
  for omega, (w, b) in zip(omegas[1:], layers[1:]):
    z = h @ w
    dz = [g @ w for g in dh]
    s, c = sc(omega * (z + b))
    oc = omega * c
    h, dh_next = s, [oc * g for g in dz]
    if laplacian:
      lap_h = oc * (lap_h @ w) - (omega ** 2) * s * sum(g * g for g in dz)
    dh = dh_next
  values = h @ w_out + b_out
  grads = jnp.stack([g @ w_out for g in dh], axis=-1)  # (N, C, D)
  return values, grads, (lap_h @ w_out if laplacian else None)
