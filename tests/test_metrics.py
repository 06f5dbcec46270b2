import numpy as np

from siren_jax.engine import metrics


def test_psnr_known_value():
  target = np.zeros((4, 4, 1))
  pred = np.full((4, 4, 1), 0.1)  # MSE 0.01 -> 20 dB
  assert abs(metrics.psnr(pred, target) - 20.0) < 1e-9


def test_psnr_clips_prediction_to_unit_range():
  target = np.ones((4, 4, 3))
  pred = np.full((4, 4, 3), 1.7)  # clipped to 1 -> perfect
  assert metrics.psnr(pred, target) == float("inf")
  pred = np.full((4, 4, 3), -0.5)  # clipped to 0 -> MSE 1 -> 0 dB
  assert abs(metrics.psnr(pred, target)) < 1e-9


def test_psnr_crop_border_ignores_edges():
  target = np.zeros((6, 6, 1))
  pred = np.zeros((6, 6, 1))
  pred[0, :] = 1.0  # a faulty top row
  assert metrics.psnr(pred, target) < 10
  assert metrics.psnr(pred, target, crop_border=1) == float("inf")


def test_psnr_from_mse_range():
  assert abs(metrics.psnr_from_mse(0.01) - 20.0) < 1e-9
  assert abs(metrics.psnr_from_mse(0.04, value_range=2.0) - 20.0) < 1e-9
