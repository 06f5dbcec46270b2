"""What a fit is supervised with (values, gradient, Laplacian, or a weighted mix), and how its
reconstruction is compared with the image when the supervision leaves it undetermined.

``train.supervision`` is ``values``, ``gradient``, ``laplacian``, or a weighted mix such as
``values:1,gradient:0.01``. Each term is a mean squared error: over pixels and channels for values and
Laplacian, and also over the two axes for the gradient.

Evaluation protocols. A gradient fixes the image up to a constant, and a Laplacian up to a harmonic
function. The paper does not say how it removed these before its PSNR, so siren_jax reports:
* ``psnr``: the reconstruction as it is;
* ``psnr_offset``: after the best constant offset per channel (least squares);
* ``psnr_affine``: after the best affine plane a + b y + c x per channel. This removes the harmonic
  part a Laplacian cannot see up to first order;
* ``psnr_scale_offset``: after the best a f + b per channel, the loosest, for comparison with
  codebases that rescale.
The headline ``psnr`` of a run, logged in metrics.jsonl, is the one its supervision determines:
values -> psnr, gradient -> psnr_offset, Laplacian -> psnr_affine.
"""

import math
from typing import Dict

import numpy as np

from siren_jax.engine import metrics
from siren_jax.errors import UserError

TERMS = ("values", "gradient", "laplacian")


def parse(spec: str) -> Dict[str, float]:
  """'gradient' -> {'gradient': 1.0}; 'values:1,gradient:0.01' -> both, weighted."""
  weights = {}
  for part in str(spec).split(","):
    part = part.strip()
    if not part:
      continue
    name, _, w = part.partition(":")
    name = name.strip()
    if name not in TERMS:
      raise UserError(f"train.supervision: unknown term {name!r} (use {', '.join(TERMS)}, "
                      f"optionally weighted as name:weight, comma-separated)")
    try:
      weight = float(w) if w else 1.0
    except ValueError:
      raise UserError(f"train.supervision: weight of {name!r} is not a number: {w!r}") from None
    if not (weight >= 0 and math.isfinite(weight)):
      raise UserError(f"train.supervision: weight of {name!r} must be a finite number >= 0, "
                      f"got {weight}")
    weights[name] = weights.get(name, 0.0) + weight
  if not any(weights.values()):
    raise UserError(f"train.supervision {spec!r} has no term with a positive weight")
  return {k: v for k, v in weights.items() if v > 0}


def headline_protocol(weights: Dict[str, float]) -> str:
  if "values" in weights:
    return "psnr"
  if "gradient" in weights:
    return "psnr_offset"
  return "psnr_affine"


def _fit_per_channel(pred: np.ndarray, target: np.ndarray, basis_fn) -> np.ndarray:
  """pred + the least-squares combination of basis functions closest to target, channel by channel."""
  h, w, c = pred.shape
  out = np.empty_like(pred, dtype=np.float64)
  for ch in range(c):
    basis = basis_fn(pred[..., ch])
    basis = basis.reshape(-1, basis.shape[-1])
    resid = (target[..., ch] - pred[..., ch]).reshape(-1)
    coef, *_ = np.linalg.lstsq(basis, resid, rcond=None)
    out[..., ch] = pred[..., ch] + (basis @ coef).reshape(h, w)
  return out


def aligned(pred: np.ndarray, target: np.ndarray, protocol: str) -> np.ndarray:
  """The reconstruction after the protocol's best correction (unclipped, [0, 1] units)."""
  pred = np.asarray(pred, np.float64)
  target = np.asarray(target, np.float64)
  h, w, _ = pred.shape
  y, x = np.meshgrid(np.linspace(-1, 1, h), np.linspace(-1, 1, w), indexing="ij")
  ones = np.ones((h, w))
  if protocol == "psnr":
    return pred
  if protocol == "psnr_offset":
    basis = lambda f: ones[..., None]
  elif protocol == "psnr_affine":
    basis = lambda f: np.stack([ones, y, x], axis=-1)
  elif protocol == "psnr_scale_offset":
    basis = lambda f: np.stack([ones, f], axis=-1)
  else:
    raise ValueError(protocol)
  return _fit_per_channel(pred, target, basis)


PROTOCOLS = ("psnr", "psnr_offset", "psnr_affine", "psnr_scale_offset")


def evaluate(pred01: np.ndarray, target01: np.ndarray, crop_border: int = 0) -> Dict[str, float]:
  """PSNR of the unclipped [0, 1] reconstruction under every protocol (each clips after aligning)."""
  return {p: metrics.psnr(aligned(pred01, target01, p), target01, crop_border) for p in PROTOCOLS}
