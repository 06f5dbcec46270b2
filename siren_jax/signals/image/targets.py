"""Derivative targets computed from an image, in the same units as the network's input derivatives.

The network maps [-1, 1] coordinates to [-1, 1] values, and one pixel step along an axis of ``n`` pixels
is ``2/n`` in coordinates. A per-pixel finite difference is therefore scaled by ``n/2`` (first order)
or ``(n/2)^2`` (second order). The official SIREN code instead multiplies by fixed factors (Sobel x10,
Laplacian x1e4) that depend on its array layout. Axes are (y, x), as everywhere in siren_jax.

Gradient targets (``train.gradient_target``):
* ``sobel`` (the paper's): a central difference smoothed by [1, 2, 1]/4 across the other axis;
* ``central``: the central difference alone;
* ``spectral``: the exact derivative of the image's band-limited (cosine-series) interpolant, from an
  FFT of its mirror extension.
Finite differences see a frequency w (radians per pixel) as sin(w) (central) or sin(w)(1 + cos w')/2
(Sobel) instead of w, so a function whose gradient matches them is a blurred image. Solving that Poisson
problem exactly on cameraman 256^2 caps PSNR (offset protocol) at 32.86 dB for Sobel and 34.75 dB for
central differences (``benchmarks/poisson_ceiling.py``); the spectral target has no such cap.

Laplacian targets (``train.laplacian_target``): ``5point`` (the stencil) or ``spectral``.

Finite-difference borders use edge replication, so every target is defined at every pixel.
"""

import numpy as np


def _pad(img: np.ndarray) -> np.ndarray:
  return np.pad(img, ((1, 1), (1, 1), (0, 0)), mode="edge")


def image_gradient(values: np.ndarray) -> np.ndarray:
  """(H, W, C) -> (H, W, C, 2): d/dy, d/dx per unit of the [-1, 1] coordinate (Sobel)."""
  h, w, _ = values.shape
  p = _pad(np.asarray(values, np.float64))
  smooth_x = (p[:, :-2] + 2 * p[:, 1:-1] + p[:, 2:]) / 4.0  # (H+2, W, C)
  smooth_y = (p[:-2] + 2 * p[1:-1] + p[2:]) / 4.0  # (H, W+2, C)
  dy = (smooth_x[2:] - smooth_x[:-2]) / 2.0 * (h / 2.0)
  dx = (smooth_y[:, 2:] - smooth_y[:, :-2]) / 2.0 * (w / 2.0)
  return np.stack([dy, dx], axis=-1).astype(np.float32)


def central_gradient(values: np.ndarray) -> np.ndarray:
  """(H, W, C) -> (H, W, C, 2): the unsmoothed central difference, per unit coordinate."""
  h, w, _ = values.shape
  p = _pad(np.asarray(values, np.float64))
  dy = (p[2:, 1:-1] - p[:-2, 1:-1]) / 2.0 * (h / 2.0)
  dx = (p[1:-1, 2:] - p[1:-1, :-2]) / 2.0 * (w / 2.0)
  return np.stack([dy, dx], axis=-1).astype(np.float32)


def _spectral_derivative(values: np.ndarray, axis: int, order: int) -> np.ndarray:
  """d^order/dt^order along ``axis`` of the cosine-series interpolant, per pixel. The mirror extension
  (period 2n) has no jump at the borders, so there is no wrap-around edge to ring on."""
  n = values.shape[axis]
  ext = np.concatenate([values, np.flip(values, axis=axis)], axis=axis)
  k = 2.0 * np.pi * np.fft.fftfreq(2 * n)
  if order == 1:
    k[n] = 0.0  # the Nyquist bin's derivative is not real-valued: drop it (as in odd-order spectral
    #             differentiation)
  shape = [1] * values.ndim
  shape[axis] = 2 * n
  spectrum = np.fft.fft(ext, axis=axis) * ((1j * k) ** order).reshape(shape)
  return np.take(np.real(np.fft.ifft(spectrum, axis=axis)), np.arange(n), axis=axis)


def spectral_gradient(values: np.ndarray) -> np.ndarray:
  """(H, W, C) -> (H, W, C, 2): exact gradient of the image's cosine interpolant, per unit coordinate."""
  h, w, _ = values.shape
  v = np.asarray(values, np.float64)
  dy = _spectral_derivative(v, 0, 1) * (h / 2.0)
  dx = _spectral_derivative(v, 1, 1) * (w / 2.0)
  return np.stack([dy, dx], axis=-1).astype(np.float32)


