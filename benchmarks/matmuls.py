"""A training step's matmul FLOPs and the machine's fp32 ceiling for the same matmul shapes: what a
step's GFLOP/s is measured against (a step at the ceiling is as fast as its matmuls alone)."""

import time

import jax
import jax.numpy as jnp
import numpy as np


def time_calls(fn, *args, repeats):
  """(median seconds of ``fn(*args)`` after one untimed call, the last output)."""
  out = fn(*args)
  jax.block_until_ready(out)
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    out = fn(*args)
    jax.block_until_ready(out)
    times.append(time.perf_counter() - t0)
  return float(np.median(times)), out


def layer_shapes(in_features, width, depth, out_features):
  """(fan_in, fan_out) of every dense layer of a depth x width MLP."""
  return [(in_features, width)] + [(width, width)] * depth + [(width, out_features)]


def step_flops(n, shapes):
  """Matmul FLOPs of one value-fitting step on ``n`` samples: forward, weight gradients, and input
  gradients of every layer but the first (nothing needs the gradient w.r.t. the coordinates)."""
  fwd = sum(2 * n * a * b for a, b in shapes)
  d_weights = fwd
  d_inputs = sum(2 * n * a * b for a, b in shapes[1:])
  return fwd + d_weights + d_inputs


def ceiling_gflops(n, shapes, rows, repeats):
  """GFLOP/s of the step's matmul shapes run alone, with the sample axis cut into ``rows``-row chunks
  (scanned inside one jit, as the training step does)."""
  key = jax.random.PRNGKey(0)
  xs, ws = [], []
  for a, b in shapes[1:]:  # the big ones; the few-wide input layer is negligible
    xs.append((jax.random.normal(key, (n // rows, rows, a)), jax.random.normal(key, (n // rows, rows, b))))
    ws.append(jax.random.normal(key, (a, b)))

  @jax.jit
  def matmuls(xs, ws):
    def body(acc, chunk):
      total = acc
      for (x, g), w in zip(chunk, ws):
        total += jnp.sum(x @ w) + jnp.sum(g @ w.T) + jnp.sum(x.T @ g)  # forward, d-input, d-weight
      return total, None
    out, _ = jax.lax.scan(body, jnp.zeros(()), xs)
    return out

  seconds, _ = time_calls(matmuls, xs, ws, repeats=repeats)
  flops = sum(2 * (n // rows) * rows * a * b * 3 for a, b in shapes[1:])
  return flops / seconds / 1e9
