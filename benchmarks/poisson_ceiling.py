"""How well can *any* smooth function whose gradient matches a given gradient target reproduce the
image? The exact least-squares Poisson solution, no network involved (issue 3).

    python -m benchmarks.poisson_ceiling [--image=camera] [--size=256]

For each gradient target of ``siren_jax.signals.image.targets`` (Sobel, central difference, spectral) this solves
min_f sum |grad f - g|^2 over band-limited f (cosine series: the image mirrored to period 2n, solved in
Fourier space where grad is multiplication by i w), then reports the PSNR of f against the image after
the best constant offset, the protocol of gradient-supervised runs. A finite-difference target sees a
frequency w as sin(w) (or sin(w)(1 + cos w')/2 with Sobel's smoothing), so its exact solution is a
blurred image: that PSNR is a ceiling for solutions band-limited to the pixel grid. A SIREN is not
(its values and its derivatives at pixel centres are partly independent), and a central-difference run
passed this figure by 0.8 dB (RESULTS.md): a reference, not a bound on a network. Prints JSON.
"""

import sys


import numpy as np
from absl import app, flags

from benchmarks import common
from siren_jax.engine import supervision
from siren_jax.signals.image import data, targets

_IMAGE = flags.DEFINE_string("image", "camera", "Built-in name, kodimNN, or a path.")
_SIZE = flags.DEFINE_integer("size", 256, "Resize to size x size (0 = native).")


def _mirror(a: np.ndarray, odd_axis=None) -> np.ndarray:
  """(H, W) -> (2H, 2W) mirror extension; odd along ``odd_axis`` (a derivative along it flips sign)."""
  for axis in (0, 1):
    sign = -1.0 if axis == odd_axis else 1.0
    a = np.concatenate([a, sign * np.flip(a, axis=axis)], axis=axis)
  return a


def solve(grad: np.ndarray) -> np.ndarray:
  """(H, W, 2) gradient field per unit coordinate -> the least-squares band-limited f (H, W)."""
  h, w, _ = grad.shape
  gy = np.fft.fft2(_mirror(grad[..., 0] / (h / 2.0), odd_axis=0))  # per pixel
  gx = np.fft.fft2(_mirror(grad[..., 1] / (w / 2.0), odd_axis=1))
  wy = 2 * np.pi * np.fft.fftfreq(2 * h)[:, None]
  wx = 2 * np.pi * np.fft.fftfreq(2 * w)[None, :]
  den = wy ** 2 + wx ** 2
  den[0, 0] = 1.0
  f = (np.conj(1j * wy) * gy + np.conj(1j * wx) * gx) / den
  f[0, 0] = 0.0  # the constant is free: the protocol removes it
  return np.real(np.fft.ifft2(f))[:h, :w]


def main(_):
  common.git_rev()  # the commit this run starts from
  image = data.load_image(_IMAGE.value, height=_SIZE.value, width=_SIZE.value)
  signed = data.to_signed(image.pixels).astype(np.float64)
  rows = {}
  for kind in targets.GRADIENT_TARGETS:
    g = targets.gradient_target(signed, kind)
    f = np.stack([solve(g[:, :, ch]) for ch in range(signed.shape[-1])], axis=-1)
    protocols = supervision.evaluate(data.to_unit(f), image.pixels)
    rows[kind] = {"psnr_offset": round(protocols["psnr_offset"], 2),
                  "psnr_affine": round(protocols["psnr_affine"], 2)}
    print(kind, rows[kind], file=sys.stderr, flush=True)
  common.emit({"benchmark": "poisson_ceiling", "machine": common.machine(), "git": common.git_rev(),
               "image": f"{image.name} {image.shape[0]}x{image.shape[1]}",
               "note": "exact least-squares band-limited Poisson solution per gradient target",
               "targets": rows})


if __name__ == "__main__":
  app.run(main)
