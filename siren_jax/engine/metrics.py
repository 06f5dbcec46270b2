"""Image-quality metrics. PSNR is computed on [0, 1] values after clipping the prediction to [0, 1]."""

import numpy as np


def mse(a: np.ndarray, b: np.ndarray) -> float:
  return float(np.mean((np.asarray(a, np.float64) - np.asarray(b, np.float64)) ** 2))


def psnr(pred: np.ndarray, target: np.ndarray, crop_border: int = 0) -> float:
  """PSNR in dB of ``pred`` against ``target``, both (H, W, C) in [0, 1]; ``pred`` is clipped first.

  ``crop_border`` drops that many pixels on every side before comparing (0 compares the whole image).
  Identical images give +inf.
  """
  pred = np.clip(np.asarray(pred, np.float64), 0.0, 1.0)
  target = np.asarray(target, np.float64)
  if pred.shape != target.shape:
    raise ValueError(f"shape mismatch: {pred.shape} vs {target.shape}")
  if crop_border:
    c = crop_border
    pred, target = pred[c:-c, c:-c], target[c:-c, c:-c]
  err = mse(pred, target)
  return float("inf") if err == 0.0 else float(-10.0 * np.log10(err))


def psnr_from_mse(err: float, value_range: float = 1.0) -> float:
  """PSNR of a mean squared error measured on values spanning ``value_range`` (2.0 for [-1, 1])."""
  return float("inf") if err <= 0 else float(10.0 * np.log10(value_range ** 2 / err))
