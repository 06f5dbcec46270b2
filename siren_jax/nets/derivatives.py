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
* ``diagonal``: value, gradient and the unmixed second derivatives d2f/dx_k^2 of every axis, for
  operators with spatially varying coefficients (d/dx (a(x) df/dx) needs df/dx and d2f/dx2 apart, not
  their sum). ``propagate`` keeps one stream per axis in place of the Laplacian's one:
  d_kk a = w cos(w z) d_kk z - w^2 sin(w z) (d_k z)^2; ``forward`` is a nested jvp per axis, which
  yields the first and second derivative along it together, for any function (``diagonal_of``).

Units: derivatives are per unit of the [-1, 1] coordinate, in the network's output units (the
training values in [-1, 1]), with axes ordered (y, x) as everywhere in siren_jax.
"""

from typing import Tuple

import jax
import jax.numpy as jnp

from siren_jax.nets import models
from siren_jax.nets.sincos import sincos

GRADIENT_METHODS = ("reverse", "forward", "propagate", "hessian")
LAPLACIAN_METHODS = ("forward", "propagate", "hessian")
DIAGONAL_METHODS = ("forward", "propagate", "hessian")


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


def resolve_diagonal(model, method: str) -> str:
  """'auto' (and a Laplacian route's name, which a task may pass on) picks the one-pass propagation
  for plain SIRENs and nested jvps otherwise."""
  if method in ("auto", "reverse"):
    return "propagate" if _plain_siren(model) else "forward"
  return method


def diagonal_of(f, coords, method: str = "forward"):
  """(values (N, C), gradient (N, C, D), unmixed second derivatives (N, C, D)) of any pointwise
  batched function ``f`` of ``coords`` (N, D): a network, or a closed-form field in the tests."""
  if method == "forward":
    firsts, seconds = [], []
    for t in _axis_tangents(coords):
      d1 = lambda x, t=t: jax.jvp(f, (x,), (t,))[1]
      first, second = jax.jvp(d1, (coords,), (t,))
      firsts.append(first)
      seconds.append(second)
    return f(coords), jnp.stack(firsts, axis=-1), jnp.stack(seconds, axis=-1)
  if method == "hessian":
    point = lambda x: f(x[None])[0]
    hess = jax.vmap(jax.hessian(point))(coords)  # (N, C, D, D)
    return f(coords), jax.vmap(jax.jacfwd(point))(coords), jnp.diagonal(hess, axis1=-2, axis2=-1)
  raise ValueError(f"unknown diagonal method {method!r} for a function; one of ('forward', 'hessian')")


def diagonal(model, params, coords, method: str = "forward"):
  """(values (N, C), gradient (N, C, D), d2f/dx_k^2 (N, C, D)) of ``model.apply(params, coords)``."""
  if method == "propagate":
    return _propagate(model, params, coords, "diagonal")
  if method not in DIAGONAL_METHODS:
    raise ValueError(f"unknown diagonal method {method!r}; one of {DIAGONAL_METHODS}")
  return diagonal_of(lambda x: model.apply(params, x), coords, method)


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
  return _propagate(model, params, coords, "laplacian" if laplacian else "none")


def _propagate(model, params, coords, second: str):
  """``propagate``'s pass; ``second`` is "none", "laplacian" (one stream: the sum over axes) or
  "diagonal" (one stream per axis, returned as (N, C, D))."""
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
  # Layer 0 in closed form: d_k z = W[k] (the same for every pixel), d_kk z = 0.
  w0, b0 = layers[0]
  s, c = sc(omegas[0] * (coords @ w0 + b0))
  h = s
  dh = [omegas[0] * c * w0[k] for k in range(d)]  # D x (N, F)
  if second == "laplacian":
    d2h = [-(omegas[0] ** 2) * s * jnp.sum(w0 ** 2, axis=0)]
  elif second == "diagonal":
    d2h = [-(omegas[0] ** 2) * s * w0[k] ** 2 for k in range(d)]
  else:
    d2h = []
  # One matmul per stream. Stacking the streams into one (2 + D, N, F) matmul costs the same FLOPs but
  # XLA's CPU backend then copies the stack in and out of every layer, forward and backward: measured
  # ~2x slower for the Laplacian step (benchmarks/derivative_speed.py).
  for omega, (w, b) in zip(omegas[1:], layers[1:]):
    z = h @ w
    dz = [g @ w for g in dh]
    s, c = sc(omega * (z + b))
    oc = omega * c
    if second == "laplacian":
      d2h = [oc * (d2h[0] @ w) - (omega ** 2) * s * sum(g * g for g in dz)]
    elif second == "diagonal":
      d2h = [oc * (q @ w) - (omega ** 2) * s * g * g for q, g in zip(d2h, dz)]
    h, dh = s, [oc * g for g in dz]
  values = h @ w_out + b_out
  grads = jnp.stack([g @ w_out for g in dh], axis=-1)  # (N, C, D)
  if second == "laplacian":
    return values, grads, d2h[0] @ w_out
  if second == "diagonal":
    return values, grads, jnp.stack([q @ w_out for q in d2h], axis=-1)
  return values, grads, None
