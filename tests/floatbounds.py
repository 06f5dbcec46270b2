"""Float32 error bounds derived from what a test compares, so no tolerance depends on one CPU's
summation order, vector width or fused multiply-adds.

The standard bound (Higham, *Accuracy and Stability of Numerical Algorithms*, Sec. 4.2): summing n
terms in any order errs by at most (n - 1) u sum|x_i|, with u = eps / 2 the unit roundoff. Two
summations of the same terms in different orders therefore differ by at most (n - 1) eps sum|x_i|;
each term computed through k rounded operations adds k eps |x_i| more.
"""

import numpy as np

EPS32 = float(np.finfo(np.float32).eps)


def sum_order_bound(num_terms: int, abs_sum, ops_per_term: int = 0):
  """Largest difference between two float32 evaluations of a sum of ``num_terms`` terms whose
  absolute values add up to ``abs_sum`` (a scalar or an array of per-entry sums), each term itself
  the result of ``ops_per_term`` rounded operations."""
  return (num_terms - 1 + 2 * ops_per_term) * EPS32 * np.asarray(abs_sum)


def assert_within(actual, desired, bound, what: str = "") -> None:
  """|actual - desired| <= bound entrywise, naming the worst entry on failure."""
  actual, desired = np.asarray(actual, np.float64), np.asarray(desired, np.float64)
  excess = np.abs(actual - desired) - np.broadcast_to(bound, actual.shape)
  worst = np.unravel_index(np.argmax(excess), excess.shape) if excess.size else ()
  assert excess.size == 0 or excess[worst] <= 0, (
      f"{what}: |{actual[worst]} - {desired[worst]}| exceeds the bound "
      f"{np.broadcast_to(bound, actual.shape)[worst]:.3g} at {worst}")


# The accuracy that tests/test_models.py::test_fast_sincos_matches_numpy asserts for siren_jax.nets.sincos,
# and a bound for XLA's sin of a float32 argument (a correctly rounded result is within eps / 2).
SINCOS_MAX_ABS_ERR = 2.5e-7
XLA_SIN_MAX_ABS_ERR = 2 * EPS32


def siren_forward_bound(params, x, first_omega: float, hidden_omega: float, sine_err: float):
  """Absolute float32 error bound of each output of a SIREN (``models.Siren`` parameters) at ``x``,
  by running error analysis: a dot product of n terms plus a bias errs by (n + 1) eps times the sum of
  the absolute terms, scaling by omega adds eps, an earlier error ``e`` reaches the next layer through
  |W| and is multiplied by omega, and |sin'| <= 1 passes it on, plus the sine's own error."""
  p = params["params"]
  layers = sorted((k for k in p if k.startswith("layer_")), key=lambda k: int(k.split("_")[1]))
  h = np.abs(np.asarray(x, np.float64))
  e = np.zeros_like(h)
  for i, name in enumerate(layers):
    w = np.abs(np.asarray(p[name]["dense"]["kernel"], np.float64))
    b = np.abs(np.asarray(p[name]["dense"]["bias"], np.float64))
    omega = first_omega if i == 0 else hidden_omega
    majorant = h @ w + b
    e = omega * (e @ w + (w.shape[0] + 2) * EPS32 * majorant) + sine_err
    h = np.ones_like(majorant)  # |sin| <= 1
  w = np.abs(np.asarray(p["output"]["kernel"], np.float64))
  b = np.abs(np.asarray(p["output"]["bias"], np.float64))
  return e @ w + (w.shape[0] + 1) * EPS32 * (h @ w + b)


def chain_rel_bound(fan_ins, omega: float = 1.0, ops_per_layer: int = 4) -> float:
  """Error bound, relative to the largest magnitude compared, of a value or input derivative of an MLP
  with layers of these fan-ins: each layer's dot products err by fan_in eps of their magnitude, a
  few more operations (bias, omega, sine or its derivative) add ``ops_per_layer`` eps, and omega turns
  a pre-activation's relative error into an absolute phase error of the sines after it."""
  return omega * (sum(fan_ins) + ops_per_layer * len(fan_ins)) * EPS32