def spectral_laplacian(values: np.ndarray) -> np.ndarray:
  """(H, W, C) -> (H, W, C): exact Laplacian of the image's cosine interpolant, per unit coordinate^2."""
  h, w, _ = values.shape
  v = np.asarray(values, np.float64)
  return (_spectral_derivative(v, 0, 2) * (h / 2.0) ** 2
          + _spectral_derivative(v, 1, 2) * (w / 2.0) ** 2).astype(np.float32)


def gradient_target(values: np.ndarray, kind: str = "sobel") -> np.ndarray:
  if kind not in GRADIENT_TARGETS:
    raise ValueError(f"unknown gradient target {kind!r}; one of {', '.join(GRADIENT_TARGETS)}")
  return GRADIENT_TARGETS[kind](values)


def laplacian_target(values: np.ndarray, kind: str = "5point") -> np.ndarray:
  if kind not in LAPLACIAN_TARGETS:
    raise ValueError(f"unknown Laplacian target {kind!r}; one of {', '.join(LAPLACIAN_TARGETS)}")
  return LAPLACIAN_TARGETS[kind](values)


def image_laplacian(values: np.ndarray) -> np.ndarray:
  """(H, W, C) -> (H, W, C): the 5-point Laplacian per unit of the [-1, 1] coordinate squared."""
  h, w, _ = values.shape
  p = _pad(np.asarray(values, np.float64))
  c = p[1:-1, 1:-1]
  d2y = (p[2:, 1:-1] - 2 * c + p[:-2, 1:-1]) * (h / 2.0) ** 2
  d2x = (p[1:-1, 2:] - 2 * c + p[1:-1, :-2]) * (w / 2.0) ** 2
  return (d2y + d2x).astype(np.float32)


def divergence(field: np.ndarray) -> np.ndarray:
  """(H, W, C, 2) vector field (d/dy, d/dx components, per unit coordinate) -> (H, W, C): its central-
  difference divergence per unit coordinate squared. Of a gradient field this is a Laplacian: of a Poisson
  blend's composite field, the Laplacian its best fit approaches (Perez et al. 2003)."""
  h, w = field.shape[:2]
  gy = np.pad(np.asarray(field[..., 0], np.float64), ((1, 1), (0, 0), (0, 0)), mode="edge")
  gx = np.pad(np.asarray(field[..., 1], np.float64), ((0, 0), (1, 1), (0, 0)), mode="edge")
  return ((gy[2:] - gy[:-2]) / 2.0 * (h / 2.0) + (gx[:, 2:] - gx[:, :-2]) / 2.0 * (w / 2.0)).astype(
      np.float32)


GRADIENT_TARGETS = {"sobel": image_gradient, "central": central_gradient, "spectral": spectral_gradient}
LAPLACIAN_TARGETS = {"5point": image_laplacian, "spectral": spectral_laplacian}


def ellipse_mask(height: int, width: int, center=(0.0, 0.0), radii=(0.45, 0.35)) -> np.ndarray:
  """(H, W) boolean ellipse in [-1, 1] coordinates (pixel centres), for Poisson blending."""
  from siren_jax.signals.image.data import pixel_centres  # pylint: disable=g-import-not-at-top
  y, x = np.meshgrid(pixel_centres(height), pixel_centres(width), indexing="ij")
  return ((y - center[0]) / radii[0]) ** 2 + ((x - center[1]) / radii[1]) ** 2 <= 1.0


def blended_gradient(background: np.ndarray, source: np.ndarray, mask: np.ndarray,
                     mode: str = "replace", kind: str = "sobel") -> np.ndarray:
  """The composite gradient field of Poisson image editing (Perez et al. 2003; SIREN Fig. 4).

  ``replace``: the source's gradient inside the mask, the background's outside. ``mixed``: inside the
  mask, whichever of the two gradients is larger at each pixel (keeps background texture).
  """
  g_bg, g_src = gradient_target(background, kind), gradient_target(source, kind)
  inside = mask[..., None, None]
  if mode == "replace":
    return np.where(inside, g_src, g_bg)
  if mode == "mixed":
    stronger = (np.sum(g_src ** 2, axis=-1, keepdims=True) > np.sum(g_bg ** 2, axis=-1, keepdims=True))
    return np.where(inside & stronger, g_src, g_bg)
  raise ValueError(f"unknown blend mode {mode!r}")
